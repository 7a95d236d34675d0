"""A small pool of daemon threads for plain (blocking) integrations.

concurrent.futures.ThreadPoolExecutor joins its threads at interpreter exit, so one plain
integration stuck in a blocking call would keep a script or a test session from exiting long
after the runner has given up on it (and returned a timeout result). These threads are
daemons: the runner abandons a stuck call, and the process can still exit.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

_counter = itertools.count(1)


class DaemonPool(Executor):
    """Up to ``max_workers`` daemon threads, started on demand, ended by shutdown()."""

    def __init__(self, max_workers: int, name: str = "intgkit-worker") -> None:
        self._max = max(1, max_workers)
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._shutdown = False
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            return self.submit(lambda: fn(*args, **kwargs))
        fut: Future[Any] = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._queue.put((fut, fn, args))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                t = threading.Thread(target=self._work, name=f"{self._name}-{next(_counter)}", daemon=True)
                self._threads.append(t)
                t.start()
        return fut

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fut, fn, args = item
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args))
                except StopIteration as exc:
                    # an asyncio future refuses StopIteration, which would leave the awaiting
                    # call pending forever; Python converts it the same way for coroutines
                    err = RuntimeError(f"plain integration raised StopIteration: {exc}")
                    err.__cause__ = exc
                    fut.set_exception(err)
                except BaseException as exc:  # noqa: BLE001 - delivered to the awaiting call
                    fut.set_exception(exc)
            del item, fut, fn, args
            self._idle.release()

    def shutdown(self, wait: bool = False, *, cancel_futures: bool = True) -> None:
        """Stop the threads once their current call ends; never waits unless asked."""
        with self._lock:
            if self._shutdown:
                return
            self._shutdown = True
            if cancel_futures:
                while True:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            for _ in self._threads:
                self._queue.put(None)
        if wait:
            for t in self._threads:
                t.join()

"""Daemon threads for plain (blocking) integrations, and for a private loop's default executor.

concurrent.futures.ThreadPoolExecutor joins its threads at interpreter exit (and asyncio's
``shutdown_default_executor`` joins them at the end of ``asyncio.run``), so one call stuck in
a blocking function (a ``requests`` call without ``timeout=``, a ``getaddrinfo`` that never
answers) would keep a run, a script or a test session alive long after the runner gave up on
it. These threads are daemons and nothing ever joins them: the runner abandons a stuck call,
and the run and the process end on time.

A pool without ``max_workers`` starts a thread whenever a job finds no idle one, so a thread
stuck in an abandoned call never holds up the next call: it is replaced. The engine bounds the
number of calls in flight (its workers), and so the threads busy with live calls; abandoned
threads are bounded by the breakers and the runner's cap (docs/architecture.md).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["DaemonPool"]

_counter = itertools.count(1)


class DaemonPool(ThreadPoolExecutor):
    """Daemon threads started on demand, never joined.

    A ThreadPoolExecutor by type only (asyncio's ``set_default_executor`` requires one); it
    shares none of its machinery. ``max_workers=None`` means a thread per job that finds no
    idle thread; with a number, jobs beyond it wait in the queue (the default executor's way).
    """

    def __init__(self, max_workers: int | None = None, name: str = "intgkit-worker") -> None:
        super().__init__(max_workers=1)  # starts no thread; only the type is wanted
        self._max = max_workers
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._n_threads = 0
        self._idle = threading.Semaphore(0)
        self._closed = False
        self._guard = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if kwargs:
            return self.submit(lambda: fn(*args, **kwargs))
        fut: Future[Any] = Future()
        with self._guard:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._jobs.put((fut, fn, args))
            if not self._idle.acquire(blocking=False) and (self._max is None or self._n_threads < self._max):
                t = threading.Thread(target=self._work, name=f"{self._name}-{next(_counter)}", daemon=True)
                self._n_threads += 1
                t.start()
        return fut

    def _work(self) -> None:
        while True:
            item = self._jobs.get()
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
        """Let each thread end once its current job ends; never waits (``wait`` is ignored:
        a stuck thread would make the caller wait for it, which is what this pool avoids)."""
        with self._guard:
            if self._closed:
                return
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        item = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if item is not None:
                        item[0].cancel()
            for _ in range(self._n_threads):
                self._jobs.put(None)

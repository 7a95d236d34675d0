"""The sync door: run a coroutine to completion from plain code, in a script or a Jupyter cell.

In a script there is no running loop, so ``asyncio.run`` does it (and turns Ctrl-C into a
cancellation of the run). In a Jupyter cell the kernel's loop is already running and
``asyncio.run`` refuses; the classic fix, ``nest_asyncio.apply()``, patches asyncio
process-wide (pure-Python tasks, a replaced ``asyncio.run``), is archived since 2024, and with
cells queued behind it ("Run All") wedges an ipykernel 7 kernel. So here the coroutine runs on a
private event loop in a worker thread while the cell waits; an interrupt (KeyboardInterrupt in
the waiting thread) cancels the run's task on that loop promptly, and the thread is joined, so
nothing of intgkit's is left behind. ``nested=True`` opts into nest-asyncio2, the maintained
fork that ipykernel 7 itself depends on, applied to the running loop only when asked.

Either way the private loop's default executor is a pool of daemon threads that nothing joins:
``asyncio.run`` ends by waiting for the default executor's threads, so one stuck job there
(aiohttp's ThreadedResolver runs ``getaddrinfo`` in it) would keep ``run()`` long past every
timeout, and a ThreadPoolExecutor's threads would keep the interpreter from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: How long an interrupted run may take to wind down before the interrupt is re-raised anyway.
CANCEL_GRACE_S = 5.0

#: Threads of a private loop's default executor: None, a thread for every job that finds no idle
#: one, so a stuck getaddrinfo never makes the next lookup wait (asyncio caps it at 32).
DEFAULT_EXECUTOR_THREADS: int | None = None


def run_sync(make: Callable[[], Coroutine[Any, Any, T]], *, nested: bool = False) -> T:
    """Run the coroutine made by ``make`` to completion and return its result."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        with asyncio.Runner(loop_factory=new_loop) as runner:  # asyncio.run, with that executor
            return runner.run(make())
    if nested:
        return _run_nested(loop, make)
    return _run_in_thread(make)


def _run_in_thread(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    box: dict[str, Any] = {}
    ready = threading.Event()

    def main() -> None:
        loop = new_loop()
        try:
            task = loop.create_task(make())
            box["loop"], box["task"] = loop, task
            ready.set()
            box["result"] = loop.run_until_complete(task)
        except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
            box["error"] = exc
        finally:
            ready.set()
            try:
                _cancel_all(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    ctx = contextvars.copy_context()
    thread = threading.Thread(target=ctx.run, args=(main,), name="intgkit-loop", daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        ready.wait()
        loop, task = box.get("loop"), box.get("task")
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between: the run ended
                loop.call_soon_threadsafe(task.cancel)
        thread.join(CANCEL_GRACE_S)
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


def new_loop() -> asyncio.AbstractEventLoop:
    """A new event loop whose default executor is daemon threads that nothing waits for."""
    from ._threads import DaemonPool

    loop = asyncio.new_event_loop()
    loop.set_default_executor(DaemonPool(DEFAULT_EXECUTOR_THREADS, name="intgkit-executor"))
    return loop


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for t in pending:
        t.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))


def _run_nested(loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        import nest_asyncio2
    except ImportError as exc:
        from ._errors import MissingExtraError

        raise MissingExtraError("nest_asyncio2", "nested", "run(nested=True)") from exc
    nest_asyncio2.apply(loop)
    return loop.run_until_complete(make())

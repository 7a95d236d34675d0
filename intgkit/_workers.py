"""Worker tasks: up to ``limit`` calls in flight, taken in selection order, started on demand.

A task per call costs a task per call: 100,000 calls would hold 100,000 tasks (and their
frames) at once. Instead a few workers pull calls from one shared position in the plan, so a
run holds at most ``limit`` tasks, calls start in selection order, and each worker hands every
call to the engine's per-call function with the task it runs in (the deadlines cancel it).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["Workers"]

T = TypeVar("T")


class Workers(Generic[T]):
    """Up to ``limit`` worker tasks taking calls in order, started as the calls need them.

    ``limit`` tasks started up front cost a task per call when calls end without waiting (an
    open breaker, an unconfigured integration, a cached answer): each task runs one call and
    exits. So workers start on demand: a worker that takes a call asks for a check on the
    next turn of the loop; by then every started worker is waiting inside a call (one whose
    call ended at once has moved on to the next), so the check starts as many new workers as
    are running, doubling up to the limit and the calls left. ``limit`` waiting calls are in
    flight within log2(limit) turns of the loop; calls that never wait share one task.
    """

    __slots__ = ("_calls", "_check_pending", "_context", "_done", "_limit", "_live", "_loop",
                 "_next", "_stopping", "_tasks", "_work")  # fmt: skip

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        calls: Sequence[T],
        limit: int,
        work: Callable[[T, asyncio.Task[Any]], Awaitable[None]],
    ) -> None:
        self._loop = loop
        self._calls = calls
        self._limit = limit
        self._work = work
        self._next = 0
        self._live = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._check_pending = False
        self._stopping = False
        self._done: asyncio.Future[None] = loop.create_future()
        # each worker runs in its own copy of the run's context, as create_task in the run would
        self._context = contextvars.copy_context()

    async def run(self) -> None:
        """Until every call has finished; on an exception (or cancellation) cancel the rest."""
        if not self._calls:
            return
        self._start(1)
        try:
            await self._done
        except BaseException:
            self._stopping = True
            for t in self._tasks:
                t.cancel()
            await asyncio.wait(self._tasks)
            raise

    def _start(self, n: int) -> None:
        for _ in range(n):
            task = self._loop.create_task(self._worker(), context=self._context.copy())
            self._live += 1
            self._tasks.append(task)
            task.add_done_callback(self._exited)

    async def _worker(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        calls, work = self._calls, self._work
        # len() each time: an expanding call appends its sub-calls to the plan while it runs
        while (i := self._next) < len(calls):
            self._next = i + 1
            if not self._check_pending and self._live < self._limit:
                self._check_pending = True
                self._loop.call_soon(self._check, context=self._context)
            await work(calls[i], task)

    def _check(self) -> None:
        self._check_pending = False
        if self._stopping:
            return
        more = min(self._live, self._limit - self._live, len(self._calls) - self._next)
        if more > 0:
            self._start(more)

    def _exited(self, task: asyncio.Task[None]) -> None:
        self._live -= 1
        if self._done.done():
            return
        if task.cancelled():
            self._done.cancel()
        elif (exc := task.exception()) is not None:
            self._done.set_exception(exc)
        elif self._live == 0:
            self._done.set_result(None)

"""Deadlines: every call's time limit in one run, kept by one loop timer.

See :class:`Deadlines`. The engine arms a call's deadline when the call starts running (for a
plain function: when its thread starts it), so time spent waiting for a worker or a thread is
never counted against the call.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from typing import Any

__all__ = ["Deadlines"]


class Deadlines:
    """Every call's time limit in one run, kept by one timer instead of one per call.

    ``asyncio.timeout()`` schedules and cancels a TimerHandle per call, a third of the
    runner's own per-call cost on short calls. Here each call pushes its entry,
    ``[deadline, seq, task]``, on a heap, and a single TimerHandle waits for the earliest
    deadline. When it fires, every call past its deadline has its task cancelled and its
    entry marked expired (task set to None, ``_EXPIRED`` appended), exactly what
    asyncio.timeout does; the call then tells its own timeout apart from a cancellation by
    the caller with ``task.uncancel()``, as asyncio.timeout's ``__aexit__`` does.

    A finished call only clears its entry's task; cleared entries leave the heap when they
    reach its top, or all at once when they outnumber the live ones, so the heap stays as
    small as the calls in flight. Per-integration timeouts differ: the heap orders them all.
    """

    __slots__ = ("_due", "_handle", "_heap", "_live", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[list[Any]] = []
        self._seq = 0
        self._live = 0
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf

    def arm(self, task: asyncio.Task[Any], timeout: float) -> list[Any]:
        """Start the clock of the current call of ``task``; returns its entry for disarm()."""
        return self.arm_at(task, self._loop.time() + timeout)

    def arm_at(self, task: asyncio.Task[Any], when: float) -> list[Any]:
        """Cancel ``task`` at ``when`` (the loop's clock, time.monotonic()) unless disarmed first."""
        self._seq += 1
        entry = [when, self._seq, task]
        heap = self._heap
        while heap and heap[0][2] is None:  # calls that finished: keep the heap small
            heapq.heappop(heap)
        if len(heap) > 64 and len(heap) > 2 * self._live:
            heap[:] = [e for e in heap if e[2] is not None]
            heapq.heapify(heap)
        heapq.heappush(heap, entry)
        self._live += 1
        if when < self._due:
            self._schedule(when)
        return entry

    def disarm(self, entry: list[Any]) -> bool:
        """End the clock of a call; True when its deadline had passed and its task was cancelled."""
        if entry[2] is None:
            return len(entry) > 3  # expired (marked by _fire), or disarmed twice
        entry[2] = None
        self._live -= 1
        return False

    def _schedule(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._due = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        # asyncio runs a timer up to one clock resolution early: what was due is due.
        now = max(self._loop.time(), self._due)
        self._handle = None
        self._due = math.inf
        heap = self._heap
        while heap and (heap[0][2] is None or heap[0][0] <= now):
            entry = heapq.heappop(heap)
            task = entry[2]
            if task is not None:
                entry[2] = None
                entry.append(_EXPIRED)
                self._live -= 1
                task.cancel()
        if heap:
            self._schedule(heap[0][0])

    def close(self) -> None:
        """Stop the timer (the run is over; every call has disarmed)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()


_EXPIRED = "expired"

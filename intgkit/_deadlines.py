"""Deadlines: every call's time limit in one run, kept by one loop timer.

See :class:`Deadlines`. The engine arms a call's deadline when the call starts running (for a
plain function: when its thread starts it), so time spent waiting for a worker or a thread is
never counted against the call.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

__all__ = ["Deadlines"]


class Deadlines:
    """Every call's time limit in one run, kept by one timer instead of one per call.

    ``asyncio.timeout()`` schedules and cancels a TimerHandle per call, and a heap of entries
    still costs a list, a push and a pop per call: together the largest part of the runner's
    own per-call cost on short calls. Here each worker task has one *slot*, ``[deadline, task,
    expired]``, reused by every call the task makes (a worker runs one call at a time, and
    each attempt disarms its deadline before the next is armed). Arming writes the deadline
    into the slot; disarming writes infinity. A single TimerHandle waits for the earliest
    deadline it knows of; when it fires it walks the slots (one per worker, at most the run's
    concurrency), cancels every task past its deadline and marks its slot expired, exactly
    what asyncio.timeout does, and waits again for the earliest deadline left. The call then
    tells its own timeout apart from a cancellation by the caller with ``task.uncancel()``, as
    asyncio.timeout's ``__aexit__`` does.

    A deadline armed later than the timer (the usual case: one timeout, later starts) needs no
    new timer; the timer may then fire for a call that has finished, find nothing past due
    and wait for the next deadline: at most one such wake-up per call that ran for most of
    its time limit. Per-integration timeouts differ: an earlier deadline re-arms the timer.
    """

    __slots__ = ("_due", "_handle", "_loop", "_slots", "_time")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # asyncio's own loops read time.monotonic() through a Python method; call it directly
        self._time = time.monotonic if type(loop).time is asyncio.BaseEventLoop.time else loop.time
        self._slots: dict[asyncio.Task[Any], list[Any]] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf

    def arm(self, task: asyncio.Task[Any], timeout: float) -> list[Any]:
        """Start the clock of the current call of ``task``; returns its slot for disarm()."""
        return self.arm_at(task, self._time() + timeout)

    def arm_at(self, task: asyncio.Task[Any], when: float) -> list[Any]:
        """Cancel ``task`` at ``when`` (the loop's clock) unless disarmed first."""
        slot = self._slots.get(task)
        if slot is None:
            slot = self._slots[task] = [when, task, False]
        else:
            slot[0] = when
            slot[2] = False
        if when < self._due:
            self._schedule(when)
        return slot

    @staticmethod
    def disarm(slot: list[Any]) -> bool:
        """End the clock of a call; True when its deadline had passed and its task was cancelled."""
        if slot[2]:
            slot[2] = False
            return True
        slot[0] = math.inf
        return False

    def _schedule(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._due = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        # asyncio runs a timer up to one clock resolution early: what was due is due.
        now = max(self._time(), self._due)
        self._handle = None
        self._due = math.inf
        nxt = math.inf
        for slot in self._slots.values():
            when = slot[0]
            if when <= now:
                slot[0] = math.inf
                slot[2] = True
                slot[1].cancel()
            elif when < nxt:
                nxt = when
        if nxt < math.inf:
            self._schedule(nxt)

    def close(self) -> None:
        """Stop the timer (the run is over; every call has disarmed)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._slots.clear()

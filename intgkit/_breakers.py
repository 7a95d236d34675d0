"""Circuit breakers: pybreaker's state machine, driven so that async code is counted right.

pybreaker's own doors do not fit asyncio (verified against 1.4.1): its decorator counts a
returned coroutine as a success; ``calling()`` works around an ``await`` but counts every
BaseException, so a cancelled run would count as a failure and, on the tripping call, turn the
cancellation into CircuitBreakerError; and half-open lets every concurrent caller through.

So each :class:`Breaker` splits a call in two: :meth:`Breaker.admit` is the gate (a lock-free
fast path while closed; a single probe permit once the reset timeout has passed), and the
outcome is reported afterwards through pybreaker's public ``call()`` (a no-op for a success,
a raiser for a failure), which keeps pybreaker's counters, transitions and listeners the
source of truth. A cancelled call reports nothing: neither success nor failure (resilience4j's
"ignored"). Outcomes of calls admitted under an earlier state are dropped, so a slow call that
began before the breaker opened cannot close it later.

Only pybreaker's public API is used: each breaker's state storage is built here and handed to
pybreaker (``state_storage=``), and its state, counter and opened-at time are read from that
storage object. So the storage can be pybreaker's own ``CircuitRedisStorage``, which lets
several processes share a breaker (one namespace per breaker: without one, pybreaker's keys
are shared by every breaker of the Redis database).

pybreaker is imported when the first breaker is made, not with intgkit: when redis-py is
installed, ``import pybreaker`` imports it (and redis-py imports cryptography), 0.2-0.4 s that
``import intgkit`` should not pay. pybreaker calls listeners by their methods, so ours need not
subclass its listener class.
"""

from __future__ import annotations

import contextlib
import enum
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from ._errors import UsageError
from ._log import logger

if TYPE_CHECKING:
    import pandas as pd
    import pybreaker

__all__ = ["Admission", "Breaker", "BreakerBoard", "BreakerKey"]

#: A breaker is keyed by integration name, plus the target for per-target breakers.
BreakerKey = tuple[str, str | None]


class Admission(enum.IntEnum):
    """What :meth:`Breaker.admit` decided for one call."""

    #: refused: the breaker is open (or half-open with its probe in flight)
    REJECT = 0
    #: let through while closed
    NORMAL = 1
    #: the one call let through while half-open; its outcome closes or re-opens the breaker
    PROBE = 2


REJECT: Final = Admission.REJECT
NORMAL: Final = Admission.NORMAL
PROBE: Final = Admission.PROBE

#: pybreaker's state names (pybreaker.STATE_CLOSED, STATE_OPEN, STATE_HALF_OPEN)
CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half-open"

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _noop() -> None:
    return None


def _raise(exc: BaseException) -> None:
    raise exc


def key_label(key: BreakerKey) -> str:
    """The display form of a key: ``name`` or ``name@target``."""
    return key[0] if key[1] is None else f"{key[0]}@{key[1]}"


class _EventListener:
    """Logs every state change and forwards it to the board's callbacks, never raising."""

    def __init__(self, board: BreakerBoard, key: BreakerKey) -> None:
        self.board = board
        self.key = key
        self.breaker: Breaker | None = None

    def before_call(self, cb: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        return None

    def success(self, cb: Any) -> None:
        return None

    def failure(self, cb: Any, exc: BaseException) -> None:
        return None

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", old_state)
        new = getattr(new_state, "name", new_state)
        if new == OPEN and self.breaker is not None:
            self.breaker._opened_at = self.breaker._clock()
        if old == new:
            return
        with contextlib.suppress(Exception):  # logging must never break a call
            logger().info(
                "breaker_state_changed",
                breaker=key_label(self.key),
                old_state=old,
                new_state=new,
                fail_counter=cb.fail_counter,
            )
        for callback in list(self.board._callbacks):
            try:
                callback(self.key, old, new)
            except Exception as exc:  # noqa: BLE001 - a callback must never break a call
                _report_listener_error(callback, exc)


class _SafeListener:
    """Wraps a user's pybreaker listener so an exception in it is logged, not raised."""

    def __init__(self, inner: pybreaker.CircuitBreakerListener) -> None:
        self.inner = inner

    def before_call(self, cb: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        self._safe("before_call", cb, func, *args, **kwargs)

    def failure(self, cb: Any, exc: BaseException) -> None:
        self._safe("failure", cb, exc)

    def success(self, cb: Any) -> None:
        self._safe("success", cb)

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        self._safe("state_change", cb, old_state, new_state)

    def _safe(self, method: str, *args: Any) -> None:
        try:
            getattr(self.inner, method)(*args)
        except Exception as exc:  # noqa: BLE001 - a listener must never break a call
            _report_listener_error(self.inner, exc)


def _circuit_breaker_error() -> type[Exception]:
    import pybreaker  # imported already: a breaker exists

    return pybreaker.CircuitBreakerError


def _report_listener_error(listener: object, exc: Exception) -> None:
    with contextlib.suppress(Exception):  # nothing may escape from here
        logger().warning(
            "breaker_listener_failed",
            listener=type(listener).__name__,
            error=f"{type(exc).__name__}: {exc}",
        )


class Breaker:
    """One circuit breaker: a pybreaker.CircuitBreaker plus a bounded half-open probe."""

    __slots__ = ("_clock", "_due", "_due_ts", "_lock", "_opened_at", "_probe_until", "_storage", "cb", "fast",
                 "key", "shared", "storage")  # fmt: skip

    def __init__(
        self,
        key: BreakerKey,
        *,
        fail_max: int,
        reset_timeout: float,
        clock: Clock,
        listeners: list[Any],  # ours and pybreaker.CircuitBreakerListener objects
        storage: pybreaker.CircuitBreakerStorage | None = None,
    ) -> None:
        import pybreaker

        self.key = key
        # pybreaker's state lives in this storage object; we keep the reference and read the
        # state from it on the fast path (pybreaker has no public accessor for its storage)
        self._storage = storage if storage is not None else pybreaker.CircuitMemoryStorage(CLOSED)
        #: True when the state is shared with other processes (Redis): it may change behind
        #: this process's back, so the opened-at time is read from the storage.
        self.shared = not isinstance(self._storage, pybreaker.CircuitMemoryStorage)
        #: pybreaker's state storage, read-only for others: the engine's fast path reads its
        #: ``state`` and ``counter`` (pybreaker's public storage API) instead of calling
        #: :meth:`admit` and :meth:`success` when the breaker is closed and stays so
        self.storage = self._storage
        self.cb = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            listeners=listeners,
            name=key_label(key),
            state_storage=self._storage,
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._probe_until: datetime | None = None
        # When it opened, by *our* clock (pybreaker stamps its own wall clock, which an
        # injected clock would disagree with); set by the event listener on every opening.
        self._opened_at: datetime | None = None
        self._due: tuple[datetime, float, datetime] | None = None  # see _probe_due
        self._due_ts = math.inf  # self._due's due time as a POSIX timestamp
        for listener in listeners:
            if isinstance(listener, _EventListener):
                listener.breaker = self
        #: skip reporting a success that changes nothing (closed, no failures counted),
        #: unless user listeners want to hear of every success.
        self.fast = len(listeners) == 1

    # -- the gate ------------------------------------------------------------------------------
    def admit(self, hold_s: float = 0.0) -> Admission:
        """Admission.REJECT, NORMAL (closed) or PROBE (the one call allowed while half-open).

        Args:
            hold_s: how long the call may take; a probe's permit is held at least this long
                (and at least reset_timeout), after which a hung probe no longer blocks others.
        """
        state = self._storage.state
        if state == CLOSED:
            return NORMAL
        if state == OPEN and (due := self._probe_due()) is not None:
            # open and not yet due: refused without the lock (a refusal hands out no permit,
            # so there is nothing to serialize; a run against an open breaker is all refusals).
            # With the default clock, the due time's POSIX timestamp against time.time(): the
            # same instant as datetime.now(UTC) < due, a quarter of the cost per refusal.
            if self._clock is _utcnow:
                if time.time() < self._due_ts:
                    return REJECT
            elif self._clock() < due:
                return REJECT
        with self._lock:
            state = self._storage.state
            if state == CLOSED:
                return NORMAL
            now = self._clock()
            if state == OPEN and (due := self._probe_due()) is not None and now < due:
                return REJECT
            if self._probe_until is not None and now < self._probe_until:
                return REJECT  # a probe is already in flight
            # a hung probe re-permits after another reset_timeout (as Polly does)
            self._probe_until = now + timedelta(seconds=max(self.cb.reset_timeout, hold_s))
        if state == OPEN:
            self.cb.half_open()
        return PROBE

    def _probe_due(self) -> datetime | None:
        """When an open breaker lets a probe through: opened_at + reset_timeout, computed once
        per opening (and per reset_timeout, which pybreaker lets callers change)."""
        opened = self._opened()
        if opened is None:  # opened behind our listener's back: due at once, as before
            return None
        reset = self.cb.reset_timeout
        cached = self._due
        if cached is None or cached[0] is not opened or cached[1] != reset:
            due = opened + timedelta(seconds=reset)
            cached = self._due = (opened, reset, due)
            self._due_ts = due.timestamp()
        return cached[2]

    def _opened(self) -> datetime | None:
        """When it last opened: by our clock when this process saw it open; from the storage
        when the state is shared (another process may have opened it; whole seconds in Redis)."""
        if not self.shared:
            return self._opened_at
        stored = self._storage.opened_at
        if stored is None:
            return self._opened_at
        if stored.tzinfo is None:  # pybreaker's Redis storage returns naive UTC
            stored = stored.replace(tzinfo=UTC)
        if self._opened_at is not None and self._opened_at > stored:
            return self._opened_at
        return stored

    # -- outcomes ------------------------------------------------------------------------------
    def success(self, admitted: Admission) -> None:
        """Report a successful call that :meth:`admit` let through."""
        state = self._storage.state
        if admitted is PROBE:
            self._probe_until = None
            if state != HALF_OPEN:
                return
        elif state != CLOSED or (self.fast and self._storage.counter == 0):
            return
        try:
            self.cb.call(_noop)
        except Exception as exc:  # noqa: BLE001 - bookkeeping must never break a call
            _report_listener_error(self.cb, exc)

    def failure(self, admitted: Admission, exc: BaseException) -> None:
        """Report a failed (error or timeout) call that :meth:`admit` let through."""
        state = self._storage.state
        if admitted is PROBE:
            self._probe_until = None
            if state != HALF_OPEN:
                return
        elif state != CLOSED:
            return
        try:
            self.cb.call(_raise, exc)
        except _circuit_breaker_error():
            pass  # the failure tripped the breaker: expected
        except BaseException as raised:  # noqa: BLE001 - the re-raised original, or a listener's
            if raised is not exc:
                _report_listener_error(
                    self.cb, raised if isinstance(raised, Exception) else Exception(raised)
                )

    def ignore(self, admitted: Admission) -> None:
        """Report a call that was cancelled by its caller: it counts as nothing."""
        if admitted is PROBE:
            self._probe_until = None

    def reset(self) -> None:
        """Close the breaker and forget its failures."""
        with self._lock:
            self._probe_until = None
        self.cb.close()

    # -- monitoring ----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """closed, open or half-open (pybreaker's own state, not recomputed)."""
        return str(self._storage.state)

    @property
    def fail_counter(self) -> int:
        """Consecutive failures counted."""
        return int(self._storage.counter)

    @property
    def opened_at(self) -> datetime | None:
        """When the breaker last opened, while it is not closed."""
        return None if self.state == CLOSED else self._opened()

    def seconds_until_probe(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when one would pass now).

        pybreaker keeps reporting "open" after reset_timeout until the next call, so this is
        computed from opened_at rather than read from the state.
        """
        state = self.state
        if state == CLOSED:
            return 0.0
        now = self._clock()
        opened = self._opened()
        if state == OPEN and opened is not None:
            due = opened + timedelta(seconds=self.cb.reset_timeout)
            return max(0.0, (due - now).total_seconds())
        if self._probe_until is not None:
            return max(0.0, (self._probe_until - now).total_seconds())
        return 0.0

    def __repr__(self) -> str:
        return f"<Breaker {key_label(self.key)} {self.state} fail_counter={self.fail_counter}>"


class BreakerBoard:
    """Every breaker of a runner, by key; shows itself as a DataFrame and resets one or all.

    Args:
        fail_max: consecutive failures that open a breaker.
        reset_timeout: seconds an open breaker waits before letting one probe through.
        clock: returns the current aware UTC datetime; injectable for tests.
        listeners: pybreaker listeners added to every breaker; exceptions in them are
            logged, never raised into a call.
        storage: where breaker state lives: "memory" (the default: this process), a Redis URL
            (``redis://host:6379/0``; extra ``redis``) or a ``redis.Redis`` client, so that
            every process using the same Redis shares each breaker (see _breaker_storage).
        namespace: the prefix of every breaker's Redis keys (``<namespace>:<breaker>:...``);
            runners sharing breakers must use the same one.
    """

    def __init__(
        self,
        *,
        fail_max: int = 3,
        reset_timeout: float = 60.0,
        clock: Clock | None = None,
        listeners: Iterable[pybreaker.CircuitBreakerListener] = (),
        storage: object = None,
        namespace: str = "intgkit",
    ) -> None:
        if isinstance(fail_max, bool) or not isinstance(fail_max, int) or fail_max < 1:
            raise UsageError(f"fail_max must be a whole number of failures >= 1, got {fail_max!r}")
        if (
            isinstance(reset_timeout, bool)
            or not isinstance(reset_timeout, (int, float))
            or not 0 < reset_timeout < float("inf")
        ):
            raise UsageError(
                f"reset_timeout must be a positive finite number of seconds, got {reset_timeout!r}"
            )
        self.fail_max = fail_max
        self.reset_timeout = float(reset_timeout)
        self.clock: Clock = clock or _utcnow
        self._user_listeners = [_SafeListener(li) for li in listeners]
        self._breakers: dict[BreakerKey, Breaker] = {}
        self._callbacks: list[Callable[[BreakerKey, str, str], None]] = []
        self._lock = threading.Lock()
        #: Per integration: threads of plain calls that timed out (or were cancelled) and
        #: still run; the engine counts them up, their threads count them down as they end.
        self.abandoned_threads: dict[str, int] = {}
        from ._breaker_storage import storage_factory

        self._storage_factory, self.storage = storage_factory(storage, namespace)

    def get(self, key: BreakerKey) -> Breaker:
        """The breaker for ``key``, created closed on first use."""
        b = self._breakers.get(key)
        if b is None:
            with self._lock:
                b = self._breakers.get(key)
                if b is None:
                    b = Breaker(
                        key,
                        fail_max=self.fail_max,
                        reset_timeout=self.reset_timeout,
                        clock=self.clock,
                        listeners=[_EventListener(self, key), *self._user_listeners],
                        storage=self._storage_factory(key_label(key)),
                    )
                    self._breakers[key] = b
        return b

    def on_change(self, callback: Callable[[BreakerKey, str, str], None]) -> Callable[[], None]:
        """Call ``callback(key, old_state, new_state)`` on every state change.

        Returns a function that unsubscribes it (calling it again does nothing), for a panel
        or a notebook cell that goes away while the runner lives on.
        """
        if not callable(callback):
            raise UsageError(
                f"on_change takes a callable(key, old_state, new_state), got {type(callback).__name__}"
            )
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def reset(self, key: str | BreakerKey | None = None) -> None:
        """Close one breaker (by key, label, or integration name: all its targets) or all."""
        if key is None:
            targets = list(self._breakers.values())
        else:
            targets = [b for k, b in self._breakers.items() if key == k or key == key_label(k) or key == k[0]]
            if not targets:
                from ._errors import list_names

                raise UsageError(
                    f"no breaker {key!r}; breakers: {list_names(key_label(k) for k in self._breakers)}"
                )
        for b in targets:
            b.reset()
        logger().info("breakers_reset", breakers=[key_label(b.key) for b in targets])

    def __getitem__(self, key: str | BreakerKey) -> Breaker:
        for k, b in self._breakers.items():
            if key == k or key == key_label(k):
                return b
        from ._errors import list_names

        raise KeyError(f"no breaker {key!r}; breakers: {list_names(key_label(k) for k in self._breakers)}")

    def __iter__(self) -> Iterator[Breaker]:
        return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per breaker, the to_frame() columns as keys (no pandas needed)."""
        return [
            {
                "key": key_label(b.key),
                "integration": b.key[0],
                "target": b.key[1],
                "state": b.state,
                "fail_counter": b.fail_counter,
                "opened_at": b.opened_at,
                "reset_timeout": b.cb.reset_timeout,
                "seconds_until_probe": b.seconds_until_probe(),
                "abandoned_threads": self.abandoned_threads.get(b.key[0], 0),
            }
            for b in self
        ]

    def to_frame(self) -> pd.DataFrame:
        """One row per breaker: key, integration, target, state, fail_counter, opened_at,
        reset_timeout, seconds_until_probe, abandoned_threads (per integration: threads of
        plain calls that timed out and are still running)."""
        import pandas as pd

        rows = self.rows()
        frame = pd.DataFrame(
            rows,
            columns=[
                "key",
                "integration",
                "target",
                "state",
                "fail_counter",
                "opened_at",
                "reset_timeout",
                "seconds_until_probe",
                "abandoned_threads",
            ],
        )
        return frame.astype(
            {
                "key": "string",
                "integration": "string",
                "target": "string",
                "state": pd.CategoricalDtype([CLOSED, OPEN, HALF_OPEN]),
                "fail_counter": "int64",
                "opened_at": "datetime64[ns, UTC]",
                "reset_timeout": "float64",
                "seconds_until_probe": "float64",
                "abandoned_threads": "int64",
            }
        )

    def __repr__(self) -> str:
        if not self._breakers:
            return f"BreakerBoard(no breakers yet; storage: {self.storage})"
        return f"BreakerBoard\n{self.to_frame().to_string(index=False)}"

    def _repr_html_(self) -> str:
        from ._html import breakers_html

        return breakers_html(self.rows())

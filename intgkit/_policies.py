"""Per-integration policies: retries (Retry) and shared rate limits (RateLimit, TokenBucket).

A call's life (docs/architecture.md, "Policies"): queued for a worker -> waiting for a
rate-limit token -> running, attempt 1..n with backoff between -> one result. The call's
timeout covers the attempts and the backoffs; the token waits and the queue do not count.

- :class:`Retry` says *whether* and *when* to try again: only on the declared exceptions,
  never sooner than the server's Retry-After, with stamina's backoff formula otherwise, and
  never a retry that cannot finish before the call's deadline (it is not started).
- :class:`RateLimit` is a token bucket's settings; :class:`TokenBucket` the bucket itself,
  kept in a process-wide board (:data:`LIMITERS`) so every call and every run of the
  process shares it, whatever event loop or thread each run uses.

Why neither stamina's loop nor aiolimiter's bucket is used at run time, measured, is in
docs/architecture.md: stamina's retry hooks are process-global and by default print each
retry's exception repr (secrets included) to stdout, its ``timeout`` is no deadline, and a
``retry_context`` costs ~47 us per call where a whole call costs ~4 us; an aiolimiter
``AsyncLimiter`` belongs to the first event loop that uses it, and intgkit runs each ``run()``
on its own loop (one in a worker thread inside Jupyter).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._errors import TransientError, UsageError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "LIMITERS",
    "LimiterBoard",
    "RateLimit",
    "RateLimited",
    "Retry",
    "TokenBucket",
    "keyed_digest",
    "validate_cache_ttl",
    "validate_max_concurrency",
]

_monotonic = time.monotonic

#: One random key per process: digests of setting values (cache keys, rate-limit keys) can be
#: compared within the process but are worthless outside it (no offline guessing of a token).
_DIGEST_KEY = os.urandom(32)


def keyed_digest(parts: Iterable[str]) -> str:
    """A short keyed hash of ``parts``: equal inputs give equal digests in this process only.

    Used so that a cache key or a rate-limit key can depend on a secret (an API token)
    without the secret, or a plain hash of it, ever being stored.
    """
    mac = hmac.new(_DIGEST_KEY, digestmod=hashlib.sha256)
    for p in parts:
        b = p.encode("utf-8", "surrogatepass")
        mac.update(len(b).to_bytes(8, "big"))
        mac.update(b)
    return mac.hexdigest()[:16]


def _number(value: object, what: str, *, positive: bool, example: str) -> float:
    """A finite float (> 0 when ``positive``, else >= 0), or a UsageError naming what is right."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{what} must be a number, e.g. {example}; got {type(value).__name__} {value!r}")
    v = float(value)
    ok = v > 0 if positive else v >= 0
    if not ok or math.isinf(v):  # NaN fails both comparisons
        bound = "positive" if positive else "zero or positive"
        raise UsageError(f"{what} must be a {bound} finite number, e.g. {example}; got {value!r}")
    return v


def validate_cache_ttl(value: object, what: str = "cache_ttl") -> float | None:
    """Seconds a result may be reused (0: never cache), or None for "not set"."""
    if value is None:
        return None
    return _number(value, what, positive=False, example="600 (ten minutes), or 0 for no cache")


def validate_max_concurrency(value: object, what: str = "max_concurrency") -> int | None:
    """An integration's bulkhead: a whole number >= 1, or None for "only the run's limit"."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"{what} must be a whole number >= 1 (e.g. 4) or None, got {value!r}")
    return value


# -- retries ---------------------------------------------------------------------------------------


def _exception_types(on: object) -> tuple[type[Exception], ...]:
    types = on if isinstance(on, tuple) else (on,)
    if not types:
        raise UsageError("Retry(on=...) needs at least one exception class, e.g. on=(ConnectionError,)")
    for t in types:
        if not (isinstance(t, type) and issubclass(t, Exception)):
            raise UsageError(
                f"Retry(on=...) takes exception classes (subclasses of Exception), e.g. "
                f"on=(ConnectionError, intgkit.TransientError); got {t!r}"
            )
    return types


@dataclass(frozen=True, slots=True, init=False)
class Retry:
    """Retry a call on the declared exceptions, with backoff, within the call's time limit.

    Args:
        attempts: how many times the integration may be called in all (1: no retry).
        on: the exception classes worth retrying (default: :class:`~intgkit.TransientError`
            only). Anything else fails the call at once; a cancellation is never retried.
        wait_initial, wait_max, wait_jitter, wait_exp_base: the backoff before retry n is
            ``min(wait_max, wait_initial * wait_exp_base ** (n - 1) + uniform(0, wait_jitter))``
            seconds, stamina's formula and defaults.
        max_retry_after: the longest server-requested wait (Retry-After) worth honouring; a
            longer one ends the call instead (None: any, bounded by the call's timeout).

    A server's Retry-After is obeyed exactly (never retried sooner) and replaces the
    backoff. A retry whose wait plus another attempt (as long as the last one took) would
    pass the call's deadline is not started; the result says so.
    """

    attempts: int
    on: tuple[type[Exception], ...]
    wait_initial: float
    wait_max: float
    wait_jitter: float
    wait_exp_base: float
    max_retry_after: float | None

    def __init__(
        self,
        attempts: int = 3,
        on: type[Exception] | tuple[type[Exception], ...] = (TransientError,),
        *,
        wait_initial: float = 0.1,
        wait_max: float = 5.0,
        wait_jitter: float = 1.0,
        wait_exp_base: float = 2.0,
        max_retry_after: float | None = 300.0,
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise UsageError(
                f"Retry(attempts=...) is how many times a call may be made in all: a whole number "
                f">= 1 (1 means no retry), e.g. attempts=4; got {attempts!r}"
            )
        s = object.__setattr__
        s(self, "attempts", attempts)
        s(self, "on", _exception_types(on))
        s(
            self,
            "wait_initial",
            _number(wait_initial, "Retry(wait_initial=...)", positive=False, example="0.1"),
        )
        s(self, "wait_max", _number(wait_max, "Retry(wait_max=...)", positive=False, example="5.0"))
        s(self, "wait_jitter", _number(wait_jitter, "Retry(wait_jitter=...)", positive=False, example="1.0"))
        base = _number(wait_exp_base, "Retry(wait_exp_base=...)", positive=True, example="2")
        if base < 1:
            raise UsageError(f"Retry(wait_exp_base=...) must be >= 1 (e.g. 2), got {wait_exp_base!r}")
        s(self, "wait_exp_base", base)
        s(
            self,
            "max_retry_after",
            None
            if max_retry_after is None
            else _number(max_retry_after, "Retry(max_retry_after=...)", positive=False, example="300"),
        )

    def __repr__(self) -> str:
        names = ", ".join(t.__name__ for t in self.on)
        return f"Retry(attempts={self.attempts}, on=({names}{',' if len(self.on) == 1 else ''}))"

    def backoff(self, failed_attempt: int) -> float:
        """The wait after attempt ``failed_attempt`` (1-based) failed, jitter included."""
        jitter = random.uniform(0, self.wait_jitter) if self.wait_jitter else 0.0
        try:
            return min(self.wait_max, self.wait_initial * self.wait_exp_base ** (failed_attempt - 1) + jitter)
        except OverflowError:
            return self.wait_max

    def next_wait(
        self, exc: BaseException, failed_attempt: int, *, time_left: float | None, attempt_s: float
    ) -> float | str | None:
        """What to do after attempt ``failed_attempt`` raised ``exc``.

        Returns:
            None when ``exc`` is not one to retry (the call fails with it as usual); a wait in
            seconds before the next attempt; or a sentence saying why the retry that ``exc``
            asks for is not made (attempts used up, a Retry-After too long or past the deadline).
        """
        if not isinstance(exc, self.on):  # CancelledError is no Exception: never retried
            return None
        if failed_attempt >= self.attempts:
            return f"gave up after {self.attempts} attempts"
        server = getattr(exc, "retry_after_s", None)
        if isinstance(server, (int, float)) and not isinstance(server, bool) and server >= 0:
            wait = float(server)
            if self.max_retry_after is not None and wait > self.max_retry_after:
                return (
                    f"the server asked to wait {wait:g} s (Retry-After), more than "
                    f"max_retry_after={self.max_retry_after:g} s; retry not started"
                )
        else:
            wait = self.backoff(failed_attempt)
        if time_left is not None and wait + attempt_s > time_left:
            return (
                f"retry not started: waiting {wait:.3g} s plus another attempt (~{attempt_s:.3g} s, as "
                f"long as the last) does not fit in the {max(time_left, 0.0):.3g} s left of the "
                f"call's time limit"
            )
        return wait


# -- rate limits -----------------------------------------------------------------------------------

KeyFunc = Callable[[str | None], str]


@dataclass(frozen=True, slots=True, init=False)
class RateLimit:
    """A token bucket: ``rate`` calls per ``per`` seconds, shared by the whole process.

    Args:
        rate: tokens added per ``per`` seconds (a call, or an attempt, takes one).
        per: the period in seconds (default 1).
        burst: the bucket's size, what may go at once after a quiet spell (default ``rate``,
            as aiolimiter's ``AsyncLimiter``). Any ``per`` seconds may then hold up to
            ``burst + rate`` calls (:attr:`most_per_period`): twice ``rate`` by default. For a
            server's budget of "at most N per period", use :meth:`at_most`.
        key: one bucket per integration (None, the default), per target (``"target"``), or
            per whatever a function of the target returns (e.g. its host).
        max_wait: the longest a call waits for a token before it ends as a ``RateLimited``
            error, alone (None, the default: as long as it takes; the rate paces the run).

    Waiting for a token does not count against the call's timeout.
    """

    rate: float
    per: float
    burst: float
    key: str | KeyFunc | None
    max_wait: float | None

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        *,
        burst: float | None = None,
        key: str | KeyFunc | None = None,
        max_wait: float | None = None,
    ) -> None:
        s = object.__setattr__
        s(self, "rate", _number(rate, "RateLimit(rate=...)", positive=True, example="10"))
        s(self, "per", _number(per, "RateLimit(per=...) (seconds)", positive=True, example="1.0"))
        cap = (
            self.rate
            if burst is None
            else _number(burst, "RateLimit(burst=...)", positive=True, example="10")
        )
        if cap < 1:
            raise UsageError(
                f"RateLimit burst (the bucket's size, default rate={self.rate:g}) must be at least 1 "
                f"token, or no call could ever start; pass burst=1 for a slow, even pace"
            )
        s(self, "burst", cap)
        if not (key is None or key == "target" or callable(key)):
            raise UsageError(
                f"RateLimit(key=...) is None (one bucket per integration), 'target' or a function "
                f"of the target returning a string; got {key!r}"
            )
        s(self, "key", key)
        if max_wait is not None and not (
            isinstance(max_wait, float) and math.isinf(max_wait) and max_wait > 0
        ):
            max_wait = _number(max_wait, "RateLimit(max_wait=...)", positive=False, example="60")
        s(self, "max_wait", max_wait)

    @classmethod
    def at_most(
        cls,
        limit: float,
        per: float = 1.0,
        *,
        burst: float | None = None,
        key: str | KeyFunc | None = None,
        max_wait: float | None = None,
    ) -> RateLimit:
        """At most ``limit`` calls in *any* ``per`` seconds, wherever the window falls.

        A server's budget such as Cloudflare's "1,200 requests per 5 minutes" counts every
        request of the period, so a bucket of the whole budget refilling at ``limit / per``
        would let a quiet spell's full bucket plus the refill exceed it (up to twice the
        budget in one period). Here the bucket holds ``burst`` and refills ``limit - burst``
        per ``per`` seconds: what one period can see, ``burst + (limit - burst)``, is the
        budget. Same in process and in Redis (it is an ordinary :class:`RateLimit`).

        Args:
            limit: the most calls any ``per`` seconds may hold (a whole budget, e.g. 1200).
            per: the period in seconds.
            burst: what may go at once after a quiet spell: at least 1, less than ``limit``
                (the rest paces the period). Default a tenth of ``limit`` (at least 1).
            key, max_wait: as for :class:`RateLimit`.

        Raises:
            UsageError: a limit below 2, or a burst below 1 or not below the limit (nothing
                would be left to refill), or a value that is not a finite number.
        """
        total = _number(limit, "RateLimit.at_most(limit=...)", positive=True, example="1200")
        if burst is None:
            cap = max(1.0, math.floor(total / 10))
        else:
            cap = _number(burst, "RateLimit.at_most(burst=...)", positive=True, example="100")
        if cap < 1 or cap >= total:
            raise UsageError(
                f"RateLimit.at_most(limit={limit!r}, burst={burst!r}): burst (what may go at once) "
                f"must be at least 1 and less than the limit, so that the rest, limit - burst, "
                f"refills over the period; e.g. RateLimit.at_most(1200, per=300, burst=100)"
            )
        return cls(total - cap, per, burst=cap, key=key, max_wait=max_wait)

    @property
    def most_per_period(self) -> float:
        """The most calls any ``per`` seconds can hold: a full bucket plus one period's refill."""
        return self.burst + self.rate

    @property
    def interval(self) -> float:
        """Seconds between two tokens at the steady rate."""
        return self.per / self.rate

    def key_for(self, target: str | None) -> str:
        """The bucket key of a call for ``target`` ('' for the integration's one bucket)."""
        if self.key is None:
            return ""
        if self.key == "target":
            return target or ""
        assert callable(self.key)
        return str(self.key(target))

    def __repr__(self) -> str:
        extra = f", burst={self.burst:g}" if self.burst != self.rate else ""
        return f"RateLimit({self.rate:g}, per={self.per:g}{extra})"


class RateLimited(Exception):
    """No token within the wait a call may spend on one (the result's ``error_type``)."""


class TokenBucket:
    """One token bucket, safe to share between threads and event loops.

    A reservation design (GCRA-like): taking a token subtracts one from the level even when
    none is left, and the negative level tells how long this taker waits: ``-level / rate``
    seconds. Waiters are served in arrival order, each sleeps on its own loop, and no task
    or loop owns the bucket. A cancelled waiter gives its token back.
    """

    __slots__ = ("_fill", "_level", "_lock", "_stamp", "capacity", "label", "limit", "waiting")

    def __init__(self, limit: RateLimit, label: str) -> None:
        self.limit = limit
        self.label = label
        self.capacity = limit.burst
        self._fill = limit.rate / limit.per  # tokens per second
        self._level = limit.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()
        #: calls that hold a reservation and are still waiting for its time
        self.waiting = 0

    def reconfigure(self, limit: RateLimit) -> None:
        """Take new settings, keeping what was used (a runner override of the same bucket)."""
        with self._lock:
            self._refill(time.monotonic())
            self.limit = limit
            self.capacity = limit.burst
            self._fill = limit.rate / limit.per
            self._level = min(self._level, self.capacity)

    def _refill(self, now: float) -> None:
        level = self._level + (now - self._stamp) * self._fill
        self._level = level if level < self.capacity else self.capacity
        self._stamp = now

    def take_now(self) -> bool:
        """Take a token if one is there now; False (taking nothing) if the caller would wait.

        Every call with a rate limit comes here first (the engine's fast path), so it is
        written for speed: no ``with`` block, nothing that can raise between acquire and
        release (float arithmetic on floats), module-level clock.
        """
        lock = self._lock
        lock.acquire()
        now = _monotonic()
        level = self._level + (now - self._stamp) * self._fill
        self._stamp = now
        if level >= 1.0:
            cap = self.capacity
            self._level = (level if level < cap else cap) - 1.0
            lock.release()
            return True
        self._level = level
        lock.release()
        return False

    def reserve(self, max_wait: float | None = None) -> float | None:
        """Take a token now; returns the seconds until it is usable (0.0: at once).

        Returns None, taking nothing, when the wait would exceed ``max_wait``.
        """
        with self._lock:
            now = time.monotonic()
            level = self._level + (now - self._stamp) * self._fill
            if level > self.capacity:
                level = self.capacity
            self._stamp = now
            if level >= 1.0:
                self._level = level - 1.0
                return 0.0
            wait = (1.0 - level) / self._fill
            if max_wait is not None and wait > max_wait:
                self._level = level
                return None
            self._level = level - 1.0
            self.waiting += 1
            return wait

    def release(self, *, refund: bool) -> None:
        """A waiter's reservation is over: it started (refund False) or gave up (True)."""
        with self._lock:
            self.waiting -= 1
            if refund:
                self._refill(time.monotonic())
                self._level = min(self._level + 1.0, self.capacity)

    async def acquire(self, max_wait: float | None = None) -> float:
        """Wait for a token on the running loop; returns the seconds waited.

        Raises:
            RateLimited: when the wait would exceed ``max_wait`` (nothing is taken).
        """
        wait = self.reserve(max_wait)
        if wait is None:
            raise RateLimited(self.refusal(max_wait))
        if wait > 0.0:
            import asyncio

            try:
                await asyncio.sleep(wait)
            except BaseException:
                self.release(refund=True)
                raise
            self.release(refund=False)
        return wait

    def refusal(self, max_wait: float | None) -> str:
        """The error text when no token comes within ``max_wait``."""
        return (
            f"rate limit {self.limit.rate:g} per {self.limit.per:g} s ({self.label}): the next "
            f"token is {self.next_token_in():.3g} s away, beyond the {max_wait or 0.0:g} s this "
            f"call may wait"
        )

    def tokens(self) -> float:
        """Tokens left now (0 while callers wait for reserved ones)."""
        with self._lock:
            self._refill(time.monotonic())
            return max(self._level, 0.0)

    def next_token_in(self) -> float:
        """Seconds until a new caller would get a token (0.0: one is there now)."""
        with self._lock:
            self._refill(time.monotonic())
            return 0.0 if self._level >= 1.0 else (1.0 - self._level) / self._fill

    def __repr__(self) -> str:
        return f"<TokenBucket {self.label} {self.limit!r} tokens={self.tokens():.2f} waiting={self.waiting}>"


@dataclass
class LimiterBoard:
    """Every token bucket of the process, by (scope, key); one board, :data:`LIMITERS`.

    A scope is an integration's name (or a name an integration picks for a budget it shares,
    e.g. one API behind two integrations); the key splits it further (per token, per host).
    """

    _buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, scope: str, limit: RateLimit, key: str = "") -> TokenBucket:
        """The bucket of (scope, key), created on first use; new settings reconfigure it."""
        bucket = self._buckets.get((scope, key))
        if bucket is None:
            with self._lock:
                bucket = self._buckets.get((scope, key))
                if bucket is None:
                    label = scope if not key else f"{scope}[{key}]"
                    bucket = self._buckets[(scope, key)] = self._make(scope, limit, key, label)
                    return bucket
        if bucket.limit is not limit and bucket.limit != limit:
            bucket.reconfigure(limit)
        return bucket

    def _make(self, scope: str, limit: RateLimit, key: str, label: str) -> TokenBucket:
        """A new bucket (a board whose buckets live elsewhere, e.g. in Redis, overrides it)."""
        return TokenBucket(limit, label)

    def buckets(self, scopes: Sequence[str] | None = None) -> list[TokenBucket]:
        """The buckets, optionally only those of ``scopes``, in creation order."""
        items = list(self._buckets.items())
        return [b for (scope, _k), b in items if scopes is None or scope in scopes]

    def reset(self) -> None:
        """Forget every bucket (tests; a new bucket starts full)."""
        with self._lock:
            self._buckets.clear()

    def rows(self, scopes: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """One row per bucket: what the panel and ``runner.rate_limits`` show."""
        now = datetime.now(UTC)
        out = []
        for (scope, key), b in list(self._buckets.items()):
            if scopes is not None and scope not in scopes:
                continue
            wait = b.next_token_in()
            out.append(
                {
                    "scope": scope,
                    "key": key,
                    "rate": b.limit.rate,
                    "per_s": b.limit.per,
                    "burst": b.capacity,
                    "tokens": round(b.tokens(), 3),
                    "waiting": b.waiting,
                    "next_token_in_s": round(wait, 3),
                    "next_token_at": now + timedelta(seconds=wait),
                }
            )
        return out

    def frame(self, scopes: Sequence[str] | None = None) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame with fixed columns and dtypes."""
        import pandas as pd

        rows = self.rows(scopes)
        frame = pd.DataFrame(rows, columns=_FRAME_COLUMNS)
        return frame.astype(_FRAME_DTYPES)


_FRAME_DTYPES: Mapping[str, str] = {
    "scope": "string",
    "key": "string",
    "rate": "float64",
    "per_s": "float64",
    "burst": "float64",
    "tokens": "float64",
    "waiting": "int64",
    "next_token_in_s": "float64",
    "next_token_at": "datetime64[ns, UTC]",
}
_FRAME_COLUMNS = list(_FRAME_DTYPES)

#: The process's token buckets: shared by every runner, run, loop and thread.
LIMITERS = LimiterBoard()

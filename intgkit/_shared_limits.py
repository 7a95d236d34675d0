"""Token buckets kept in Redis: one rate limit shared by every process that uses the same server.

``IntegrationRunner(rate_limit_storage="redis://host:6379/0")`` puts the runner's buckets in
Redis instead of the process's memory (:data:`~intgkit._policies.LIMITERS`). Every runner, in
any process or on any Dask worker, with the same server and ``breaker_namespace`` then takes
its tokens from one bucket per (integration, bucket key): together they are held to the limit.

How (docs/architecture.md, "Policies"):

- **Atomic.** One Lua script (EVALSHA, EVAL when the server does not have it yet) refills the
  bucket by the time elapsed on Redis's own clock (``TIME``: no client clock is trusted) and
  takes a token, or reserves one and returns the wait, as the in-memory bucket does. Keys are
  ``<namespace>:ratelimit:<integration>:<bucket key>`` (a hash of level and stamp) and expire
  once the bucket would be full again, so idle buckets cost nothing.
- **Fail clearly.** The client never retries and times out after 0.25 s (as the breakers'
  storage). The server is pinged when the runner is built (an unreachable one is a UsageError);
  if it becomes unreachable during a run, each call that needs a token ends as an error result
  (``error_type`` "RateLimitStorageError") naming the server and the problem: never a hang and
  never a call made without a token.
- Each token costs one round trip to Redis, made on the run's event loop (~0.1 ms on a LAN).
"""

from __future__ import annotations

import contextlib
from typing import Any

from ._policies import LimiterBoard, RateLimit, TokenBucket

__all__ = ["RedisLimiterBoard", "RedisTokenBucket", "limiter_board"]

#: KEYS[1]: the bucket. ARGV: tokens per second, capacity, max wait (< 0: none), mode.
#: Modes: "take" (a token now or nothing), "reserve" (a token, maybe in the future; or nothing
#: when the wait passes the max), "refund" (give one back), "peek" (only look).
#: Returns {wait as a string (-1: nothing taken), level after}; numbers travel as strings
#: because Redis truncates Lua numbers to integers.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local fill = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local mode = ARGV[4]
local s = redis.call('HMGET', KEYS[1], 'level', 'stamp')
local level = tonumber(s[1])
local stamp = tonumber(s[2])
if level == nil or stamp == nil then
  level = cap
  stamp = now
end
if now > stamp then
  level = level + (now - stamp) * fill
end
if level > cap then
  level = cap
end
local wait = 0
if mode == 'take' then
  if level >= 1 then level = level - 1 else wait = -1 end
elseif mode == 'reserve' then
  if level >= 1 then
    level = level - 1
  else
    wait = (1 - level) / fill
    if max_wait >= 0 and wait > max_wait then wait = -1 else level = level - 1 end
  end
elseif mode == 'refund' then
  level = math.min(level + 1, cap)
end
if mode ~= 'peek' then
  redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level), 'stamp', string.format('%.6f', now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(((cap - level) / fill + 1) * 1000))
end
return {string.format('%.17g', wait), string.format('%.17g', level)}
"""


class RedisTokenBucket(TokenBucket):
    """A :class:`TokenBucket` whose level lives in Redis; the same methods, one script call each.

    ``waiting`` counts this process's callers only. When Redis fails, :meth:`take_now` and
    :meth:`reserve` take nothing and :meth:`refusal` names the problem.
    """

    __slots__ = ("_board", "_failure", "_key")

    def __init__(self, limit: RateLimit, label: str, board: RedisLimiterBoard, key: str) -> None:
        super().__init__(limit, label)
        self._board = board
        self._key = key
        #: what went wrong in the last script call ("" when it worked)
        self._failure = ""

    def _eval(self, mode: str, max_wait: float | None = None) -> tuple[float, float] | None:
        """(wait, level) from the script, or None (and ``_failure`` set) when Redis failed."""
        limit = self.limit
        try:
            rate, cap, most = limit.rate / limit.per, limit.burst, -1.0 if max_wait is None else max_wait
            raw = self._board.script(keys=[self._key], args=[repr(rate), repr(cap), repr(most), mode])
            wait, level = float(raw[0]), float(raw[1])
        except Exception as exc:  # noqa: BLE001 - any failure of the store becomes the call's error
            self._failure = (
                f"the shared rate limit {limit.rate:g} per {limit.per:g} s ({self.label}) is kept in Redis "
                f"at {self._board.where}, which failed ({type(exc).__name__}); the call was not made. "
                f"Start Redis or fix rate_limit_storage"
            )
            return None
        self._failure = ""
        return wait, level

    def reconfigure(self, limit: RateLimit) -> None:
        """New settings apply from the next token (the level stays in Redis)."""
        with self._lock:
            self.limit = limit
            self.capacity = limit.burst
            self._fill = limit.rate / limit.per

    def take_now(self) -> bool:
        got = self._eval("take")
        return got is not None and got[0] >= 0.0

    def reserve(self, max_wait: float | None = None) -> float | None:
        got = self._eval("reserve", max_wait)
        if got is None or got[0] < 0.0:
            return None
        if got[0] > 0.0:
            with self._lock:
                self.waiting += 1
        return got[0]

    def release(self, *, refund: bool) -> None:
        with self._lock:
            self.waiting -= 1
        if refund:
            with contextlib.suppress(Exception):
                self._eval("refund")

    def refusal(self, max_wait: float | None) -> str:
        if self._failure:
            return self._failure
        return super().refusal(max_wait)

    @property
    def failed(self) -> bool:
        """Whether the last Redis call failed (the refusal is the store's fault, not the limit's)."""
        return bool(self._failure)

    def tokens(self) -> float:
        got = self._eval("peek")
        return float("nan") if got is None else max(got[1], 0.0)

    def next_token_in(self) -> float:
        got = self._eval("peek")
        if got is None:
            return 0.0
        return 0.0 if got[1] >= 1.0 else (1.0 - got[1]) / self._fill


class RedisLimiterBoard(LimiterBoard):
    """The runner's buckets when they live in Redis (``rate_limit_storage``)."""

    def __init__(self, client: Any, namespace: str, where: str) -> None:
        super().__init__()
        self.client = client
        self.namespace = namespace
        #: host:port/db of the server, never its password
        self.where = where
        self.script = client.register_script(_SCRIPT)

    def _make(self, scope: str, limit: RateLimit, key: str, label: str) -> TokenBucket:
        return RedisTokenBucket(limit, label, self, f"{self.namespace}:ratelimit:{scope}:{key}")


def limiter_board(storage: object, namespace: str) -> LimiterBoard | None:
    """None for "memory" (the process's :data:`LIMITERS`), else a board on Redis, pinged now."""
    from ._breaker_storage import connect_redis

    if storage is None or storage == "memory":
        return None
    client, where = connect_redis(storage, "rate_limit_storage")
    return RedisLimiterBoard(client, namespace, where)

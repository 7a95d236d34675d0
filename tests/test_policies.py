"""Policies on their own: Retry-After parsing, TransientError, Retry, RateLimit/TokenBucket, ResultCache."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

import intgkit
from intgkit._cache import ResultCache, estimate_size, settings_fingerprint
from intgkit._models import IntegrationResult, IntegrationSection, Status
from intgkit._policies import LIMITERS, RateLimited, TokenBucket, keyed_digest
from intgkit._retry_after import parse_retry_after

# -- Retry-After -----------------------------------------------------------------------------------

NOW = datetime(1994, 11, 6, 8, 49, 0, tzinfo=UTC)

# RFC 9110 §5.6.7: the three forms of one HTTP-date (37 s after NOW); §10.2.3's example "120".
RFC_CASES = [
    ("Sun, 06 Nov 1994 08:49:37 GMT", 37.0),  # IMF-fixdate
    ("Sunday, 06-Nov-94 08:49:37 GMT", 37.0),  # obsolete RFC 850 format
    ("Sun Nov  6 08:49:37 1994", 37.0),  # ANSI C asctime() format
    ("120", 120.0),
    (" 120 ", 120.0),
    ("0", 0.0),
    ("1.5", 1.5),  # not RFC digits, but servers send it and it is unambiguous
    (30, 30.0),
    (2.5, 2.5),
    (timedelta(seconds=7), 7.0),
    (datetime(1994, 11, 6, 8, 50, 0, tzinfo=UTC), 60.0),
    ("Sun, 06 Nov 1994 08:48:00 GMT", 0.0),  # in the past: now
]
BAD = [
    "soon",
    "",
    "-5",
    "nan",
    "inf",
    "1e12",
    "Sun, 99 Foo 1994 08:49:37 GMT",
    None,
    True,
    [1],
    b"\xff",
    "x" * 100,
]


@pytest.mark.parametrize(("value", "seconds"), RFC_CASES)
def test_retry_after_forms(value: object, seconds: float) -> None:
    """Seconds and the three HTTP-date forms of RFC 9110 become seconds from now."""
    assert parse_retry_after(value, now=NOW) == pytest.approx(seconds)


@pytest.mark.parametrize("value", BAD)
def test_retry_after_garbage_is_none(value: object) -> None:
    """Anything else is unusable (None), never an exception: the header comes from outside."""
    assert parse_retry_after(value, now=NOW) is None


def test_transient_error_http_date_from_now() -> None:
    """An HTTP-date retry_after counts from when the error is raised."""
    when = datetime.now(UTC) + timedelta(seconds=90)
    exc = intgkit.TransientError("HTTP 503", retry_after=when.strftime("%a, %d %b %Y %H:%M:%S GMT"))
    assert exc.retry_after_s is not None and 88 <= exc.retry_after_s <= 90
    assert str(exc) == "HTTP 503" and isinstance(exc, intgkit.IntgkitError)


def test_transient_error_unparseable_is_logged(logs: list[dict[str, object]]) -> None:
    """An unparseable retry_after is logged (value clipped) and left to the default backoff."""
    exc = intgkit.TransientError("HTTP 429", retry_after="in a while" + "!" * 200)
    assert exc.retry_after_s is None
    (event,) = [e for e in logs if e["event"] == "retry_after_unparseable"]
    assert event["log_level"] == "warning" and len(str(event["retry_after"])) <= 80
    # and the policy falls back to its own backoff
    wait = intgkit.Retry(attempts=3, wait_jitter=0).next_wait(exc, 1, time_left=None, attempt_s=0)
    assert wait == pytest.approx(0.1)


# -- Retry -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"attempts": 0}, "attempts"),
        ({"attempts": -1}, "attempts"),
        ({"attempts": 2.5}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"on": ()}, "at least one"),
        ({"on": (ValueError, "x")}, "exception classes"),
        ({"on": KeyboardInterrupt}, "exception classes"),
        ({"on": asyncio.CancelledError}, "exception classes"),
        ({"wait_initial": -1}, "wait_initial"),
        ({"wait_max": math.nan}, "wait_max"),
        ({"wait_exp_base": 0.5}, "wait_exp_base"),
        ({"max_retry_after": -3}, "max_retry_after"),
    ],
)
def test_retry_bad_input(kwargs: dict[str, object], fragment: str) -> None:
    """Bad Retry arguments are a UsageError naming the argument."""
    with pytest.raises(intgkit.UsageError, match=fragment):
        intgkit.Retry(**kwargs)  # type: ignore[arg-type]


def test_retry_backoff_is_stamina_formula() -> None:
    """Backoff n is min(wait_max, wait_initial * base**(n-1) + U(0, jitter)) (stamina's docs)."""
    r = intgkit.Retry(attempts=10, wait_initial=0.1, wait_max=5.0, wait_jitter=0, wait_exp_base=2)
    assert [r.backoff(n) for n in (1, 2, 3, 4, 7, 200)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 5.0, 5.0])
    jittered = intgkit.Retry(wait_initial=0.1, wait_jitter=1.0)
    samples = [jittered.backoff(1) for _ in range(200)]
    assert min(samples) >= 0.1 and max(samples) <= 1.1 and max(samples) - min(samples) > 0.5


def test_retry_only_declared_exceptions() -> None:
    """Undeclared exceptions (and cancellation) are not retried: next_wait is None."""
    r = intgkit.Retry(attempts=4, on=(ConnectionError,))
    assert r.next_wait(ValueError("x"), 1, time_left=None, attempt_s=0) is None
    assert r.next_wait(asyncio.CancelledError(), 1, time_left=None, attempt_s=0) is None
    assert r.next_wait(intgkit.TransientError("x"), 1, time_left=None, attempt_s=0) is None
    assert isinstance(r.next_wait(ConnectionResetError("x"), 1, time_left=None, attempt_s=0), float)


def test_retry_after_obeyed_and_bounded() -> None:
    """Retry-After replaces the backoff exactly; too long, past the deadline or out of attempts: a reason."""
    r = intgkit.Retry(attempts=3, wait_jitter=0, max_retry_after=60)
    exc = intgkit.TransientError("429", retry_after="7")
    assert r.next_wait(exc, 1, time_left=None, attempt_s=0.5) == 7.0
    assert "gave up after 3 attempts" in str(r.next_wait(exc, 3, time_left=None, attempt_s=0.5))
    too_long = r.next_wait(intgkit.TransientError("429", retry_after=61), 1, time_left=None, attempt_s=0)
    assert isinstance(too_long, str) and "max_retry_after=60" in too_long
    late = r.next_wait(exc, 1, time_left=7.2, attempt_s=0.5)
    assert isinstance(late, str) and "retry not started" in late and "7.2 s left" in late
    assert r.next_wait(exc, 1, time_left=7.6, attempt_s=0.5) == 7.0


# -- RateLimit and TokenBucket ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((-1,), {}, "rate"),
        ((math.nan,), {}, "rate"),
        ((0,), {}, "rate"),
        ((math.inf,), {}, "rate"),
        (("10",), {}, "rate"),
        ((10,), {"per": 0}, "per"),
        ((10,), {"per": -1.0}, "per"),
        ((10,), {"per": math.nan}, "per"),
        ((0.5,), {}, "at least 1"),
        ((10,), {"burst": 0.5}, "at least 1"),
        ((10,), {"key": "host"}, "key"),
        ((10,), {"max_wait": -1}, "max_wait"),
    ],
)
def test_rate_limit_bad_input(args: tuple[object, ...], kwargs: dict[str, object], fragment: str) -> None:
    """Negative, NaN or zero rates and periods are a UsageError naming the argument."""
    with pytest.raises(intgkit.UsageError, match=fragment):
        intgkit.RateLimit(*args, **kwargs)  # type: ignore[arg-type]


def test_rate_limit_keys() -> None:
    """One bucket per integration by default, per target, or per a function's answer."""
    assert intgkit.RateLimit(5).key_for("a.example") == ""
    assert intgkit.RateLimit(5, key="target").key_for("a.example") == "a.example"
    assert intgkit.RateLimit(5, key=lambda t: (t or "").split(".")[-1]).key_for("a.example") == "example"


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((math.nan,), {"burst": 1}, "limit"),
        (("1200",), {"burst": 1}, "limit"),
        ((1,), {}, "less than the limit"),  # the default burst (1) leaves nothing to refill
        ((10,), {"burst": 0.5}, "at least 1"),
        ((10,), {"burst": 0}, "burst"),
        ((10,), {"burst": 10}, "less than the limit"),
        ((10,), {"burst": 11}, "less than the limit"),
        ((10,), {"burst": math.nan}, "burst"),
        ((10,), {"burst": math.inf}, "burst"),
        ((10, 0), {"burst": 1}, "per"),
        ((10, math.nan), {"burst": 1}, "per"),
        ((10,), {"burst": 2, "max_wait": -1}, "max_wait"),
    ],
)
def test_rate_limit_at_most_bad_input(
    args: tuple[object, ...], kwargs: dict[str, object], fragment: str
) -> None:
    """A limit or burst that cannot hold a budget is a UsageError naming what would be right."""
    with pytest.raises(intgkit.UsageError, match=fragment):
        intgkit.RateLimit.at_most(*args, **kwargs)  # type: ignore[arg-type]


def test_rate_limit_at_most_is_a_bucket_of_burst_refilling_the_rest() -> None:
    """at_most(1200, per=300, burst=100): 100 at once, 1,100 more per 300 s, 1,200 per period."""
    limit = intgkit.RateLimit.at_most(1200, per=300.0, burst=100, key="target", max_wait=5)
    assert (limit.rate, limit.per, limit.burst, limit.key, limit.max_wait) == (1100, 300, 100, "target", 5)
    assert limit.most_per_period == 1200
    assert intgkit.RateLimit.at_most(1200, per=300.0).burst == 120  # a tenth by default
    assert intgkit.RateLimit.at_most(5).burst == 1
    assert intgkit.RateLimit(1200, per=300.0).most_per_period == 2400  # the plain bucket's worst


def _most_in_any_window(stamps: list[float], width: float) -> int:
    """The most stamps any half-open span (t - width, t] holds."""
    stamps = sorted(stamps)
    most, i = 0, 0
    for j, t in enumerate(stamps):
        while stamps[i] <= t - width:
            i += 1
        most = max(most, j - i + 1)
    return most


async def _greedy(bucket: TokenBucket, seconds: float) -> list[float]:
    """Four callers taking tokens as fast as the bucket gives them, for ``seconds``."""
    stamps: list[float] = []
    end = time.monotonic() + seconds

    async def taker() -> None:
        while time.monotonic() < end:
            await bucket.acquire()
            stamps.append(time.monotonic())

    await asyncio.gather(*(taker() for _ in range(4)))
    return stamps


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_at_most_holds_in_every_rolling_window(storage: str, request: pytest.FixtureRequest) -> None:
    """Greedy callers get at most ``limit`` tokens in any ``per`` seconds, in process and in Redis;
    the plain bucket of the same numbers gives more (which is why at_most exists)."""
    per, limit, burst, run_s = 0.5, 40, 8, 1.3

    def bucket(rate_limit: intgkit.RateLimit, scope: str) -> TokenBucket:
        if storage == "memory":
            return TokenBucket(rate_limit, scope)
        from intgkit._shared_limits import limiter_board

        board = limiter_board(request.getfixturevalue("redis_url"), f"at-most-{time.monotonic_ns()}")
        assert board is not None
        return board.get(scope, rate_limit)

    capped = await _greedy(bucket(intgkit.RateLimit.at_most(limit, per=per, burst=burst), "capped"), run_s)
    # a 1 ms narrower window absorbs float rounding at its edges, and nothing else
    assert _most_in_any_window(capped, per - 0.001) <= limit
    # ... and it did give what it may: the burst, then (limit - burst) per period, late wake-ups aside
    assert len(capped) >= 0.8 * (burst + (limit - burst) * run_s / per)
    plain = await _greedy(bucket(intgkit.RateLimit(limit, per=per), "plain"), run_s)
    assert _most_in_any_window(plain, per - 0.001) > limit + 10


async def test_bucket_burst_then_steady_rate() -> None:
    """RateLimit(5, per=0.5): 5 at once, then one every 0.1 s, in arrival order."""
    bucket = TokenBucket(intgkit.RateLimit(5, per=0.5), "t")
    t0 = time.monotonic()

    async def one(i: int) -> tuple[int, float]:
        await bucket.acquire()
        return i, time.monotonic() - t0

    got = await asyncio.gather(*(one(i) for i in range(10)))
    starts = [t for _i, t in got]
    assert all(t < 0.05 for t in starts[:5])
    for k, t in enumerate(starts[5:], start=1):  # the k-th waiter gets the k-th new token
        assert 0.1 * k - 0.01 <= t <= 0.1 * k + 0.4
    assert [i for i, _t in sorted(got, key=lambda p: p[1])] == list(range(10))


async def test_bucket_max_wait_refuses_without_taking() -> None:
    """A wait beyond max_wait raises RateLimited at once and takes no token."""
    bucket = TokenBucket(intgkit.RateLimit(1, per=10), "slow")
    await bucket.acquire()
    t0 = time.monotonic()
    with pytest.raises(RateLimited, match=r"rate limit 1 per 10 s \(slow\)"):
        await bucket.acquire(max_wait=1.0)
    assert time.monotonic() - t0 < 0.05 and bucket.waiting == 0
    assert 9.0 < bucket.next_token_in() <= 10.0


async def test_bucket_cancelled_waiter_refunds() -> None:
    """A waiter cancelled before its turn gives its token back to the next caller."""
    bucket = TokenBucket(intgkit.RateLimit(1, per=0.8), "c")
    start = time.monotonic()
    await bucket.acquire()
    waiter = asyncio.ensure_future(bucket.acquire())
    await asyncio.sleep(0.05)
    assert bucket.waiting == 1
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert bucket.waiting == 0
    await bucket.acquire()
    # the refunded slot is due 0.8 s after the start, a second one behind it at 1.6 s: the
    # midpoint keeps 0.4 s of margin either way on a busy machine
    assert time.monotonic() - start < 1.2


def test_bucket_shared_across_loops_and_threads() -> None:
    """Two event loops in two threads share one bucket (aiolimiter binds to one loop)."""
    LIMITERS.reset()
    limit = intgkit.RateLimit(4, per=0.4)  # 4 at once, then one per 0.1 s
    stamps: list[float] = []
    lock = threading.Lock()
    t0 = time.monotonic()

    def run() -> None:
        async def main() -> None:
            bucket = LIMITERS.get("shared", limit)
            for _ in range(6):
                await bucket.acquire()
                with lock:
                    stamps.append(time.monotonic() - t0)

        asyncio.run(main())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    stamps.sort()
    assert len(stamps) == 12
    # 12 tokens: 4 from the burst, 8 more at 0.1 s each -> the last at ~0.8 s, not ~0.2 s
    assert 0.75 <= stamps[-1] <= 2.0
    assert sum(1 for s in stamps if s < 0.05) == 4
    rows = LIMITERS.rows()
    assert [(r["scope"], r["key"], r["rate"], r["per_s"]) for r in rows] == [("shared", "", 4.0, 0.4)]
    LIMITERS.reset()


def test_limiter_board_frame_and_reconfigure() -> None:
    """The board's frame shows tokens and the next token's time; a new limit reconfigures the bucket."""
    LIMITERS.reset()
    b = LIMITERS.get("weather", intgkit.RateLimit(10, per=100.0))
    for _ in range(10):
        assert b.reserve() == 0.0
    assert LIMITERS.get("weather", intgkit.RateLimit(5, per=100.0)) is b and b.limit.rate == 5
    frame = LIMITERS.frame()
    assert list(frame.columns) == [
        "scope", "key", "rate", "per_s", "burst", "tokens", "waiting", "next_token_in_s", "next_token_at",
    ]  # fmt: skip
    row = frame.iloc[0]
    assert (
        row["scope"] == "weather" and row["tokens"] < 1 and 10 < row["next_token_in_s"] <= 20
    )  # 20 s a token, less what refilled since
    assert str(frame["next_token_at"].dtype) == "datetime64[ns, UTC]"
    LIMITERS.reset()


def test_keyed_digest_hides_values() -> None:
    """Digests depend on every part and its boundaries, and hold no part."""
    a = keyed_digest(["TOKEN", "=s3cret-value"])
    assert a == keyed_digest(["TOKEN", "=s3cret-value"])
    assert a != keyed_digest(["TOKEN", "=s3cret-valuf"]) != keyed_digest(["TOKEN=", "s3cret-value"])
    assert "s3cret" not in a and len(a) == 16


# -- the cache -------------------------------------------------------------------------------------


def _ok(target: str, rows: int = 1, payload: str = "x") -> IntegrationResult:
    section = IntegrationSection("s", tuple({"v": payload * 10} for _ in range(rows)))
    return IntegrationResult("i", target, Status.OK, (section,), started_at=datetime.now(UTC), duration_s=0.5)


def test_cache_only_ok_and_marks_cached() -> None:
    """Only ok results are kept; a hit says cached=True and keeps started_at and duration."""
    cache = ResultCache()
    ok = _ok("a")
    err = IntegrationResult("i", "b", Status.ERROR, error_type="X", error="boom")
    assert cache.put(("i", "a", "fp"), ok, ttl=60) and not cache.put(("i", "b", "fp"), err, ttl=60)
    hit = cache.get(("i", "a", "fp"))
    assert hit is not None and hit.cached and not ok.cached
    assert hit.started_at == ok.started_at and hit.duration_s == 0.5 and hit.sections == ok.sections
    assert cache.get(("i", "b", "fp")) is None and cache.get(("i", "a", "other-fp")) is None
    assert (cache.hits, cache.misses) == (1, 2)


def test_cache_ttl_expiry() -> None:
    """An entry is served until its time to live ends, then dropped."""
    cache = ResultCache()
    cache.put(("i", "a", "fp"), _ok("a"), ttl=10, now=100.0)
    assert cache.get(("i", "a", "fp"), now=109.9) is not None
    assert cache.get(("i", "a", "fp"), now=110.0) is None and len(cache) == 0 and cache.nbytes == 0


def test_cache_lru_by_entries_and_bytes() -> None:
    """Least recently used goes first, by count and by estimated bytes; clear() empties."""
    cache = ResultCache(max_entries=3)
    for t in "abc":
        cache.put(("i", t, "fp"), _ok(t), ttl=60)
    assert cache.get(("i", "a", "fp")) is not None  # a is now the most recent
    cache.put(("i", "d", "fp"), _ok("d"), ttl=60)
    assert [k[1] for k in cache._entries] == ["c", "a", "d"]
    one = estimate_size(_ok("x", rows=100))
    small = ResultCache(max_bytes=int(one * 2.5))
    for t in "pqr":
        small.put(("i", t, "fp"), _ok(t, rows=100), ttl=60)
    assert [k[1] for k in small._entries] == ["q", "r"] and small.nbytes <= small.max_bytes
    assert not ResultCache(max_bytes=one // 2).put(("i", "z", "fp"), _ok("z", rows=100), ttl=60)
    small.clear()
    assert len(small) == 0 and small.nbytes == 0


def test_cache_size_estimate_grows_with_payload() -> None:
    """The estimate tracks what the rows hold (10x the text, several times the bytes)."""
    big, small = estimate_size(_ok("a", rows=100, payload="y" * 100)), estimate_size(_ok("a", rows=100))
    assert big - small >= 100 * 990  # 100 rows, each holding 990 more characters


def test_settings_fingerprint_changes_with_values_never_holds_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new token gives a new fingerprint; neither the token nor its plain hash is in it."""
    import hashlib

    settings = (intgkit.Setting("WEATHER_TOKEN"), intgkit.Setting("WEATHER_BASE", required=False))
    monkeypatch.setenv("WEATHER_TOKEN", "tok-123456789")
    first = settings_fingerprint(settings)
    assert settings_fingerprint(settings) == first
    assert "tok-123456789" not in first and first not in hashlib.sha256(b"tok-123456789").hexdigest()
    monkeypatch.setenv("WEATHER_TOKEN", "tok-987654321")
    assert settings_fingerprint(settings) != first
    monkeypatch.setenv("WEATHER_TOKEN", "tok-123456789")
    monkeypatch.setenv("WEATHER_BASE", "https://api.example")
    assert settings_fingerprint(settings) != first


@pytest.mark.parametrize(("kwargs"), [{"max_entries": -1}, {"max_bytes": 1.5}, {"max_entries": True}])
def test_cache_bad_input(kwargs: dict[str, object]) -> None:
    """Cache bounds are whole numbers >= 0."""
    with pytest.raises(intgkit.UsageError, match="ResultCache"):
        ResultCache(**kwargs)  # type: ignore[arg-type]

"""Policies in the runner, against a real local aiohttp server that misbehaves on cue.

Retries (declared exceptions only, Retry-After obeyed, never past the call's timeout, one
breaker outcome per call, one log event per retry), rate limits (shared, token waits outside
the timeout), the bulkhead, the result cache and their bad input.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import intgkit
from intgkit import Status
from intgkit._policies import LIMITERS


class Scripted:
    """An HTTP server answering each path from a script: (status, headers, delay) in turn.

    When a path's script runs out it answers 200. Every request's arrival time is recorded,
    and how many requests are in flight per path (``peak``).
    """

    def __init__(self) -> None:
        self.scripts: dict[str, list[tuple[int, dict[str, str], float]]] = defaultdict(list)
        self.hits: dict[str, list[float]] = defaultdict(list)
        self.wall: dict[str, list[float]] = defaultdict(list)  # time.time() of each request
        self.inflight: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.hits[path].append(time.monotonic())
        self.wall[path].append(time.time())
        self.inflight[path] += 1
        self.peak[path] = max(self.peak[path], self.inflight[path])
        try:
            status, headers, delay = self.scripts[path].pop(0) if self.scripts[path] else (200, {}, 0.0)
            if delay:
                await asyncio.sleep(delay)
            return web.json_response(
                {"path": path, "n": len(self.hits[path])}, status=status, headers=headers
            )
        finally:
            self.inflight[path] -= 1

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{path}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    s = Scripted()
    await s.start()
    yield s
    await s.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def http_integration(
    registry: intgkit.IntegrationRegistry,
    server: Scripted,
    session: aiohttp.ClientSession,
    name: str = "weather",
    **policies: Any,
) -> intgkit.FunctionIntegration:
    """The README's pattern: 429/503 become TransientError with the server's Retry-After."""

    @intgkit.integration(name=name, registry=registry, **policies)
    async def fetch(target: str | None) -> dict[str, Any]:
        async with session.get(f"{server.url}/{target}") as resp:
            if resp.status in (429, 503):
                raise intgkit.TransientError(
                    f"HTTP {resp.status}", retry_after=resp.headers.get("Retry-After")
                )
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            return {"answer": [await resp.json()]}

    return fetch


FAST = {"wait_initial": 0.02, "wait_jitter": 0.0, "wait_max": 0.1}


# -- retries ---------------------------------------------------------------------------------------


async def test_retry_until_ok_counts_attempts_and_logs_each(
    registry: intgkit.IntegrationRegistry,
    server: Scripted,
    session: aiohttp.ClientSession,
    logs: list[dict[str, Any]],
) -> None:
    """Two 503s then 200: ok on attempt 3, waited_s is the backoff, one log event per retry."""
    server.scripts["paris"] = [(503, {}, 0.0), (503, {}, 0.0)]
    http_integration(registry, server, session, retry=intgkit.Retry(attempts=4, **FAST))
    runner = intgkit.IntegrationRunner(registry, timeout=5)
    (r,) = await runner.arun(["weather"], ["paris"])
    assert r.status is Status.OK and r.attempts == 3 and len(server.hits["paris"]) == 3
    assert r.waited_s == pytest.approx(0.02 + 0.04, abs=0.01)
    assert r.duration_s >= r.waited_s
    retries = [e for e in logs if e["event"] == "integration_retry"]
    assert [(e["integration"], e["target"], e["attempt"]) for e in retries] == [
        ("weather", "paris", 1),
        ("weather", "paris", 2),
    ]
    assert retries[0]["wait_s"] == pytest.approx(0.02) and retries[0]["reason"] == "TransientError: HTTP 503"
    assert runner.breakers.get(("weather", None)).cb.fail_counter == 0


@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_retry_after_obeyed_never_sooner(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession, form: str
) -> None:
    """A 429 with Retry-After (seconds or an HTTP-date) is retried no sooner than it says."""
    when = datetime.now(UTC) + timedelta(seconds=2)
    value = "1" if form == "seconds" else when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    server.scripts["oslo"] = [(429, {"Retry-After": value}, 0.0)]
    http_integration(registry, server, session, retry=intgkit.Retry(attempts=3, **FAST))
    (r,) = await intgkit.IntegrationRunner(registry, timeout=10).arun(["weather"], ["oslo"])
    first, second = server.hits["oslo"]
    assert r.ok and r.attempts == 2
    if form == "seconds":
        assert second - first >= 1.0 and r.waited_s >= 1.0
    else:  # not before the date itself (whole seconds: 1 to 2 s after the first request)
        assert server.wall["oslo"][1] >= when.replace(microsecond=0).timestamp()
        assert second - first >= 0.5


async def test_retry_that_cannot_fit_is_not_started(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """Retry-After 5 s inside a 1 s timeout: no retry, at once, and the result says why."""
    server.scripts["rome"] = [(429, {"Retry-After": "5"}, 0.0)]
    http_integration(registry, server, session, retry=intgkit.Retry(attempts=3, **FAST))
    t0 = time.monotonic()
    (r,) = await intgkit.IntegrationRunner(registry, timeout=1.0).arun(["weather"], ["rome"])
    assert time.monotonic() - t0 < 2.0 and len(server.hits["rome"]) == 1  # not the 5 s wait
    assert r.status is Status.ERROR and r.attempts == 1 and r.error_type == "TransientError"
    assert "retry not started: waiting 5 s" in (r.error or "") and "attempt 1 of 3" in (r.error or "")


async def test_timeout_says_which_attempt(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """A 503, then an answer that hangs: timeout during attempt 2 of 3, on time."""
    server.scripts["lima"] = [(503, {}, 0.0), (200, {}, 5.0)]
    http_integration(registry, server, session, retry=intgkit.Retry(attempts=3, **FAST))
    t0 = time.monotonic()
    (r,) = await intgkit.IntegrationRunner(registry, timeout=0.6).arun(["weather"], ["lima"])
    assert 0.55 <= time.monotonic() - t0 < 2.0  # on time: the hanging answer takes 5 s
    assert r.status is Status.TIMEOUT and r.attempts == 2
    assert (r.error or "").startswith("timed out after 0.6 s during attempt 2 of 3")


async def test_only_declared_exceptions_are_retried(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """A 500 (RuntimeError, not declared) fails at once; a connection error (declared) is retried."""
    server.scripts["kiev"] = [(500, {}, 0.0)]
    http_integration(
        registry,
        server,
        session,
        retry=intgkit.Retry(attempts=3, on=(aiohttp.ClientConnectionError,), **FAST),
    )
    runner = intgkit.IntegrationRunner(registry, timeout=5)
    (r,) = await runner.arun(["weather"], ["kiev"])
    assert r.status is Status.ERROR and r.attempts == 1 and r.error_type == "RuntimeError"

    @intgkit.integration(name="dead", registry=registry, retry=intgkit.Retry(3, on=(OSError,), **FAST))
    async def dead(target: str | None) -> dict[str, Any]:
        async with session.get("http://127.0.0.1:9/x"):  # discard port: connection refused
            return {}

    (d,) = await runner.arun(["dead"])
    assert d.status is Status.ERROR and d.attempts == 3 and "gave up after 3 attempts" in (d.error or "")


async def test_breaker_counts_one_failure_per_call(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """fail_max=2: a call failing 3 attempts is one failure; the second failing call opens it."""
    server.scripts["a"] = [(503, {}, 0.0)] * 3
    server.scripts["b"] = [(503, {}, 0.0)] * 3
    http_integration(registry, server, session, retry=intgkit.Retry(attempts=3, **FAST))
    runner = intgkit.IntegrationRunner(registry, timeout=5, fail_max=2)
    (a,) = await runner.arun(["weather"], ["a"])
    breaker = runner.breakers.get(("weather", None)).cb
    assert a.attempts == 3 and breaker.fail_counter == 1 and breaker.current_state == "closed"
    (b,) = await runner.arun(["weather"], ["b"])
    assert b.attempts == 3 and breaker.current_state == "open"


async def test_retry_log_redacts_secrets(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch, logs: list[dict[str, Any]]
) -> None:
    """The retry event's reason never carries a secret setting's value."""
    monkeypatch.setenv("WEATHER_TOKEN", "tok-secret-0123456789")
    calls = []

    @intgkit.integration(
        name="leaky", settings=["WEATHER_TOKEN"], registry=registry, retry=intgkit.Retry(2, **FAST)
    )
    async def leaky(target: str | None, settings: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise intgkit.TransientError(f"HTTP 503 for token {settings['WEATHER_TOKEN']}")
        return {}

    (r,) = await intgkit.IntegrationRunner(registry).arun(["leaky"])
    assert r.ok and r.attempts == 2
    text = repr([e for e in logs if e["event"] == "integration_retry"])
    assert "integration_retry" in text and "***" in text and "tok-secret" not in text


# -- rate limits -----------------------------------------------------------------------------------


async def test_rate_limit_paces_calls_and_token_waits_do_not_time_out(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """RateLimit(4, per=0.4), 8 calls, timeout 0.2 s: 4 at once, then one per 0.1 s, all ok."""
    http_integration(registry, server, session, rate_limit=intgkit.RateLimit(4, per=0.4))
    targets = [f"t{i}" for i in range(8)]
    results = await intgkit.IntegrationRunner(registry, timeout=0.2).arun(["weather"], targets)
    assert all(r.ok for r in results), [(r.status, r.error, r.waited_s) for r in results if not r.ok]
    arrivals = sorted(server.hits[t][0] for t in targets)
    span = arrivals[-1] - arrivals[0]
    assert 0.35 <= span <= 1.5  # 4 more tokens at 0.1 s each
    waited = sorted(r.waited_s for r in results)
    assert waited[:4] == [0.0] * 4 and waited[-1] >= 0.35
    assert max(r.duration_s for r in results) < 0.2  # the waits are not in duration_s


async def test_rate_limit_shared_by_runs_and_runner_override(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """A second run finds the bucket the first emptied; a runner's rate_limits replaces the declared one."""
    http_integration(registry, server, session, rate_limit=intgkit.RateLimit(100, per=1.0))
    slow = intgkit.IntegrationRunner(registry, rate_limits={"weather": intgkit.RateLimit(2, per=0.5)})
    await slow.arun(["weather"], ["a", "b"])  # the burst of 2
    t0 = time.monotonic()
    (r,) = await slow.arun(["weather"], ["c"])
    assert r.ok and 0.2 <= time.monotonic() - t0 <= 1.5 and r.waited_s >= 0.2
    state = slow.rate_limit_state
    assert list(state["scope"]) == ["weather"] and state["rate"].iloc[0] == 2.0


async def test_rate_limit_max_wait_refuses_without_opening_breaker(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """No token within max_wait: a RateLimited error, alone, at once; the breaker does not count it."""
    http_integration(registry, server, session, rate_limit=intgkit.RateLimit(1, per=30, max_wait=0.1))
    runner = intgkit.IntegrationRunner(registry, fail_max=1)
    results = await runner.arun(["weather"], ["a", "b", "c"])
    assert [r.status for r in results] == [Status.OK, Status.ERROR, Status.ERROR]
    assert results[1].error_type == "RateLimited" and "beyond the 0.1 s" in (results[1].error or "")
    assert runner.breakers.get(("weather", None)).cb.current_state == "closed"
    assert len(server.hits["b"]) == 0


def test_progress_bar_shows_waiting_calls() -> None:
    """The progress bar's text says how many calls wait for a token."""
    from intgkit._progress import ProgressBar

    bar = ProgressBar(5)
    bar.waiting(3)
    assert "waiting for rate limit=3" in str(bar._bar)
    bar.waiting(0)
    assert "waiting" not in str(bar._bar)
    bar.close()


# -- bulkhead --------------------------------------------------------------------------------------


async def test_bulkhead_keeps_workers_for_others(
    registry: intgkit.IntegrationRegistry, server: Scripted, session: aiohttp.ClientSession
) -> None:
    """A slow integration limited to 2 in flight cannot take the run's 4 workers from a fast one."""
    for i in range(6):
        server.scripts[f"slow{i}"] = [(200, {}, 0.3)]

    @intgkit.integration(name="slow", registry=registry, max_concurrency=2)
    async def slow(target: str | None) -> dict[str, Any]:
        async with session.get(f"{server.url}/{target}") as resp:
            return {"x": [await resp.json()]}

    @intgkit.integration(name="fast", registry=registry)
    async def fast(target: str | None) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"x": [{"t": target}]}

    t0 = time.monotonic()
    done: dict[str, float] = {}
    runner = intgkit.IntegrationRunner(registry, max_concurrency=4)
    targets = [f"slow{i}" for i in range(6)]

    def finished(r: intgkit.IntegrationResult) -> None:
        done[f"{r.integration}/{r.target}"] = time.monotonic() - t0

    results = await runner.arun(["slow", "fast"], targets, on_result=finished)
    assert all(r.ok for r in results)
    in_flight = sorted(server.hits[t][0] for t in targets)
    peak = max(sum(1 for s in in_flight if s <= a < s + 0.3) for a in in_flight)
    assert peak <= 2
    fast_done = max(v for k, v in done.items() if k.startswith("fast/"))
    slow_first = min(v for k, v in done.items() if k.startswith("slow/"))
    assert fast_done < slow_first  # every fast call finished while the first slow pair still ran
    assert 0.85 <= time.monotonic() - t0 < 3.0  # 6 slow calls, 2 at a time, 0.3 s each
    queued = [r.queued_s for r in results if r.integration == "slow"]
    assert max(queued) >= 0.5 and sorted(queued)[1] < 0.1  # parked calls waited, the first two not


# -- the cache -------------------------------------------------------------------------------------


async def test_cache_reuses_ok_results_refresh_and_clear(
    registry: intgkit.IntegrationRegistry,
    server: Scripted,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A re-run reuses ok results (cached=True, original started_at); errors, refresh, clear and a
    changed setting all call again."""
    monkeypatch.setenv("WEATHER_TOKEN", "tok-aaaaaaaaaaaa")
    server.scripts["bad"] = [(500, {}, 0.0)]

    @intgkit.integration(name="weather", settings=["WEATHER_TOKEN"], registry=registry, cache_ttl=600)
    async def weather(target: str | None) -> dict[str, Any]:
        async with session.get(f"{server.url}/{target}") as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            return {"answer": [await resp.json()]}

    runner = intgkit.IntegrationRunner(registry)
    first = await runner.arun(["weather"], ["paris", "bad"])
    second = await runner.arun(["weather"], ["paris", "bad"])
    assert len(server.hits["paris"]) == 1 and len(server.hits["bad"]) == 2
    assert second[0].cached and not first[0].cached and not second[1].cached
    assert second[0].started_at == first[0].started_at and second[0].sections == first[0].sections
    assert list(second.to_frame()["cached"]) == [True, False]
    await runner.arun(["weather"], ["paris"], refresh=True)
    assert len(server.hits["paris"]) == 2
    (again,) = await runner.arun(["weather"], ["paris"])
    assert again.cached and again.started_at != first[0].started_at  # the refreshed result was stored
    runner.cache.clear()
    await runner.arun(["weather"], ["paris"])
    assert len(server.hits["paris"]) == 3
    monkeypatch.setenv("WEATHER_TOKEN", "tok-bbbbbbbbbbbb")
    (other,) = await runner.arun(["weather"], ["paris"])
    assert not other.cached and len(server.hits["paris"]) == 4
    assert "tok-" not in repr(runner.cache._entries)
    # a runner's cache_ttl=0 turns caching off for its runs
    off = intgkit.IntegrationRunner(registry, cache_ttl=0)
    await off.arun(["weather"], ["paris"])
    await off.arun(["weather"], ["paris"])
    assert len(server.hits["paris"]) == 6 and len(off.cache) == 0


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"retry": 3}, "retry must be an intgkit.Retry"),
        ({"rate_limit": 10}, "rate_limit must be an intgkit.RateLimit"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"cache_ttl": -1}, "cache_ttl"),
        ({"cache_ttl": float("nan")}, "cache_ttl"),
    ],
)
def test_decorator_bad_policies(
    registry: intgkit.IntegrationRegistry, kwargs: dict[str, Any], fragment: str
) -> None:
    """Bad policy arguments to @integration are a UsageError at definition time."""
    with pytest.raises(intgkit.UsageError, match=fragment):
        intgkit.integration(name="w", registry=registry, **kwargs)(lambda: {})  # noqa: PIE807 - a function, as a user writes it


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"retry": "yes"}, "retry must be"),
        ({"rate_limits": {"weather": 5}}, "rate_limits maps"),
        ({"rate_limits": [1]}, "rate_limits must be a mapping"),
        ({"cache_ttl": -5}, "cache_ttl"),
        ({"cache": {}}, "cache must be"),
    ],
)
def test_runner_bad_policies(kwargs: dict[str, Any], fragment: str) -> None:
    """Bad policy arguments to IntegrationRunner are a UsageError before anything runs."""
    with pytest.raises(intgkit.UsageError, match=fragment):
        intgkit.IntegrationRunner(intgkit.IntegrationRegistry(None), **kwargs)


def test_bad_refresh_and_class_attributes(registry: intgkit.IntegrationRegistry) -> None:
    """refresh must be a bool; a class integration's policy attributes are checked at plan time."""

    class Odd:
        name = "odd"
        title = "Odd"
        settings = ()
        retry = "three times"

        def is_configured(self) -> bool:
            return True

        async def fetch(self, target: str | None) -> dict[str, Any]:
            return {}

    registry.register(Odd())
    runner = intgkit.IntegrationRunner(registry)
    with pytest.raises(intgkit.UsageError, match="retry of integration 'odd'"):
        runner.plan(["odd"])
    with pytest.raises(intgkit.UsageError, match="refresh must be True or False"):
        runner.run(["odd"], refresh="yes")  # type: ignore[arg-type]
    assert LIMITERS.rows() == []


# -- expansion -------------------------------------------------------------------------------------


class Accounts:
    """An integration whose target None stands for every account it can list."""

    name = "accounts"
    title = "Accounts"
    settings = ()
    rate_limit = intgkit.RateLimit(100, per=1.0)

    def __init__(self, listing: list[str] | Exception) -> None:
        self.listing = listing
        self.expanded: list[str | None] = []

    def is_configured(self) -> bool:
        return True

    async def expand(self, target: str | None) -> list[str] | None:
        self.expanded.append(target)
        if target is not None:
            return None
        if isinstance(self.listing, Exception):
            raise self.listing
        return self.listing

    async def fetch(self, target: str | None) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        if target == "acct-2":
            raise RuntimeError("account acct-2 is suspended")
        return {"account": [{"id": target}]}


async def test_expansion_one_result_per_sub_target(registry: intgkit.IntegrationRegistry) -> None:
    """Target None expands into one call per account: each its own result, one failure alone."""
    accounts = Accounts(["acct-1", "acct-2", "acct-3"])
    registry.register(accounts)
    seen: list[str | None] = []
    results = await intgkit.IntegrationRunner(registry).arun(
        ["accounts"], on_result=lambda r: seen.append(r.target)
    )
    assert [(r.target, r.status) for r in results] == [
        ("acct-1", Status.OK),
        ("acct-2", Status.ERROR),
        ("acct-3", Status.OK),
    ]
    assert results[1].error == "account acct-2 is suspended"
    assert sorted(seen) == ["acct-1", "acct-2", "acct-3"]
    assert accounts.expanded == [None]
    # a named target is called as it is
    (one,) = await intgkit.IntegrationRunner(registry).arun(["accounts"], ["acct-9"])
    assert one.target == "acct-9" and one.ok and accounts.expanded == [None, "acct-9"]


async def test_expansion_failure_is_the_calls_result(registry: intgkit.IntegrationRegistry) -> None:
    """When listing fails, the call's one result says so; an empty listing is one ok result."""
    registry.register(Accounts(ConnectionError("accounts API unreachable")))
    (r,) = await intgkit.IntegrationRunner(registry).arun(["accounts"])
    assert r.target is None and r.status is Status.ERROR and r.error_type == "ConnectionError"
    registry.unregister("accounts")
    registry.register(Accounts([]))
    (empty,) = await intgkit.IntegrationRunner(registry).arun(["accounts"])
    assert empty.target is None and empty.ok and empty.sections == ()

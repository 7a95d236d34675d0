"""Policy cases: retries, rate limits and a bulkhead at rest; a 429 storm; cache hits.

P1 at rest: 10,000 calls (100 integrations x 100 targets, each call waits once, as any call
   doing I/O does) with a Retry, a generous RateLimit and a bulkhead configured and nothing
   failing, against the same run without them. Target <= 1.05x.
P2 429 storm: ``intgkit.testing.RateLimitedAPI`` allows R requests/s (a token bucket of R)
   and answers 429 with Retry-After (fractional seconds) beyond; 1,000 calls must all end ok.
   Against the floor 1,000 / R seconds (<= 1.15x) and against the same job written by hand with
   stamina (``retry_context``, a backoff hook returning the Retry-After) + aiolimiter
   (``AsyncLimiter(R, 1)``) over one aiohttp session and the same concurrency (<= 1.1x).
P3 cache hit: a re-run of 10,000 cached calls against the first run of the same calls, which
   fills the cache: no-op calls (<= 0.5x), and calls that take 10 ms each (<= 0.05x) at the
   runner's default concurrency (32).

Every runner here is built with ``history=None``: recording runs to DuckDB is a separate cost
(benchmarked with the store), the same on both sides of every ratio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import intgkit
from intgkit import IntegrationRegistry, IntegrationRunner, integration
from intgkit._policies import LIMITERS

from ._common import Row, interleaved, row

# -- P1: policies at rest ------------------------------------------------------------------------


def _yielding() -> Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]:
    async def call(target: str | None) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {}

    return call


def _registry(n_integrations: int, **policies: Any) -> tuple[IntegrationRegistry, list[str]]:
    reg = IntegrationRegistry(None)
    names = [
        integration(name=f"p_{i}", registry=reg, **policies)(_yielding()).name for i in range(n_integrations)
    ]
    return reg, names


def case_at_rest(quick: bool) -> list[Row]:
    n_int, n_tgt = (20, 50) if quick else (100, 100)
    targets = [f"host-{j}.example.org" for j in range(n_tgt)]
    plain_reg, names = _registry(n_int)
    policy_reg, _ = _registry(
        n_int,
        retry=intgkit.Retry(attempts=3, on=(ConnectionError, intgkit.TransientError)),
        rate_limit=intgkit.RateLimit(1e9, per=1.0),  # generous: never waits
        max_concurrency=n_tgt,  # a bulkhead per integration
    )

    def sampler(reg: IntegrationRegistry) -> Callable[[], float]:
        async def go() -> float:
            t0 = time.perf_counter()
            runner = IntegrationRunner(reg, timeout=30, max_concurrency=1000, history=None)
            results = await runner.arun(names, targets)
            elapsed = time.perf_counter() - t0
            assert all(r.ok for r in results)
            return elapsed

        return lambda: asyncio.run(go())

    t = interleaved({"plain": sampler(plain_reg), "policies": sampler(policy_reg)}, repeats=3 if quick else 9)
    calls = n_int * n_tgt
    return [
        row(
            f"P1 policies at rest: {calls:,} calls, retry + rate limit + bulkhead vs none",
            t["policies"],
            t["plain"],
            1.05,
            note="each call awaits once; nothing fails; max_concurrency=1000",
        )
    ]


# -- P2: the 429 storm ---------------------------------------------------------------------------


class _Limited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"HTTP 429, Retry-After {retry_after}")
        self.retry_after = retry_after


def case_storm(quick: bool) -> list[Row]:
    import aiohttp
    import stamina
    from aiolimiter import AsyncLimiter

    from intgkit.testing import RateLimitedAPI

    rate, n = (100.0, 200) if quick else (200.0, 1000)
    concurrency = 64
    cities = [f"city-{i}" for i in range(n)]
    stamina.instrumentation.set_on_retry_hooks([])  # the baseline's retries print nothing either

    def fresh_api() -> RateLimitedAPI:
        # a new server per sample: its bucket starts full, as the client's does
        return RateLimitedAPI(rate=rate, per=1.0, whole_seconds=False).start()

    def intgkit_sample() -> float:
        api = fresh_api()
        LIMITERS.reset()
        reg = IntegrationRegistry(None)
        sessions: dict[Any, aiohttp.ClientSession] = {}

        @integration(
            name="weather",
            registry=reg,
            retry=intgkit.Retry(attempts=50, on=(intgkit.TransientError,)),
            rate_limit=intgkit.RateLimit(rate, per=1.0),
        )
        async def weather(target: str | None) -> dict[str, Any]:
            session = sessions[asyncio.get_running_loop()]
            async with session.get(f"{api.url}/weather", params={"city": target or ""}) as resp:
                if resp.status == 429:
                    raise intgkit.TransientError("HTTP 429", retry_after=resp.headers.get("Retry-After"))
                resp.raise_for_status()
                return {"weather": [await resp.json()]}

        async def go() -> float:
            async with aiohttp.ClientSession() as session:
                sessions[asyncio.get_running_loop()] = session
                t0 = time.perf_counter()
                runner = IntegrationRunner(reg, timeout=120, max_concurrency=concurrency, history=None)
                results = await runner.arun(["weather"], cities)
                elapsed = time.perf_counter() - t0
            bad = [r for r in results if not r.ok]
            assert not bad, bad[:3]
            return elapsed

        try:
            return asyncio.run(go())
        finally:
            api.stop()

    def baseline_sample() -> float:
        api = fresh_api()

        def backoff(exc: Exception) -> bool | float:
            if isinstance(exc, _Limited):
                return exc.retry_after
            return False

        async def go() -> float:
            limiter = AsyncLimiter(rate, 1.0)
            gate = asyncio.Semaphore(concurrency)
            async with aiohttp.ClientSession() as session:

                async def one(city: str) -> dict[str, Any]:
                    async with gate:
                        async for attempt in stamina.retry_context(on=backoff, attempts=50, timeout=None):
                            with attempt:
                                url = f"{api.url}/weather"
                                async with limiter, session.get(url, params={"city": city}) as resp:
                                    if resp.status == 429:
                                        raise _Limited(float(resp.headers["Retry-After"]))
                                    resp.raise_for_status()
                                    body: dict[str, Any] = await resp.json()
                                    return body
                    raise AssertionError("unreachable")

                t0 = time.perf_counter()
                out = await asyncio.gather(*(one(c) for c in cities))
                elapsed = time.perf_counter() - t0
            assert len(out) == n
            return elapsed

        try:
            return asyncio.run(go())
        finally:
            api.stop()

    samplers = {"intgkit": intgkit_sample, "baseline": baseline_sample}
    t = interleaved(samplers, repeats=1 if quick else 3, warmup=0)
    floor = n / rate
    return [
        row(
            f"P2 429 storm: {n:,} calls, server allows {rate:g}/s, vs the floor {n}/{rate:g} s",
            t["intgkit"],
            floor,
            1.15,
            note="every call ok; RateLimit(R) + Retry on TransientError (Retry-After obeyed)",
        ),
        row(
            f"P2 429 storm: {n:,} calls vs stamina + aiolimiter by hand",
            t["intgkit"],
            t["baseline"],
            1.1,
            note=f"same server, one aiohttp session, concurrency {concurrency}",
        ),
    ]


# -- P3: cache hits ------------------------------------------------------------------------------


def case_cache(quick: bool) -> list[Row]:
    n_int, n_tgt = (10, 100) if quick else (100, 100)
    targets = [f"host-{j}.example.org" for j in range(n_tgt)]
    rows: list[Row] = []
    for label, delay, goal, concurrency in (
        ("no-op calls", 0.0, 0.5, 1000),
        ("calls of 10 ms", 0.01, 0.05, 32),
    ):
        reg = IntegrationRegistry(None)
        names = [
            integration(name=f"c_{i}", registry=reg, cache_ttl=600)(_answer(delay)).name for i in range(n_int)
        ]
        rows.append(_cache_row(reg, names, targets, label, goal, concurrency, quick))
    return rows


def _answer(delay: float) -> Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]:
    async def call(target: str | None) -> dict[str, Any]:
        if delay:
            await asyncio.sleep(delay)
        return {"answer": [{"target": target, "value": 42}]}

    return call


def _cache_row(
    reg: IntegrationRegistry,
    names: list[str],
    targets: list[str],
    label: str,
    goal: float,
    concurrency: int,
    quick: bool,
) -> Row:
    def first() -> float:
        async def go() -> float:
            t0 = time.perf_counter()
            runner = IntegrationRunner(reg, max_concurrency=concurrency, history=None)
            results = await runner.arun(names, targets)
            elapsed = time.perf_counter() - t0
            assert all(r.ok and not r.cached for r in results)
            return elapsed

        return asyncio.run(go())

    def rerun() -> float:
        async def go() -> float:
            runner = IntegrationRunner(reg, max_concurrency=concurrency, history=None)
            await runner.arun(names, targets)  # fills the cache, untimed
            t0 = time.perf_counter()
            results = await runner.arun(names, targets)
            elapsed = time.perf_counter() - t0
            assert all(r.cached for r in results)
            return elapsed

        return asyncio.run(go())

    # the 10 ms case fills the cache for 3 s per sample: fewer repeats
    t = interleaved({"rerun": rerun, "first": first}, repeats=3 if quick or concurrency < 100 else 7)
    return row(
        f"P3 cache hit: re-run of {len(names) * len(targets):,} cached {label} vs their first run",
        t["rerun"],
        t["first"],
        goal,
        note=f"cache_ttl=600, max_concurrency={concurrency}",
    )


CASES = [("at_rest", case_at_rest), ("storm", case_storm), ("cache", case_cache)]


def run(quick: bool) -> list[Row]:
    """Every policy case; rows as benchmarks._common.row."""
    rows: list[Row] = []
    for _name, case in CASES:
        rows.extend(case(quick))
    return rows

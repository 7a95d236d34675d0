"""Engine cases: per-call overhead, scaling, concurrency, plain functions, open breakers.

Each case runs intgkit and its baselines in this process, interleaved sample for sample, and
reports medians. Integrations are defined once (as a user's notebook would); the timed region
of an intgkit sample is building the IntegrationRunner and awaiting ``arun`` (planning,
breakers, the run and the IntegrationResults), and that of a baseline is the same work written
by hand (its breakers, its gather or pool, its result dicts).
"""

from __future__ import annotations

import asyncio
import math
import time
import tracemalloc
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pybreaker

from intgkit import IntegrationRegistry, IntegrationRunner, integration

from ._common import Row, interleaved, row

#: The runner's concurrency in the overhead and scaling cases. The baselines gather every call
#: at once, so the fair match is a worker per call (10,000 for 10,000 calls); the default (32)
#: is reported too, as information.
OVERHEAD_CONCURRENCY = 10_000
TIMEOUT = 30.0


# -- workloads -----------------------------------------------------------------------------------


def _noop_functions(n: int) -> list[Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]]:
    def make() -> Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]:
        async def noop(target: str | None) -> dict[str, Any]:
            return {}

        return noop

    return [make() for _ in range(n)]


def _yielding_functions(n: int) -> list[Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]]:
    def make() -> Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]:
        async def yields(target: str | None) -> dict[str, Any]:
            await asyncio.sleep(0)  # waits once, as any call doing I/O does
            return {}

        return yields

    return [make() for _ in range(n)]


def _registry(
    funcs: list[Callable[..., Any]], prefix: str, **kw: Any
) -> tuple[IntegrationRegistry, list[str]]:
    reg = IntegrationRegistry(None)
    names = []
    for i, f in enumerate(funcs):
        names.append(integration(name=f"{prefix}_{i}", registry=reg, **kw)(f).name)
    return reg, names


def _targets(n: int) -> list[str]:
    return [f"host-{j}.example.org" for j in range(n)]


def _run(coro: Callable[[], Coroutine[Any, Any, float]]) -> Callable[[], float]:
    """A sampler: a fresh event loop per sample; the coroutine returns its own timed seconds."""
    return lambda: asyncio.run(coro())


async def _gather_bare(funcs: list[Callable[..., Any]], targets: list[str | None]) -> float:
    """Baseline (a), the floor: every coroutine at once, no timeout, no breaker, no isolation."""
    t0 = time.perf_counter()
    await asyncio.gather(*[f(t) for f in funcs for t in targets])
    return time.perf_counter() - t0


async def _gather_resilient(funcs: list[Callable[..., Any]], targets: list[str | None]) -> float:
    """Baseline (b), what a user writes instead of intgkit: per call asyncio.timeout, a
    try/except that turns every outcome into a dict, and pybreaker's ``with cb.calling():``
    with one CircuitBreaker per integration."""
    t0 = time.perf_counter()
    breakers = [pybreaker.CircuitBreaker(fail_max=3, reset_timeout=60) for _ in funcs]
    results: dict[tuple[int, str | None], dict[str, Any]] = {}

    async def one(i: int, f: Callable[..., Any], cb: pybreaker.CircuitBreaker, t: str | None) -> None:
        started = time.perf_counter()
        try:
            with cb.calling():
                async with asyncio.timeout(TIMEOUT):
                    value = await f(t)
            results[i, t] = {"status": "ok", "value": value, "duration": time.perf_counter() - started}
        except pybreaker.CircuitBreakerError as exc:
            results[i, t] = {"status": "circuit_open", "error": str(exc)}
        except TimeoutError:
            results[i, t] = {"status": "timeout", "error": f"timed out after {TIMEOUT} s"}
        except Exception as exc:
            results[i, t] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}

    await asyncio.gather(*[one(i, f, breakers[i], t) for i, f in enumerate(funcs) for t in targets])
    assert len(results) == len(funcs) * len(targets)
    return time.perf_counter() - t0


async def _intgkit(
    reg: IntegrationRegistry,
    names: list[str],
    targets: list[str] | None,
    concurrency: int,
    expect: int,
    *,
    status: str = "ok",
    runner: IntegrationRunner | None = None,
) -> float:
    t0 = time.perf_counter()
    if runner is None:
        runner = IntegrationRunner(reg, timeout=TIMEOUT, max_concurrency=concurrency, history=None)
    results = await runner.arun(names, targets)
    elapsed = time.perf_counter() - t0
    assert len(results) == expect, (len(results), expect)
    counts = results.counts()
    assert counts[status] == expect, counts
    return elapsed


def _sampler(
    reg: IntegrationRegistry, names: list[str], targets: list[str] | None, concurrency: int, expect: int
) -> Callable[[], float]:
    return _run(lambda: _intgkit(reg, names, targets, concurrency, expect))


# -- case 1: overhead ----------------------------------------------------------------------------

#: The runner's default concurrency, and the workers of the hand-written bounded loops.
WORKERS = 32


async def _pool_floor(funcs: list[Callable[..., Any]], targets: list[str]) -> float:
    """The floor: a bare pool of WORKERS tasks pulling (function, target) from one iterator;
    no timeout, no breaker, no result objects. What the calls cost with nothing around them."""
    t0 = time.perf_counter()
    calls = iter([(f, t) for f in funcs for t in targets])

    async def worker() -> None:
        for f, t in calls:
            await f(t)

    await asyncio.gather(*[worker() for _ in range(WORKERS)])
    return time.perf_counter() - t0


async def _pool_bookkeeping(funcs: list[Callable[..., Any]], targets: list[str]) -> float:
    """The floor plus what every intgkit result carries, written inline by someone who knows
    the runner's internals: per call a UTC ``datetime`` (started_at), a deadline armed and
    disarmed in intgkit's own per-worker slot, and a result object built the runner's fastest
    way, stored in selection order. No breaker, no planning, no validation, no failures
    handled: an estimate of the least a loop that makes intgkit's results can cost, so the
    distance from the floor that no runner can close is visible beside the runner's own."""
    from datetime import UTC, datetime

    from intgkit._deadlines import Deadlines
    from intgkit._models import IntegrationResult, Status, UnfrozenResult

    t0 = time.perf_counter()
    work = [(f, t) for f in funcs for t in targets]
    slots: list[Any] = [None] * len(work)
    calls = iter(enumerate(work))
    deadlines = Deadlines(asyncio.get_running_loop())
    now, perf, ok = datetime.now, time.perf_counter, Status.OK

    async def worker() -> None:
        task = asyncio.current_task()
        assert task is not None
        for k, (f, t) in calls:
            started_at, start = now(UTC), perf()
            slot = deadlines.arm(task, TIMEOUT)
            await f(t)
            if deadlines.disarm(slot):
                task.uncancel()
            r = UnfrozenResult(
                "bench", t, ok, (), None, None, started_at, perf() - start, "closed", 0.0, 1, 0.0, False
            )
            r.__class__ = IntegrationResult  # type: ignore[assignment]
            slots[k] = r

    await asyncio.gather(*[worker() for _ in range(WORKERS)])
    deadlines.close()
    assert all(r is not None for r in slots)
    return time.perf_counter() - t0


async def _pool_resilient(funcs: list[Callable[..., Any]], targets: list[str]) -> float:
    """The headline baseline, what a competent user writes instead of intgkit: WORKERS worker
    tasks pulling from one iterator; per call ``asyncio.timeout`` and pybreaker's
    ``with cb.calling():`` (one CircuitBreaker per integration), every outcome a result dict
    with its status, error and duration, kept in selection order."""
    t0 = time.perf_counter()
    breakers = [pybreaker.CircuitBreaker(fail_max=3, reset_timeout=60) for _ in funcs]
    work = [(i, f, breakers[i], t) for i, f in enumerate(funcs) for t in targets]
    results: list[dict[str, Any] | None] = [None] * len(work)
    calls = iter(enumerate(work))

    async def worker() -> None:
        for k, (_i, f, cb, t) in calls:
            started = time.perf_counter()
            try:
                with cb.calling():
                    async with asyncio.timeout(TIMEOUT):
                        value = await f(t)
                results[k] = {"status": "ok", "value": value, "duration": time.perf_counter() - started}
            except pybreaker.CircuitBreakerError as exc:
                results[k] = {"status": "circuit_open", "error": str(exc)}
            except TimeoutError:
                results[k] = {"status": "timeout", "error": f"timed out after {TIMEOUT} s"}
            except Exception as exc:
                results[k] = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}

    await asyncio.gather(*[worker() for _ in range(WORKERS)])
    assert all(r is not None for r in results)
    return time.perf_counter() - t0


def case_overhead(quick: bool) -> list[Row]:
    n_int, n_tgt = (20, 50) if quick else (100, 100)
    repeats = 5 if quick else 11
    n = n_int * n_tgt
    targets = _targets(n_tgt)
    yfuncs = _yielding_functions(n_int)
    yreg, ynames = _registry(yfuncs, "yields")
    funcs = _noop_functions(n_int)
    reg, names = _registry(funcs, "noop")
    concurrency = min(OVERHEAD_CONCURRENCY, n)
    t = interleaved(
        {
            "intgkit": _run(lambda: _intgkit(yreg, ynames, targets, WORKERS, n)),
            "resilient": _run(lambda: _pool_resilient(yfuncs, targets)),
            "floor": _run(lambda: _pool_floor(yfuncs, targets)),
            "bookkeeping": _run(lambda: _pool_bookkeeping(yfuncs, targets)),
            "unbounded": _run(lambda: _intgkit(yreg, ynames, targets, concurrency, n)),
            "gather_resilient": _run(lambda: _gather_resilient(yfuncs, list(targets))),
            "noop": _run(lambda: _intgkit(reg, names, targets, WORKERS, n)),
            "noop_resilient": _run(lambda: _pool_resilient(funcs, targets)),
        },
        repeats,
    )
    label = f"1 overhead: {n:,} calls that each wait once"
    cfg = f"IntegrationRunner(timeout=30, history=None), max_concurrency={WORKERS}; {n_int}x{n_tgt}"
    return [
        row(
            f"{label}, vs a bounded resilient loop",
            t["intgkit"],
            t["resilient"],
            1.0,
            note=f"{cfg}; baseline: {WORKERS} worker tasks, asyncio.timeout + pybreaker calling() per "
            "call, a result dict per call",
        ),
        row(
            f"{label}, vs the floor",
            t["intgkit"],
            t["floor"],
            2.0,
            note=f"baseline: {WORKERS} worker tasks awaiting the calls, nothing else (no timeout, "
            "breaker or result)",
        ),
        row(
            "1 overhead: the floor plus a result's bookkeeping written inline, vs the floor",
            t["bookkeeping"],
            t["floor"],
            None,
            note="per call a UTC datetime, a deadline slot armed and disarmed, a result object "
            "built the runner's fastest way (intgkit's internals, no breaker or planning); the "
            "least a loop making intgkit's results costs; information",
        ),
        row(
            "1 overhead: the bounded resilient loop vs the floor",
            t["resilient"],
            t["floor"],
            None,
            note="what asyncio.timeout + pybreaker + a dict cost per call by hand; information",
        ),
        row(
            f"{label}, max_concurrency={concurrency:,}, vs gather + timeout + breaker",
            t["unbounded"],
            t["gather_resilient"],
            None,
            note="a worker per call against a task per call (asyncio.gather); information",
        ),
        row(
            f"1 overhead: {n:,} no-op calls, vs the bounded resilient loop",
            t["noop"],
            t["noop_resilient"],
            None,
            note="calls that never wait share one worker task; information",
        ),
    ]


# -- case 2: scaling -----------------------------------------------------------------------------


def _scaling_shape(n: int) -> tuple[int, int]:
    n_int = min(100, n)
    return n_int, n // n_int


def _memory_per_result(reg: IntegrationRegistry, names: list[str], targets: list[str]) -> tuple[float, float]:
    """(retained, peak) bytes per result of one run, traced by tracemalloc (its own run,
    not timed: tracing slows Python down several times)."""
    n = len(names) * len(targets)

    async def go() -> Any:
        runner = IntegrationRunner(reg, timeout=TIMEOUT, max_concurrency=OVERHEAD_CONCURRENCY, history=None)
        return await runner.arun(names, targets)

    import gc

    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        results = asyncio.run(go())
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(results) == n
    del results
    return (current - before) / n, (peak - before) / n


def case_scaling(quick: bool) -> list[Row]:
    sizes = [100, 1_000, 10_000] if quick else [100, 1_000, 10_000, 100_000]
    funcs = _noop_functions(100)
    reg, all_names = _registry(funcs, "scale")
    shapes = {n: (all_names[: _scaling_shape(n)[0]], _targets(_scaling_shape(n)[1])) for n in sizes}
    # every size in each round, so a burst of load on the machine hits them alike
    t = interleaved(
        {
            str(n): _sampler(reg, names, targets, OVERHEAD_CONCURRENCY, n)
            for n, (names, targets) in shapes.items()
        },
        3 if quick else 5,
    )
    per_call = {n: t[str(n)] / n for n in sizes}
    memory = {n: _memory_per_result(reg, *shapes[n]) for n in sizes}
    big, ref = sizes[-1], 1_000
    rows = [
        row(
            f"2 scaling: time per call, {big:,} vs {ref:,} calls",
            per_call[big],
            per_call[ref],
            1.3,
            note="seconds per call at each size",
        ),
        row(
            f"2 scaling: memory per result, {big:,} vs {ref:,}",
            memory[big][0],
            memory[ref][0],
            1.3,
            unit="B",
            note="retained bytes per result (tracemalloc)",
        ),
    ]
    for n in sizes:
        rows.append(
            row(
                f"2 scaling: {n:,} calls, per call / per result",
                per_call[n],
                per_call[ref],
                None,
                note=f"{per_call[n] * 1e6:.2f} us/call; retained {memory[n][0]:.0f} B/result, "
                f"peak {memory[n][1]:.0f} B/result; ratio vs {ref:,}",
            )
        )
    return rows


# -- case 3: concurrency -------------------------------------------------------------------------


def _sleepers(n: int, seconds: float) -> list[Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]]:
    def make() -> Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]:
        async def sleeper(target: str | None) -> dict[str, Any]:
            await asyncio.sleep(seconds)
            return {}

        return sleeper

    return [make() for _ in range(n)]


def case_concurrency(quick: bool) -> list[Row]:
    sleep = 0.1
    n, small_c = (400, 100) if quick else (2_000, 100)
    repeats = 3 if quick else 7
    funcs = _sleepers(n, sleep)
    reg, names = _registry(funcs, "sleep")
    t = interleaved(
        {
            "all": _run(lambda: _intgkit(reg, names, None, n, n)),
            "gather": _run(lambda: _gather_bare(funcs, [None])),
        },
        repeats,
    )
    limited = _run(lambda: _intgkit(reg, names, None, small_c, n))
    t_waves = interleaved({"limited": limited}, max(3, repeats // 2))
    waves = math.ceil(n / small_c)
    ideal = waves * sleep
    return [
        row(
            f"3 concurrency: {n:,} x sleep(0.1), max_concurrency={n:,}",
            t["all"],
            t["gather"],
            1.3,
            note="baseline: bare gather of the same sleeping coroutines (0.1 s + its own overhead)",
        ),
        row(
            f"3 concurrency: {n:,} x sleep(0.1), max_concurrency={small_c}",
            t_waves["limited"],
            ideal,
            1.05,
            note=f"baseline: ceil(N/C) x 0.1 s = {waves} waves",
        ),
    ]


# -- case 4: plain functions ---------------------------------------------------------------------


def case_plain(quick: bool) -> list[Row]:
    n = 50 if quick else 200
    repeats = 3 if quick else 9
    sleep = 0.05

    def make() -> Callable[[str | None], dict[str, Any]]:
        def blocking(target: str | None) -> dict[str, Any]:
            time.sleep(sleep)
            return {}

        return blocking

    funcs = [make() for _ in range(n)]
    reg, names = _registry(funcs, "plain")

    def pool() -> float:
        t0 = time.perf_counter()
        with ThreadPoolExecutor(n) as ex:
            futures = [ex.submit(f, None) for f in funcs]
            results = [f.result() for f in futures]
        assert len(results) == n
        return time.perf_counter() - t0

    t = interleaved({"intgkit": _run(lambda: _intgkit(reg, names, None, n, n)), "pool": pool}, repeats)
    return [
        row(
            f"4 plain def: {n} x time.sleep(0.05), max_concurrency={n}",
            t["intgkit"],
            t["pool"],
            1.3,
            note=f"baseline: ThreadPoolExecutor({n}) running the same functions",
        )
    ]


# -- case 5: open breaker ------------------------------------------------------------------------


def case_open_breaker(quick: bool) -> list[Row]:
    n_int, n_tgt = (20, 50) if quick else (100, 100)
    repeats = 5 if quick else 11
    n = n_int * n_tgt
    calls = 0

    def make() -> Callable[[str | None], Coroutine[Any, Any, dict[str, Any]]]:
        async def counted(target: str | None) -> dict[str, Any]:
            nonlocal calls
            calls += 1
            return {}

        return counted

    funcs = [make() for _ in range(n_int)]
    reg, names = _registry(funcs, "guarded")
    targets = _targets(n_tgt)
    concurrency = min(OVERHEAD_CONCURRENCY, n)

    async def open_run() -> float:
        runner = IntegrationRunner(reg, timeout=TIMEOUT, max_concurrency=concurrency, history=None)
        for name in names:
            runner.breakers.get((name, None)).cb.open()
        before = calls
        elapsed = await _intgkit(reg, names, targets, concurrency, n, status="circuit_open", runner=runner)
        assert calls == before, f"{calls - before} calls reached an integration behind an open breaker"
        return elapsed

    async def ok_run() -> float:
        runner = IntegrationRunner(reg, timeout=TIMEOUT, max_concurrency=concurrency, history=None)
        return await _intgkit(reg, names, targets, concurrency, n, runner=runner)

    t = interleaved({"open": _run(open_run), "ok": _run(ok_run)}, repeats)
    return [
        row(
            f"5 open breaker: {n:,} calls, every breaker open",
            t["open"],
            t["ok"],
            1.0,
            note="baseline: the same no-op run with closed breakers (case 1); no call reached an integration",
        )
    ]


CASES: list[tuple[str, Callable[[bool], list[Row]]]] = [
    ("overhead", case_overhead),
    ("scaling", case_scaling),
    ("concurrency", case_concurrency),
    ("plain", case_plain),
    ("open_breaker", case_open_breaker),
]


def run(quick: bool) -> list[Row]:
    """Every engine case; rows as benchmarks._common.row."""
    rows: list[Row] = []
    for _name, case in CASES:
        rows.extend(case(quick))
    return rows

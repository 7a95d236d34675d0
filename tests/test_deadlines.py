"""Call time limits kept by the runner's one shared timer: asyncio.timeout()'s semantics, per call."""

from __future__ import annotations

import asyncio
import time

import pytest

import intgkit
from intgkit import Status


def make_runner(registry: intgkit.IntegrationRegistry, **kw: object) -> intgkit.IntegrationRunner:
    kw.setdefault("timeout", 5)
    return intgkit.IntegrationRunner(registry, **kw)  # type: ignore[arg-type]


async def test_mixed_timeouts_each_expire_at_their_own_limit(registry: intgkit.IntegrationRegistry) -> None:
    """Integrations with different timeouts in one run each time out at their own limit, promptly."""
    ended: dict[str, float] = {}

    def make(name: str, timeout: float) -> None:
        @intgkit.integration(registry=registry, name=name, timeout=timeout)
        async def hang(target):  # type: ignore[no-untyped-def]
            try:
                await asyncio.Event().wait()
            finally:
                ended[f"{name}/{target}"] = time.perf_counter()

    make("slow", 0.6)
    make("quick", 0.15)
    make("mid", 0.3)
    start = time.perf_counter()
    results = await make_runner(registry, timeout=20).arun(["slow", "quick", "mid"], targets=["a", "b"])
    assert [r.status for r in results] == [Status.TIMEOUT] * 6
    limits = {"slow": 0.6, "quick": 0.15, "mid": 0.3}
    for key, at in ended.items():
        limit = limits[key.split("/")[0]]
        assert limit - 0.01 <= at - start < limit + 0.25, (key, at - start)
    for r in results:
        assert f"{limits[r.integration]:g} s" in (r.error or "")


async def test_deadlines_follow_calls_that_start_later(registry: intgkit.IntegrationRegistry) -> None:
    """With one worker, each call's deadline counts from its own start, not the run's."""

    @intgkit.integration(registry=registry)
    async def hang(target):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    start = time.perf_counter()
    results = await make_runner(registry, timeout=0.1, max_concurrency=1).arun(
        ["hang"], targets=["a", "b", "c"]
    )
    elapsed = time.perf_counter() - start
    assert [r.status for r in results] == [Status.TIMEOUT] * 3
    assert all(r.duration_s >= 0.09 for r in results)
    assert 0.29 <= elapsed < 1.0


async def test_quick_calls_then_a_hung_one(registry: intgkit.IntegrationRegistry) -> None:
    """Thousands of quick calls leave no timer behind that could cut a later call short."""

    @intgkit.integration(registry=registry)
    async def quick(target):  # type: ignore[no-untyped-def]
        return {}

    @intgkit.integration(registry=registry)
    async def sleepy(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.2)
        return {"s": [{"x": 1}]}

    targets = [f"t{i}" for i in range(2000)]
    results = await make_runner(registry, timeout=0.3, max_concurrency=50).arun(["quick"], targets)
    assert all(r.ok for r in results)
    (r,) = await make_runner(registry, timeout=0.3).arun(["sleepy"], ["x"])
    assert r.ok, r


async def test_a_call_that_swallows_its_cancellation_keeps_its_value(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """As with asyncio.timeout: a call that catches the cancellation and returns is ok, and the
    worker's task is left uncancelled (the next call on it runs normally)."""

    @intgkit.integration(registry=registry)
    async def stubborn(target):  # type: ignore[no-untyped-def]
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return {"s": [{"swallowed": True}]}
        return {}

    results = await make_runner(registry, timeout=0.1, max_concurrency=1).arun(["stubborn"], ["a", "b"])
    assert [r.status for r in results] == [Status.OK, Status.OK]
    assert all(r.section("s").rows == ({"swallowed": True},) for r in results)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_own_timeout_error_after_the_deadline_is_a_timeout(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """A call that turns its cancellation into TimeoutError at the deadline is a timeout result."""

    @intgkit.integration(registry=registry)
    async def converts(target):  # type: ignore[no-untyped-def]
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            raise TimeoutError("mine") from None

    (r,) = await make_runner(registry, timeout=0.1).arun(["converts"], ["a"])
    assert r.status is Status.TIMEOUT and "0.1 s" in (r.error or "")


async def test_own_timeout_error_before_the_deadline_is_an_error(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """A TimeoutError an integration raises by itself, before its limit, is an ordinary error."""

    @intgkit.integration(registry=registry)
    async def inner(target):  # type: ignore[no-untyped-def]
        async with asyncio.timeout(0.05):
            await asyncio.sleep(5)

    (r,) = await make_runner(registry, timeout=2).arun(["inner"], ["a"])
    assert r.status is Status.ERROR and r.error_type == "TimeoutError"


async def test_caller_cancel_at_the_deadline_is_still_a_cancel(registry: intgkit.IntegrationRegistry) -> None:
    """When the caller cancels while a call is timing out, the run is cancelled, not converted."""

    @intgkit.integration(registry=registry)
    async def hang(target):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    runner = make_runner(registry, timeout=0.1)
    run = asyncio.ensure_future(runner.arun(["hang"], ["a"]))
    loop = asyncio.get_running_loop()
    # cancel the run in the same loop iteration as the deadline fires (or just around it)
    loop.call_later(0.1, run.cancel)
    with pytest.raises(asyncio.CancelledError):
        await run
    assert runner.last_results is not None
    (r,) = runner.last_results
    assert r.status is Status.CANCELLED and r.started_at is not None
    assert runner.breakers[("hang", None)].fail_counter == 0


async def test_timeouts_count_on_the_breaker(registry: intgkit.IntegrationRegistry) -> None:
    """Each timeout is a failure on the breaker; fail_max of them open it."""

    @intgkit.integration(registry=registry)
    async def hang(target):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    runner = make_runner(registry, timeout=0.05, fail_max=2, max_concurrency=1)
    results = await runner.arun(["hang"], ["a", "b", "c"])
    assert [r.status for r in results] == [Status.TIMEOUT, Status.TIMEOUT, Status.CIRCUIT_OPEN]


def test_plain_function_times_out_with_the_shared_timer(registry: intgkit.IntegrationRegistry) -> None:
    """A blocking plain function still times out at its limit (its thread is abandoned)."""

    @intgkit.integration(registry=registry, timeout=0.1)
    def block(target):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return {}

    start = time.perf_counter()
    (r,) = make_runner(registry).run(["block"], ["a"])
    assert r.status is Status.TIMEOUT and time.perf_counter() - start < 0.45


async def test_one_worker_alternating_timeouts_and_successes(registry: intgkit.IntegrationRegistry) -> None:
    """One worker reuses its deadline slot: a call that timed out leaves nothing for the next."""

    @intgkit.integration(registry=registry)
    async def alternate(target):  # type: ignore[no-untyped-def]
        if target.startswith("hang"):
            await asyncio.Event().wait()
        await asyncio.sleep(0.01)
        return {}

    targets = ["hang-1", "ok-1", "hang-2", "ok-2", "ok-3"]
    results = await make_runner(registry, timeout=0.15, max_concurrency=1).arun(["alternate"], targets)
    assert [r.status for r in results] == [
        Status.TIMEOUT, Status.OK, Status.TIMEOUT, Status.OK, Status.OK
    ]  # fmt: skip


async def test_a_timer_set_for_a_finished_call_spares_the_next(registry: intgkit.IntegrationRegistry) -> None:
    """Calls that each take most of their limit, one after another on one worker: the timer set
    for an earlier call's deadline fires during a later call and must not cut it short."""

    @intgkit.integration(registry=registry)
    async def steady(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.2)
        return {}

    results = await make_runner(registry, timeout=0.5, max_concurrency=1).arun(
        ["steady"], [f"t{i}" for i in range(5)]
    )
    assert [r.status for r in results] == [Status.OK] * 5, results

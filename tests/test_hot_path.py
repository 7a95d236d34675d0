"""The runner's hot-path shortcuts build exactly what the public constructors build."""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
from datetime import UTC, datetime

import intgkit
from intgkit import IntegrationResult, IntegrationSection, Status
from intgkit._models import make_result


def test_make_result_equals_the_dataclass_constructor() -> None:
    """make_result builds a result equal to IntegrationResult(...) with the same fields, frozen."""
    args = (
        "dns",
        "example.org",
        Status.ERROR,
        (IntegrationSection("s", ({"a": 1},)),),
        "ValueError",
        "nope",
        datetime(2026, 1, 1, tzinfo=UTC),
        0.25,
        "open",
        0.5,
        3,
        1.25,
        True,
    )
    fast, slow = make_result(*args), IntegrationResult(*args)
    assert fast == slow and repr(fast) == repr(slow)
    assert dataclasses.astuple(fast) == dataclasses.astuple(slow)
    try:
        fast.status = Status.OK  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a result built by make_result must stay frozen")


def test_result_has_no_post_init_for_make_result_to_skip() -> None:
    """make_result skips __init__; that is only equivalent while there is no __post_init__."""
    assert not hasattr(IntegrationResult, "__post_init__")
    assert [f.name for f in dataclasses.fields(IntegrationResult)] == [
        "integration",
        "target",
        "status",
        "sections",
        "error_type",
        "error",
        "started_at",
        "duration_s",
        "breaker_state",
        "queued_s",
        "attempts",
        "waited_s",
        "cached",
    ]


async def test_open_breaker_message_follows_the_breaker_settings() -> None:
    """The cached circuit_open message still names each runner's own fail_max and reset_timeout."""
    registry = intgkit.IntegrationRegistry(None)

    @intgkit.integration(registry=registry)
    async def down(target):  # type: ignore[no-untyped-def]
        raise RuntimeError("down")

    for fail_max, reset in ((1, 60.0), (2, 5.0)):
        runner = intgkit.IntegrationRunner(
            registry, fail_max=fail_max, reset_timeout=reset, max_concurrency=1
        )
        results = await runner.arun(["down"], [f"t{i}" for i in range(fail_max + 1)])
        last = results[-1]
        assert last.status is Status.CIRCUIT_OPEN
        assert f"after {fail_max} consecutive failures" in (last.error or "")
        assert f"reset_timeout={reset:g} s" in (last.error or "")


async def test_workers_reach_the_concurrency_limit_and_never_pass_it() -> None:
    """Workers start on demand, yet calls that wait reach max_concurrency in flight, never more."""
    registry = intgkit.IntegrationRegistry(None)
    in_flight = peak = 0

    @intgkit.integration(registry=registry)
    async def wait(target):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        return {}

    for limit in (1, 7, 64):
        peak = 0
        runner = intgkit.IntegrationRunner(registry, max_concurrency=limit)
        results = await runner.arun(["wait"], [f"t{i}" for i in range(3 * limit + 1)])
        assert all(r.ok for r in results) and peak == limit, (limit, peak)


async def test_calls_that_never_wait_share_one_task() -> None:
    """Calls that end without waiting (here: no-ops) do not get a task each."""
    registry = intgkit.IntegrationRegistry(None)
    tasks: set[int] = set()

    @intgkit.integration(registry=registry)
    async def noop(target):  # type: ignore[no-untyped-def]
        tasks.add(id(asyncio.current_task()))
        return {}

    results = await intgkit.IntegrationRunner(registry, max_concurrency=1000).arun(
        ["noop"], [f"t{i}" for i in range(1000)]
    )
    assert all(r.ok for r in results) and len(tasks) == 1


async def test_calls_see_the_callers_context() -> None:
    """Every worker runs in a copy of the caller's context, also those started later."""
    registry = intgkit.IntegrationRegistry(None)
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    seen: list[str] = []

    @intgkit.integration(registry=registry)
    async def read(target):  # type: ignore[no-untyped-def]
        seen.append(var.get())
        await asyncio.sleep(0.01)
        return {}

    var.set("caller")
    await intgkit.IntegrationRunner(registry, max_concurrency=16).arun(["read"], [f"t{i}" for i in range(64)])
    assert seen == ["caller"] * 64

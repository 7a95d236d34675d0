"""The runner's hot-path shortcuts build exactly what the public constructors build."""

from __future__ import annotations

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

"""Logging: never configured by intgkit, quiet unless the application configured structlog."""

from __future__ import annotations

import asyncio

import pytest
import structlog

import intgkit


def _setup(registry: intgkit.IntegrationRegistry) -> None:
    @intgkit.integration(registry=registry)
    async def good(target):  # type: ignore[no-untyped-def]
        return {}

    @intgkit.integration(registry=registry)
    async def bad(target):  # type: ignore[no-untyped-def]
        raise ValueError("nope")


def test_unconfigured_run_prints_nothing(
    registry: intgkit.IntegrationRegistry, capsys: pytest.CaptureFixture[str]
) -> None:
    """With structlog unconfigured, a run (with failures) prints nothing and configures nothing."""
    _setup(registry)
    intgkit.IntegrationRunner(registry, fail_max=1).run(["good", "bad"], targets=["a", "b"])
    assert capsys.readouterr() == ("", "")
    assert not structlog.is_configured()


def test_events_for_run_and_each_result(
    registry: intgkit.IntegrationRegistry, logs: list[dict[str, object]]
) -> None:
    """Once configured (capture_logs), events cover run start/end and every result."""
    _setup(registry)
    intgkit.IntegrationRunner(registry).run(["good", "bad"], targets=["a", "b"])
    events = [e["event"] for e in logs]
    assert events[0] == "run_started" and events[-1] == "run_finished"
    results = [e for e in logs if e["event"] == "integration_result"]
    assert {(e["integration"], e["target"], e["status"]) for e in results} == {
        ("good", "a", "ok"),
        ("good", "b", "ok"),
        ("bad", "a", "error"),
        ("bad", "b", "error"),
    }
    assert all(isinstance(e["duration_s"], float) for e in results)
    assert logs[-1]["ok"] == 2 and logs[-1]["error"] == 2


def test_cancelled_run_logs_run_cancelled(
    registry: intgkit.IntegrationRegistry, logs: list[dict[str, object]]
) -> None:
    """A cancelled run ends with a run_cancelled event."""

    @intgkit.integration(registry=registry)
    async def hang(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(10)

    async def go() -> None:
        task = asyncio.ensure_future(intgkit.IntegrationRunner(registry).arun(["hang"]))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    assert logs[-1]["event"] == "run_cancelled"

"""intgkit.testing: the public helpers import cleanly and the fakes behave as documented."""

from __future__ import annotations

import asyncio

import intgkit
import intgkit.testing as t
from intgkit import Status


def test_all_is_complete() -> None:
    """Every name in intgkit.testing.__all__ exists."""
    assert all(hasattr(t, name) for name in t.__all__) and t.__all__ == sorted(t.__all__)


async def test_fake_integration_counts_calls_and_breaker_stops_them() -> None:
    """A failing fake integration trips its breaker; the open breaker keeps calls from it."""
    fake = t.fake_integration("fails", error=ConnectionError("down"))
    ok = t.fake_integration("works", delay=0.01)
    blocking = t.FakeIntegration("blocking", lambda target: {"rows": [{"t": target}]})
    reg = intgkit.IntegrationRegistry(None)
    for obj in (fake, ok, blocking):
        reg.register(obj)
    runner = intgkit.IntegrationRunner(reg, fail_max=2, max_concurrency=1)
    results = await runner.arun(["fails", "works", "blocking"], targets=["a", "b", "c"])
    assert [r.status for r in results][:3] == [Status.ERROR, Status.ERROR, Status.CIRCUIT_OPEN]
    assert fake.calls == ["a", "b"] and ok.calls == ["a", "b", "c"] and blocking.calls == ["a", "b", "c"]
    assert results[3].sections[0].rows == ({"target": "a"},)
    await asyncio.sleep(0)


def test_unconfigured_fake_is_not_called() -> None:
    """configured=False makes a fake report not_configured without being called."""
    fake = t.fake_integration("off", configured=False)
    reg = intgkit.IntegrationRegistry(None)
    reg.register(fake)
    assert intgkit.IntegrationRunner(reg).run(["off"])[0].status is Status.NOT_CONFIGURED
    assert fake.calls == []

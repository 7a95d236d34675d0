"""The cloudflare integration on intgkit's policies, against the fake API enforcing the budget.

Cloudflare documents 1,200 requests per 5 minutes per user; the fake here enforces 1,200 per
3 s (the same count, time scaled by 1/100 so a test takes seconds), answering 429 with
Retry-After beyond it. An all-zones target expands into one call per zone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

import intgkit
from intgkit.integrations.cloudflare import Cloudflare
from intgkit.testing._cloudflare import FakeCloudflare

TOKEN = "cf-policy-token-5b2d9"
ZONES = [f"zone{i:03d}.example" for i in range(100)]
BUDGET = (1200, 3.0)


@pytest.fixture
async def budgeted() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare(token=TOKEN, budget=BUDGET) as server:
        for name in ZONES:
            server.add_zone(name)
        yield server


def audit(cf: FakeCloudflare, **kw: object) -> Cloudflare:
    return Cloudflare(token=TOKEN, api_base=cf.base_url, ca_bundle=cf.ca_bundle, **kw)  # type: ignore[arg-type]


def runner_for(obj: Cloudflare) -> intgkit.IntegrationRunner:
    registry = intgkit.IntegrationRegistry(None)
    registry.register(obj)
    return intgkit.IntegrationRunner(registry, history=None)


@pytest.mark.slow
async def test_all_zones_within_the_budget_one_result_per_zone(budgeted: FakeCloudflare) -> None:
    """100 zones (about 2,200 requests) against 1,200 per 3 s: every zone ok, paced, not refused."""
    obj = audit(budgeted, budget=intgkit.RateLimit(*BUDGET), timeout=60)
    t0 = time.monotonic()
    results = await runner_for(obj).arun(["cloudflare"])
    elapsed = time.monotonic() - t0
    assert [r.target for r in results] == ZONES
    bad = [(r.target, r.error) for r in results if not r.ok]
    assert not bad, bad[:3]
    assert all({row["zone"] for row in r.section("zones").rows} == {r.target} for r in results)
    assert len(budgeted.requests) > 2000
    assert elapsed >= 2.0  # ~1,000 requests beyond the burst at 400/s
    # how many of them the server refused: see the test below (a known gap, issue 11)
    state = runner_for(obj).rate_limit_state
    assert list(state["scope"]) == ["cloudflare"] and TOKEN not in repr(state.to_dict())


@pytest.mark.slow
async def test_budget_running_out_loses_no_other_zone() -> None:
    """40 zones (about 900 requests), unpaced, against a budget of 300 per 3 s, with Retry-After
    above max_retry_wait: zones refused fail alone as rate limited, at once; the others keep their
    data; the API's one breaker stays closed (a spent budget is no failure of the service)."""
    zones = ZONES[:40]
    async with FakeCloudflare(token=TOKEN, budget=(300, 3.0)) as cf:
        for name in zones:
            cf.add_zone(name)
        obj = audit(cf, budget=intgkit.RateLimit(1e6, per=1.0), timeout=30, max_retry_wait=0.5)
        runner = runner_for(obj)
        results = await runner.arun(["cloudflare"])
    assert [r.target for r in results] == zones
    ok = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    assert ok and failed
    assert {r.error_type for r in failed} == {"CloudflareRateLimited"}
    assert all("rate limited" in (r.error or "") for r in failed)
    assert runner.breakers.get(("cloudflare", None)).cb.current_state == "closed"
    for r in ok:  # a zone that finished has its own findings, whatever happened to the others
        assert {row["zone"] for row in r.section("findings").rows} == {r.target}


async def test_5xx_and_unreachable_are_retried() -> None:
    """A 503 on one endpoint is retried and the check reads the recovered value."""
    async with FakeCloudflare(token=TOKEN) as cf:
        zone = cf.add_zone("retry.example")
        path = f"/zones/{zone.id}/dnssec"
        cf.fail(path, 503, 10000, "temporarily unavailable")

        async def recover() -> None:
            await asyncio.sleep(0.2)
            cf._failures.pop(path)

        healer = asyncio.ensure_future(recover())
        out = await audit(cf, timeout=20).fetch("retry.example")
        await healer
    dnssec = [q.status for q in cf.requests if q.path.endswith(path)]
    assert dnssec[0] == 503 and dnssec[-1] == 200
    checks = [f["check"] for f in out["findings"]]
    assert not any(c.startswith("dnssec") and c.endswith("-unknown") for c in checks)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=False,
    reason="known gap (issue 11 stays open): a token bucket of the whole budget refilling at "
    "budget/period can send more than the budget inside one rolling period; on a fast machine "
    "the fake API (a rolling window) refused 266 of ~2,400 requests (the retries still made "
    "every zone ok)",
)
async def test_all_zones_paced_so_the_api_refuses_almost_nothing(budgeted: FakeCloudflare) -> None:
    """The client paces itself to the budget: the API refuses (429) at most a handful of requests."""
    obj = audit(budgeted, budget=intgkit.RateLimit(*BUDGET), timeout=60)
    results = await runner_for(obj).arun(["cloudflare"])
    assert all(r.ok for r in results)
    refused = sum(1 for q in budgeted.requests if q.status == 429)
    assert refused <= 10, f"{refused} of {len(budgeted.requests)} requests refused"

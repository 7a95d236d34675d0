"""The cloudflare integration on intgkit's policies, against the fake API enforcing the budget.

Cloudflare documents 1,200 requests per five minutes per user, and that one request too many
blocks every call for the next five minutes (developers.cloudflare.com/fundamentals/api/
reference/limits). The fake enforces it in its strictest reading, a rolling window, with the
time scaled down (1,200 per 6 s, blocked for 6 s) so a test takes seconds, answering 429 with
Retry-After. An all-zones target expands into one call per zone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

import intgkit
from intgkit.integrations.cloudflare import BUDGET as SHIPPED_BUDGET
from intgkit.integrations.cloudflare import Cloudflare
from intgkit.testing._cloudflare import FakeCloudflare

TOKEN = "cf-policy-token-5b2d9"
ZONES = [f"zone{i:03d}.example" for i in range(70)]
#: 300 s of the real API are 6 s here. Not less: requests reach the fake later than their
#: tokens were granted when a busy machine stalls the event loop, and the scaled window then
#: holds 1,100 + (the stall) * 92 requests/s; the 100 requests of headroom absorb a 1 s stall.
SCALE = 50
BUDGET = (1200, 300.0 / SCALE)
#: the integration's default budget, on the same time scale as the fake
SCALED = intgkit.RateLimit(SHIPPED_BUDGET.rate, per=SHIPPED_BUDGET.per / SCALE, burst=SHIPPED_BUDGET.burst)


@pytest.fixture
async def budgeted() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare(token=TOKEN, budget=BUDGET) as server:
        for name in ZONES:
            server.add_zone(name)
        yield server


def audit(cf: FakeCloudflare, **kw: object) -> Cloudflare:
    return Cloudflare(token=TOKEN, api_base=cf.base_url, ca_bundle=cf.ca_bundle, **kw)  # type: ignore[arg-type]


def runner_for(obj: Cloudflare, **kw: object) -> intgkit.IntegrationRunner:
    registry = intgkit.IntegrationRegistry(None)
    registry.register(obj)
    return intgkit.IntegrationRunner(registry, history=None, **kw)  # type: ignore[arg-type]


def test_shipped_budget_keeps_inside_the_documented_one() -> None:
    """No 300 s can hold more than Cloudflare's 1,200 requests, with room for the user's others."""
    assert SHIPPED_BUDGET.per == 300.0
    assert SHIPPED_BUDGET.most_per_period <= 1200 - 50
    assert SHIPPED_BUDGET.burst >= 22 * 20  # an account of 20 zones (~22 requests each) goes at once


@pytest.mark.slow
async def test_all_zones_paced_so_the_api_refuses_almost_nothing(budgeted: FakeCloudflare) -> None:
    """70 zones (about 1,540 requests) against 1,200 per rolling 6 s, with the shipped budget on
    the same time scale: every zone ok with its own result, paced, and the API refuses (429) at
    most a handful of requests (a whole-budget bucket overruns the window and is blocked)."""
    obj = audit(budgeted, budget=SCALED, timeout=60)
    t0 = time.monotonic()
    # 8 zones at a time, 8 requests each: on a busy machine each request in flight delays the
    # others' arrival on the one event loop, which a window of 6 s (not 300) would feel
    results = await runner_for(obj, max_concurrency=8).arun(["cloudflare"])
    elapsed = time.monotonic() - t0
    refused = sum(1 for q in budgeted.requests if q.status == 429)
    assert refused <= 10, f"{refused} of {len(budgeted.requests)} requests refused"
    assert [r.target for r in results] == ZONES
    bad = [(r.target, r.error) for r in results if not r.ok]
    assert not bad, bad[:3]
    assert all({row["zone"] for row in r.section("zones").rows} == {r.target} for r in results)
    assert len(budgeted.requests) > BUDGET[0] + 200  # more than one window's budget
    # paced, not sent at once: all but the burst came at the bucket's rate
    floor = (len(budgeted.requests) - SCALED.burst) * SCALED.interval
    assert elapsed >= 0.9 * floor, (elapsed, floor)
    state = runner_for(obj).rate_limit_state
    assert list(state["scope"]) == ["cloudflare"] and TOKEN not in repr(state.to_dict())


async def test_fake_budget_is_a_rolling_window_then_a_block() -> None:
    """The fake counts any ``per`` seconds, not fixed windows nor a bucket, and blocks after."""
    async with FakeCloudflare(token=TOKEN, budget=(5, 1.0), tls=False) as cf:
        url = f"{cf.base_url}/user/tokens/verify"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession(headers=headers) as s:

            async def status() -> tuple[int, str | None]:
                async with s.get(url) as r:
                    return r.status, r.headers.get("Retry-After")

            t0 = time.monotonic()
            assert await status() == (200, None)  # t = 0
            await asyncio.sleep(0.5)
            assert [await status() for _ in range(4)] == [(200, None)] * 4  # t = 0.5: 5 in the window
            await asyncio.sleep(0.7)
            # t = 1.2: the first left the window, the 4 are still in it (until 1.5): one more
            # passes. A fixed 1 s window would pass 5, a bucket of 5 per 1 s (5/s) would pass 3.
            assert await status() == (200, None)
            assert time.monotonic() - t0 < 1.45, "too slow to tell a rolling window (busy machine)"
            assert await status() == (429, "1")  # one too many: blocked for the next 1 s
            await asyncio.sleep(0.6)
            assert await status() == (429, "1")  # still blocked, though the 4 have left the window
            await asyncio.sleep(0.6)
            assert await status() == (200, None)


@pytest.mark.slow
async def test_budget_running_out_loses_no_other_zone() -> None:
    """40 zones (about 900 requests), unpaced, against a budget of 300 per 3 s (then blocked for
    3 s), with Retry-After above max_retry_wait: zones refused fail alone as rate limited, at
    once; the others keep their data; the API's one breaker stays closed (a spent budget is no
    failure of the service)."""
    zones = ZONES[:40]
    async with FakeCloudflare(token=TOKEN, budget=(300, 3.0)) as cf:
        for name in zones:
            cf.add_zone(name)
        obj = audit(cf, budget=intgkit.RateLimit(1e6, per=1.0), timeout=30, max_retry_wait=0.5)
        runner = runner_for(obj, max_concurrency=4)  # a few zones at a time: the first ones finish
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


async def test_a_request_takes_its_token_only_once_it_can_be_sent() -> None:
    """While a request waits for an in-flight slot, its token stays in the bucket: tokens are
    granted to requests that go out at once, so the API sees them paced, not bunched."""
    from intgkit._policies import TokenBucket
    from intgkit.integrations.cloudflare._client import Answer, Policy, send_with_policies

    bucket = TokenBucket(intgkit.RateLimit(2, per=60.0), "t")
    policy = Policy(retry=intgkit.Retry(attempts=1), bucket=bucket, deadline=None, budget=None)
    slot = asyncio.Semaphore(1)
    sent: list[float] = []

    async def send() -> Answer:
        sent.append(time.monotonic())
        return Answer(200, None, b"{}")

    await slot.acquire()  # another request is in flight
    waiting = asyncio.ensure_future(send_with_policies(send, "GET /x", policy, slot))
    await asyncio.sleep(0.1)
    assert not sent and bucket.tokens() == 2.0  # queued for the slot, holding no token
    slot.release()
    assert (await waiting).status == 200
    assert len(sent) == 1 and 1.0 <= bucket.tokens() < 1.01

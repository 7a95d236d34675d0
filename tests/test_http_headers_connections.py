"""http_headers shares one client among the scans running on an event loop, and closes it.

A run over many sites used to open new connections (and a TLS handshake) for every site. Now
the scans running at the same time on one loop share a client, so a run of many pages on one
host reuses connections; the last scan to finish closes it, so no session outlives a run
(pytest turns an unclosed aiohttp session into an error). Counted at the server: the distinct
client connections it accepted.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from typing import Any

import intgkit
from intgkit.integrations.http_headers import HttpHeaders
from intgkit.integrations.http_headers._retriever import _LEASES
from intgkit.testing._site import LocalSite, Route

PAGE = Route.page(headers=[("X-Frame-Options", "DENY")], body="<p>hi</p>")
PAGES = 40


class CountingSite(LocalSite):
    """A LocalSite that records each TLS connection a request arrived on (client address)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tls_peers: set[tuple[Any, ...]] = set()
        self.requests = 0

    def _handler(self, routes: Any) -> Any:
        inner = super()._handler(routes)

        async def handle(request: Any) -> Any:
            self.requests += 1
            if request.secure:
                self.tls_peers.add(request.transport.get_extra_info("peername"))
            return await inner(request)

        return handle


def routes() -> dict[str, Route]:
    return {f"/p{i}/": PAGE for i in range(PAGES)}


def runner_for(site: LocalSite, **kwargs: Any) -> tuple[intgkit.IntegrationRunner, list[str]]:
    integ = HttpHeaders(ca_bundle=site.ca_bundle, resolve=site.resolve)
    reg = intgkit.IntegrationRegistry(None)
    reg.register(integ)
    targets = [site.url("http", f"/p{i}/", direct=True) for i in range(PAGES)]
    return intgkit.IntegrationRunner(reg, history=None, **kwargs), targets


async def test_a_run_of_many_pages_reuses_connections_and_closes_its_client() -> None:
    async with CountingSite(routes()) as site:
        runner, targets = runner_for(site, timeout=30, max_concurrency=4)
        results = await runner.arun(targets=targets)
        assert [r.status for r in results] == [intgkit.Status.OK] * PAGES, results.counts()
        assert {r.section("observatory").rows[0]["status_code"] for r in results} == {200}
        # per page: http start + its redirect, https start, CORS probe
        assert site.requests == 4 * PAGES
        # a client per scan made at least one TLS connection per page (40); 4 scans at once
        # need at most 2 each, a few more if a keep-alive lapses on a slow machine
        assert len(site.tls_peers) <= 16, len(site.tls_peers)
    assert not _LEASES.get(asyncio.get_running_loop())  # the last scan closed the client
    gc.collect()  # an unclosed aiohttp session would warn here (an error under pytest)


async def test_a_scan_cut_short_by_the_timeout_leaves_no_client_open() -> None:
    """Scans that time out (cancelled mid-request) still count themselves out."""
    slow = {f"/p{i}/": Route.page(body="<p>slow</p>", delay=5.0) for i in range(0, PAGES, 4)}
    async with CountingSite({**routes(), **slow}) as site:
        runner, targets = runner_for(site, timeout=1.0, max_concurrency=8)
        results = await runner.arun(targets=targets)
        statuses = [r.status for r in results]
        assert statuses.count(intgkit.Status.TIMEOUT) == len(slow), results.counts()
        assert statuses.count(intgkit.Status.OK) == PAGES - len(slow), results.counts()
    assert not _LEASES.get(asyncio.get_running_loop())
    gc.collect()


def test_runs_on_their_own_loops_get_their_own_clients() -> None:
    """Two sync runs at once, each on its own loop in its own thread: both ok, nothing left."""
    outcome: list[Any] = []

    async def serve_and_run_twice() -> None:
        async with CountingSite(routes()) as site:
            runner, targets = runner_for(site, timeout=30, max_concurrency=4)

            def run() -> None:
                outcome.append(runner.run(targets=targets))  # a private loop per run

            threads = [threading.Thread(target=run) for _ in range(2)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                await asyncio.sleep(0.05)
            assert site.requests == 2 * 4 * PAGES

    asyncio.run(serve_and_run_twice())
    assert len(outcome) == 2
    for results in outcome:
        assert [r.status for r in results] == [intgkit.Status.OK] * PAGES, results.counts()
    assert len(_LEASES) == 0
    gc.collect()

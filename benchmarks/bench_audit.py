"""The audit case: the shipped ``http_headers`` integration through the runner, against the same
fetches written by hand, each timed over the same region.

The servers are bench_http_headers' (one HTTP and one HTTPS aiohttp server on 127.0.0.1, in a
thread of this process, a trustme CA, 1,000 pages whose http:// start redirects to https://).
Every side makes exactly the requests http_headers makes per site, which are the MDN HTTP
Observatory's less robots.txt (its retriever fetches robots.txt for cookies that its client
does not keep; http_headers documents why it skips it): the http:// start, its redirect
followed, and the https:// start, both at once; then the CORS probe, OPTIONS with the
Observatory's Origin and ``Access-Control-Request-Method: GET``, to the https:// final URL. All
with http_headers' User-Agent and Accept, no Cookie sent (http_headers keeps each chain's
cookies for the tests and never sends them), bodies read. The servers log each request
(scheme, method, headers that matter) and every sample must log exactly that, 4 requests per
site (``bench_http_headers.expected_log``), or the run fails.

Timed region, on every side: from nothing to every site's answer in hand, so sessions,
connectors, TLS contexts, pools and the runner are built inside it.

- intgkit: ``HttpHeaders`` on an ``IntegrationRunner`` (max_concurrency 32; history off, as the
  baselines record nothing), which also runs the Observatory's 12 tests and grades each site;
  its scans on one loop share one client (connections reused from site to site);
- (a) aiohttp by hand: one session (its connector unlimited, as http_headers'), a semaphore of
  32, ``bench_http_headers.fetch_as_http_headers`` per site, no analysis;
- (b) ThreadPoolExecutor(32) + requests: a session per thread (connections reused), per site
  the two starts one after the other and the probe, no analysis.

An information row splits intgkit's time: the same runner and integration with each scan
stopped after its requests (no tests, no grade, no rows) against (a). Its ratio is what the
runner and http_headers' retrieval cost over the same requests by hand; the difference between
the two intgkit samples is what the analysis costs per site.

``python -m benchmarks.bench_audit``.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._common import Row, interleaved, row
from .bench_http_headers import (
    ACCEPT,
    CORS_PROBE,
    HOST,
    USER_AGENT,
    _aiohttp_sampler,
    _Servers,
    _targets,
    https_start,
    sampled,
)

CONCURRENCY = 32


def _intgkit(servers: _Servers, targets: list[str], *, analyse: bool = True) -> float:
    """http_headers through the runner; ``analyse=False`` stops each scan after its requests
    (the same retrieval, no tests, no grade, no rows): the breakdown row."""
    import intgkit
    from intgkit.integrations import http_headers

    class RetrievalOnly(http_headers.HttpHeaders):
        async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
            r = await self.retrieve(target)
            assert r.auto is not None and r.auto.status == 200
            return {}

    async def main() -> float:
        start = time.perf_counter()
        kind = http_headers.HttpHeaders if analyse else RetrievalOnly
        integ = kind(
            ca_bundle=servers.ca_bundle, resolve=f"{HOST}:*:127.0.0.1", https_port=servers.https_port
        )
        registry = intgkit.IntegrationRegistry(None)
        registry.register(integ)
        runner = intgkit.IntegrationRunner(registry, timeout=60, max_concurrency=CONCURRENCY, history=None)
        results = await runner.arun([integ.name], targets=targets)
        elapsed = time.perf_counter() - start
        assert all(r.ok for r in results), results.counts()
        if analyse:
            assert {r.section("observatory").rows[0]["grade"] for r in results} == {"A+"}
        return elapsed

    return asyncio.run(main())


def _aiohttp(servers: _Servers, targets: list[str]) -> float:
    """(a): the same fetches in aiohttp, one session, a semaphore of 32: bench_http_headers'
    baseline, the very same function (one definition of what (a) does)."""
    return _aiohttp_sampler(servers, targets)


@contextmanager
def _site_test_resolves_locally() -> Iterator[None]:
    """``site.test`` -> 127.0.0.1 for requests (the override the other sides make in their
    resolvers); restored after the sample."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        return real("127.0.0.1" if host == HOST else host, *args, **kw)

    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    try:
        yield
    finally:
        socket.getaddrinfo = real


def _threads(servers: _Servers, targets: list[str]) -> float:
    from http.cookiejar import DefaultCookiePolicy

    import requests

    with _site_test_resolves_locally():
        start = time.perf_counter()
        local = threading.local()

        def one(url: str) -> dict[str, Any]:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                session.headers.update({"User-Agent": USER_AGENT, "Accept": ACCEPT})
                session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # never send any
            ca = servers.ca_bundle  # per request: REQUESTS_CA_BUNDLE would override session.verify
            kept: dict[str, Any] = {}
            for name, u in (("http", url), ("https", https_start(url, servers))):
                r = session.get(u, timeout=60, verify=ca)
                kept[name] = {
                    "url": r.url,
                    "status": r.status_code,
                    "headers": dict(r.headers),
                    "body": r.text,
                }
            r = session.options(kept["https"]["url"], headers=CORS_PROBE, timeout=60, verify=ca)
            kept["cors"] = dict(r.headers)
            return kept

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            out = list(pool.map(one, targets))
        elapsed = time.perf_counter() - start
    assert len(out) == len(targets) and all(o["https"]["status"] == 200 for o in out)
    return elapsed


def run(quick: bool) -> list[Row]:
    """intgkit + http_headers vs (a) aiohttp + semaphore and (b) ThreadPoolExecutor + requests;
    an information row: the same runs without the analysis, against (a)."""
    n = 50 if quick else 1000
    with tempfile.TemporaryDirectory() as tmp, _Servers(Path(tmp)) as servers:
        targets = _targets(servers, n)
        t = interleaved(
            {
                "intgkit": lambda: sampled(servers, n, lambda: _intgkit(servers, targets)),
                "retrieval": lambda: sampled(servers, n, lambda: _intgkit(servers, targets, analyse=False)),
                "aiohttp": lambda: sampled(servers, n, lambda: _aiohttp(servers, targets)),
                "threads": lambda: sampled(servers, n, lambda: _threads(servers, targets)),
            },
            repeats=3 if quick else 5,
        )
    rate = (
        f"{n / t['intgkit']:,.0f} sites/s with intgkit, {n / t['aiohttp']:,.0f} with (a), "
        f"{n / t['threads']:,.0f} with (b)"
    )
    analysis = t["intgkit"] - t["retrieval"]
    return [
        row(
            f"audit: {n:,} sites through http_headers, vs (a) aiohttp + semaphore",
            t["intgkit"],
            t["aiohttp"],
            1.2,
            note=f"{rate}; intgkit also runs the 12 tests and grades each site, (a) only fetches",
        ),
        row(
            f"audit: {n:,} sites through http_headers, vs (b) ThreadPoolExecutor(32) + requests",
            t["intgkit"],
            t["threads"],
            1 / 3,
            note="target: at least 3x faster than (b), i.e. a ratio <= 0.33x",
        ),
        row(
            f"audit: {n:,} sites, http_headers' requests only (no tests) through the runner, vs (a)",
            t["retrieval"],
            t["aiohttp"],
            None,
            note=(
                f"the runner and http_headers' retrieval against the same requests by hand; the "
                f"analysis (12 tests, grade, rows) is the rest: {analysis * 1e3 / n:.2f} ms per site, "
                f"{analysis / t['aiohttp']:.0%} of (a)'s time"
            ),
        ),
    ]


if __name__ == "__main__":
    for r in run(quick=False):
        print(r)

"""The audit case: the shipped ``http_headers`` integration through the runner, against the same
fetches written by hand, each timed over the same region.

The servers are bench_http_headers' (one HTTP and one HTTPS aiohttp server on 127.0.0.1, a
trustme CA, 1,000 pages whose http:// start redirects to https://). Per site every side makes
the same requests: the http:// start with its redirect followed, the https:// start, and the
CORS probe (OPTIONS with an Origin header). Timed region, on every side: from nothing to every
site's answer in hand, so sessions, connectors, TLS contexts, pools and the runner are built
inside it.

- intgkit: ``HttpHeaders`` on an ``IntegrationRunner`` (max_concurrency 32; history off, as the
  baselines record nothing), which also runs the Observatory's 12 tests and grades each site;
- (a) the fetches in aiohttp: one session, a semaphore of 32, no analysis;
- (b) ThreadPoolExecutor(32) + requests, a session per thread, no analysis.

``python -m benchmarks.bench_audit``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ._common import Row, interleaved, row
from .bench_http_headers import HOST, _Resolver, _Servers, _targets

CONCURRENCY = 32
ORIGIN = {"Origin": "https://http-observatory.security.mozilla.org"}


def _https(url: str, servers: _Servers) -> str:
    return url.replace(f"http://{HOST}:{servers.http_port}", f"https://{HOST}:{servers.https_port}")


def _intgkit(servers: _Servers, targets: list[str]) -> float:
    import intgkit
    from intgkit.integrations import http_headers

    async def main() -> float:
        start = time.perf_counter()
        integ = http_headers.HttpHeaders(
            ca_bundle=servers.ca_bundle, resolve=f"{HOST}:*:127.0.0.1", https_port=servers.https_port
        )
        registry = intgkit.IntegrationRegistry(None)
        registry.register(integ)
        runner = intgkit.IntegrationRunner(registry, timeout=60, max_concurrency=CONCURRENCY, history=None)
        results = await runner.arun([integ.name], targets=targets)
        elapsed = time.perf_counter() - start
        assert all(r.ok for r in results), results.counts()
        assert {r.section("observatory").rows[0]["grade"] for r in results} == {"A+"}
        return elapsed

    return asyncio.run(main())


def _aiohttp(servers: _Servers, targets: list[str]) -> float:
    import aiohttp

    async def main() -> float:
        start = time.perf_counter()
        ctx = ssl.create_default_context(cafile=servers.ca_bundle)
        connector = aiohttp.TCPConnector(ssl=ctx, resolver=_Resolver(), limit=CONCURRENCY)
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
            async with sem:
                async with session.get(url) as r1:
                    kept: dict[str, Any] = {
                        "http": dict(r1.headers),
                        "final": str(r1.url),
                        "body": await r1.text(),
                    }
                async with session.get(_https(url, servers)) as r2:
                    kept["https"], kept["https_body"] = dict(r2.headers), await r2.text()
                async with session.options(str(kept["final"]), headers=ORIGIN) as r3:
                    kept["cors"] = dict(r3.headers)
            return kept

        async with aiohttp.ClientSession(connector=connector) as session:
            out = await asyncio.gather(*(one(session, t) for t in targets))
        elapsed = time.perf_counter() - start
        assert len(out) == len(targets) and all(o["final"].startswith("https://") for o in out)
        return elapsed

    return asyncio.run(main())


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
    import requests

    with _site_test_resolves_locally():
        start = time.perf_counter()
        local = threading.local()

        def one(url: str) -> dict[str, Any]:
            session = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
            ca = servers.ca_bundle  # per request: REQUESTS_CA_BUNDLE would override session.verify
            r1 = session.get(url, timeout=60, verify=ca)
            kept: dict[str, Any] = {"http": dict(r1.headers), "final": r1.url, "body": r1.text}
            r2 = session.get(_https(url, servers), timeout=60, verify=ca)
            kept["https"], kept["https_body"] = dict(r2.headers), r2.text
            r3 = session.options(kept["final"], headers=ORIGIN, timeout=60, verify=ca)
            kept["cors"] = dict(r3.headers)
            return kept

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            out = list(pool.map(one, targets))
        elapsed = time.perf_counter() - start
    assert len(out) == len(targets) and all(o["final"].startswith("https://") for o in out)
    return elapsed


def run(quick: bool) -> list[Row]:
    """intgkit + http_headers vs (a) aiohttp + semaphore and (b) ThreadPoolExecutor + requests."""
    n = 50 if quick else 1000
    with tempfile.TemporaryDirectory() as tmp, _Servers(Path(tmp)) as servers:
        targets = _targets(servers, n)
        t = interleaved(
            {
                "intgkit": lambda: _intgkit(servers, targets),
                "aiohttp": lambda: _aiohttp(servers, targets),
                "threads": lambda: _threads(servers, targets),
            },
            repeats=3 if quick else 5,
        )
    rate = (
        f"{n / t['intgkit']:,.0f} sites/s with intgkit, {n / t['aiohttp']:,.0f} with (a), "
        f"{n / t['threads']:,.0f} with (b)"
    )
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
    ]


if __name__ == "__main__":
    for r in run(quick=False):
        print(r)

"""Issue 5's audit throughput: 1,000 domains' header fetches against local virtual hosts.

One aiohttp server on 127.0.0.1 answers for every ``dNNNN.site.test`` (chosen by the Host
header) with a set of security headers. intgkit fetches each domain's headers through an
integration on the runner (aiohttp, max_concurrency 32); the baseline is the plain
ThreadPoolExecutor(32) + requests loop a user would write, doing the same fetches. Both keep
the same fields of each response. ``python -m benchmarks.bench_audit``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ._common import Row, interleaved, row

HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "Strict-Transport-Security": "max-age=86400",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "no-referrer-when-downgrade",
}
KEPT = ("content-security-policy", "strict-transport-security", "x-frame-options", "referrer-policy")
CONCURRENCY = 32


class _Server:
    """The virtual hosts, served from a thread of their own so both clients see the same server."""

    def __init__(self) -> None:
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            return web.Response(text=f"<p>{request.host}</p>", headers=HEADERS)

        app = web.Application()
        app.router.add_get("/", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        self.port = int(runner.addresses[0][1])
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> _Server:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _domains(n: int) -> list[str]:
    return [f"d{i:04d}.site.test" for i in range(n)]


def _intgkit_sampler(port: int, domains: list[str]) -> float:
    import aiohttp

    import intgkit

    async def main() -> float:
        connector = aiohttp.TCPConnector(limit=CONCURRENCY)
        async with aiohttp.ClientSession(connector=connector) as session:
            registry = intgkit.IntegrationRegistry(None)

            @intgkit.integration(registry=registry, breaker_per_target=True)
            async def headers(target: str | None) -> dict[str, Any]:
                url = f"http://127.0.0.1:{port}/"
                async with session.get(url, headers={"Host": str(target)}) as resp:
                    await resp.read()
                    row = {k: resp.headers.get(k) for k in KEPT}
                return {"headers": [{"status": resp.status, **row}]}

            runner = intgkit.IntegrationRunner(registry, timeout=30, max_concurrency=CONCURRENCY)
            start = time.perf_counter()
            results = await runner.arun(["headers"], targets=domains)
            elapsed = time.perf_counter() - start
            assert all(r.ok for r in results), results.counts()
            return elapsed

    return asyncio.run(main())


def _threads_sampler(port: int, domains: list[str]) -> float:
    import requests

    local = threading.local()

    def fetch(domain: str) -> dict[str, Any]:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        resp = session.get(f"http://127.0.0.1:{port}/", headers={"Host": domain}, timeout=30)
        return {"status": resp.status_code, **{k: resp.headers.get(k) for k in KEPT}}

    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        out = list(pool.map(fetch, domains))
    elapsed = time.perf_counter() - start
    assert len(out) == len(domains) and all(r["status"] == 200 for r in out)
    return elapsed


def run(quick: bool) -> list[Row]:
    """The throughput case: intgkit's runner vs ThreadPoolExecutor + requests."""
    n = 100 if quick else 1000
    domains = _domains(n)
    with _Server() as server:
        medians = interleaved(
            {
                "intgkit": lambda: _intgkit_sampler(server.port, domains),
                "threads": lambda: _threads_sampler(server.port, domains),
            },
            repeats=3 if quick else 5,
        )
    note = (
        f"{n / medians['intgkit']:,.0f} domains/s with intgkit (aiohttp, max_concurrency={CONCURRENCY}) vs "
        f"{n / medians['threads']:,.0f} domains/s with ThreadPoolExecutor({CONCURRENCY}) + requests"
    )
    return [
        row(
            f"audit: {n:,} domains' header fetches vs ThreadPoolExecutor + requests",
            medians["intgkit"],
            medians["threads"],
            1.0,
            note=note,
        )
    ]


if __name__ == "__main__":
    for r in run(quick=False):
        print(r)

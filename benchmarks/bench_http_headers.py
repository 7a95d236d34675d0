"""Issue 14's http_headers throughput: the Observatory's 12 tests on 1,000 local sites.

One HTTP and one HTTPS aiohttp server on 127.0.0.1 (a trustme CA, its leaf for ``site.test``)
serve 1,000 pages, ``/s0000/`` to ``/s0999/``; HTTP redirects each to its HTTPS page, which sends
a CSP, HSTS, a session cookie and the other headers the tests read, and HTML with a same-origin
and an external script. intgkit scans each page as one target (``http://site.test:PORT/sNNNN/``)
through the runner (max_concurrency 32): both starts with their redirects, the CORS probe, the
12 tests, score and grade. The baseline is what a user without intgkit would write to make the
same requests (:func:`fetch_as_http_headers`, shared with bench_audit): one aiohttp session, a
semaphore of 32, per page the http:// start (redirect followed) and the https:// start at once,
then the CORS probe (OPTIONS with the Observatory's Origin) to the https:// final URL, with
http_headers' User-Agent and Accept, no cookies sent, keeping headers and bodies, no analysis.
The servers log every request (scheme, method, path, headers that matter) and each side's log
must equal the others', so the ratio is what the tests, the grading and the runner's isolation
cost on top of the same fetching.

The same file runs unchanged against earlier intgkit versions (it uses only the public
``HttpHeaders`` constructor and the runner), which is how docs/performance.md compares the
package against the single module it replaced. ``python -m benchmarks.bench_http_headers``.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ._common import Row, interleaved, row

CONCURRENCY = 32
HOST = "site.test"
#: What http_headers sends (its retriever's constants, copied so this file also runs against
#: earlier versions): the baselines send the same.
USER_AGENT = "Mozilla/5.0 (compatible; intgkit-http-headers; MDN HTTP Observatory rules)"
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
CORS_PROBE = {
    "Access-Control-Request-Method": "GET",
    "Origin": "https://http-observatory.security.mozilla.org",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' https://cdn.other.test",
    "Strict-Transport-Security": "max-age=31536000",
    "X-Frame-Options": "SAMEORIGIN",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
BODY = (
    "<!doctype html><html><head><title>page</title>"
    '<script src="/static/app.js" integrity="sha384-abc"></script>'
    '<script src="https://cdn.other.test/lib.js" integrity="sha384-def" crossorigin></script>'
    "</head><body>" + "<p>text</p>" * 200 + "</body></html>"
)


class _Servers:
    """The HTTP and HTTPS servers, in a thread of their own so the clients share nothing."""

    def __init__(self, certdir: Path) -> None:
        import trustme

        ca = trustme.CA()
        leaf = ca.issue_cert(HOST)
        self.ca_bundle = str(certdir / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_bundle)
        self._server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(self._server_ctx)
        self.http_port = self.https_port = 0
        #: every request: (scheme, method, User-Agent is http_headers', Origin sent, Cookie sent)
        self.log: Counter[tuple[str, str, bool, bool, bool]] = Counter()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        from aiohttp import web

        def record(request: web.Request, scheme: str) -> None:
            h = request.headers
            ours = h.get("User-Agent") == USER_AGENT and h.get("Accept") == ACCEPT
            self.log[(scheme, request.method, ours, "Origin" in h, "Cookie" in h)] += 1

        async def page(request: web.Request) -> web.Response:
            record(request, "https")
            resp = web.Response(text=BODY, content_type="text/html", headers=HEADERS)
            resp.headers["Set-Cookie"] = "sessionid=x; Path=/; Secure; HttpOnly; SameSite=Lax"
            return resp

        async def options(request: web.Request) -> web.Response:
            record(request, "https")
            return web.Response(status=204)

        async def redirect(request: web.Request) -> web.Response:
            record(request, "http")
            raise web.HTTPMovedPermanently(f"https://{HOST}:{self.https_port}{request.path}")

        https_app = web.Application()
        https_app.router.add_get("/{tail:.*}", page)
        https_app.router.add_route("OPTIONS", "/{tail:.*}", options)
        http_app = web.Application()
        http_app.router.add_get("/{tail:.*}", redirect)
        runners = [web.AppRunner(app, access_log=None) for app in (https_app, http_app)]
        for r in runners:
            await r.setup()
        await web.TCPSite(runners[0], "127.0.0.1", 0, ssl_context=self._server_ctx, backlog=1024).start()
        await web.TCPSite(runners[1], "127.0.0.1", 0, backlog=1024).start()
        self.https_port = int(runners[0].addresses[0][1])
        self.http_port = int(runners[1].addresses[0][1])
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        for r in runners:
            await r.cleanup()

    def __enter__(self) -> _Servers:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def _targets(servers: _Servers, n: int) -> list[str]:
    return [f"http://{HOST}:{servers.http_port}/s{i:04d}/" for i in range(n)]


def expected_log(n: int) -> Counter[tuple[str, str, bool, bool, bool]]:
    """The requests http_headers makes for n of these sites (what every side must make): the
    http:// start and its redirect to https://, the https:// start, the CORS probe; all with
    http_headers' User-Agent and Accept, the probe with an Origin, no Cookie ever."""
    return Counter(
        {("http", "GET", True, False, False): n, ("https", "GET", True, False, False): 2 * n}
        | {("https", "OPTIONS", True, True, False): n}
    )


def sampled(servers: _Servers, n: int, sample: Any) -> float:
    """Run one sample and check it made exactly http_headers' requests for n sites."""
    servers.log.clear()
    seconds = float(sample())
    if servers.log != expected_log(n):
        raise AssertionError(f"requests made {dict(servers.log)} != {dict(expected_log(n))}")
    return seconds


def https_start(url: str, servers: _Servers) -> str:
    return url.replace(f"http://{HOST}:{servers.http_port}", f"https://{HOST}:{servers.https_port}")


async def fetch_as_http_headers(session: Any, url: str, servers: _Servers) -> dict[str, Any]:
    """One site's requests as http_headers makes them, by hand in aiohttp (the baseline).

    ``session`` sends http_headers' User-Agent and Accept and no cookies (a DummyCookieJar);
    both starts at once, redirects followed, bodies read; then the CORS probe to the https://
    start's final URL. Headers and bodies are kept, nothing is analysed.
    """

    async def start(u: str) -> dict[str, Any]:
        async with session.get(u, max_redirects=10) as r:
            return {
                "url": str(r.url),
                "status": r.status,
                "headers": list(r.headers.items()),
                "body": await r.text(),
            }

    http, https = await asyncio.gather(start(url), start(https_start(url, servers)))
    async with session.options(https["url"], headers=CORS_PROBE, max_redirects=10) as r:
        cors = list(r.headers.items())
    return {"http": http, "https": https, "cors": cors}


def _load_before(path: str) -> Any:
    """An earlier ``http_headers`` module, loaded from a file beside the current package.

    Its relative imports (``.._settings``, ``._net`` ...) resolve in ``intgkit.integrations``,
    so the single-module version this package replaced (``git show 865a66c:intgkit/
    integrations/http_headers.py``) runs on today's runner against the same servers.
    """
    import importlib.util

    name = "intgkit.integrations._http_headers_before"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load {path!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _intgkit_sampler(servers: _Servers, targets: list[str], module: Any = None) -> float:
    import intgkit

    if module is None:
        from intgkit.integrations import http_headers as module

    integ = module.HttpHeaders(
        ca_bundle=servers.ca_bundle, resolve=f"{HOST}:*:127.0.0.1", https_port=servers.https_port
    )
    registry = intgkit.IntegrationRegistry(None)
    registry.register(integ)
    runner = intgkit.IntegrationRunner(registry, timeout=60, max_concurrency=CONCURRENCY)

    async def main() -> float:
        start = time.perf_counter()
        results = await runner.arun([integ.name], targets=targets)
        elapsed = time.perf_counter() - start
        assert all(r.ok for r in results), results.counts()
        grades = {r.section("observatory").rows[0]["grade"] for r in results}
        assert grades == {"A+"}, grades
        return elapsed

    return asyncio.run(main())


def _aiohttp_sampler(servers: _Servers, targets: list[str]) -> float:
    import aiohttp

    async def main() -> float:
        start = time.perf_counter()
        ctx = ssl.create_default_context(cafile=servers.ca_bundle)
        connector = aiohttp.TCPConnector(ssl=ctx, resolver=_Resolver(), limit=0)
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
            async with sem:
                return await fetch_as_http_headers(session, url, servers)

        async with aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        ) as session:
            out = await asyncio.gather(*(one(session, t) for t in targets))
        elapsed = time.perf_counter() - start
        assert len(out) == len(targets) and all(o["https"]["status"] == 200 for o in out)
        return elapsed

    return asyncio.run(main())


class _Resolver:
    """``site.test`` -> 127.0.0.1 for the baseline's session (the same override intgkit uses)."""

    def __new__(cls) -> Any:
        import socket

        import aiohttp.abc

        class Resolver(aiohttp.abc.AbstractResolver):
            async def resolve(
                self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
            ) -> list[Any]:
                return [
                    {
                        "hostname": host,
                        "host": "127.0.0.1",
                        "port": port,
                        "family": socket.AF_INET,
                        "proto": 0,
                        "flags": socket.AI_NUMERICHOST,
                    }
                ]

            async def close(self) -> None:
                return None

        return Resolver()


def run(quick: bool, before: str | None = None) -> list[Row]:
    """The http_headers throughput case: intgkit's 12 tests vs the bare fetches in aiohttp.

    With ``before`` (a file holding an earlier http_headers module), a second row compares the
    current package with it, sample for sample in the same run.
    """
    n = 50 if quick else 1000  # --quick is CI's smoke test on every commit: a few seconds
    old = _load_before(before) if before else None
    with tempfile.TemporaryDirectory() as tmp, _Servers(Path(tmp)) as servers:
        targets = _targets(servers, n)
        samplers = {
            "intgkit": lambda: sampled(servers, n, lambda: _intgkit_sampler(servers, targets)),
            "aiohttp": lambda: sampled(servers, n, lambda: _aiohttp_sampler(servers, targets)),
        }
        if old is not None:
            samplers["before"] = lambda: _intgkit_sampler(servers, targets, old)
        medians = interleaved(samplers, repeats=3 if quick else 5)
    note = (
        f"{n / medians['intgkit']:,.0f} sites/s with http_headers (12 tests, grade; max_concurrency="
        f"{CONCURRENCY}) vs {n / medians['aiohttp']:,.0f} sites/s fetching the same in bare aiohttp"
    )
    rows = [
        row(
            f"http_headers: {n:,} local sites, Observatory tests vs bare aiohttp fetches",
            medians["intgkit"],
            medians["aiohttp"],
            None,
            note=note,
        )
    ]
    if old is not None:
        rows.append(
            row(
                f"http_headers: {n:,} local sites, this package vs the earlier module",
                medians["intgkit"],
                medians["before"],
                1.0,
                note=f"{n / medians['before']:,.0f} sites/s before, {n / medians['intgkit']:,.0f} now",
            )
        )
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 sites, 3 repeats")
    parser.add_argument("--before", metavar="FILE", help="an earlier http_headers module to compare with")
    args = parser.parse_args()
    for r in run(quick=args.quick, before=args.before):
        print(r)

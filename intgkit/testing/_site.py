"""A local web site (HTTP and HTTPS on 127.0.0.1) for testing web integrations offline.

Two aiohttp apps on ephemeral ports: a plain HTTP one and an HTTPS one whose leaf certificate
comes from a throwaway trustme CA. Each serves a scenario, a mapping of path to :class:`Route`
(status, headers, cookies, redirect, body, delay, CORS echo), so a test states the site it
needs in a few lines and the integration under test runs against it unchanged:

    routes = {"/": Route.page(headers={"X-Frame-Options": "DENY"}, body="<p>hi</p>")}
    async with LocalSite(routes) as site:
        env = site.env()   # INTGKIT_CA_BUNDLE and INTGKIT_RESOLVE for this site
        ...                # scan the target site.target ("site.test")

Names: the site answers for :attr:`LocalSite.hosts` (``site.test``, ``www.site.test`` and
``other.test`` by default, all in the certificate). :attr:`LocalSite.resolve` maps those names
on ports 80 and 443 to the ephemeral ports (``INTGKIT_RESOLVE`` connect ports, as curl's
--connect-to), so URLs keep their default ports exactly as on a real site (``http://site.test/``
redirecting to ``https://site.test/``), and on any other port to 127.0.0.1, so the direct
form ``https://site.test:<https_port>/`` works too. Dotless names (``localhost``) are avoided
on purpose: the MDN Observatory refuses them.

By default the HTTP app redirects every path to the same path on ``https://<host>/`` (301),
as a well-configured site does; pass ``http_routes`` to change that. A path with no route
answers 404. ``LocalSite.mediocre()`` is the deliberately mediocre site of ``intgkit demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["LocalSite", "Route", "Routes"]

HeaderItems = Sequence[tuple[str, str]]
DEFAULT_HOSTS = ("site.test", "www.site.test", "other.test")


def _header_items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), str(v)) for k, v in items)


@dataclass(frozen=True, slots=True)
class Route:
    """What one path answers.

    Args:
        status: the HTTP status.
        headers: response headers, a mapping or (name, value) pairs; pairs may repeat a name
            (two ``X-Content-Type-Options`` lines, two ``Set-Cookie`` lines).
        cookies: raw ``Set-Cookie`` values, e.g. ``"sessionid=abc; Secure; HttpOnly"``.
        body: the body (text is sent as UTF-8).
        content_type: the Content-Type; None lets aiohttp choose.
        location: a redirect target, sent as ``Location``; ``{host}`` (the requested host name,
            without port), ``{http_port}``, ``{https_port}`` and ``{path}`` (path and query)
            are filled in per request.
        delay: seconds to wait before answering (for timeout tests); cut short by stop().
        cors_echo: reflect the request's ``Origin`` into ``Access-Control-Allow-Origin`` with
            ``Access-Control-Allow-Credentials: true`` (the classic CORS misconfiguration).
    """

    status: int = 200
    headers: HeaderItems = ()
    cookies: Sequence[str] = ()
    body: str | bytes = ""
    content_type: str | None = "text/html; charset=utf-8"
    location: str | None = None
    delay: float = 0.0
    cors_echo: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", _header_items(self.headers))
        object.__setattr__(self, "cookies", tuple(self.cookies))

    @classmethod
    def page(
        cls,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        body: str | bytes = "<!doctype html><html><head><title>t</title></head><body>ok</body></html>",
        **kwargs: Any,
    ) -> Route:
        """A 200 HTML page with these headers (and any other :class:`Route` field)."""
        return cls(headers=_header_items(headers), body=body, **kwargs)

    @classmethod
    def redirect(cls, location: str, status: int = 301, **kwargs: Any) -> Route:
        """A redirect to ``location`` (a template, see :class:`Route`)."""
        return cls(status=status, location=location, body="", content_type=None, **kwargs)


Routes = Mapping[str, Route]


@dataclass(slots=True)
class _State:
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


class LocalSite:
    """An HTTP + HTTPS test site on 127.0.0.1; an async context manager (or start()/stop()).

    Args:
        routes: path -> :class:`Route` for the HTTPS app.
        http_routes: path -> :class:`Route` for the HTTP app; None redirects every path to
            ``https://<host><path>``.
        hosts: the names the site answers for (certificate and resolve entries).
        cert_names: the names in the leaf certificate, when they should differ from ``hosts``
            (e.g. ``("wrong.test",)`` for a certificate that does not match).
        http: serve the HTTP app; False leaves port 80 of the hosts refusing connections.
        https: serve the HTTPS app; False leaves port 443 refusing connections.
    """

    def __init__(
        self,
        routes: Routes | None = None,
        http_routes: Routes | None = None,
        *,
        hosts: Sequence[str] = DEFAULT_HOSTS,
        cert_names: Sequence[str] | None = None,
        http: bool = True,
        https: bool = True,
    ) -> None:
        if not hosts:
            raise ValueError("LocalSite needs at least one host name")
        self.routes: dict[str, Route] = dict(routes if routes is not None else {"/": Route.page()})
        self.http_routes: dict[str, Route] | None = dict(http_routes) if http_routes is not None else None
        self.hosts: tuple[str, ...] = tuple(h.lower() for h in hosts)
        self.cert_names: tuple[str, ...] = tuple(cert_names) if cert_names else (*self.hosts, "127.0.0.1")
        self.serve_http = http
        self.serve_https = https
        self.host = "127.0.0.1"
        self.http_port = 0
        self.https_port = 0
        self.ca_pem = b""
        self._tmpdir: Path | None = None
        self._runners: list[web.AppRunner] = []
        self._state: _State | None = None

    # -- the addresses and settings a client needs ---------------------------------------------

    @property
    def hostname(self) -> str:
        """The site's main name (the first of ``hosts``)."""
        return self.hosts[0]

    @property
    def target(self) -> str:
        """The target to scan: the main host name, reached on its default ports via resolve."""
        return self.hostname

    @property
    def ca_bundle(self) -> str:
        """Path of a PEM file with the test CA (removed by stop())."""
        if self._tmpdir is None:
            raise RuntimeError("the site is not started")
        return str(self._tmpdir / "ca.pem")

    @property
    def resolve(self) -> str:
        """The ``INTGKIT_RESOLVE`` value pointing the site's names at this site."""
        entries: list[str] = []
        for name in self.hosts:
            entries.append(f"{name}:80:{self.host}:{self.http_port}")
            entries.append(f"{name}:443:{self.host}:{self.https_port}")
            entries.append(f"{name}:*:{self.host}")
        return ",".join(entries)

    def env(self) -> dict[str, str]:
        """``INTGKIT_CA_BUNDLE`` and ``INTGKIT_RESOLVE`` for this site (for os.environ or monkeypatch)."""
        return {"INTGKIT_CA_BUNDLE": self.ca_bundle, "INTGKIT_RESOLVE": self.resolve}

    def url(self, scheme: str = "https", path: str = "/", *, direct: bool = False) -> str:
        """A URL of the site; ``direct`` puts the ephemeral port in it instead of the default."""
        port = self.https_port if scheme == "https" else self.http_port
        netloc = f"{self.hostname}:{port}" if direct else self.hostname
        return f"{scheme}://{netloc}{path}"

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Issue the certificate and start both apps; the ports are then set."""
        import ssl

        import trustme

        self._state = _State()
        ca = trustme.CA()
        self.ca_pem = ca.cert_pem.bytes()
        self._tmpdir = Path(tempfile.mkdtemp(prefix="intgkit-site-"))
        (self._tmpdir / "ca.pem").write_bytes(self.ca_pem)
        try:
            if self.serve_https:
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                ca.issue_cert(*self.cert_names).configure_cert(ctx)
                self.https_port = await self._serve(self.routes, ctx)
            else:
                self.https_port = _closed_port()
            if self.serve_http:
                self.http_port = await self._serve(self.http_routes, None)
            else:
                self.http_port = _closed_port()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _serve(self, routes: dict[str, Route] | None, ctx: Any) -> int:
        from aiohttp import web

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handler(routes))
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, self.host, 0, ssl_context=ctx).start()
        return int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop both apps (cutting delays short) and remove the CA file; safe to call twice."""
        if self._state is not None:
            self._state.stopping.set()
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"<LocalSite {self.hostname} http={self.http_port} https={self.https_port}>"

    # -- serving ---------------------------------------------------------------------------------

    def _handler(self, routes: dict[str, Route] | None) -> Any:
        from aiohttp import web
        from multidict import CIMultiDict

        async def handle(request: web.Request) -> web.StreamResponse:
            route = Route.redirect("https://{host}{path}") if routes is None else routes.get(request.path)
            if route is None:
                return web.Response(status=404, text="not found")
            if route.delay > 0 and self._state is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._state.stopping.wait(), route.delay)
            headers: CIMultiDict[str] = CIMultiDict()
            for name, value in route.headers:
                headers.add(name, value)
            for cookie in route.cookies:
                headers.add("Set-Cookie", cookie)
            if route.location is not None:
                headers.add(
                    "Location",
                    route.location.format(
                        host=(
                            request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
                        ),
                        http_port=self.http_port,
                        https_port=self.https_port,
                        path=request.path_qs,
                    ),
                )
            origin = request.headers.get("Origin")
            if route.cors_echo and origin is not None:
                headers["Access-Control-Allow-Origin"] = origin
                headers["Access-Control-Allow-Credentials"] = "true"
            body = route.body.encode() if isinstance(route.body, str) else route.body
            resp = web.Response(status=route.status, body=body, headers=headers)
            if route.content_type is not None:
                resp.headers["Content-Type"] = route.content_type
            return resp

        return handle

    # -- the demo's site -------------------------------------------------------------------------

    @classmethod
    def mediocre(cls) -> LocalSite:
        """A deliberately mediocre site for ``intgkit demo``: some headers right, several not.

        With the http_headers integration and an empty preload list it scores 55 (grade C):
        CSP with 'unsafe-inline' in script-src (-20), HSTS max-age of one day (-10), no
        X-Content-Type-Options (-5), Referrer-Policy no-referrer-when-downgrade (-5), an
        external https script without SRI (-5); X-Frame-Options SAMEORIGIN (+5, extra credit,
        which only counts from 90 up), a Secure+HttpOnly session cookie without SameSite and the
        http -> https redirect are fine (0).
        """
        body = (
            "<!doctype html><html><head><title>Mediocre</title>"
            '<script src="/static/app.js"></script>'
            '<script src="https://cdn.other.test/lib.js"></script>'
            "</head><body><h1>A mediocre site</h1></body></html>"
        )
        page = Route.page(
            headers=[
                ("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'"),
                ("Strict-Transport-Security", "max-age=86400"),
                ("X-Frame-Options", "SAMEORIGIN"),
                ("Referrer-Policy", "no-referrer-when-downgrade"),
            ],
            cookies=["sessionid=demo; Path=/; Secure; HttpOnly"],
            body=body,
        )
        return cls({"/": page, "/static/app.js": Route(body="void 0;", content_type="text/javascript")})


def _closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago, so connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

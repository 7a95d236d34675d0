"""Retrieval: what the Observatory fetches before any test runs (``src/retriever/``).

- ``http://`` and ``https://`` starts fetched concurrently, each in its own session with its
  own cookie jar, following up to 10 redirects (301/302/303/307/308). A certificate error
  retries that session unverified (HSTS and redirection then report invalid-cert).
- The HTTPS session's final response is the one judged when HTTPS answered at all, else the
  HTTP one. Then an OPTIONS request with ``Origin: https://http-observatory.security.mozilla.org``
  to the final URL (counted only when it answers 2xx, as axios does).
- robots.txt is not fetched (the Observatory fetches it for extra cookies with a client that,
  outside the certificate-retry path, does not store them).

The data classes here are plain values: the tests read them and never do I/O, so the golden
tests build them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import ssl
import threading
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from .._net import override_resolver, ssl_context
from ._cookie_parser import Cookie, parse_set_cookie
from ._headers import node_headers
from ._html_parser import HTML_TYPES, Page, parse_page

if TYPE_CHECKING:
    import aiohttp

CORS_ORIGIN = "https://http-observatory.security.mozilla.org"
USER_AGENT = "Mozilla/5.0 (compatible; intgkit-http-headers; MDN HTTP Observatory rules)"
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
#: Seconds an idle connection stays open for a later request (aiohttp's default is 15): long
#: enough for the next scan of the same host in a run, short enough that a run over thousands
#: of different hosts does not pile up idle sockets.
KEEPALIVE_S = 1.0


@dataclass(slots=True)
class Response:
    """One final response of a session, with headers as Node would hand them to the tests."""

    url: str
    status: int
    raw_headers: list[tuple[str, str]]
    text: str
    verified: bool
    _joined: dict[str, str | list[str]] | None = field(default=None, repr=False, compare=False)

    @property
    def headers(self) -> dict[str, str | list[str]]:
        """Headers joined as Node joins them (computed once: every test reads them)."""
        if self._joined is None:
            self._joined = node_headers(self.raw_headers)
        return self._joined

    def header(self, name: str) -> str | None:
        """The (joined) value of a header, or None; Set-Cookie lines joined by ", "."""
        value = self.headers.get(name.lower())
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def set_cookies(self) -> list[str]:
        value = self.headers.get("set-cookie")
        return value if isinstance(value, list) else []


@dataclass(slots=True)
class Session:
    """One redirect chain from a start URL: history, final response, its own cookie jar."""

    start: str
    history: list[tuple[str, int]] = field(default_factory=list)
    response: Response | None = None
    jar: dict[tuple[str, str, str], Cookie] = field(default_factory=dict)
    verified: bool = True
    error: str | None = None

    @property
    def final_url(self) -> str:
        return self.history[-1][0] if self.history else self.start

    def store_cookies(self, url: str, lines: Iterable[str]) -> None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = parts.path or "/"
        for line in lines:
            cookie = parse_set_cookie(line, host, path)
            if cookie is not None:
                self.jar[(cookie.domain, cookie.path, cookie.name)] = cookie


@dataclass(slots=True)
class Retrieval:
    """Everything the tests read (the Observatory's ``Requests``)."""

    host: str
    http: Session
    https: Session
    cors: Response | None = None
    preload: frozenset[str] = frozenset()
    _parsed: Page | None = None

    def tags(self) -> Page:
        """The page's script and meta tags, parsed once."""
        if self._parsed is None:
            self._parsed = parse_page(self.page)
        return self._parsed

    @property
    def session(self) -> Session:
        """The session whose final response is judged: HTTPS when it answered, else HTTP."""
        return self.https if self.https.response is not None else self.http

    @property
    def auto(self) -> Response | None:
        return self.session.response

    @property
    def page(self) -> str:
        return self.auto.text if self.auto is not None else ""

    @property
    def http_equiv(self) -> dict[str, list[str]]:
        auto = self.auto
        if auto is None or not self.page:
            return {}
        ctype = auto.headers.get("content-type")
        if not isinstance(ctype, str) or ctype.split(";")[0] not in HTML_TYPES:
            return {}
        return self.tags().http_equiv


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "nothing is listening there (connection refused)",
    errno.ECONNRESET: "the server reset the connection",
    errno.EHOSTUNREACH: "the host cannot be reached",
    errno.ENETUNREACH: "the network cannot be reached",
}


def describe(exc: BaseException) -> str:
    """A failed request in a plain sentence first, the library's own words after it.

    Users read "the certificate is not trusted" before "[SSL: CERTIFICATE_VERIFY_FAILED] ...";
    the technical text stays, in parentheses, for whoever debugs it.
    """
    if isinstance(exc, TimeoutError):
        return "timed out: no answer within the time limit"
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        plain = "the certificate is not trusted or not for this name"
    elif isinstance(exc, aiohttp.ClientSSLError):
        plain = "the secure (TLS) connection could not be set up"
    elif isinstance(exc, aiohttp.ClientConnectorDNSError):
        plain = "the name does not resolve to an address"
    elif isinstance(exc, aiohttp.ClientConnectorError):
        plain = "could not connect: " + _ERRNO_WORDS.get(exc.os_error.errno or 0, "the connection failed")
    elif isinstance(exc, aiohttp.ServerDisconnectedError):
        plain = "the server closed the connection without answering"
    elif isinstance(exc, aiohttp.TooManyRedirects):
        plain = "too many redirects"
    elif isinstance(exc, (aiohttp.InvalidURL, ValueError, UnicodeError)):
        plain = "a redirect or address is not a valid URL"
    elif isinstance(exc, (aiohttp.ClientResponseError, aiohttp.ClientPayloadError)):
        plain = "the server's answer could not be read"
    else:
        plain = "the request failed"
    text = str(exc).strip() or type(exc).__name__
    return f"{plain} ({type(exc).__name__}: {text})"[:300]


async def read_text(resp: aiohttp.ClientResponse, limit: int) -> str:
    """The body up to ``limit`` bytes, decoded. ``content.read(n)`` returns what has arrived
    (up to n), not n bytes: read until the end or the limit, or a long page loses its end
    (and the scripts there)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    raw = b"".join(chunks)
    charset = resp.charset or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


def _fingerprint(path: str | None) -> bytes | None:
    """The trust-root file's digest: its contents, not its timestamp, decide whether it changed
    (file times are as coarse as the kernel's clock tick, and two bundles can share a size)."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).digest()
    except OSError:
        return None  # ssl_context() then raises the error the caller reports


@functools.lru_cache(maxsize=16)
def _context(cafile: str | None, fingerprint: bytes | None, verify: bool) -> ssl.SSLContext:
    return ssl_context(cafile, verify=verify)


def shared_context(cafile: str | None, *, verify: bool) -> ssl.SSLContext:
    """One client SSL context per trust-root file and contents, shared by every scan.

    Building a context costs about 70 ms with the system's roots (1.5 ms with a small bundle);
    three or four per site made that the largest cost of scanning many sites. A context holds
    no per-connection state and is only read here, so sharing it is safe.
    """
    return _context(cafile, _fingerprint(cafile), verify)


class Client:
    """The HTTP client of the scans on one event loop: one session per verification mode,
    shared by both starts, the CORS probe and every other scan running at the same time
    (:func:`lease`), with its own cookie handling: aiohttp's jar is a dummy, each redirect chain
    keeps the Observatory-style jar of its :class:`Session`, so nothing of one scan reaches
    another. Use as an async context manager; closing closes the sessions.
    """

    def __init__(self, *, cafile: str | None, resolve: str | None, timeout: float, max_body: int) -> None:
        self.cafile = cafile
        self.resolve = resolve
        self.timeout = timeout
        self.max_body = max_body
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for http in sessions:
            await http.close()

    def session(self, *, verify: bool) -> aiohttp.ClientSession:
        """The session for one verification mode, created on first use."""
        import aiohttp

        http = self._sessions.get(verify)
        if http is None:
            connector = aiohttp.TCPConnector(
                ssl=shared_context(self.cafile, verify=verify),
                resolver=override_resolver(self.resolve),
                use_dns_cache=False,
                limit=0,  # the runner's max_concurrency bounds the scans, not the pool
                keepalive_timeout=KEEPALIVE_S,
            )
            http = self._sessions[verify] = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
            )
        return http

    async def close(self) -> None:
        await self.__aexit__()

    async def chain(self, start: str) -> Session:
        """Follow redirects from ``start``, recording each hop; retry unverified on a cert error."""
        import aiohttp

        jar: dict[tuple[str, str, str], Cookie] = {}
        for verify in (True, False):
            s = Session(start, jar=jar, verified=verify)
            try:
                http = self.session(verify=verify)
                url, redirects = start, 0
                while True:
                    async with http.get(url, allow_redirects=False) as resp:
                        raw = list(resp.headers.items())
                        s.history.append((url, resp.status))
                        if cookies := resp.headers.getall("Set-Cookie", ()):
                            s.store_cookies(url, cookies)
                        redirect = redirects < MAX_REDIRECTS and resp.status in REDIRECT_STATUSES
                        location = node_headers(raw).get("location") if redirect else None
                        if location:
                            url = urljoin(url, str(location))
                            redirects += 1
                            continue
                        text = await read_text(resp, self.max_body)
                        s.response = Response(url, resp.status, raw, text, verify)
                        return s
            except aiohttp.ClientConnectorCertificateError as exc:
                s.error = describe(exc)
                if verify:
                    continue  # as the Observatory: once more without verification, same jar
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError, UnicodeError) as exc:
                s.error = describe(exc)
            return s
        raise AssertionError("unreachable")  # pragma: no cover

    async def options(self, url: str, *, verify: bool) -> Response | None:
        """The CORS probe: OPTIONS with our Origin, redirects followed; None unless 2xx."""
        import aiohttp

        headers = {"Access-Control-Request-Method": "GET", "Origin": CORS_ORIGIN}
        try:
            http = self.session(verify=verify)
            async with http.options(
                url, headers=headers, allow_redirects=True, max_redirects=MAX_REDIRECTS
            ) as resp:
                if not 200 <= resp.status < 300:
                    return None
                return Response(str(resp.url), resp.status, list(resp.headers.items()), "", verify)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, UnicodeError):
            return None


@dataclass(slots=True)
class _Lease:
    client: Client
    users: int = 0


_LEASES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[object, ...], _Lease]] = (
    weakref.WeakKeyDictionary()
)
_LEASES_LOCK = threading.Lock()  # runs in other threads (a notebook's run()) have other loops


@contextlib.asynccontextmanager
async def lease(
    *, cafile: str | None, resolve: str | None, timeout: float, max_body: int
) -> AsyncIterator[Client]:
    """The :class:`Client` shared by the scans running now on this event loop with these settings.

    A run of many sites keeps its connections (and TLS sessions) open from one scan to the next
    instead of opening and shaking hands again for every site: creating a client per scan
    made about 1.8 TLS handshakes per site against the same server. aiohttp sessions belong to
    the loop they were made on, and every ``run()`` may have a loop of its own, so clients are
    kept per loop; the runner offers no start/end-of-run hook, so the client is counted out:
    the last scan on a loop to finish closes it (no session outlives the scans that used it,
    in a script or a notebook's long-lived loop). One scan alone (``await fetch()``) opens and
    closes its own client, as before.
    """
    loop = asyncio.get_running_loop()
    key = (cafile, resolve, timeout, max_body)  # a new client reads a rewritten CA file again
    with _LEASES_LOCK:
        leases = _LEASES.setdefault(loop, {})
        held = leases.get(key)
        if held is None:
            held = leases[key] = _Lease(
                Client(cafile=cafile, resolve=resolve, timeout=timeout, max_body=max_body)
            )
        held.users += 1
    try:
        yield held.client
    finally:
        with _LEASES_LOCK:
            held.users -= 1
            last = held.users == 0
            if last and leases.get(key) is held:
                del leases[key]  # a scan starting while this one closes gets a new client
        if last:
            await held.client.close()
            await asyncio.sleep(0)  # let closed TLS transports finish before the caller moves on

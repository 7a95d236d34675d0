"""HTTP security headers, tested and scored as the MDN HTTP Observatory does.

Reference: mdn/mdn-http-observatory @94042bb (algorithm version 6, 12 tests):
``src/retriever/{retriever,session}.js`` (what is fetched), ``src/analyzer/tests/*.js`` (the
tests), ``src/analyzer/cspParser.js``, ``src/analyzer/utils.js``, ``src/grader/{charts,grader}.js``
and ``src/scanner/index.js`` (modifiers, score and grade). intgkit's notes on them: the
security-check notes, §1 and §7. The rules are followed as the real Observatory applies them,
quirks included, so a score here is the score the Observatory would give:

- Retrieval: ``http://`` and ``https://`` starts fetched concurrently, each in its own session
  with its own cookie jar, following up to 10 redirects (301/302/303/307/308). A certificate
  error retries that session unverified (HSTS and redirection then report invalid-cert). The
  HTTPS session's final response is the one judged when HTTPS answered at all, else the HTTP
  one. Then an OPTIONS request with ``Origin: https://http-observatory.security.mozilla.org``
  to the final URL (counted only when it answers 2xx, as axios does).
- Repeated response headers are joined with ", " as Node's HTTP client does (Set-Cookie kept
  apart; the first value wins for Content-Type, Location and Node's other single-value
  headers): two ``X-Content-Type-Options: nosniff`` lines are one invalid value.
- HTML (Content-Type exactly ``text/html`` or ``application/xhtml+xml``) is parsed with the
  standard library's html.parser for ``<meta http-equiv="content-security-policy">``,
  ``<meta name="referrer">`` and ``<script>`` (SRI).
- Score: 100 plus every modifier when 100 plus the negative ones is at least 90, else 100
  plus the negative ones; floor 0. The grade is looked up at min(score rounded down to a
  multiple of 5, 100); the score itself is reported unrounded, as the Observatory does (A+
  sites score above 100). No grade when the final status is not 2xx, 3xx, 401 or 403.

Where this deliberately differs, or cannot be exact offline:

- CORS: the real Observatory reads the Origin it sent from the response object, where it is
  not visible, so a reflected Origin with credentials scores as restricted access (§7); that
  is the default here. ``HttpHeaders(strict_cors=True)`` applies the rule as intended
  (universal access, -50), as the Observatory's own unit tests do.
- HSTS preload list: an input (constructor ``hsts_preload`` and/or a file named by
  ``INTGKIT_HSTS_PRELOAD``, one domain per line, each covering its subdomains as hstspreload.org
  requires); empty by default, so ``hsts-preloaded`` and ``redirection-all-redirects-preloaded``
  only occur when a list is given.
- X-Frame-Options: as in tests/x-frame-options.js, ``frame-ancestors`` in the parsed policy of
  header *and* meta counts (+5), although the CSP test's own policy summary
  (``antiClickjacking``, in the CSP row's observed value) only takes it from the header.
- CSP source lists are sorted by code point where the Observatory uses ``Intl.Collator("en")``;
  this only matters for which of two sources that are prefixes of each other is dropped.
- robots.txt is not fetched (the Observatory fetches it for extra cookies with a client that,
  outside the certificate-retry path, does not store them).
- Cookie values are never kept: rows show names and flags, and Set-Cookie values in the
  ``headers`` section have their values replaced by ``<redacted>``.

Targets: a host name (``example.com``: ``http://example.com/`` and ``https://example.com/``) or a
URL (its scheme starts at its port and path; the other scheme starts at its default port, or at
``http_port``/``https_port`` given to the constructor). Local testing: point names at local
ports with ``INTGKIT_RESOLVE`` connect ports and trust a test CA with ``INTGKIT_CA_BUNDLE``, e.g.
target ``site.test`` with ``INTGKIT_RESOLVE="site.test:80:127.0.0.1:8080,site.test:443:127.0.0.1:8443"``;
or target ``http://site.test:8080/`` whose redirect goes to ``https://site.test:8443/``, with
``HttpHeaders(https_port=8443)`` and ``INTGKIT_RESOLVE="site.test:*:127.0.0.1"``.
:class:`intgkit.testing.LocalSite` sets all of this up. Use dotted names such as ``site.test``:
the real Observatory refuses dotless ones like ``localhost``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from .._settings import Setting
from ._findings import finding
from ._net import CA_BUNDLE, DEFAULT_PORTS, RESOLVE, client_session, parse_target

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ALGORITHM_VERSION", "HSTS_PRELOAD", "HttpHeaders", "RESULTS", "integration"]

ALGORITHM_VERSION = 6
TESTS_QUANTITY = 12
MAX_VALUE = 1024  # longest value kept in a row, as the Observatory slices its data
CORS_ORIGIN = "https://http-observatory.security.mozilla.org"
USER_AGENT = "Mozilla/5.0 (compatible; intgkit-http-headers; MDN HTTP Observatory rules)"
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
GRADEABLE = "2xx, 3xx, 401 or 403"

HSTS_PRELOAD = Setting(
    "INTGKIT_HSTS_PRELOAD",
    required=False,
    secret=False,
    description="file of HSTS-preloaded domains, one per line (default: none)",
)

# result id -> (score modifier, what it means); modifiers from src/grader/charts.js
RESULTS: dict[str, tuple[int, str]] = {
    "csp-implemented-with-no-unsafe-default-src-none": (10, "CSP with default-src 'none' and nothing unsafe"),
    "csp-implemented-with-no-unsafe": (5, "CSP without 'unsafe-inline', 'unsafe-eval' or broad sources"),
    "csp-implemented-with-unsafe-inline-in-style-src-only": (
        0,
        "CSP allows unsafe or broad sources in style-src only",
    ),
    "csp-implemented-with-insecure-scheme-in-passive-content-only": (
        -10,
        "CSP lets an HTTPS site load images or media over HTTP",
    ),
    "csp-implemented-but-duplicate-directives": (0, "CSP passes but repeats report-uri/report-to"),
    "csp-implemented-with-unsafe-eval": (-10, "CSP allows 'unsafe-eval'"),
    "csp-implemented-with-unsafe-inline": (
        -20,
        "CSP allows 'unsafe-inline' or data: in script-src, broad sources in script-src or "
        "object-src, or leaves them unrestricted",
    ),
    "csp-implemented-with-insecure-scheme": (-20, "CSP lets an HTTPS site load active content over HTTP"),
    "csp-header-invalid": (-25, "CSP cannot be parsed (or uses 'strict-dynamic' without a nonce or hash)"),
    "csp-not-implemented": (-25, "no Content-Security-Policy"),
    "csp-not-implemented-but-reporting-enabled": (
        -25,
        "only Content-Security-Policy-Report-Only, nothing enforced",
    ),
    "cookies-secure-with-httponly-sessions-and-samesite": (
        5,
        "all cookies Secure, session cookies HttpOnly, all SameSite",
    ),
    "cookies-secure-with-httponly-sessions": (
        0,
        "all cookies Secure and session cookies HttpOnly, but not all SameSite",
    ),
    "cookies-not-found": (0, "no cookies set"),
    "cookies-without-secure-flag-but-protected-by-hsts": (
        -5,
        "cookies without Secure, though HSTS keeps them off HTTP",
    ),
    "cookies-session-without-secure-flag-but-protected-by-hsts": (
        -10,
        "session cookie without Secure, though HSTS keeps it off HTTP",
    ),
    "cookies-without-secure-flag": (-20, "cookies without Secure"),
    "cookies-samesite-flag-invalid": (-20, "SameSite not Strict, Lax or None (or None without Secure)"),
    "cookies-anticsrf-without-samesite-flag": (-20, "anti-CSRF cookie without SameSite"),
    "cookies-session-without-httponly-flag": (-30, "session cookie without HttpOnly"),
    "cookies-session-without-secure-flag": (-40, "session cookie without Secure"),
    "cross-origin-resource-sharing-not-implemented": (0, "content not shared cross-origin"),
    "cross-origin-resource-sharing-implemented-with-public-access": (
        0,
        "public content shared with Access-Control-Allow-Origin: *",
    ),
    "cross-origin-resource-sharing-implemented-with-restricted-access": (
        0,
        "content shared cross-origin with specific origins",
    ),
    "cross-origin-resource-sharing-implemented-with-universal-access": (
        -50,
        "any origin may read content with credentials",
    ),
    "redirection-all-redirects-preloaded": (0, "every host redirected through is HSTS-preloaded"),
    "redirection-to-https": (0, "HTTP redirects to HTTPS on the same host first, and ends on HTTPS"),
    "redirection-not-needed-no-http": (0, "no HTTP server, so no redirection is needed"),
    "redirection-off-host-from-http": (
        -5,
        "HTTP first redirects to HTTPS on another host, so HSTS is never set",
    ),
    "redirection-not-to-https-on-initial-redirection": (-10, "HTTP first redirects to another HTTP URL"),
    "redirection-not-to-https": (-20, "HTTP redirects, but not to HTTPS in the end"),
    "redirection-missing": (-20, "HTTP does not redirect to HTTPS"),
    "redirection-invalid-cert": (-20, "invalid certificate in the redirect chain"),
    "referrer-policy-private": (
        5,
        "Referrer-Policy no-referrer, same-origin, strict-origin or strict-origin-when-cross-origin",
    ),
    "referrer-policy-not-implemented": (
        0,
        "no Referrer-Policy (browsers default to strict-origin-when-cross-origin)",
    ),
    "referrer-policy-unsafe": (
        -5,
        "Referrer-Policy origin, origin-when-cross-origin, unsafe-url or no-referrer-when-downgrade",
    ),
    "referrer-policy-header-invalid": (-5, "Referrer-Policy not recognised"),
    "hsts-preloaded": (5, "HSTS-preloaded"),
    "hsts-implemented-max-age-at-least-six-months": (0, "HSTS max-age of at least six months (15552000)"),
    "hsts-implemented-max-age-less-than-six-months": (-10, "HSTS max-age below six months"),
    "hsts-not-implemented": (-20, "no Strict-Transport-Security"),
    "hsts-header-invalid": (-20, "Strict-Transport-Security not recognised (no max-age, or sent twice)"),
    "hsts-not-implemented-no-https": (-20, "no HTTPS, so no HSTS"),
    "hsts-invalid-cert": (-20, "invalid certificate, so HSTS does not apply"),
    "sri-implemented-and-all-scripts-loaded-securely": (5, "SRI on same-origin scripts, all loaded securely"),
    "sri-implemented-and-external-scripts-loaded-securely": (5, "SRI on external scripts, loaded over HTTPS"),
    "sri-not-implemented-response-not-html": (0, "not HTML, so SRI does not apply"),
    "sri-not-implemented-but-no-scripts-loaded": (0, "no script tags"),
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": (
        0,
        "no SRI, but all scripts are same-origin",
    ),
    "sri-not-implemented-but-external-scripts-loaded-securely": (
        -5,
        "external scripts over HTTPS without SRI",
    ),
    "sri-implemented-but-external-scripts-not-loaded-securely": (
        -20,
        "SRI, but external scripts over HTTP or protocol-relative",
    ),
    "sri-not-implemented-and-external-scripts-not-loaded-securely": (
        -50,
        "external scripts over HTTP or protocol-relative, without SRI",
    ),
    "html-not-parseable": (-20, "claims to be HTML but cannot be parsed"),
    "x-content-type-options-nosniff": (0, "X-Content-Type-Options: nosniff"),
    "x-content-type-options-not-implemented": (-5, "no X-Content-Type-Options"),
    "x-content-type-options-header-invalid": (-5, "X-Content-Type-Options not recognised"),
    "x-frame-options-implemented-via-csp": (5, "framing restricted by CSP frame-ancestors"),
    "x-frame-options-sameorigin-or-deny": (0, "X-Frame-Options DENY or SAMEORIGIN"),
    "x-frame-options-allow-from-origin": (0, "X-Frame-Options ALLOW-FROM"),
    "x-frame-options-not-implemented": (-20, "no X-Frame-Options nor CSP frame-ancestors"),
    "x-frame-options-header-invalid": (-20, "X-Frame-Options not recognised"),
    "corp-implemented-with-same-origin": (10, "Cross-Origin-Resource-Policy same-origin"),
    "corp-implemented-with-same-site": (10, "Cross-Origin-Resource-Policy same-site"),
    "corp-implemented-with-cross-origin": (0, "Cross-Origin-Resource-Policy cross-origin"),
    "corp-not-implemented": (0, "no Cross-Origin-Resource-Policy (defaults to cross-origin)"),
    "corp-header-invalid": (-5, "Cross-Origin-Resource-Policy not recognised"),
    "coop-implemented-with-same-origin": (10, "Cross-Origin-Opener-Policy same-origin"),
    "coop-implemented-with-same-origin-allow-popups": (
        10,
        "Cross-Origin-Opener-Policy same-origin-allow-popups",
    ),
    "coop-implemented-with-noopener-allow-popups": (10, "Cross-Origin-Opener-Policy noopener-allow-popups"),
    "coop-implemented-with-unsafe-none": (0, "Cross-Origin-Opener-Policy unsafe-none"),
    "coop-not-implemented": (0, "no Cross-Origin-Opener-Policy"),
    "coop-header-invalid": (-5, "Cross-Origin-Opener-Policy not recognised (or sent twice)"),
    "coep-implemented-with-require-corp": (10, "Cross-Origin-Embedder-Policy require-corp"),
    "coep-implemented-with-credentialless": (10, "Cross-Origin-Embedder-Policy credentialless"),
    "coep-implemented-with-unsafe-none": (0, "Cross-Origin-Embedder-Policy unsafe-none"),
    "coep-not-implemented": (0, "no Cross-Origin-Embedder-Policy"),
    "coep-header-invalid": (-5, "Cross-Origin-Embedder-Policy not recognised (or sent twice)"),
}

EXPECTED = {
    "content-security-policy": (
        "a CSP without 'unsafe-inline', 'unsafe-eval' or broad sources (best: default-src 'none')"
    ),
    "cookies": "Secure on all cookies, HttpOnly on session cookies, SameSite Strict or Lax",
    "cross-origin-resource-sharing": "no CORS, public (*) or restricted to specific origins",
    "redirection": "http:// redirects to https:// on the same host first",
    "referrer-policy": "no-referrer, same-origin, strict-origin or strict-origin-when-cross-origin (or none)",
    "strict-transport-security": "Strict-Transport-Security max-age >= 15552000 over verified HTTPS",
    "subresource-integrity": "external scripts over HTTPS with integrity=",
    "x-content-type-options": "nosniff",
    "x-frame-options": "CSP frame-ancestors, or X-Frame-Options DENY/SAMEORIGIN",
    "cross-origin-resource-policy": "same-origin or same-site (or absent)",
    "cross-origin-opener-policy": "same-origin (or absent)",
    "cross-origin-embedder-policy": "require-corp or credentialless (or absent)",
}

GRADE_CHART = {
    100: "A+",
    95: "A",
    90: "A",
    85: "A-",
    80: "B+",
    75: "B",
    70: "B",
    65: "B-",
    60: "C+",
    55: "C",
    50: "C",
    45: "C-",
    40: "D+",
    35: "D",
    30: "D",
    25: "D-",
    20: "F",
    15: "F",
    10: "F",
    5: "F",
    0: "F",
}
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90

# Node's http module keeps the first of these when repeated (and joins every other header)
_NODE_FIRST_WINS = frozenset(
    {
        "age",
        "authorization",
        "content-length",
        "content-type",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "proxy-authorization",
        "referer",
        "retry-after",
        "server",
        "user-agent",
    }
)
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def severity_for(modifier: int) -> str:
    """intgkit's severity for an Observatory modifier (notes §0)."""
    if modifier <= -40:
        return "high"
    if modifier <= -20:
        return "medium"
    if modifier < 0:
        return "low"
    return "info"


def grade_for(score: int) -> str:
    """The Observatory grade of a (floored) score (src/grader/grader.js)."""
    score = max(score, 0)
    return GRADE_CHART[min(score - score % 5, 100)]


def _cut(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:MAX_VALUE]


# -- what was retrieved ------------------------------------------------------------------------


@dataclass(slots=True)
class Response:
    """One final response of a session, with headers as Node would hand them to the tests."""

    url: str
    status: int
    raw_headers: list[tuple[str, str]]
    text: str
    verified: bool

    @property
    def headers(self) -> dict[str, str | list[str]]:
        return node_headers(self.raw_headers)

    def header(self, name: str) -> str | None:
        """The (joined) value of a header, or None; Set-Cookie lines joined by ", "."""
        value = self.headers.get(name.lower())
        if isinstance(value, list):
            return ", ".join(value)
        return value

    def set_cookies(self) -> list[str]:
        value = self.headers.get("set-cookie")
        return value if isinstance(value, list) else []


def node_headers(raw: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Response headers as Node's http module exposes them: lower-case names, repeats joined."""
    out: dict[str, str | list[str]] = {}
    for name, value in raw:
        key = name.lower()
        if key == "set-cookie":
            cookies = out.setdefault(key, [])
            assert isinstance(cookies, list)
            cookies.append(value)
        elif key not in out:
            out[key] = value
        elif key not in _NODE_FIRST_WINS:
            out[key] = f"{out[key]}, {value}"
    return out


@dataclass(slots=True)
class Cookie:
    """A cookie as the jar stores it (tough-cookie's view; the value is never kept)."""

    name: str
    domain: str
    path: str
    secure: bool = False
    httponly: bool = False
    samesite: str | None = None


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
        host = (urlsplit(url).hostname or "").lower()
        path = urlsplit(url).path or "/"
        for line in lines:
            cookie = parse_set_cookie(line, host, path)
            if cookie is not None:
                self.jar[(cookie.domain, cookie.path, cookie.name)] = cookie


def parse_set_cookie(line: str, host: str, request_path: str) -> Cookie | None:
    """Parse one Set-Cookie line as tough-cookie does (strict mode); None when it is rejected."""
    pair, *attrs = line.split(";")
    name, eq, _value = pair.partition("=")
    name = name.strip()
    if not eq or not name or any(ord(c) < 32 or ord(c) == 127 for c in pair):
        return None
    default_path = request_path.rsplit("/", 1)[0] if request_path.count("/") > 1 else "/"
    cookie = Cookie(name=name, domain=host, path=default_path or "/")
    for attr in attrs:
        key, _, val = attr.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "secure":
            cookie.secure = True
        elif key == "httponly":
            cookie.httponly = True
        elif key == "samesite":
            v = val.lower()
            cookie.samesite = v if v in ("strict", "lax", "none") else None
        elif key == "domain" and val:
            domain = val.lstrip(".").lower()
            if host != domain and not host.endswith("." + domain):
                return None  # "Cookie not in this host's domain"
            cookie.domain = domain
        elif key == "path" and val.startswith("/"):
            cookie.path = val
    return cookie


@dataclass(slots=True)
class Retrieval:
    """Everything the tests read (the Observatory's ``Requests``)."""

    host: str
    http: Session
    https: Session
    cors: Response | None = None
    preload: frozenset[str] = frozenset()
    _parsed: _Page | None = None

    def tags(self) -> _Page:
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


# -- HTML --------------------------------------------------------------------------------------


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str]] = []
        self.http_equiv: dict[str, list[str]] = {"content-security-policy": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("script", "meta"):
            return
        attributes: dict[str, str] = {}
        for k, v in attrs:
            attributes.setdefault(k, v or "")  # the first of repeated attributes wins
        if tag == "script":
            self.scripts.append(attributes)
            return
        if "http-equiv" in attributes and "content" in attributes:
            content = attributes["content"]
            if content and attributes["http-equiv"].lower().strip() == "content-security-policy":
                self.http_equiv["content-security-policy"].append(content)
        elif attributes.get("name", "").lower().strip() == "referrer" and attributes.get("content"):
            self.http_equiv["referrer-policy"] = [attributes["content"]]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def parse_page(html: str) -> _Page:
    """Script and meta tags of a page (never executes or fetches anything)."""
    page = _Page()
    page.feed(html)
    page.close()
    return page


# -- the tests ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """One test's result, as the Observatory's test outputs carry it."""

    test: str
    result: str
    passed: bool
    observed: Any = None
    note: str = ""

    @property
    def modifier(self) -> int:
        return RESULTS[self.result][0]


_BROAD = frozenset({"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"})
_UNSAFE_INLINE = frozenset({"'unsafe-inline'", "data:"})
_BROAD_OR_INLINE = _BROAD | _UNSAFE_INLINE
_PASSIVE = ("img-src", "media-src")
_NONCES_HASHES = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
_META_DISALLOWED = ("frame-ancestors", "report-uri", "sandbox")
_ALLOWED_DUPLICATES = frozenset({"report-uri", "report-to"})
DUPLICATES_KEY = "_observatory_duplicate_warnings"


class CspError(ValueError):
    """A policy the Observatory's parser rejects."""


@dataclass(slots=True)
class _Src:
    source: str
    index: int
    keep: bool


def _decode_component(piece: str) -> str:
    """decodeURIComponent: a stray % or bad UTF-8 throws (and invalidates the policy)."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", piece):
        raise CspError(f"malformed URI component {piece[:64]!r}")
    try:
        return unquote(piece, errors="strict")
    except UnicodeDecodeError as exc:
        raise CspError(f"malformed URI component {piece[:64]!r}") from exc


def _path_part_match(a: str, b: str) -> bool:
    if not a:
        return True
    if a == "/" and not b:
        return True
    exact = not a.endswith("/")
    la, lb = a.split("/"), b.split("/")
    if len(la) > len(lb) or (exact and len(la) != len(lb)):
        return False
    if not exact:
        la.pop()
    return all(_decode_component(x) == _decode_component(y) for x, y in zip(la, lb, strict=False))


def parse_csp(policies: Sequence[str]) -> dict[str, set[str]]:
    """cspParser.js parseCsp: directives -> sources, several policies intersected."""
    clean = [p.replace("\r", "").replace("\n", "").strip() for p in policies]
    if not clean:
        return {}
    for p in clean:
        if not p or len(p) < len("img-src") - 1:
            raise CspError(f"invalid policy {p[:64]!r}")
    csp: dict[str, list[_Src]] = {}
    duplicates: set[str] = set()
    for index, policy in enumerate(clean):
        seen: set[str] = set()
        for entry in policy.split(";"):
            directive_entry, *values_raw = re.split(r"\s+", entry.strip())
            if not directive_entry:
                continue
            directive = directive_entry.lower()
            if directive in seen:
                if directive not in _ALLOWED_DUPLICATES:
                    raise CspError(f"duplicate directive {directive} in policy {index}")
                duplicates.add(directive)
            else:
                seen.add(directive)
            keep = index == 0
            values = [_Src(v.strip().lower(), index, keep) for v in values_raw]
            if not values_raw and directive.endswith("-src"):
                values = [_Src("'none'", index, keep)]
            combined = list(values) if index == 0 else [*csp.get(directive, []), *values]
            combined.sort(key=lambda s: s.source)
            for i in range(1, len(combined)):
                src, prev = combined[i], combined[i - 1]
                if src.index == prev.index and src.source.startswith(prev.source):
                    src.keep = False
                if src.index != prev.index and _path_part_match(prev.source, src.source):
                    src.keep = True
            csp[directive] = [s for s in combined if s.keep]
            if index == 0 and len(policies) > 1:
                for s in csp[directive]:
                    s.keep = False
    final = {d: ({s.source for s in srcs} or {"'none'"}) for d, srcs in csp.items()}
    if duplicates:
        final[DUPLICATES_KEY] = duplicates
    return final


def _split_policies(values: Iterable[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",")]


def _has_nonce_or_hash(sources: Iterable[str]) -> bool:
    return any(s.startswith(_NONCES_HASHES) for s in sources)


def csp_test(r: Retrieval) -> tuple[Outcome, dict[str, list[str]] | None]:
    """content-security-policy (tests/csp.js); also returns the parsed policy for XFO."""
    name = "content-security-policy"
    auto = r.auto
    if auto is None:
        return Outcome(name, "csp-not-implemented", False), None
    header = auto.header("content-security-policy")
    http_policies = _split_policies([header] if header is not None else [])
    meta_policies = _split_policies(r.http_equiv.get("content-security-policy", []))
    observed: dict[str, Any] = {"header": header, "meta": r.http_equiv.get("content-security-policy") or None}
    try:
        csp = parse_csp([*http_policies, *meta_policies])
    except CspError as exc:
        return Outcome(name, "csp-header-invalid", False, observed, str(exc)), None
    try:
        header_only = parse_csp(http_policies)
    except CspError:
        header_only = {}
    try:
        meta = parse_csp(meta_policies)
        for d in _META_DISALLOWED:
            meta.pop(d, None)
    except CspError:
        meta = {}
    if not header_only and not meta:
        if auto.header("content-security-policy-report-only"):
            observed["report-only"] = auto.header("content-security-policy-report-only")
            return Outcome(name, "csp-not-implemented-but-reporting-enabled", False, observed), None
        return Outcome(name, "csp-not-implemented", False, observed), None

    result: str | None = None
    # these are the very sets inside csp, mutated in place as the Observatory does
    object_src = csp.get("object-src") or csp.get("default-src") or {"*"}
    script_src = csp.get("script-src") or csp.get("default-src") or {"*"}
    style_src = csp.get("style-src") or csp.get("default-src") or {"*"}
    for sources in (script_src, style_src):
        if _has_nonce_or_hash(sources) and "'unsafe-inline'" in sources:
            sources.discard("'unsafe-inline'")
    if _has_nonce_or_hash(script_src) and "'strict-dynamic'" in script_src:
        for s in list(script_src):
            if any(s.startswith(b) for b in _BROAD) or s in ("'self'", "'unsafe-inline'"):
                script_src.discard(s)
    elif "'strict-dynamic'" in script_src:
        result = "csp-header-invalid"
    active = [s for d, srcs in csp.items() if d not in _PASSIVE and d != "script-src" for s in srcs]
    active.extend(script_src)
    passive = [s for d in _PASSIVE for s in (csp.get(d) or csp.get("default-src") or set())]
    https = urlsplit(r.session.start).scheme == "https"

    def insecure(sources: Iterable[str]) -> bool:
        return any(s.startswith(("http:", "ftp:")) for s in sources)

    unsafe_inline = any(s in _BROAD_OR_INLINE for s in script_src) or any(s in _BROAD for s in object_src)
    default_none = csp.get("default-src") == {"'none'"}
    checks = (
        (unsafe_inline, "csp-implemented-with-unsafe-inline"),
        (https and insecure(active), "csp-implemented-with-insecure-scheme"),
        ("'unsafe-eval'" in (script_src | style_src), "csp-implemented-with-unsafe-eval"),
        (https and insecure(passive), "csp-implemented-with-insecure-scheme-in-passive-content-only"),
        (
            any(s in _BROAD_OR_INLINE for s in style_src),
            "csp-implemented-with-unsafe-inline-in-style-src-only",
        ),
        (default_none, "csp-implemented-with-no-unsafe-default-src-none"),
        (True, "csp-implemented-with-no-unsafe"),
    )
    # the Observatory's policy summary; frame-ancestors counts from the header only (browsers
    # ignore it in <meta>), base-uri and form-action default to *
    frame_ancestors = header_only.get("frame-ancestors") or {"*"}
    observed["policy"] = {
        "antiClickjacking": not any(s in _BROAD for s in frame_ancestors),
        "defaultNone": default_none,
        "insecureBaseUri": any(s in _BROAD_OR_INLINE for s in csp.get("base-uri") or {"*"}),
        "insecureFormAction": any(s in _BROAD for s in csp.get("form-action") or {"*"}),
        "insecureSchemeActive": checks[1][0],
        "insecureSchemePassive": checks[3][0],
        "strictDynamic": _has_nonce_or_hash(script_src) and "'strict-dynamic'" in script_src,
        "unsafeEval": checks[2][0],
        "unsafeInline": unsafe_inline,
        "unsafeInlineStyle": checks[4][0],
        "unsafeObjects": any(s in _BROAD for s in object_src),
    }
    for hit, rid in checks:
        if result is None and hit:
            result = rid
    assert result is not None
    passed = result in (
        "csp-implemented-with-no-unsafe",
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    )
    if passed and DUPLICATES_KEY in csp:
        result = "csp-implemented-but-duplicate-directives"
    note = "'strict-dynamic' without a nonce or hash" if result == "csp-header-invalid" else ""
    data = {d: sorted(s) for d, s in csp.items() if d != DUPLICATES_KEY}
    return Outcome(name, result, passed, observed, note), data


def hsts_test(r: Retrieval) -> Outcome:
    """strict-transport-security (only from a verified HTTPS response)."""
    name = "strict-transport-security"
    resp = r.https.response
    result, observed, note = "hsts-not-implemented", None, ""
    if resp is None:
        result = "hsts-not-implemented-no-https"
        note = f"HTTPS failed: {r.https.error}" if r.https.error else ""
    elif not resp.verified:
        result = "hsts-invalid-cert"
    elif (value := resp.header("strict-transport-security")) is not None:
        observed = value[:MAX_VALUE]
        max_age: float | None = None
        try:
            if "," in observed:
                raise ValueError("header set multiple times")
            for parameter in (p.strip().lower() for p in observed.split(";")):
                if parameter.startswith("max-age="):
                    max_age = _parse_int(parameter[8:128])
            if max_age is None:
                raise ValueError("max-age missing")
            # NaN (an unparseable max-age) compares false, so the Observatory passes it
            result = (
                "hsts-implemented-max-age-less-than-six-months"
                if max_age < 15_552_000
                else "hsts-implemented-max-age-at-least-six-months"
            )
            if math.isnan(max_age):
                note = "max-age is not a number; the Observatory's parseInt gives NaN, which it passes"
        except ValueError as exc:
            result, note = "hsts-header-invalid", str(exc)
    if resp is not None and _preloaded(r.host, r.preload):
        result = "hsts-preloaded"
    passed = result in ("hsts-implemented-max-age-at-least-six-months", "hsts-preloaded")
    return Outcome(name, result, passed, observed, note)


def _parse_int(text: str) -> float:
    """JavaScript's parseInt(text, 10): leading digits after optional space and sign, else NaN."""
    m = re.match(r"\s*([+-]?)(\d+)", text)
    if not m:
        return math.nan
    return float(int(m.group(1) + m.group(2)))


def _preloaded(host: str, preload: frozenset[str]) -> bool:
    labels = host.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in preload for i in range(len(labels)))


_COOKIE_ORDER = (
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
)


def _worse(new: str, old: str | None, order: Sequence[str]) -> str:
    """utils.js onlyIfWorse (an id missing from the order ranks -1, as indexOf does)."""
    if old is None:
        return new
    rank = {rid: i for i, rid in enumerate(order)}
    return new if rank.get(new, -1) > rank.get(old, -1) else old


def _invalid_samesite(line: str) -> bool:
    for part in line.strip().split(";"):
        pieces = part.strip().split("=")
        key, value = pieces[0], (pieces[1] if len(pieces) > 1 else "")
        if key.strip().lower() == "samesite" and (
            not value or value.strip().lower() not in ("lax", "strict", "none")
        ):
            return True
    return False


def cookies_test(r: Retrieval, hsts: Outcome) -> Outcome:
    """cookies: Secure, HttpOnly (session ids), SameSite (anti-CSRF); the worst result wins."""
    name = "cookies"
    result: str | None = None
    if r.auto is not None and any(_invalid_samesite(line) for line in r.auto.set_cookies()):
        result = _worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
    cookies = [c for c in r.session.jar.values() if c.name and c.name != "heroku-session-affinity"]
    if not cookies:
        return Outcome(name, "cookies-not-found", True)
    missing_samesite = False
    for c in cookies:
        key = c.name.lower()
        session_id = "login" in key or "sess" in key
        if not c.secure and c.samesite == "none":
            result = _worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
        if not c.secure:
            rid = (
                "cookies-without-secure-flag-but-protected-by-hsts"
                if hsts.passed
                else "cookies-without-secure-flag"
            )
            result = _worse(rid, result, _COOKIE_ORDER)
        if "csrf" in key and not c.samesite:
            result = _worse("cookies-anticsrf-without-samesite-flag", result, _COOKIE_ORDER)
        if session_id and not c.secure:
            rid = (
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts.passed
                else "cookies-session-without-secure-flag"
            )
            result = _worse(rid, result, _COOKIE_ORDER)
        if session_id and not c.httponly:
            result = _worse("cookies-session-without-httponly-flag", result, _COOKIE_ORDER)
        missing_samesite = missing_samesite or not c.samesite
    if result is None:
        result = (
            "cookies-secure-with-httponly-sessions"
            if missing_samesite
            else "cookies-secure-with-httponly-sessions-and-samesite"
        )
    observed = {c.name: {"secure": c.secure, "httponly": c.httponly, "samesite": c.samesite} for c in cookies}
    passed = result in (
        "cookies-not-found",
        "cookies-secure-with-httponly-sessions-and-samesite",
        "cookies-secure-with-httponly-sessions",
    )
    return Outcome(name, result, passed, observed)


def cors_test(r: Retrieval, *, strict: bool) -> Outcome:
    """cross-origin-resource-sharing, from the OPTIONS request sent with our Origin."""
    name = "cross-origin-resource-sharing"
    resp = r.cors
    acao = resp.header("access-control-allow-origin") if resp is not None else None
    if not acao:
        return Outcome(name, "cross-origin-resource-sharing-not-implemented", True)
    acac = resp.header("access-control-allow-credentials") if resp is not None else None
    observed = {"access-control-allow-origin": acao[:256], "access-control-allow-credentials": acac}
    data = acao[:256].strip().lower()
    reflected = acao == CORS_ORIGIN and (acac or "").lower().strip() == "true"
    if data == "*":
        return Outcome(name, "cross-origin-resource-sharing-implemented-with-public-access", True, observed)
    if reflected and strict:
        return Outcome(
            name, "cross-origin-resource-sharing-implemented-with-universal-access", False, observed
        )
    note = (
        "the Origin we sent is reflected with credentials allowed: the real Observatory scores this "
        "as restricted access because its test cannot see the Origin it sent; strict_cors=True "
        "scores it as universal access (-50)"
        if reflected
        else ""
    )
    return Outcome(
        name, "cross-origin-resource-sharing-implemented-with-restricted-access", True, observed, note
    )


def redirection_test(r: Retrieval) -> Outcome:
    """redirection: where http:// goes (scheme and host only; ports do not matter)."""
    name = "redirection"
    resp = r.http.response
    route = [url for url, _ in r.http.history]
    if resp is None:
        note = f"HTTP failed: {r.http.error}" if r.http.error else ""
        return Outcome(name, "redirection-not-needed-no-http", True, None, note)
    if not resp.verified:
        return Outcome(name, "redirection-invalid-cert", False, route)
    parts = [urlsplit(u) for u in route]
    if all(_preloaded(p.hostname or "", r.preload) for p in parts):
        result = "redirection-all-redirects-preloaded"
    elif len(route) == 1:
        result = "redirection-missing"
    elif parts[-1].scheme != "https":
        result = "redirection-not-to-https"
    elif parts[1].scheme == "http":
        result = "redirection-not-to-https-on-initial-redirection"
    elif parts[0].scheme == "http" and parts[1].scheme == "https" and parts[0].hostname != parts[1].hostname:
        result = "redirection-off-host-from-http"
    else:
        result = "redirection-to-https"
    passed = result in (
        "redirection-not-needed-no-http",
        "redirection-all-redirects-preloaded",
        "redirection-to-https",
    )
    return Outcome(name, result, passed, " -> ".join(route) if len(json.dumps(route)) <= 8192 else None)


_REFERRER_GOOD = ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
_REFERRER_BAD = ("origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade")


def referrer_test(r: Retrieval) -> Outcome:
    """referrer-policy: header and <meta name="referrer">; the last valid token wins."""
    name = "referrer-policy"
    auto = r.auto
    if auto is None:
        return Outcome(name, "referrer-policy-not-implemented", False)
    header = auto.header("referrer-policy")
    values = [*([header] if header is not None else []), *r.http_equiv.get("referrer-policy", [])]
    if not values:
        return Outcome(name, "referrer-policy-not-implemented", True)
    data = ", ".join(values)
    valid = [
        t.strip().lower() for t in data.split(",") if t.strip().lower() in (*_REFERRER_GOOD, *_REFERRER_BAD)
    ]
    policy = valid[-1] if valid else ""
    if policy in _REFERRER_GOOD:
        result = "referrer-policy-private"
    elif policy in _REFERRER_BAD:
        result = "referrer-policy-unsafe"
    else:
        result = "referrer-policy-header-invalid"
    return Outcome(name, result, result == "referrer-policy-private", data)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None  # an opaque origin equals nothing
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


def sri_test(r: Retrieval) -> Outcome:
    """subresource-integrity: external scripts need https and integrity=."""
    name = "subresource-integrity"
    order = (
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-implemented-but-external-scripts-not-loaded-securely",
        "sri-not-implemented-but-external-scripts-loaded-securely",
        "sri-not-implemented-and-external-scripts-not-loaded-securely",
        "sri-not-implemented-response-not-html",
    )
    auto = r.auto
    if auto is None:
        return Outcome(name, "sri-not-implemented-but-no-scripts-loaded", False)
    ctype = auto.headers.get("content-type")
    mime = (ctype if isinstance(ctype, str) else "").split(";")[0]
    data: dict[str, dict[str, str | None]] = {}
    result: str | None = None
    if mime and mime not in HTML_TYPES:
        result = "sri-not-implemented-response-not-html"
    else:
        try:
            scripts = r.tags().scripts
        except Exception as exc:  # noqa: BLE001 - any parser failure is the Observatory's html-not-parseable
            return Outcome(
                name, "html-not-parseable", False, None, f"{type(exc).__name__}: {exc}"[:MAX_VALUE]
            )
        base = r.session.final_url
        base_origin = _origin(base)
        http_enforces_https = r.http.response is None or (
            bool(r.http.history) and urlsplit(r.http.history[-1][0]).scheme == "https"
        )
        foreign = False
        for script in scripts:
            src = script.get("src", "")
            if not src:
                continue
            integrity = script.get("integrity") or None
            relative_protocol = re.match(r"^//[^/]", src) is not None
            resolved = urljoin(base, src)
            same_origin = base_origin is not None and _origin(resolved) == base_origin
            foreign = foreign or not same_origin
            secure = (relative_protocol and http_enforces_https) or (
                not relative_protocol and urlsplit(resolved).scheme == "https"
            )
            if not same_origin:
                if len(data) < 100:
                    data[src[:MAX_VALUE]] = {
                        "crossorigin": script.get("crossorigin") or None,
                        "integrity": integrity,
                    }
                if integrity and not secure:
                    result = _worse("sri-implemented-but-external-scripts-not-loaded-securely", result, order)
                elif not integrity and secure:
                    result = _worse("sri-not-implemented-but-external-scripts-loaded-securely", result, order)
                elif not integrity and not secure:
                    result = _worse(
                        "sri-not-implemented-and-external-scripts-not-loaded-securely", result, order
                    )
            elif integrity and secure and result is None:
                result = "sri-implemented-and-all-scripts-loaded-securely"
        if not scripts:
            result = "sri-not-implemented-but-no-scripts-loaded"
        elif result is None:
            result = (
                "sri-implemented-and-external-scripts-loaded-securely"
                if foreign
                else "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
            )
    passed = result in (
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-not-implemented-response-not-html",
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
        "sri-not-implemented-but-no-scripts-loaded",
    )
    return Outcome(name, result, passed, data or None)


def xcto_test(r: Retrieval) -> Outcome:
    """x-content-type-options: exactly nosniff (repeats are joined, hence invalid)."""
    name = "x-content-type-options"
    value = r.auto.header("x-content-type-options") if r.auto is not None else None
    if not value:
        return Outcome(name, "x-content-type-options-not-implemented", False)
    data = value[:256]
    ok = data.strip().lower() == "nosniff"
    rid = "x-content-type-options-nosniff" if ok else "x-content-type-options-header-invalid"
    return Outcome(name, rid, ok, data)


def xfo_test(r: Retrieval, csp_data: Mapping[str, list[str]] | None) -> Outcome:
    """x-frame-options, superseded by CSP frame-ancestors."""
    name = "x-frame-options"
    value = r.auto.header("x-frame-options") if r.auto is not None else None
    if r.auto is None:
        return Outcome(name, "x-frame-options-not-implemented", False)
    data = value[:MAX_VALUE] if value else None
    if data:
        xfo = data.strip().lower()
        if xfo in ("deny", "sameorigin"):
            result = "x-frame-options-sameorigin-or-deny"
        elif xfo.startswith("allow-from"):
            result = "x-frame-options-allow-from-origin"
        else:
            result = "x-frame-options-header-invalid"
    else:
        result = "x-frame-options-not-implemented"
    note = ""
    if csp_data and csp_data.get("frame-ancestors"):
        result = "x-frame-options-implemented-via-csp"
        note = "frame-ancestors " + " ".join(csp_data["frame-ancestors"])
    passed = result in (
        "x-frame-options-allow-from-origin",
        "x-frame-options-sameorigin-or-deny",
        "x-frame-options-implemented-via-csp",
    )
    return Outcome(name, result, passed, data, note)


def corp_test(r: Retrieval) -> Outcome:
    """cross-origin-resource-policy."""
    name = "cross-origin-resource-policy"
    value = r.auto.header("cross-origin-resource-policy") if r.auto is not None else None
    if not value:
        return Outcome(name, "corp-not-implemented", True)
    data = value[:256].strip().lower()
    result = {
        "same-site": "corp-implemented-with-same-site",
        "same-origin": "corp-implemented-with-same-origin",
        "cross-origin": "corp-implemented-with-cross-origin",
    }.get(data, "corp-header-invalid")
    return Outcome(name, result, result != "corp-header-invalid", data)


def _policy_test(r: Retrieval, name: str, header: str, prefix: str, policies: Sequence[str]) -> Outcome:
    """COOP and COEP: one RFC 8941 token (repeats are joined, hence not one token: invalid)."""
    value = r.auto.header(header) if r.auto is not None else None
    if value is None:
        return Outcome(name, f"{prefix}-not-implemented", True)
    data = value[:MAX_VALUE].strip()
    token = sf_token(data)
    result = f"{prefix}-implemented-with-{token}" if token in policies else f"{prefix}-header-invalid"
    return Outcome(name, result, not result.endswith("-invalid"), data)


_SF_KEY = r"[a-z*][a-z0-9_\-.*]*"
_SF_BARE = (
    r"(?:-?\d{1,15}(?:\.\d{1,3})?|\"(?:[ !#-\[\]-~]|\\[\"\\])*\"|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*"
    r"|:[A-Za-z0-9+/=]*:|\?[01])"
)
_SF_ITEM = re.compile(
    rf"^ *(?P<token>[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*)(?:; *{_SF_KEY}(?:={_SF_BARE})?)* *$"
)


def sf_token(value: str) -> str | None:
    """The bare item of an RFC 8941 structured-field item when it is a token, else None."""
    m = _SF_ITEM.match(value)
    return m.group("token") if m else None


def run_tests(r: Retrieval, *, strict_cors: bool = False) -> list[Outcome]:
    """The twelve tests, in the Observatory's order."""
    csp, csp_data = csp_test(r)
    hsts = hsts_test(r)
    return [
        csp,
        cookies_test(r, hsts),
        cors_test(r, strict=strict_cors),
        redirection_test(r),
        referrer_test(r),
        hsts,
        sri_test(r),
        xcto_test(r),
        xfo_test(r, csp_data),
        corp_test(r),
        _policy_test(
            r,
            "cross-origin-opener-policy",
            "cross-origin-opener-policy",
            "coop",
            ("same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"),
        ),
        _policy_test(
            r,
            "cross-origin-embedder-policy",
            "cross-origin-embedder-policy",
            "coep",
            ("require-corp", "credentialless", "unsafe-none"),
        ),
    ]


def score(outcomes: Sequence[Outcome]) -> int:
    """scanner/index.js: extra credit only when the uncurved score is already an A; floor 0."""
    with_credit = 100 + sum(o.modifier for o in outcomes)
    uncurved = 100 + sum(o.modifier for o in outcomes if o.modifier < 0)
    return max(with_credit if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved, 0)


# -- retrieval ---------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]


async def _read_text(resp: aiohttp.ClientResponse, limit: int) -> str:
    raw = await resp.content.read(limit)
    charset = resp.charset or "utf-8"
    try:
        return raw.decode(charset, errors="replace")
    except LookupError:
        return raw.decode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class _Client:
    cafile: str | None
    resolve: str | None
    timeout: float
    max_body: int

    def session(self, *, verify: bool) -> aiohttp.ClientSession:
        import aiohttp

        return client_session(
            cafile=self.cafile,
            resolve=self.resolve,
            verify=verify,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            headers={"User-Agent": USER_AGENT, "Accept": ACCEPT},
        )

    async def chain(self, start: str) -> Session:
        """Follow redirects from ``start``, recording each hop; retry unverified on a cert error."""
        import aiohttp

        jar: dict[tuple[str, str, str], Cookie] = {}
        for verify in (True, False):
            s = Session(start, jar=jar, verified=verify)
            try:
                async with self.session(verify=verify) as http:
                    url, redirects = start, 0
                    while True:
                        async with http.get(url, allow_redirects=False) as resp:
                            raw = [(k, v) for k, v in resp.headers.items()]
                            s.history.append((url, resp.status))
                            s.store_cookies(url, (v for k, v in raw if k.lower() == "set-cookie"))
                            location = node_headers(raw).get("location")
                            if redirects < MAX_REDIRECTS and resp.status in REDIRECT_STATUSES and location:
                                url = urljoin(url, str(location))
                                redirects += 1
                                continue
                            text = await _read_text(resp, self.max_body)
                            s.response = Response(url, resp.status, raw, text, verify)
                            return s
            except aiohttp.ClientConnectorCertificateError as exc:
                s.error = _describe(exc)
                if verify:
                    continue  # as the Observatory: once more without verification, same jar
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError, UnicodeError) as exc:
                s.error = _describe(exc)
            return s
        raise AssertionError("unreachable")  # pragma: no cover

    async def options(self, url: str, *, verify: bool) -> Response | None:
        """The CORS probe: OPTIONS with our Origin, redirects followed; None unless 2xx."""
        import aiohttp

        headers = {"Access-Control-Request-Method": "GET", "Origin": CORS_ORIGIN}
        try:
            async with (
                self.session(verify=verify) as http,
                http.options(url, headers=headers, allow_redirects=True, max_redirects=MAX_REDIRECTS) as resp,
            ):
                if not 200 <= resp.status < 300:
                    return None
                return Response(str(resp.url), resp.status, list(resp.headers.items()), "", verify)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError, UnicodeError):
            return None


def _redact_cookie(line: str) -> str:
    pair, sep, rest = line.partition(";")
    name = pair.partition("=")[0].strip()
    return f"{name}=<redacted>{sep}{rest}"


def headers_rows(resp: Response) -> list[dict[str, Any]]:
    """One row per header name of the final response, valued as the tests read it."""
    counts: dict[str, int] = {}
    for name, _ in resp.raw_headers:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    rows = []
    for name, value in resp.headers.items():
        text = "\n".join(_redact_cookie(v) for v in value) if isinstance(value, list) else value
        rows.append({"name": name, "value": text[:MAX_VALUE], "lines": counts.get(name, 1)})
    return rows


def load_preload_file(path: str) -> frozenset[str]:
    """Domains from a preload file: one per line; blank lines and # comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(
            f"{HSTS_PRELOAD.name}: cannot read the preload list {path!r}: {exc.strerror}"
        ) from exc
    return frozenset(
        line.strip().lower().rstrip(".")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


# -- the integration ---------------------------------------------------------------------------


class HttpHeaders:
    """MDN HTTP Observatory tests and grade for one site (see the module docstring).

    Args:
        ca_bundle: PEM trust roots, overriding ``INTGKIT_CA_BUNDLE``.
        resolve: name overrides, overriding ``INTGKIT_RESOLVE``.
        hsts_preload: HSTS-preloaded domains (each covering its subdomains), added to the file
            named by ``INTGKIT_HSTS_PRELOAD``.
        http_port, https_port: ports of the http:// and https:// starts when the target does
            not name them (the Observatory's httpPort/httpsPort scan options).
        request_timeout: seconds per request (the Observatory's client uses 9).
        strict_cors: score a reflected Origin with credentials as universal access (-50), as
            the rule intends, instead of as the real Observatory does (restricted, 0).
        max_body: most bytes of the page read for HTML parsing.
    """

    name = "http_headers"
    title = "HTTP security headers (MDN Observatory)"
    description = (
        "The MDN HTTP Observatory's 12 tests (CSP, cookies, CORS, redirection, Referrer-Policy, HSTS, "
        "SRI, X-Content-Type-Options, X-Frame-Options, CORP, COOP, COEP), its score and grade."
    )
    settings = (CA_BUNDLE, RESOLVE, HSTS_PRELOAD)
    breaker_per_target = True

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        resolve: str | None = None,
        hsts_preload: Iterable[str] | None = None,
        http_port: int | None = None,
        https_port: int | None = None,
        request_timeout: float = 9.0,
        strict_cors: bool = False,
        max_body: int = 2 * 1024 * 1024,
    ) -> None:
        self._ca_bundle = ca_bundle
        self._resolve = resolve
        self._preload = frozenset(d.strip().lower().rstrip(".") for d in (hsts_preload or ()) if d.strip())
        self._ports = {"http": http_port, "https": https_port}
        self.request_timeout = float(request_timeout)
        self.strict_cors = bool(strict_cors)
        self.max_body = int(max_body)

    def is_configured(self) -> bool:
        """Always: every setting is optional."""
        return True

    def starts(self, target: str | None) -> tuple[str, str, str]:
        """(host, http start URL, https start URL) for a target."""
        t = parse_target(target, default_scheme="http")
        if t.explicit_port and not t.explicit_scheme:
            raise ValueError(
                f"target {target!r}: a port needs a scheme to say which start it is for; "
                f"give a URL such as http://{t.host}:{t.port}/ or https://{t.host}:{t.port}/"
            )
        host = f"[{t.host}]" if ":" in t.host else t.host
        urls = {}
        for scheme in ("http", "https"):
            if t.explicit_scheme and t.scheme == scheme:
                port = t.port
            else:
                port = self._ports[scheme] or DEFAULT_PORTS[scheme]
            netloc = host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
            path = t.path if t.explicit_scheme else "/"
            urls[scheme] = f"{scheme}://{netloc}{path}"
        return t.host, urls["http"], urls["https"]

    async def retrieve(self, target: str | None) -> Retrieval:
        """Fetch what the tests read: both sessions, then the CORS probe."""
        host, http_url, https_url = self.starts(target)
        preload = self._preload
        if path := HSTS_PRELOAD.value():
            preload = preload | load_preload_file(path)
        client = _Client(
            cafile=self._ca_bundle or CA_BUNDLE.value(),
            resolve=self._resolve or RESOLVE.value(),
            timeout=self.request_timeout,
            max_body=self.max_body,
        )
        http, https = await asyncio.gather(client.chain(http_url), client.chain(https_url))
        r = Retrieval(host=host, http=http, https=https, preload=preload)
        if r.auto is not None:
            r.cors = await client.options(r.session.final_url, verify=r.session.verified)
        await asyncio.sleep(0)  # let closed TLS transports finish before the caller moves on
        return r

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
        """Scan one target: ``findings`` (one row per test), ``observatory``, ``headers``."""
        r = await self.retrieve(target)
        auto = r.auto
        if auto is None:
            raise ConnectionError(
                f"the site seems to be down: {r.http.start} ({r.http.error or 'no answer'}); "
                f"{r.https.start} ({r.https.error or 'no answer'})"
            )
        status = auto.status
        summary: dict[str, Any] = {
            "target": target,
            "score": None,
            "grade": None,
            "tests_passed": None,
            "tests_failed": None,
            "tests_quantity": TESTS_QUANTITY,
            "status_code": status,
            "final_url": r.session.final_url,
            "algorithm_version": ALGORITHM_VERSION,
            "reason": None,
        }
        if not (200 <= status < 400 or status in (401, 403)):
            summary["reason"] = f"final status {status} is not {GRADEABLE}: the Observatory does not grade it"
            return {"findings": [], "observatory": [summary], "headers": headers_rows(auto)}
        outcomes = run_tests(r, strict_cors=self.strict_cors)
        total = score(outcomes)
        passed = sum(o.passed for o in outcomes)
        summary.update(
            score=total, grade=grade_for(total), tests_passed=passed, tests_failed=len(outcomes) - passed
        )
        rows = [
            finding(
                self.name,
                target,
                check=o.test,
                result_id=o.result,
                passed=o.passed,
                severity=severity_for(o.modifier),
                observed=_cut(o.observed),
                expected=EXPECTED[o.test],
                detail=RESULTS[o.result][1] + (f"; {o.note}" if o.note else ""),
                score_modifier=o.modifier,
            )
            for o in outcomes
        ]
        return {"findings": rows, "observatory": [summary], "headers": headers_rows(auto)}

    def __repr__(self) -> str:
        return f"<HttpHeaders {self.name!r}>"


integration = HttpHeaders()

"""The subresource-integrity test (``src/analyzer/tests/subresource-integrity.js``).

Each ``<script src>`` is sorted as the Observatory sorts it:

- a protocol-relative URL (``//cdn.example/x.js``) is always external and never loaded
  securely: on an HTTP visit it loads over HTTP (the Observatory penalises every one, whatever
  the redirects; a change to that, mdn/mdn-http-observatory#561, is not merged);
- a full ``http(s)://`` URL is external unless its registrable domain is the scanned host's
  (``https://www.example.com/x.js`` on ``example.com`` is not external), and secure when https;
- anything else is relative: same origin, secure when the judged session started on HTTPS.

External scripts need integrity= and https; the worst verdict wins. ``script.src`` in the
Observatory is jsdom's reflected attribute without a document URL: absolute URLs come back
normalised (scheme and host lower-cased), anything else as written; :func:`script_src` does
the same.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ._domains import registrable_domain
from ._html_parser import HTML_TYPES
from ._outcome import Outcome, worse
from ._retriever import Retrieval

MAX_VALUE = 1024
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_RELATIVE_PROTOCOL = re.compile(r"^//[^/]")
_FULL_URL = re.compile(r"^https?://")
_ORDER = (
    "sri-implemented-and-all-scripts-loaded-securely",
    "sri-implemented-and-external-scripts-loaded-securely",
    "sri-implemented-but-external-scripts-not-loaded-securely",
    "sri-not-implemented-but-external-scripts-loaded-securely",
    "sri-not-implemented-and-external-scripts-not-loaded-securely",
    "sri-not-implemented-response-not-html",
)
_PASSING = frozenset(
    {
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-not-implemented-response-not-html",
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
        "sri-not-implemented-but-no-scripts-loaded",
    }
)


def script_src(attribute: str) -> str:
    """A script's src as jsdom reflects it with no document URL to resolve against.

    An absolute URL is normalised (scheme lower-cased; for http and https the slashes after
    the scheme made ``//`` and the host lower-cased); a relative one cannot be resolved
    against about:blank, so it comes back exactly as written.
    """
    value = attribute.strip(" \t\n\r\f")
    m = _SCHEME.match(value)
    if m is None:
        return attribute
    scheme, rest = m.group(1).lower(), value[m.end() :]
    if scheme not in ("http", "https"):
        return f"{scheme}:{rest}"
    rest = rest.lstrip("/\\")
    cut = min((i for i in (rest.find(c) for c in "/\\?#") if i >= 0), default=len(rest))
    path = rest[cut:].replace("\\", "/")
    return f"{scheme}://{rest[:cut].lower()}{path if path.startswith('/') else '/' + path}"


def classify(src: str, site_domain: str | None, session_https: bool) -> tuple[bool, bool]:
    """(external, loaded securely) for one reflected script src on the scanned site."""
    if _RELATIVE_PROTOCOL.match(src):
        return True, False
    if _FULL_URL.match(src):
        try:
            host = urlsplit(src).hostname
        except ValueError:
            host = None
        external = registrable_domain(host) != site_domain
        return external, src.startswith("https:")
    return False, session_https


def sri_test(r: Retrieval) -> Outcome:
    """subresource-integrity: external scripts need https and integrity=."""
    name = "subresource-integrity"
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
        site_domain = registrable_domain(r.host)
        session_https = urlsplit(r.session.start).scheme == "https"
        foreign = False
        for script in scripts:
            src = script_src(script.get("src", ""))
            if not src:
                continue
            integrity = script.get("integrity") or None
            external, secure = classify(src, site_domain, session_https)
            if not external:
                # bonus even for SRI on same-origin scripts, unless a verdict is already in
                if integrity and secure and result is None:
                    result = "sri-implemented-and-all-scripts-loaded-securely"
                continue
            foreign = True
            if len(data) < 100:
                data[src[:MAX_VALUE]] = {
                    "crossorigin": script.get("crossorigin") or None,
                    "integrity": integrity,
                }
            if integrity and not secure:
                result = worse("sri-implemented-but-external-scripts-not-loaded-securely", result, _ORDER)
            elif not integrity and secure:
                result = worse("sri-not-implemented-but-external-scripts-loaded-securely", result, _ORDER)
            elif not integrity:
                result = worse("sri-not-implemented-and-external-scripts-not-loaded-securely", result, _ORDER)
        if not scripts:
            result = "sri-not-implemented-but-no-scripts-loaded"
        elif result is None:
            result = (
                "sri-implemented-and-external-scripts-loaded-securely"
                if foreign
                else "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
            )
    return Outcome(name, result, result in _PASSING, data or None)

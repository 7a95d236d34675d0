"""The subresource-integrity test (``src/analyzer/tests/subresource-integrity.js``)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from .._net import DEFAULT_PORTS
from ._html_parser import HTML_TYPES
from ._outcome import Outcome, worse
from ._retriever import Retrieval

MAX_VALUE = 1024


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
                    result = worse("sri-implemented-but-external-scripts-not-loaded-securely", result, order)
                elif not integrity and secure:
                    result = worse("sri-not-implemented-but-external-scripts-loaded-securely", result, order)
                elif not integrity and not secure:
                    result = worse(
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

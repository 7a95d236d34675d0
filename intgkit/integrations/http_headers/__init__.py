"""HTTP security headers, tested and scored as the MDN HTTP Observatory does.

Reference: mdn/mdn-http-observatory @94042bb (algorithm version 6, 12 tests):
``src/retriever/{retriever,session}.js`` (what is fetched), ``src/analyzer/tests/*.js`` (the
tests), ``src/analyzer/cspParser.js``, ``src/analyzer/utils.js``, ``src/grader/{charts,grader}.js``
and ``src/scanner/index.js`` (modifiers, score and grade). intgkit's notes on them: the
security-check notes, §1 and §7. The rules are followed as the real Observatory applies them,
quirks included, so a score here is the score the Observatory would give; the golden tests
(tests/test_http_headers_golden.py) hold every modifier to the Observatory's grader table and
run its own test cases, re-expressed as data, against the functions here.

The package mirrors the Observatory's own parts, so each rule is found where the reference
keeps it, and the parsers and tests are pure functions the golden tests call directly:

- ``_retriever``: the fetching (both starts, redirects, cookie jars, the CORS probe) and the
  plain values the tests read (``Retrieval``, ``Session``, ``Response``);
- parsers: ``_headers`` (headers joined as Node joins them, RFC 8941 tokens, JS parseInt),
  ``_csp_parser``, ``_cookie_parser``, ``_html_parser`` (scripts and meta policies),
  ``_domains`` (registrable domains from the Public Suffix List, for SRI);
- one module per test family: ``_csp``, ``_cookies``, ``_cors``, ``_redirection``,
  ``_referrer_policy``, ``_hsts``, ``_sri``, ``_x_content_type_options``, ``_x_frame_options``,
  ``_cross_origin_policies`` (CORP, COOP, COEP); ``_analyzer`` runs the twelve in order;
- ``_grader``: the score table (modifier and explanation per result id), score and grade;
  ``_outcome`` (a test's result, the worst-wins rule), ``_preload`` (the HSTS preload list).

Score: 100 plus every modifier when 100 plus the negative ones is at least 90, else 100 plus
the negative ones; floor 0. The grade is looked up at min(score rounded down to a multiple of
5, 100); the score itself is reported unrounded, as the Observatory does (A+ sites score above
100). No grade when the final status is not 2xx, 3xx, 401 or 403.

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
- robots.txt is not fetched (see ``_retriever``).
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
from collections.abc import Iterable
from typing import Any

from .._findings import finding
from .._net import CA_BUNDLE, DEFAULT_PORTS, RESOLVE, parse_target
from ._analyzer import TESTS_QUANTITY, run_tests
from ._grader import EXPECTED, RESULTS, grade_for, score, severity_for
from ._headers import redact_cookie
from ._outcome import Outcome
from ._preload import HSTS_PRELOAD, load_preload_file
from ._retriever import Response, Retrieval, lease

__all__ = [
    "ALGORITHM_VERSION",
    "HSTS_PRELOAD",
    "RESULTS",
    "HttpHeaders",
    "Outcome",
    "grade_for",
    "integration",
    "score",
]

ALGORITHM_VERSION = 6
MAX_VALUE = 1024  # longest value kept in a row, as the Observatory slices its data
GRADEABLE = "2xx, 3xx, 401 or 403"


def _cut(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:MAX_VALUE]


def headers_rows(resp: Response) -> list[dict[str, Any]]:
    """One row per header name of the final response, valued as the tests read it."""
    counts: dict[str, int] = {}
    for name, _ in resp.raw_headers:
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    rows = []
    for name, value in resp.headers.items():
        text = "\n".join(redact_cookie(v) for v in value) if isinstance(value, list) else value
        rows.append({"name": name, "value": text[:MAX_VALUE], "lines": counts.get(name, 1)})
    return rows


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
    needs_target = True  # a host or domain; fetch(None) cannot work

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
        async with lease(
            cafile=self._ca_bundle or CA_BUNDLE.value(),
            resolve=self._resolve or RESOLVE.value(),
            timeout=self.request_timeout,
            max_body=self.max_body,
        ) as client:
            http, https = await asyncio.gather(client.chain(http_url), client.chain(https_url))
            r = Retrieval(host=host, http=http, https=https, preload=preload)
            if r.auto is not None:
                r.cors = await client.options(r.session.final_url, verify=r.session.verified)
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
        total = score(o.modifier for o in outcomes)
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
                detail=RESULTS[o.result].description + (f"; {o.note}" if o.note else ""),
                explanation=RESULTS[o.result].explanation,
                score_modifier=o.modifier,
            )
            for o in outcomes
        ]
        return {"findings": rows, "observatory": [summary], "headers": headers_rows(auto)}

    def __repr__(self) -> str:
        return f"<HttpHeaders {self.name!r}>"


integration = HttpHeaders()

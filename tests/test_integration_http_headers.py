"""http_headers end to end against real local sites.

Expected values follow the Observatory's grader table and its own test cases, which
tests/test_http_headers_golden.py pins one by one from tests/data/ (with their sources).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import intgkit
from intgkit.integrations import http_headers
from intgkit.integrations.http_headers import HttpHeaders, grade_for, score
from intgkit.testing._site import LocalSite, Route

PERFECT_HEADERS = [
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Embedder-Policy", "require-corp"),
]
PERFECT = Route.page(
    headers=PERFECT_HEADERS,
    cookies=["sessionid=s3cr3t-value; Path=/; Secure; HttpOnly; SameSite=Strict"],
    body='<!doctype html><title>ok</title><script src="/app.js" integrity="sha384-abc"></script>',
)


async def scan(site: LocalSite, target: str | None = None, **kwargs: Any) -> dict[str, list[dict[str, Any]]]:
    """Scan a local site with an explicitly configured instance (no os.environ)."""
    integ = HttpHeaders(ca_bundle=site.ca_bundle, resolve=site.resolve, **kwargs)
    return await integ.fetch(target or site.target)


def results(out: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[str, int]]:
    """check -> (result_id, score_modifier)."""
    return {row["check"]: (row["result_id"], row["score_modifier"]) for row in out["findings"]}


def row(out: dict[str, list[dict[str, Any]]], check: str) -> dict[str, Any]:
    (found,) = [r for r in out["findings"] if r["check"] == check]
    return found


def page(*headers: tuple[str, str], **kwargs: Any) -> dict[str, Route]:
    return {"/": Route.page(headers=list(headers), **kwargs)}


async def test_perfect_site_scores_a_plus_above_100() -> None:
    """Every test at its best gives 100 + 60 of extra credit: 160, A+, 12 of 12 passed."""
    async with LocalSite({"/": PERFECT}) as site:
        out = await scan(site)
    assert results(out) == {
        "content-security-policy": ("csp-implemented-with-no-unsafe-default-src-none", 10),
        "cookies": ("cookies-secure-with-httponly-sessions-and-samesite", 5),
        "cross-origin-resource-sharing": ("cross-origin-resource-sharing-not-implemented", 0),
        "redirection": ("redirection-to-https", 0),
        "referrer-policy": ("referrer-policy-private", 5),
        "strict-transport-security": ("hsts-implemented-max-age-at-least-six-months", 0),
        "subresource-integrity": ("sri-implemented-and-all-scripts-loaded-securely", 5),
        "x-content-type-options": ("x-content-type-options-nosniff", 0),
        "x-frame-options": ("x-frame-options-implemented-via-csp", 5),
        "cross-origin-resource-policy": ("corp-implemented-with-same-origin", 10),
        "cross-origin-opener-policy": ("coop-implemented-with-same-origin", 10),
        "cross-origin-embedder-policy": ("coep-implemented-with-require-corp", 10),
    }
    (summary,) = out["observatory"]
    assert summary == {
        "target": "site.test",
        "score": 160,
        "grade": "A+",
        "tests_passed": 12,
        "tests_failed": 0,
        "tests_quantity": 12,
        "status_code": 200,
        "final_url": "https://site.test/",
        "algorithm_version": 6,
        "reason": None,
    }
    assert all(r["passed"] and r["severity"] == "info" for r in out["findings"])


async def test_site_without_headers_scores_30_d() -> None:
    """No headers: CSP -25, HSTS -20, XFO -20, XCTO -5, everything else 0: 30, grade D, 8 passed."""
    async with LocalSite(page()) as site:
        out = await scan(site)
    assert results(out) == {
        "content-security-policy": ("csp-not-implemented", -25),
        "cookies": ("cookies-not-found", 0),
        "cross-origin-resource-sharing": ("cross-origin-resource-sharing-not-implemented", 0),
        "redirection": ("redirection-to-https", 0),
        "referrer-policy": ("referrer-policy-not-implemented", 0),
        "strict-transport-security": ("hsts-not-implemented", -20),
        "subresource-integrity": ("sri-not-implemented-but-no-scripts-loaded", 0),
        "x-content-type-options": ("x-content-type-options-not-implemented", -5),
        "x-frame-options": ("x-frame-options-not-implemented", -20),
        "cross-origin-resource-policy": ("corp-not-implemented", 0),
        "cross-origin-opener-policy": ("coop-not-implemented", 0),
        "cross-origin-embedder-policy": ("coep-not-implemented", 0),
    }
    (summary,) = out["observatory"]
    assert (summary["score"], summary["grade"], summary["tests_passed"], summary["tests_failed"]) == (
        30,
        "D",
        8,
        4,
    )
    assert row(out, "content-security-policy")["severity"] == "medium"
    assert row(out, "x-content-type-options")["severity"] == "low"


async def test_mediocre_demo_site_scores_55_c() -> None:
    """The demo's mediocre site: -20 CSP, -10 HSTS, -5 XCTO, -5 Referrer, -5 SRI: 55, grade C.

    X-Frame-Options SAMEORIGIN is +5, extra credit that only counts from 90 up.
    """
    async with LocalSite.mediocre() as site:
        out = await scan(site)
    (summary,) = out["observatory"]
    assert (summary["score"], summary["grade"]) == (55, "C")
    assert sorted(m for _, m in results(out).values() if m) == [-20, -10, -5, -5, -5, 5]


async def test_preload_list_from_file_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A parent domain in INTGKIT_HSTS_PRELOAD covers the site: hsts-preloaded +5, redirects preloaded."""
    preload = tmp_path / "preload.txt"
    preload.write_text("# comment\n\nSITE.test\n", encoding="utf-8")
    monkeypatch.setenv("INTGKIT_HSTS_PRELOAD", str(preload))
    async with LocalSite({"/": PERFECT}, hosts=("www.site.test",)) as site:
        out = await scan(site)
    assert results(out)["strict-transport-security"] == ("hsts-preloaded", 5)
    assert results(out)["redirection"] == ("redirection-all-redirects-preloaded", 0)
    assert out["observatory"][0]["score"] == 165


async def test_unreadable_preload_file_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """A preload file that cannot be read fails the scan with the setting's name in the message."""
    monkeypatch.setenv("INTGKIT_HSTS_PRELOAD", str(tmp_path / "missing.txt"))
    async with LocalSite(page()) as site:
        with pytest.raises(ValueError, match="INTGKIT_HSTS_PRELOAD"):
            await scan(site)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            "default-src 'self'; script-src 'self' 'unsafe-inline'",
            ("csp-implemented-with-unsafe-inline", -20),
        ),
        (
            "default-src 'none'; script-src 'nonce-abc' 'strict-dynamic' 'unsafe-inline' https: 'self'",
            ("csp-implemented-with-no-unsafe-default-src-none", 10),
        ),
        (  # a nonce makes 'unsafe-inline' ignored
            "default-src 'none'; script-src 'nonce-abc' 'unsafe-inline'",
            ("csp-implemented-with-no-unsafe-default-src-none", 10),
        ),
        (
            "default-src 'none'; style-src 'sha256-abc' 'unsafe-inline'",
            ("csp-implemented-with-no-unsafe-default-src-none", 10),
        ),
        (  # no style-src nor default-src: style-src falls back to *
            "script-src 'nonce-abc' 'strict-dynamic' 'unsafe-inline'; object-src 'none'",
            ("csp-implemented-with-unsafe-inline-in-style-src-only", 0),
        ),
        ("default-src 'none'; script-src 'strict-dynamic' 'self'", ("csp-header-invalid", -25)),
        ("default-src 'self'; script-src 'self' 'unsafe-eval'", ("csp-implemented-with-unsafe-eval", -10)),
        (
            "default-src 'self'; img-src http://img.example",
            ("csp-implemented-with-insecure-scheme-in-passive-content-only", -10),
        ),
        ("default-src 'self'; connect-src http://api.example", ("csp-implemented-with-insecure-scheme", -20)),
        ("default-src 'self'; object-src https:", ("csp-implemented-with-unsafe-inline", -20)),
        ("img-src 'self'", ("csp-implemented-with-unsafe-inline", -20)),  # script-src unrestricted
        ("default-src 'self', script-src 'self'; script-src 'none'", ("csp-header-invalid", -25)),
        ("default-src 'self'; report-uri /a; report-uri /b", ("csp-implemented-but-duplicate-directives", 0)),
        # two policies (a comma): only sources allowed by both count, so https: drops out
        ("default-src 'self' https:, default-src 'self'", ("csp-implemented-with-no-unsafe", 5)),
    ],
)
async def test_content_security_policy(policy: str, expected: tuple[str, int]) -> None:
    """CSP: fallbacks, nonces drop 'unsafe-inline', strict-dynamic needs a nonce, insecure schemes."""
    async with LocalSite(page(("Content-Security-Policy", policy))) as site:
        out = await scan(site)
    assert results(out)["content-security-policy"] == expected


async def test_csp_report_only_and_meta_policies() -> None:
    """Report-Only is not enforcement (-25); a meta CSP and meta referrer count like headers."""
    async with LocalSite(page(("Content-Security-Policy-Report-Only", "default-src 'none'"))) as site:
        out = await scan(site)
    assert results(out)["content-security-policy"] == ("csp-not-implemented-but-reporting-enabled", -25)
    body = (
        '<html><head><meta http-equiv="Content-Security-Policy" content="default-src \'self\'">'
        '<meta name="referrer" content="unsafe-url"><meta name="referrer" content="no-referrer">'
        "</head></html>"
    )
    async with LocalSite(page(body=body)) as site:
        out = await scan(site)
    assert results(out)["content-security-policy"] == ("csp-implemented-with-no-unsafe", 5)
    assert results(out)["referrer-policy"] == ("referrer-policy-private", 5)


async def test_frame_ancestors_from_header_and_meta() -> None:
    """Header frame-ancestors: anti-clickjacking and XFO +5; in meta only, the CSP summary ignores it."""
    async with LocalSite(
        page(("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"))
    ) as site:
        out = await scan(site)
    assert results(out)["x-frame-options"] == ("x-frame-options-implemented-via-csp", 5)
    assert '"antiClickjacking": true' in row(out, "content-security-policy")["observed"]
    meta = (
        "<meta http-equiv=\"content-security-policy\" content=\"default-src 'self'; frame-ancestors 'none'\">"
    )
    async with LocalSite(page(body=meta)) as site:
        out = await scan(site)
    assert '"antiClickjacking": false' in row(out, "content-security-policy")["observed"]
    # x-frame-options.js reads the combined (header + meta) policy: the Observatory gives +5 anyway
    assert results(out)["x-frame-options"] == ("x-frame-options-implemented-via-csp", 5)


@pytest.mark.parametrize(
    ("extra", "cookie", "expected"),
    [
        ([], "sessionid=abc", ("cookies-session-without-secure-flag", -40)),
        (
            [("Strict-Transport-Security", "max-age=31536000")],
            "sessionid=abc",
            ("cookies-session-without-httponly-flag", -30),
        ),
        (
            [("Strict-Transport-Security", "max-age=31536000")],
            "theme=dark; HttpOnly",
            ("cookies-without-secure-flag-but-protected-by-hsts", -5),
        ),
        ([], "theme=dark; Secure", ("cookies-secure-with-httponly-sessions", 0)),
        ([], "csrftoken=abc; Secure", ("cookies-anticsrf-without-samesite-flag", -20)),
        ([], "theme=dark; Secure; SameSite=Sometimes", ("cookies-samesite-flag-invalid", -20)),
        ([], "theme=dark; SameSite=None", ("cookies-samesite-flag-invalid", -20)),
        ([], "heroku-session-affinity=x", ("cookies-not-found", 0)),
    ],
)
async def test_cookies(extra: list[tuple[str, str]], cookie: str, expected: tuple[str, int]) -> None:
    """Cookies: session ids need Secure and HttpOnly, anti-CSRF needs SameSite; the worst result wins."""
    async with LocalSite(page(*extra, cookies=[cookie])) as site:
        out = await scan(site)
    assert results(out)["cookies"] == expected
    assert "abc" not in repr(out)  # cookie values never reach a row


async def test_cookies_come_from_the_judged_sessions_jar_only() -> None:
    """A cookie set only on the http:// redirect is in the HTTP session's jar, not the judged one."""
    http = {"/": Route.redirect("https://{host}/", cookies=["sessionid=abc"])}
    async with LocalSite(page(), http) as site:
        out = await scan(site)
    assert results(out)["cookies"] == ("cookies-not-found", 0)


@pytest.mark.parametrize(
    ("strict", "expected", "passed"),
    [
        (False, ("cross-origin-resource-sharing-implemented-with-restricted-access", 0), True),
        (True, ("cross-origin-resource-sharing-implemented-with-universal-access", -50), False),
    ],
)
async def test_cors_reflected_origin_with_credentials(
    strict: bool, expected: tuple[str, int], passed: bool
) -> None:
    """An echoed Origin with ACAC true: restricted as the real Observatory scores it, -50 when strict."""
    async with LocalSite({"/": Route.page(cors_echo=True)}) as site:
        out = await scan(site, strict_cors=strict)
    assert results(out)["cross-origin-resource-sharing"] == expected
    cors = row(out, "cross-origin-resource-sharing")
    assert cors["passed"] is passed
    assert "https://http-observatory.security.mozilla.org" in cors["observed"]
    assert cors["severity"] == ("high" if strict else "info")


async def test_cors_public_access() -> None:
    """Access-Control-Allow-Origin: * is public access, 0."""
    async with LocalSite(page(("Access-Control-Allow-Origin", "*"))) as site:
        out = await scan(site)
    assert results(out)["cross-origin-resource-sharing"] == (
        "cross-origin-resource-sharing-implemented-with-public-access",
        0,
    )


@pytest.mark.parametrize(
    ("http_routes", "expected"),
    [
        ({"/": Route.page()}, ("redirection-missing", -20)),
        ({"/": Route.redirect("https://other.test/")}, ("redirection-off-host-from-http", -5)),
        (
            {"/": Route.redirect("http://www.site.test/next"), "/next": Route.redirect("https://site.test/")},
            ("redirection-not-to-https-on-initial-redirection", -10),
        ),
        ({"/": Route.redirect("/landing"), "/landing": Route.page()}, ("redirection-not-to-https", -20)),
    ],
)
async def test_redirection(http_routes: dict[str, Route], expected: tuple[str, int]) -> None:
    """Where http:// goes: nowhere, to another host, through another http hop, or never to https."""
    async with LocalSite(page(), http_routes) as site:
        out = await scan(site)
    assert results(out)["redirection"] == expected


async def test_no_https_at_all() -> None:
    """Without HTTPS the HTTP response is judged: HSTS no-https -20, redirection missing -20."""
    async with LocalSite(http_routes=page(("X-Frame-Options", "DENY")), https=False) as site:
        out = await scan(site)
    assert results(out)["strict-transport-security"] == ("hsts-not-implemented-no-https", -20)
    assert results(out)["redirection"] == ("redirection-missing", -20)
    assert results(out)["x-frame-options"] == ("x-frame-options-sameorigin-or-deny", 5)
    assert out["observatory"][0]["final_url"] == "http://site.test/"
    detail = row(out, "strict-transport-security")["detail"]
    # a plain sentence first, the library's words after it
    assert "HTTPS failed: could not connect: nothing is listening there (connection refused) (" in detail


async def test_certificate_for_another_name() -> None:
    """A certificate that does not match: HSTS and redirection invalid-cert, the page still judged."""
    async with LocalSite({"/": PERFECT}, cert_names=("wrong.test",)) as site:
        out = await scan(site)
    assert results(out)["strict-transport-security"] == ("hsts-invalid-cert", -20)
    assert results(out)["redirection"] == ("redirection-invalid-cert", -20)
    assert results(out)["x-content-type-options"] == ("x-content-type-options-nosniff", 0)
    assert out["observatory"][0]["final_url"] == "https://site.test/"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            '<script src="https://cdn.other.test/x.js"></script>',
            ("sri-not-implemented-but-external-scripts-loaded-securely", -5),
        ),
        (
            '<script src="https://cdn.other.test/x.js" integrity="sha384-abc" crossorigin></script>',
            ("sri-implemented-and-external-scripts-loaded-securely", 5),
        ),
        (
            '<script src="http://cdn.other.test/x.js" integrity="sha384-abc"></script>',
            ("sri-implemented-but-external-scripts-not-loaded-securely", -20),
        ),
        (
            '<script src="http://cdn.other.test/x.js"></script>',
            ("sri-not-implemented-and-external-scripts-not-loaded-securely", -50),
        ),
        (
            '<script src="/app.js"></script><script>inline()</script>',
            ("sri-not-implemented-but-all-scripts-loaded-from-secure-origin", 0),
        ),
        (  # protocol-relative: never loaded securely, even though http:// redirects to https://
            '<script src="//cdn.other.test/x.js"></script>',
            ("sri-not-implemented-and-external-scripts-not-loaded-securely", -50),
        ),
        (
            '<script src="//cdn.other.test/x.js" integrity="sha384-abc"></script>',
            ("sri-implemented-but-external-scripts-not-loaded-securely", -20),
        ),
        (  # protocol-relative on the site's own domain is still not loaded securely
            '<script src="//www.site.test/x.js"></script>',
            ("sri-not-implemented-and-external-scripts-not-loaded-securely", -50),
        ),
        (  # same registrable domain (site.test): not external
            '<script src="https://www.site.test/x.js"></script>',
            ("sri-not-implemented-but-all-scripts-loaded-from-secure-origin", 0),
        ),
        (
            '<script src="https://cdn.site.test/x.js" integrity="sha384-abc"></script>',
            ("sri-implemented-and-all-scripts-loaded-securely", 5),
        ),
        (  # same registrable domain, so not external, whatever the scheme (as the Observatory)
            '<script src="http://static.site.test/x.js"></script>',
            ("sri-not-implemented-but-all-scripts-loaded-from-secure-origin", 0),
        ),
        (  # the worst external script wins
            '<script src="https://a.other.test/x.js" integrity="sha384-a"></script><script src="http://b.other.test/y.js"></script>',
            ("sri-not-implemented-and-external-scripts-not-loaded-securely", -50),
        ),
        ("<p>no scripts</p>", ("sri-not-implemented-but-no-scripts-loaded", 0)),
    ],
)
async def test_subresource_integrity(body: str, expected: tuple[str, int]) -> None:
    """SRI: external by registrable domain, https vs http, protocol-relative never secure."""
    async with LocalSite(page(body=body)) as site:
        out = await scan(site)
    assert results(out)["subresource-integrity"] == expected


async def test_sri_not_html_and_protocol_relative_over_http() -> None:
    """JSON is not HTML (0); a protocol-relative script on an http-only site is insecure (-50)."""
    async with LocalSite({"/": Route(body='{"a": 1}', content_type="application/json")}) as site:
        out = await scan(site)
    assert results(out)["subresource-integrity"] == ("sri-not-implemented-response-not-html", 0)
    async with LocalSite(
        http_routes=page(body='<script src="//cdn.other.test/x.js"></script>'), https=False
    ) as site:
        out = await scan(site)
    assert results(out)["subresource-integrity"] == (
        "sri-not-implemented-and-external-scripts-not-loaded-securely",
        -50,
    )


@pytest.mark.parametrize(
    ("header", "value", "check", "expected"),
    [
        (
            "X-Content-Type-Options",
            "nosniff-please",
            "x-content-type-options",
            ("x-content-type-options-header-invalid", -5),
        ),
        ("X-Frame-Options", "ALLOWALL", "x-frame-options", ("x-frame-options-header-invalid", -20)),
        (
            "X-Frame-Options",
            "ALLOW-FROM https://a.example",
            "x-frame-options",
            ("x-frame-options-allow-from-origin", 0),
        ),
        (
            "Strict-Transport-Security",
            "includeSubDomains",
            "strict-transport-security",
            ("hsts-header-invalid", -20),
        ),
        (
            "Strict-Transport-Security",
            "max-age=300",
            "strict-transport-security",
            ("hsts-implemented-max-age-less-than-six-months", -10),
        ),
        (
            "Strict-Transport-Security",
            "max-age=15552000",
            "strict-transport-security",
            ("hsts-implemented-max-age-at-least-six-months", 0),
        ),
        ("Referrer-Policy", "foo", "referrer-policy", ("referrer-policy-header-invalid", -5)),
        ("Referrer-Policy", "no-referrer, bogus", "referrer-policy", ("referrer-policy-private", 5)),
        ("Cross-Origin-Opener-Policy", "bogus", "cross-origin-opener-policy", ("coop-header-invalid", -5)),
        (
            "Cross-Origin-Opener-Policy",
            'same-origin-allow-popups; report-to="r"',
            "cross-origin-opener-policy",
            ("coop-implemented-with-same-origin-allow-popups", 10),
        ),
        (
            "Cross-Origin-Embedder-Policy",
            '"require-corp"',
            "cross-origin-embedder-policy",
            ("coep-header-invalid", -5),
        ),
        (
            "Cross-Origin-Embedder-Policy",
            "credentialless",
            "cross-origin-embedder-policy",
            ("coep-implemented-with-credentialless", 10),
        ),
        (
            "Cross-Origin-Resource-Policy",
            "same-origin; bogus",
            "cross-origin-resource-policy",
            ("corp-header-invalid", -5),
        ),
        (
            "Cross-Origin-Resource-Policy",
            "Same-Site",
            "cross-origin-resource-policy",
            ("corp-implemented-with-same-site", 10),
        ),
    ],
)
async def test_header_values(header: str, value: str, check: str, expected: tuple[str, int]) -> None:
    """Valid, invalid and borderline values of single headers."""
    async with LocalSite(page((header, value))) as site:
        out = await scan(site)
    assert results(out)[check] == expected


async def test_repeated_headers_are_joined_as_nodes_client_does() -> None:
    """Repeats join with ", ": two nosniff, HSTS, DENY or COOP lines are invalid; two CSPs, two policies."""
    headers = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Content-Type-Options", "nosniff"),
        ("Strict-Transport-Security", "max-age=31536000"),
        ("Strict-Transport-Security", "max-age=31536000"),
        ("X-Frame-Options", "DENY"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Referrer-Policy", "no-referrer"),
        ("Referrer-Policy", "unsafe-url"),
        # policy 2's script-src is in no other policy: it intersects to 'none'
        ("Content-Security-Policy", "default-src 'none'"),
        ("Content-Security-Policy", "script-src 'self'"),
    ]
    async with LocalSite(page(*headers)) as site:
        out = await scan(site)
    got = results(out)
    assert got["x-content-type-options"] == ("x-content-type-options-header-invalid", -5)
    assert got["strict-transport-security"] == ("hsts-header-invalid", -20)
    assert got["x-frame-options"] == ("x-frame-options-header-invalid", -20)
    assert got["cross-origin-opener-policy"] == ("coop-header-invalid", -5)
    assert got["referrer-policy"] == ("referrer-policy-unsafe", -5)
    assert got["content-security-policy"] == ("csp-implemented-with-no-unsafe-default-src-none", 10)
    xcto = [h for h in out["headers"] if h["name"] == "x-content-type-options"]
    assert xcto == [{"name": "x-content-type-options", "value": "nosniff, nosniff", "lines": 2}]


async def test_headers_section_redacts_cookie_values() -> None:
    """The headers section lists the final response's headers; Set-Cookie values are replaced."""
    async with LocalSite({"/": PERFECT}) as site:
        out = await scan(site)
    names = {h["name"]: h["value"] for h in out["headers"]}
    assert names["x-frame-options"] == "DENY"
    assert names["set-cookie"] == "sessionid=<redacted>; Path=/; Secure; HttpOnly; SameSite=Strict"
    assert "s3cr3t" not in repr(out)


async def test_long_values_are_truncated() -> None:
    """An oversized header value is cut to 1024 characters in rows."""
    async with LocalSite(page(("X-Frame-Options", "x" * 5000))) as site:
        out = await scan(site)
    assert len(row(out, "x-frame-options")["observed"]) == 1024
    assert len(next(h for h in out["headers"] if h["name"] == "x-frame-options")["value"]) == 1024


@pytest.mark.parametrize(("status", "graded"), [(500, False), (404, False), (401, True), (403, True)])
async def test_status_outside_observatory_range_is_not_graded(status: int, graded: bool) -> None:
    """Only 2xx, 3xx, 401 and 403 are graded; otherwise a row with grade None and the reason."""
    async with LocalSite({"/": Route.page(status=status)}) as site:
        out = await scan(site)
    (summary,) = out["observatory"]
    assert summary["status_code"] == status
    if graded:
        assert (summary["grade"], len(out["findings"])) == ("D", 12)
    else:
        assert (summary["grade"], summary["score"], out["findings"]) == (None, None, [])
        assert f"final status {status}" in summary["reason"]


async def test_unreachable_site_raises_a_clear_error() -> None:
    """Nothing listening on either start: an error naming both URLs, no grade."""
    async with LocalSite(http=False, https=False) as site:
        with pytest.raises(
            ConnectionError, match=r"seems to be down: http://site\.test/ .*https://site\.test/"
        ) as caught:
            await scan(site)
    assert str(caught.value).count("(could not connect: nothing is listening there (connection refused)") == 2


async def test_slow_site_times_out_per_request() -> None:
    """Both starts slower than request_timeout: the scan fails as unreachable, quickly."""
    slow = {"/": Route.page(delay=5)}
    async with LocalSite(slow, slow) as site:
        with pytest.raises(ConnectionError, match="timed out: no answer within the time limit"):
            await scan(site, request_timeout=0.3)


async def test_url_target_with_direct_ports() -> None:
    """Target http://site.test:<port>/ with https_port set: both starts on the ephemeral ports."""
    async with LocalSite({"/": PERFECT}) as site:
        out = await scan(site, site.url("http", direct=True), https_port=site.https_port)
    assert results(out)["redirection"] == ("redirection-to-https", 0)
    assert out["observatory"][0]["score"] == 160
    assert out["observatory"][0]["final_url"] == site.url("https", direct=True)


def test_targets() -> None:
    """Host names start at the default ports; a port without a scheme is refused."""
    h = HttpHeaders(http_port=8080)
    assert h.starts("Example.COM") == ("example.com", "http://example.com:8080/", "https://example.com/")
    assert h.starts("https://example.com:8443/x") == (
        "example.com",
        "http://example.com:8080/x",
        "https://example.com:8443/x",
    )
    with pytest.raises(ValueError, match="needs a scheme"):
        h.starts("example.com:8443")
    with pytest.raises(ValueError, match="needs a target"):
        h.starts(None)


@pytest.mark.parametrize(
    ("modifiers", "expected"),
    [
        ([-10, 10, 10], 110),  # uncurved 90: extra credit counts
        ([-10, -5, 10], 85),  # uncurved 85: no extra credit
        ([-50, -50, -25], 0),  # floor
        ([], 100),
    ],
)
def test_score_extra_credit_rule(modifiers: list[int], expected: int) -> None:
    """Extra credit only when 100 + the negatives is at least 90; the score never goes below 0."""
    assert score(modifiers) == expected


@pytest.mark.parametrize(
    ("value", "grade"),
    [
        (160, "A+"),
        (100, "A+"),
        (99, "A"),
        (90, "A"),
        (89, "A-"),
        (65, "B-"),
        (64, "C+"),
        (45, "C-"),
        (44, "D+"),
        (25, "D-"),
        (24, "F"),
        (0, "F"),
    ],
)
def test_grade_chart(value: int, grade: str) -> None:
    """Grades by the score rounded down to a multiple of 5, capped at 100."""
    assert grade_for(value) == grade


async def test_through_the_runner() -> None:
    """A real runner run yields an ok result whose findings frame has one row per test with modifiers."""
    async with LocalSite(page(("X-Frame-Options", "DENY"))) as site:
        obj = HttpHeaders(ca_bundle=site.ca_bundle, resolve=site.resolve)
        reg = intgkit.IntegrationRegistry(None)
        reg.register(obj)
        res = await intgkit.IntegrationRunner(reg, timeout=5).arun([obj.name], targets=[site.target])
    (result,) = res
    assert result.status == intgkit.Status.OK, result.error
    findings = result.section("findings").rows
    assert len(findings) == 12
    # -25 CSP -20 HSTS -5 XCTO; XFO's +5 is extra credit, given only from 90 up
    assert result.section("observatory").rows[0]["score"] == 50
    frame = res.to_frame("findings")
    assert len(frame) == 12
    xfo = frame[frame["check"] == "x-frame-options"].iloc[0]
    assert (xfo["result_id"], int(xfo["score_modifier"]), xfo["target"]) == (
        "x-frame-options-sameorigin-or-deny",
        5,
        "site.test",
    )


def test_entry_point_object_and_lazy_imports() -> None:
    """The module's `integration` is configured out of the box and importing it does not import aiohttp."""
    integ = http_headers.integration
    assert (integ.name, integ.breaker_per_target, integ.is_configured()) == ("http_headers", True, True)
    assert all(not s.required and not s.is_secret for s in integ.settings)
    code = "import sys, intgkit.integrations.http_headers; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_x_frame_options_deny_is_worth_5_and_lifts_a_95_to_a_plus() -> None:
    """XFO DENY is +5 in the grader table: 100 - 5 (no XCTO) + 5 = 100, A+ (it was 95, A)."""
    headers = [
        ("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'"),
        ("Strict-Transport-Security", "max-age=31536000"),
        ("X-Frame-Options", "DENY"),
    ]
    async with LocalSite(page(*headers)) as site:
        out = await scan(site)
    assert results(out)["x-frame-options"] == ("x-frame-options-sameorigin-or-deny", 5)
    assert results(out)["content-security-policy"] == (
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        0,
    )
    (summary,) = out["observatory"]
    assert (summary["score"], summary["grade"]) == (100, "A+")


async def test_every_finding_has_an_id_severity_and_plain_explanation() -> None:
    """Each row names its result id, a severity and the one-line explanation of that result."""
    async with LocalSite.mediocre() as site:
        out = await scan(site)
    for finding in out["findings"]:
        expected = http_headers.RESULTS[finding["result_id"]]
        assert finding["explanation"] == expected.explanation
        assert finding["severity"] in ("high", "medium", "low", "info")
        assert expected.description in finding["detail"]


def test_ssl_context_is_shared_per_trust_root_file(tmp_path: Any) -> None:
    """One context per CA file and mode, reused across scans; a rewritten file gets a new one."""
    import trustme

    from intgkit.integrations.http_headers._retriever import shared_context

    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    first = shared_context(str(bundle), verify=True)
    assert shared_context(str(bundle), verify=True) is first
    assert shared_context(str(bundle), verify=False) is not first
    trustme.CA().cert_pem.write_to_path(str(bundle))  # another CA: new contents, new context
    assert shared_context(str(bundle), verify=True) is not first


async def test_scans_after_the_ca_file_changes_trust_the_new_ca(tmp_path: Any) -> None:
    """A CA bundle rewritten between scans (same path) is read again, not served from the cache."""
    bundle = tmp_path / "ca.pem"
    async with LocalSite(page(("X-Frame-Options", "DENY"))) as first:
        bundle.write_bytes(Path(first.ca_bundle).read_bytes())
        out = await HttpHeaders(ca_bundle=str(bundle), resolve=first.resolve).fetch(first.target)
        assert results(out)["strict-transport-security"] == ("hsts-not-implemented", -20)
    async with LocalSite(page(("X-Frame-Options", "DENY"))) as second:
        bundle.write_bytes(Path(second.ca_bundle).read_bytes())
        out = await HttpHeaders(ca_bundle=str(bundle), resolve=second.resolve).fetch(second.target)
        # with the first CA's context the certificate would fail: invalid-cert, not missing
        assert results(out)["strict-transport-security"] == ("hsts-not-implemented", -20)


@pytest.mark.parametrize(
    ("host", "domain"),
    [
        ("shop.example.co.uk", "example.co.uk"),  # a two-label public suffix
        ("www.mozilla.org", "mozilla.org"),
        ("foo.github.io", "github.io"),  # ICANN section only, as tldts's parse() by default
        ("cdn.other.test", "other.test"),  # an unknown TLD counts as a public suffix
        ("WWW.Site.Test.", "site.test"),
        ("localhost", None),  # a single label has no registrable domain
        ("192.0.2.1", None),  # nor has an address
        ("[::1]", None),
        (None, None),
    ],
)
def test_registrable_domain(host: str | None, domain: str | None) -> None:
    """Registrable domains by the Public Suffix List's ICANN section, offline."""
    from intgkit.integrations.http_headers._domains import registrable_domain

    assert registrable_domain(host) == domain


@pytest.mark.parametrize(
    ("attribute", "reflected"),
    [
        ("HTTPS://CDN.Other.Test/X.js", "https://cdn.other.test/X.js"),  # scheme and host lower-cased
        ("https:cdn.other.test/x.js", "https://cdn.other.test/x.js"),  # a special scheme gets its //
        ("https://cdn.other.test", "https://cdn.other.test/"),  # an empty path serialises as /
        ("  https://cdn.other.test/x.js ", "https://cdn.other.test/x.js"),  # outer spaces stripped
        ("//cdn.other.test/x.js", "//cdn.other.test/x.js"),  # relative: kept as written
        ("/static/app.js", "/static/app.js"),
        ("data:text/javascript,1", "data:text/javascript,1"),
    ],
)
def test_script_src_is_reflected_as_jsdom_does(attribute: str, reflected: str) -> None:
    """script.src without a document URL: absolute URLs serialised by the URL standard, others as written."""
    from intgkit.integrations.http_headers._sri import script_src

    assert script_src(attribute) == reflected


async def test_sri_upper_case_external_url_is_external_and_secure() -> None:
    """An upper-case HTTPS URL on another domain is external and secure: -5 without SRI."""
    body = '<script src="HTTPS://CDN.OTHER.TEST/x.js"></script>'
    async with LocalSite(page(body=body)) as site:
        out = await scan(site)
    assert results(out)["subresource-integrity"] == (
        "sri-not-implemented-but-external-scripts-loaded-securely",
        -5,
    )


LONG_PAGE = (
    "<!doctype html><title>long</title>"
    + "<p>filler text</p>" * 40000  # 720 kB: arrives in many reads
    + '<script src="https://cdn.other.test/lib.js"></script>'
)


async def test_a_long_page_is_read_to_its_end() -> None:
    """The script at the end of a 720 kB page counts: an external script without SRI is -5."""
    async with LocalSite(page(body=LONG_PAGE)) as site:
        out = await scan(site)
    assert results(out)["subresource-integrity"] == (
        "sri-not-implemented-but-external-scripts-loaded-securely",
        -5,
    )


async def test_max_body_cuts_the_page() -> None:
    """Past max_body nothing is read: the script at the end is not seen."""
    async with LocalSite(page(body=LONG_PAGE)) as site:
        integ = HttpHeaders(ca_bundle=site.ca_bundle, resolve=site.resolve, max_body=65536)
        r = await integ.retrieve(site.target)
        out = await integ.fetch(site.target)
    assert len(r.page) == 65536
    assert results(out)["subresource-integrity"] == ("sri-not-implemented-but-no-scripts-loaded", 0)

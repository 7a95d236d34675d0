"""The Observatory's grader: each result's score modifier, the score and the grade.

Reference: ``src/grader/charts.js`` (``SCORE_TABLE``, ``GRADE_CHART``,
``MINIMUM_SCORE_FOR_EXTRA_CREDIT``), ``src/grader/grader.js`` and ``src/scanner/index.js`` of
mdn/mdn-http-observatory. The table is data, kept apart from the tests that pick a result, so
one golden test can pin every modifier against the Observatory's own table.
"""

from __future__ import annotations

from collections.abc import Iterable

#: result id -> (score modifier, what it means); modifiers from src/grader/charts.js
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


def modifier(result_id: str) -> int:
    """The score modifier of a result id (``getScoreModifier``)."""
    return RESULTS[result_id][0]


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


def score(modifiers: Iterable[int]) -> int:
    """scanner/index.js: extra credit only when the uncurved score is already an A; floor 0."""
    values = list(modifiers)
    with_credit = 100 + sum(values)
    uncurved = 100 + sum(m for m in values if m < 0)
    return max(with_credit if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else uncurved, 0)

"""The Observatory's grader: each result's score modifier, the score and the grade.

Reference: ``src/grader/charts.js`` (``SCORE_TABLE``, ``GRADE_CHART``,
``MINIMUM_SCORE_FOR_EXTRA_CREDIT``), ``src/grader/grader.js`` and ``src/scanner/index.js`` of
mdn/mdn-http-observatory. The table is data, kept apart from the tests that pick a result, so
one golden test can pin every modifier against the Observatory's own table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Result(NamedTuple):
    """One result id of the score table."""

    #: points added to (or taken from) the score, as the Observatory's grader table says
    modifier: int
    #: what the result means, in the Observatory's terms
    description: str
    #: one plain-language line for a reader who is not a specialist (the findings' explanation)
    explanation: str


#: result id -> Result; modifiers from src/grader/charts.js as of algorithm version 6
#: (tests/data/observatory_score_table.toml pins every one against the reference)
RESULTS: dict[str, Result] = {
    "csp-implemented-with-no-unsafe-default-src-none": Result(
        10,
        "CSP with default-src 'none' and nothing unsafe",
        (
            "The page blocks everything by default and allows only what it names, the strongest defence "
            "against injected scripts."
        ),
    ),
    "csp-implemented-with-no-unsafe": Result(
        5,
        "CSP without 'unsafe-inline', 'unsafe-eval' or broad sources",
        (
            "The page limits where scripts may come from, so an attacker who injects HTML cannot run "
            "their own code."
        ),
    ),
    "csp-implemented-with-unsafe-inline-in-style-src-only": Result(
        0,
        "CSP allows unsafe or broad sources in style-src only",
        "Scripts are locked down; only styles may come from anywhere, which is a small risk.",
    ),
    "csp-implemented-with-insecure-scheme-in-passive-content-only": Result(
        -10,
        "CSP lets an HTTPS site load images or media over HTTP",
        "Images or media may load over unencrypted HTTP, so someone on the network can swap them.",
    ),
    "csp-implemented-but-duplicate-directives": Result(
        0,
        "CSP passes but repeats report-uri/report-to",
        "The policy works, but repeats its reporting settings; tidy it so browsers read it as intended.",
    ),
    "csp-implemented-with-unsafe-eval": Result(
        -10,
        "CSP allows 'unsafe-eval'",
        "The policy lets scripts turn text into code (eval), which attackers use to run injected code.",
    ),
    "csp-implemented-with-unsafe-inline": Result(
        -20,
        (
            "CSP allows 'unsafe-inline' or data: in script-src, broad sources in script-src or "
            "object-src, or leaves them unrestricted"
        ),
        "The policy still lets injected or inline scripts run, so it does not stop cross-site scripting.",
    ),
    "csp-implemented-with-insecure-scheme": Result(
        -20,
        "CSP lets an HTTPS site load active content over HTTP",
        (
            "Scripts or other active content may load over unencrypted HTTP, where anyone on the network "
            "can change them."
        ),
    ),
    "csp-header-invalid": Result(
        -25,
        "CSP cannot be parsed (or uses 'strict-dynamic' without a nonce or hash)",
        (
            "The browser cannot use the Content-Security-Policy as written, so the page gets no "
            "protection from it."
        ),
    ),
    "csp-not-implemented": Result(
        -25,
        "no Content-Security-Policy",
        "No Content-Security-Policy: if an attacker gets HTML into the page, the browser runs their scripts.",
    ),
    "csp-not-implemented-but-reporting-enabled": Result(
        -25,
        "only Content-Security-Policy-Report-Only, nothing enforced",
        "The policy only reports problems and blocks nothing, so the page is not yet protected.",
    ),
    "cookies-secure-with-httponly-sessions-and-samesite": Result(
        5,
        "all cookies Secure, session cookies HttpOnly, all SameSite",
        (
            "Cookies travel only over HTTPS, login cookies are hidden from scripts, and other sites "
            "cannot send them."
        ),
    ),
    "cookies-secure-with-httponly-sessions": Result(
        0,
        "all cookies Secure and session cookies HttpOnly, but not all SameSite",
        (
            "Cookies travel only over HTTPS and login cookies are hidden from scripts; SameSite would "
            "also stop other sites from sending them."
        ),
    ),
    "cookies-not-found": Result(
        0,
        "no cookies set",
        "The site sets no cookies, so there is nothing to steal or misuse here.",
    ),
    "cookies-without-secure-flag-but-protected-by-hsts": Result(
        -5,
        "cookies without Secure, though HSTS keeps them off HTTP",
        (
            "Some cookies lack the Secure flag; HSTS keeps them on HTTPS for returning visitors, but not "
            "on a first visit."
        ),
    ),
    "cookies-session-without-secure-flag-but-protected-by-hsts": Result(
        -10,
        "session cookie without Secure, though HSTS keeps it off HTTP",
        "A login cookie lacks the Secure flag; HSTS mostly keeps it on HTTPS, but a first visit can leak it.",
    ),
    "cookies-without-secure-flag": Result(
        -20,
        "cookies without Secure",
        "Cookies can be sent over unencrypted HTTP, where anyone on the network can read them.",
    ),
    "cookies-samesite-flag-invalid": Result(
        -20,
        "SameSite not Strict, Lax or None (or None without Secure)",
        (
            "A cookie's SameSite setting is wrong (or None without Secure), so browsers may reject it or "
            "send it to other sites."
        ),
    ),
    "cookies-anticsrf-without-samesite-flag": Result(
        -20,
        "anti-CSRF cookie without SameSite",
        "The anti-forgery cookie can be sent by other sites, weakening protection against forged requests.",
    ),
    "cookies-session-without-httponly-flag": Result(
        -30,
        "session cookie without HttpOnly",
        "Scripts on the page can read the login cookie, so one injected script can steal a user's session.",
    ),
    "cookies-session-without-secure-flag": Result(
        -40,
        "session cookie without Secure",
        (
            "The login cookie can travel over unencrypted HTTP, where anyone on the network can take "
            "over the session."
        ),
    ),
    "cross-origin-resource-sharing-not-implemented": Result(
        0,
        "content not shared cross-origin",
        "Other websites cannot read this site's pages through the browser.",
    ),
    "cross-origin-resource-sharing-implemented-with-public-access": Result(
        0,
        "public content shared with Access-Control-Allow-Origin: *",
        "Any website may read this content, but without the visitor's cookies; fine for public data.",
    ),
    "cross-origin-resource-sharing-implemented-with-restricted-access": Result(
        0,
        "content shared cross-origin with specific origins",
        "Only the websites the site names may read its content through the browser.",
    ),
    "cross-origin-resource-sharing-implemented-with-universal-access": Result(
        -50,
        "any origin may read content with credentials",
        "Any website can read this site's pages with the visitor's cookies, exposing their private data.",
    ),
    "redirection-all-redirects-preloaded": Result(
        0,
        "every host redirected through is HSTS-preloaded",
        "Every host on the way is on the browsers' built-in HTTPS-only list, so no request goes over HTTP.",
    ),
    "redirection-to-https": Result(
        0,
        "HTTP redirects to HTTPS on the same host first, and ends on HTTPS",
        "Visitors who type the plain http:// address are sent straight to the secure https:// site.",
    ),
    "redirection-not-needed-no-http": Result(
        0,
        "no HTTP server, so no redirection is needed",
        "The site does not answer on plain HTTP at all, so there is nothing to redirect.",
    ),
    "redirection-off-host-from-http": Result(
        -5,
        "HTTP first redirects to HTTPS on another host, so HSTS is never set",
        "HTTP first redirects to HTTPS on another host, so this host's HSTS setting is never learned.",
    ),
    "redirection-not-to-https-on-initial-redirection": Result(
        -10,
        "HTTP first redirects to another HTTP URL",
        (
            "The first redirect goes to another unencrypted address, which an attacker on the network "
            "can intercept."
        ),
    ),
    "redirection-not-to-https": Result(
        -20,
        "HTTP redirects, but not to HTTPS in the end",
        "Visitors to the http:// address are redirected, but never end up on encrypted HTTPS.",
    ),
    "redirection-missing": Result(
        -20,
        "HTTP does not redirect to HTTPS",
        "Visitors who type the http:// address stay on the unencrypted site instead of being sent to HTTPS.",
    ),
    "redirection-invalid-cert": Result(
        -20,
        "invalid certificate in the redirect chain",
        "A certificate on the way to the site is not valid, so browsers warn or refuse to connect.",
    ),
    "referrer-policy-private": Result(
        5,
        "Referrer-Policy no-referrer, same-origin, strict-origin or strict-origin-when-cross-origin",
        (
            "When visitors follow a link away, other sites do not see the full address of the page they "
            "came from."
        ),
    ),
    "referrer-policy-not-implemented": Result(
        0,
        "no Referrer-Policy (browsers default to strict-origin-when-cross-origin)",
        "No Referrer-Policy; modern browsers' default already hides most of the address from other sites.",
    ),
    "referrer-policy-unsafe": Result(
        -5,
        "Referrer-Policy origin, origin-when-cross-origin, unsafe-url or no-referrer-when-downgrade",
        (
            "The full page address, which may hold private details, is sent to other sites when visitors "
            "follow links."
        ),
    ),
    "referrer-policy-header-invalid": Result(
        -5,
        "Referrer-Policy not recognised",
        "Browsers cannot understand the Referrer-Policy, so they ignore it.",
    ),
    "hsts-preloaded": Result(
        5,
        "HSTS-preloaded",
        "Browsers ship with this site on their HTTPS-only list, so even the first visit is encrypted.",
    ),
    "hsts-implemented-max-age-at-least-six-months": Result(
        0,
        "HSTS max-age of at least six months (15552000)",
        "Browsers remember to use only HTTPS for this site for at least six months.",
    ),
    "hsts-implemented-max-age-less-than-six-months": Result(
        -10,
        "HSTS max-age below six months",
        "Browsers remember to use HTTPS for less than six months, leaving gaps for downgrade attacks.",
    ),
    "hsts-not-implemented": Result(
        -20,
        "no Strict-Transport-Security",
        "Browsers are not told to always use HTTPS, so an attacker can downgrade a visit to plain HTTP.",
    ),
    "hsts-header-invalid": Result(
        -20,
        "Strict-Transport-Security not recognised (no max-age, or sent twice)",
        (
            "Browsers cannot understand the Strict-Transport-Security header (or it is sent twice), so "
            "they ignore it."
        ),
    ),
    "hsts-not-implemented-no-https": Result(
        -20,
        "no HTTPS, so no HSTS",
        "The site has no HTTPS, so browsers cannot be told to always use it.",
    ),
    "hsts-invalid-cert": Result(
        -20,
        "invalid certificate, so HSTS does not apply",
        "The certificate is not valid, so browsers ignore the HTTPS-only instruction.",
    ),
    "sri-implemented-and-all-scripts-loaded-securely": Result(
        5,
        "SRI on same-origin scripts, all loaded securely",
        "Scripts come from the site itself over HTTPS and carry integrity checks.",
    ),
    "sri-implemented-and-external-scripts-loaded-securely": Result(
        5,
        "SRI on external scripts, loaded over HTTPS",
        "Scripts from other sites load over HTTPS with integrity checks, so a hacked CDN cannot change them.",
    ),
    "sri-not-implemented-response-not-html": Result(
        0,
        "not HTML, so SRI does not apply",
        "The response is not a web page, so script integrity does not apply.",
    ),
    "sri-not-implemented-but-no-scripts-loaded": Result(
        0,
        "no script tags",
        "The page loads no scripts, so script integrity does not apply.",
    ),
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": Result(
        0,
        "no SRI, but all scripts are same-origin",
        "All scripts come from the site's own domain, so integrity checks are optional.",
    ),
    "sri-not-implemented-but-external-scripts-loaded-securely": Result(
        -5,
        "external scripts over HTTPS without SRI",
        (
            "Scripts from other sites have no integrity check, so if that site is hacked, this one runs "
            "the attacker's code."
        ),
    ),
    "sri-implemented-but-external-scripts-not-loaded-securely": Result(
        -20,
        "SRI, but external scripts over HTTP or protocol-relative",
        (
            "Scripts from other sites load over HTTP or a protocol-relative address (//), which an "
            "attacker can tamper with."
        ),
    ),
    "sri-not-implemented-and-external-scripts-not-loaded-securely": Result(
        -50,
        "external scripts over HTTP or protocol-relative, without SRI",
        (
            "Scripts from other sites load over HTTP or // without integrity checks, so anyone on the "
            "network can replace them."
        ),
    ),
    "html-not-parseable": Result(
        -20,
        "claims to be HTML but cannot be parsed",
        "The page says it is HTML but cannot be read as HTML, so its scripts could not be checked.",
    ),
    "x-content-type-options-nosniff": Result(
        0,
        "X-Content-Type-Options: nosniff",
        "Browsers will not guess file types, so an uploaded file cannot be run as a script.",
    ),
    "x-content-type-options-not-implemented": Result(
        -5,
        "no X-Content-Type-Options",
        "Browsers may guess file types, which can turn an uploaded file into a script.",
    ),
    "x-content-type-options-header-invalid": Result(
        -5,
        "X-Content-Type-Options not recognised",
        "Browsers cannot understand X-Content-Type-Options (only nosniff, sent once, works).",
    ),
    "x-frame-options-implemented-via-csp": Result(
        5,
        "framing restricted by CSP frame-ancestors",
        "Other sites cannot show this page inside a frame, which blocks clickjacking.",
    ),
    "x-frame-options-sameorigin-or-deny": Result(
        5,
        "X-Frame-Options DENY or SAMEORIGIN",
        "Other sites cannot show this page inside a frame, which blocks clickjacking.",
    ),
    "x-frame-options-allow-from-origin": Result(
        0,
        "X-Frame-Options ALLOW-FROM",
        "ALLOW-FROM is ignored by modern browsers, so framing is not really restricted.",
    ),
    "x-frame-options-not-implemented": Result(
        -20,
        "no X-Frame-Options nor CSP frame-ancestors",
        "Any site can show this page inside a frame and trick visitors into clicking things (clickjacking).",
    ),
    "x-frame-options-header-invalid": Result(
        -20,
        "X-Frame-Options not recognised",
        "Browsers cannot understand X-Frame-Options (or it is sent twice), so framing is not restricted.",
    ),
    "corp-implemented-with-same-origin": Result(
        10,
        "Cross-Origin-Resource-Policy same-origin",
        "Only this site may load its resources, so other sites cannot pull them into their pages.",
    ),
    "corp-implemented-with-same-site": Result(
        10,
        "Cross-Origin-Resource-Policy same-site",
        "Only this site and its sibling subdomains may load its resources.",
    ),
    "corp-implemented-with-cross-origin": Result(
        0,
        "Cross-Origin-Resource-Policy cross-origin",
        "Any site may load these resources; fine for public files such as images on a CDN.",
    ),
    "corp-not-implemented": Result(
        0,
        "no Cross-Origin-Resource-Policy (defaults to cross-origin)",
        "No Cross-Origin-Resource-Policy; any site may load these resources, the browsers' default.",
    ),
    "corp-header-invalid": Result(
        -5,
        "Cross-Origin-Resource-Policy not recognised",
        "Browsers cannot understand the Cross-Origin-Resource-Policy, so they ignore it.",
    ),
    "coop-implemented-with-same-origin": Result(
        10,
        "Cross-Origin-Opener-Policy same-origin",
        "Pages from other sites opened with this one cannot reach into it, which blocks several data leaks.",
    ),
    "coop-implemented-with-same-origin-allow-popups": Result(
        10,
        "Cross-Origin-Opener-Policy same-origin-allow-popups",
        "Other sites cannot reach into this page, while its own pop-ups (e.g. sign-in) still work.",
    ),
    "coop-implemented-with-noopener-allow-popups": Result(
        10,
        "Cross-Origin-Opener-Policy noopener-allow-popups",
        "This page is cut off from whoever opened it, even pages of its own site.",
    ),
    "coop-implemented-with-unsafe-none": Result(
        0,
        "Cross-Origin-Opener-Policy unsafe-none",
        "Windows from other sites may keep a handle on this page, the browsers' default.",
    ),
    "coop-not-implemented": Result(
        0,
        "no Cross-Origin-Opener-Policy",
        (
            "No Cross-Origin-Opener-Policy; windows from other sites may keep a handle on this page (the "
            "default)."
        ),
    ),
    "coop-header-invalid": Result(
        -5,
        "Cross-Origin-Opener-Policy not recognised (or sent twice)",
        "Browsers cannot understand the Cross-Origin-Opener-Policy (or it is sent twice), so they ignore it.",
    ),
    "coep-implemented-with-require-corp": Result(
        10,
        "Cross-Origin-Embedder-Policy require-corp",
        "The page loads only resources that allow it, which isolates it from other sites' data.",
    ),
    "coep-implemented-with-credentialless": Result(
        10,
        "Cross-Origin-Embedder-Policy credentialless",
        "Resources from other sites load without the visitor's cookies, which isolates the page.",
    ),
    "coep-implemented-with-unsafe-none": Result(
        0,
        "Cross-Origin-Embedder-Policy unsafe-none",
        "The page may load any resource from other sites, the browsers' default.",
    ),
    "coep-not-implemented": Result(
        0,
        "no Cross-Origin-Embedder-Policy",
        "No Cross-Origin-Embedder-Policy; the page may load any resource from other sites (the default).",
    ),
    "coep-header-invalid": Result(
        -5,
        "Cross-Origin-Embedder-Policy not recognised (or sent twice)",
        (
            "Browsers cannot understand the Cross-Origin-Embedder-Policy (or it is sent twice), so they "
            "ignore it."
        ),
    ),
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

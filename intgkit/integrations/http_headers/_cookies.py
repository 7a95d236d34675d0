"""The cookies test (``src/analyzer/tests/cookies.js``).

Cookies come from the jar of the session that produced the judged response; a name containing
``login`` or ``sess`` marks a session cookie, ``csrf`` an anti-CSRF one; the worst verdict wins.
"""

from __future__ import annotations

from ._cookie_parser import invalid_samesite
from ._outcome import Outcome, worse
from ._retriever import Retrieval

_COOKIE_ORDER = (
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
)


def cookies_test(r: Retrieval, hsts: Outcome) -> Outcome:
    """cookies: Secure, HttpOnly (session ids), SameSite (anti-CSRF); the worst result wins."""
    name = "cookies"
    result: str | None = None
    if r.auto is not None and any(invalid_samesite(line) for line in r.auto.set_cookies()):
        result = worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
    cookies = [c for c in r.session.jar.values() if c.name and c.name != "heroku-session-affinity"]
    if not cookies:
        return Outcome(name, "cookies-not-found", True)
    missing_samesite = False
    for c in cookies:
        key = c.name.lower()
        session_id = "login" in key or "sess" in key
        if not c.secure and c.samesite == "none":
            result = worse("cookies-samesite-flag-invalid", result, _COOKIE_ORDER)
        if not c.secure:
            rid = (
                "cookies-without-secure-flag-but-protected-by-hsts"
                if hsts.passed
                else "cookies-without-secure-flag"
            )
            result = worse(rid, result, _COOKIE_ORDER)
        if "csrf" in key and not c.samesite:
            result = worse("cookies-anticsrf-without-samesite-flag", result, _COOKIE_ORDER)
        if session_id and not c.secure:
            rid = (
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts.passed
                else "cookies-session-without-secure-flag"
            )
            result = worse(rid, result, _COOKIE_ORDER)
        if session_id and not c.httponly:
            result = worse("cookies-session-without-httponly-flag", result, _COOKIE_ORDER)
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

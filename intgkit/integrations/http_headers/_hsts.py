"""The strict-transport-security test (``src/analyzer/tests/strict-transport-security.js``).

HSTS counts only from a verified HTTPS response: over HTTP, or behind a certificate the browser
rejects, the header is ignored by browsers, and so by the Observatory.
"""

from __future__ import annotations

import math

from ._headers import parse_int
from ._outcome import Outcome
from ._preload import preloaded
from ._retriever import Retrieval

MAX_VALUE = 1024


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
                    max_age = parse_int(parameter[8:128])
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
    if resp is not None and preloaded(r.host, r.preload):
        result = "hsts-preloaded"
    passed = result in ("hsts-implemented-max-age-at-least-six-months", "hsts-preloaded")
    return Outcome(name, result, passed, observed, note)

"""The referrer-policy test (``src/analyzer/tests/referrer-policy.js``).

Header and ``<meta name="referrer">`` values are read together; the last valid token wins,
as browsers apply it.
"""

from __future__ import annotations

from ._outcome import Outcome
from ._retriever import Retrieval

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

"""The CORP, COOP and COEP tests (``src/analyzer/tests/cross-origin-*.js``).

COOP and COEP are RFC 8941 structured-field tokens: repeated headers are joined (as Node joins
them), which is no longer one token, hence invalid.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._headers import sf_token
from ._outcome import Outcome
from ._retriever import Retrieval

MAX_VALUE = 1024


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


def coop_test(r: Retrieval) -> Outcome:
    """cross-origin-opener-policy."""
    return _policy_test(
        r,
        "cross-origin-opener-policy",
        "cross-origin-opener-policy",
        "coop",
        ("same-origin", "same-origin-allow-popups", "noopener-allow-popups", "unsafe-none"),
    )


def coep_test(r: Retrieval) -> Outcome:
    """cross-origin-embedder-policy."""
    return _policy_test(
        r,
        "cross-origin-embedder-policy",
        "cross-origin-embedder-policy",
        "coep",
        ("require-corp", "credentialless", "unsafe-none"),
    )

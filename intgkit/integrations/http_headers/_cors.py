"""The cross-origin-resource-sharing test (``src/analyzer/tests/cors.js``).

Read from the OPTIONS probe sent with the Observatory's Origin. The real Observatory cannot see
the Origin it sent on a real response, so a reflected Origin with credentials scores as
restricted access there; ``strict=True`` applies the rule as intended (universal access, -50).
"""

from __future__ import annotations

from ._outcome import Outcome
from ._retriever import CORS_ORIGIN, Retrieval


def cors_test(r: Retrieval, *, strict: bool) -> Outcome:
    """cross-origin-resource-sharing, from the OPTIONS request sent with our Origin."""
    name = "cross-origin-resource-sharing"
    resp = r.cors
    acao = resp.header("access-control-allow-origin") if resp is not None else None
    if not acao:
        return Outcome(name, "cross-origin-resource-sharing-not-implemented", True)
    acac = resp.header("access-control-allow-credentials") if resp is not None else None
    observed = {"access-control-allow-origin": acao[:256], "access-control-allow-credentials": acac}
    data = acao[:256].strip().lower()
    reflected = acao == CORS_ORIGIN and (acac or "").lower().strip() == "true"
    if data == "*":
        return Outcome(name, "cross-origin-resource-sharing-implemented-with-public-access", True, observed)
    if reflected and strict:
        return Outcome(
            name, "cross-origin-resource-sharing-implemented-with-universal-access", False, observed
        )
    note = (
        "the Origin we sent is reflected with credentials allowed: the real Observatory scores this "
        "as restricted access because its test cannot see the Origin it sent; strict_cors=True "
        "scores it as universal access (-50)"
        if reflected
        else ""
    )
    return Outcome(
        name, "cross-origin-resource-sharing-implemented-with-restricted-access", True, observed, note
    )

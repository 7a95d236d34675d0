"""The x-content-type-options test (``src/analyzer/tests/x-content-type-options.js``)."""

from __future__ import annotations

from ._outcome import Outcome
from ._retriever import Retrieval


def xcto_test(r: Retrieval) -> Outcome:
    """x-content-type-options: exactly nosniff (repeats are joined, hence invalid)."""
    name = "x-content-type-options"
    value = r.auto.header("x-content-type-options") if r.auto is not None else None
    if not value:
        return Outcome(name, "x-content-type-options-not-implemented", False)
    data = value[:256]
    ok = data.strip().lower() == "nosniff"
    rid = "x-content-type-options-nosniff" if ok else "x-content-type-options-header-invalid"
    return Outcome(name, rid, ok, data)

"""The x-frame-options test (``src/analyzer/tests/x-frame-options.js``).

As in the Observatory, ``frame-ancestors`` in the parsed policy of header *and* meta counts,
although browsers ignore it in ``<meta>`` and the CSP test's own summary takes it from the
header only.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._outcome import Outcome
from ._retriever import Retrieval

MAX_VALUE = 1024


def xfo_test(r: Retrieval, csp_data: Mapping[str, list[str]] | None) -> Outcome:
    """x-frame-options, superseded by CSP frame-ancestors."""
    name = "x-frame-options"
    value = r.auto.header("x-frame-options") if r.auto is not None else None
    if r.auto is None:
        return Outcome(name, "x-frame-options-not-implemented", False)
    data = value[:MAX_VALUE] if value else None
    if data:
        xfo = data.strip().lower()
        if xfo in ("deny", "sameorigin"):
            result = "x-frame-options-sameorigin-or-deny"
        elif xfo.startswith("allow-from"):
            result = "x-frame-options-allow-from-origin"
        else:
            result = "x-frame-options-header-invalid"
    else:
        result = "x-frame-options-not-implemented"
    note = ""
    if csp_data and csp_data.get("frame-ancestors"):
        result = "x-frame-options-implemented-via-csp"
        note = "frame-ancestors " + " ".join(csp_data["frame-ancestors"])
    passed = result in (
        "x-frame-options-allow-from-origin",
        "x-frame-options-sameorigin-or-deny",
        "x-frame-options-implemented-via-csp",
    )
    return Outcome(name, result, passed, data, note)

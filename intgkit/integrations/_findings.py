"""The one shape every built-in integration uses for its ``findings`` section.

A finding is one check against one target: what was checked, whether it passed, how much it
matters (critical, high, medium, low, info), what was observed and what was expected. Values
are text (or None) so the column dtypes of a findings frame are the same for all integrations.
"""

from __future__ import annotations

import json
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
FINDING_COLUMNS = (
    "integration",
    "target",
    "check",
    "result_id",
    "passed",
    "severity",
    "observed",
    "expected",
    "detail",
)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def finding(
    integration: str,
    target: str | None,
    *,
    check: str,
    result_id: str,
    passed: bool,
    severity: str,
    observed: Any = None,
    expected: Any = None,
    detail: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One findings row; ``extra`` keys (e.g. ``score_modifier``) follow the common columns."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
    row: dict[str, Any] = {
        "integration": integration,
        "target": target,
        "check": check,
        "result_id": result_id,
        "passed": bool(passed),
        "severity": severity,
        "observed": _text(observed),
        "expected": _text(expected),
        "detail": detail,
    }
    row.update(extra)
    return row

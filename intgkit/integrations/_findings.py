"""The one shape every built-in integration uses for its ``findings`` section.

A finding is one check against one target: what was checked, whether it passed, how much it
matters (critical, high, medium, low, info), what was observed and what was expected. Values
are text (or None) so the column dtypes of a findings frame are the same for all integrations.
"""

from __future__ import annotations

import json
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low", "info")
#: Longest outside text kept in a row, as the MDN HTTP Observatory clips its data.
MAX_CELL = 1024
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
    "explanation",
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
    explanation: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One findings row; ``extra`` keys (e.g. ``score_modifier``) follow the common columns.

    ``detail`` says what was seen on this target; ``explanation`` is one plain-language line
    on why the check matters, for a reader who is not a specialist (the same for every target).
    """
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
        "explanation": explanation,
    }
    row.update(extra)
    return row


def clip(text: str | None, limit: int = MAX_CELL) -> str | None:
    """Outside text cut to ``limit`` characters (an ellipsis marks the cut); None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


class Findings:
    """Collects one target's findings rows, with the observed value and detail clipped.

    Args:
        integration: the integration's name, repeated in every row.
        target: the target the findings are about.
        columns: extra columns with the same value in every row (e.g. ``zone=``).
    """

    def __init__(self, integration: str, target: str | None, **columns: Any) -> None:
        self.integration = integration
        self.target = target
        self.columns = columns
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        check: str,
        result_id: str,
        passed: bool,
        severity: str,
        observed: Any = None,
        expected: Any = None,
        detail: str = "",
        explanation: str = "",
    ) -> None:
        """Append one finding (see :func:`finding` for the columns)."""
        self.rows.append(
            finding(
                self.integration,
                self.target,
                check=check,
                result_id=result_id,
                passed=passed,
                severity=severity,
                observed=clip(_text(observed)),
                expected=expected,
                detail=clip(detail) or "",
                explanation=explanation,
                **self.columns,
            )
        )

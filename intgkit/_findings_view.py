"""Failed checks in the order an analyst reads them: most severe first, grouped, per target.

The CLI's findings table, the HTML report and the panel's findings view all show the same
thing, so the choosing, ordering and counting live here once. Frames in, frames out: no
terminal or HTML code, which keeps each face free to render as it likes.

A *findings* frame is the ``findings`` section of a run (the built-in integrations' shape, see
:mod:`intgkit.integrations._findings`): one row per check with ``passed`` and ``severity``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._errors import UsageError
from .integrations._findings import SEVERITIES

if TYPE_CHECKING:
    import pandas as pd

    from ._models import IntegrationResult

__all__ = [
    "FINDINGS",
    "SEVERITIES",
    "by_severity",
    "check_severity",
    "failed_findings",
    "findings_frame",
    "severities_at_least",
    "target_summary",
]

#: The section the built-in integrations report their checks in.
FINDINGS = "findings"
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def check_severity(value: object, what: str = "severity") -> str:
    """``value`` as a severity name; UsageError naming the valid ones otherwise."""
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in _RANK:
        raise UsageError(f"{what} must be one of {', '.join(SEVERITIES)}; got {value!r}")
    return str(text)


def severities_at_least(severity: str | None) -> tuple[str, ...]:
    """The severities as bad as ``severity`` or worse (all of them for None)."""
    if severity is None:
        return SEVERITIES
    return SEVERITIES[: _RANK[check_severity(severity)] + 1]


def findings_frame(results: Iterable[IntegrationResult]) -> pd.DataFrame | None:
    """The run's ``findings`` section as one frame, or None when no result has one."""
    from . import frames

    items = list(results)
    if not any(s.name == FINDINGS for r in items for s in r.sections):
        return None
    return frames.section_frame(items, FINDINGS)


def failed_findings(findings: pd.DataFrame, *, min_severity: str | None = None) -> pd.DataFrame:
    """The failed checks, most severe first, then by integration, target and check.

    Args:
        findings: a findings frame (needs ``passed`` and ``severity`` columns).
        min_severity: keep only this severity and worse (``"high"``: critical and high).

    A ``passed`` cell that is missing counts as not failed: a check that could not decide is
    not reported as a failure. Severities outside the known five sort last.
    """
    missing = [c for c in ("passed", "severity") if c not in findings.columns]
    if missing:
        raise UsageError(f"a findings frame needs the columns passed and severity; missing {missing}")
    import pandas as pd

    passed = findings["passed"].astype("boolean")
    failed = findings[passed.eq(False).fillna(False).to_numpy(dtype=bool)]
    keep = severities_at_least(min_severity)
    if min_severity is not None:
        failed = failed[failed["severity"].astype("string").isin(keep).fillna(False).to_numpy(dtype=bool)]
    rank = pd.Series(
        [
            _RANK.get(s, len(SEVERITIES)) if isinstance(s, str) else len(SEVERITIES)
            for s in failed["severity"]
        ],
        index=failed.index,
        dtype="int64",
    )
    keys = [c for c in ("integration", "target", "check") if c in failed.columns]
    ordered = failed.assign(_rank=rank).sort_values(["_rank", *keys], kind="stable", na_position="last")
    return ordered.drop(columns="_rank").reset_index(drop=True)


def by_severity(failed: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """``[(severity, rows), ...]`` in severity order, only the severities that have rows."""
    groups: list[tuple[str, pd.DataFrame]] = []
    severity = failed["severity"].astype("string")
    for name in SEVERITIES:
        rows = failed[severity.eq(name).fillna(False).to_numpy(dtype=bool)]
        if len(rows):
            groups.append((name, rows.reset_index(drop=True)))
    other = failed[~severity.isin(SEVERITIES).fillna(False).to_numpy(dtype=bool)]
    if len(other):
        groups.append(("other", other.reset_index(drop=True)))
    return groups


def target_summary(results: Iterable[IntegrationResult], findings: pd.DataFrame | None) -> pd.DataFrame:
    """One row per target: its grade (when a section reports one), checks run and failed, and the
    failed checks counted by severity.

    The grade is the first non-empty ``grade`` cell of any section row for the target (the HTTP
    Observatory's letter for the built-in ``http_headers``); ``"-"`` when there is none.
    """
    import pandas as pd

    items = list(results)
    targets: dict[str, None] = {}
    grades: dict[str, str] = {}
    for r in items:
        key = "" if r.target is None else r.target
        targets.setdefault(key, None)
        for s in r.sections:
            for grade in _grades(s.rows):
                if grade and key not in grades:
                    grades[key] = grade
    rows: list[dict[str, Any]] = []
    for target in targets:
        row: dict[str, Any] = {"target": target, "grade": grades.get(target, "-")}
        if findings is not None and "target" in findings.columns:
            mine = findings[findings["target"].astype("string").fillna("").eq(target).to_numpy(dtype=bool)]
            failed = failed_findings(mine)
            row["checks"] = len(mine)
            row["failed"] = len(failed)
            counts = failed["severity"].value_counts()
            for name in SEVERITIES:
                row[name] = int(counts.get(name, 0))
        else:
            row["checks"] = row["failed"] = 0
            row.update(dict.fromkeys(SEVERITIES, 0))
        rows.append(row)
    columns = ["target", "grade", "checks", "failed", *SEVERITIES]
    return pd.DataFrame(rows, columns=columns)


def _grades(rows: Any) -> list[str]:
    if hasattr(rows, "columns"):
        if "grade" not in rows.columns:
            return []
        return [g for g in rows["grade"].tolist() if isinstance(g, str)]
    return [g for row in rows if isinstance(g := row.get("grade"), str)]

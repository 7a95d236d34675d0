"""The findings view: the failed checks of the run, grouped by severity, most severe first.

Built-in integrations (and any integration using the same shape) put their checks in a
``findings`` section; this view reads that section's frame, keeps the checks that did not pass
at or above the chosen severity, and shows each group with the checks' plain-language
explanations. Everything from outside is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._errors import UnknownSectionError
from ..integrations._findings import SEVERITIES
from ._status_view import cut
from ._style import PANEL_CSS

if TYPE_CHECKING:
    from .._models import IntegrationResults

__all__ = ["FINDINGS", "SEVERITY_CHOICES", "findings_html"]

FINDINGS = "findings"
#: The severity filter's choices: a finding is shown when it is at least this severe.
SEVERITY_CHOICES = SEVERITIES
_COLUMNS = (("target", 40), ("integration", 24), ("check", 40), ("observed", 50), ("explanation", 90))


def findings_html(results: IntegrationResults | None, min_severity: str) -> str:
    """The failed findings at or above ``min_severity``, grouped by severity, as HTML."""
    if min_severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {min_severity!r}")
    if results is None:
        return PANEL_CSS + "<p class='intgkit-muted'>No run yet: the findings appear here after a run.</p>"
    try:
        frame = results.to_frame(FINDINGS)
    except UnknownSectionError:
        return PANEL_CSS + "<p class='intgkit-muted'>This run produced no findings section.</p>"
    wanted = SEVERITIES[: SEVERITIES.index(min_severity) + 1]
    failed = frame[(frame["passed"] == False) & frame["severity"].isin(wanted)]  # noqa: E712 - NA-aware
    if failed.empty:
        return (
            PANEL_CSS + f"<p class='intgkit-muted'>No failed check at severity {escape(min_severity)} "
            "or above.</p>"
        )
    parts = [PANEL_CSS]
    for severity in wanted:
        group = failed[failed["severity"] == severity]
        if group.empty:
            continue
        head = "".join(f"<th>{name}</th>" for name, _ in _COLUMNS)
        rows = "".join(
            "<tr>" + "".join(_cell(row.get(name), limit) for name, limit in _COLUMNS) + "</tr>"
            for row in group.to_dict("records")
        )
        parts.append(
            f"<details class='intgkit-group' open><summary>{escape(severity)} ({len(group)})</summary>"
            f"<div class='intgkit-scroll'><table class='intgkit-table intgkit-findings-table'>"
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></details>"
        )
    return "".join(parts)


def _cell(value: Any, limit: int) -> str:
    text = "" if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else str(value)
    return f"<td class='cut' title='{escape(text, quote=True)}'>{escape(cut(text, limit))}</td>"

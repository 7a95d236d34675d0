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

from .._findings_view import SEVERITIES, by_severity, check_severity, failed_findings, findings_frame
from ._status_view import cut
from ._style import PANEL_CSS

if TYPE_CHECKING:
    from .._results import IntegrationResults

__all__ = ["SEVERITY_CHOICES", "findings_html"]

#: The severity filter's choices: a finding is shown when it is at least this severe.
SEVERITY_CHOICES = SEVERITIES
_COLUMNS = (("target", 40), ("integration", 24), ("check", 40), ("observed", 50), ("explanation", 90))


def findings_html(results: IntegrationResults | None, min_severity: str) -> str:
    """The failed findings at or above ``min_severity``, grouped by severity, as HTML.

    The choosing, ordering and grouping are the CLI's and the report's too
    (:mod:`intgkit._findings_view`); only the rendering is the panel's.
    """
    min_severity = check_severity(min_severity)
    if results is None:
        return PANEL_CSS + "<p class='intgkit-muted'>No run yet: the findings appear here after a run.</p>"
    frame = findings_frame(results)
    if frame is None:
        return PANEL_CSS + "<p class='intgkit-muted'>This run produced no findings section.</p>"
    groups = by_severity(failed_findings(frame, min_severity=min_severity))
    if not groups:
        return (
            PANEL_CSS + f"<p class='intgkit-muted'>No failed check at severity {escape(min_severity)} "
            "or above.</p>"
        )
    parts = [PANEL_CSS]
    head = "".join(f"<th>{name}</th>" for name, _ in _COLUMNS)
    for severity, group in groups:
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

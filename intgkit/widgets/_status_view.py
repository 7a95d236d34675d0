"""The live status table: per integration its breaker, countdown, calls and last result.

A pure function of the runner's breakers and the panel's per-integration rows, so the panel
can re-render it as often as results arrive (throttled) and tests can read its HTML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from .._html import BREAKER_COLOURS, STATUS_COLOURS, badge
from .._models import Status
from ._style import PANEL_CSS

__all__ = ["MAX_ERROR_CHARS", "Row", "status_table"]

#: Error texts in the status table are cut here; the whole text is in the cell's tooltip.
MAX_ERROR_CHARS = 80
_STATE_RANK = {"closed": 0, "half-open": 1, "open": 2}


@dataclass(slots=True)
class Row:
    """What the status table shows of one integration in the current (or last) run."""

    selected: bool = False
    total: int = 0
    done: int = 0
    timeouts: int = 0
    cancelled: int = 0
    last_status: Status | None = None
    last_duration: float | None = None
    last_error: str | None = None

    def clear_last(self) -> None:
        """Forget the last result (stale once the breakers it explained were reset)."""
        self.last_status = None
        self.last_duration = None
        self.last_error = None


def cut(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_table(breakers: Any, rows: dict[str, Row], titles: dict[str, str], *, live: bool) -> str:
    """The table's HTML. ``live`` is False once the run has ended, whichever way it ended.

    An integration with per-target breakers shows its worst breaker, and how many are not
    closed. A row never says "running" unless ``live``: a call the run did not finish is
    counted as cancelled instead.
    """
    groups: dict[str, list[Any]] = {}
    for b in breakers:
        groups.setdefault(b.key[0], []).append(b)
    now = breakers.clock()
    body = []
    for name, row in rows.items():
        group = groups.get(name, [])
        if group:
            worst = max(group, key=lambda b: (_STATE_RANK.get(b.state, 0), b.fail_counter))
            fails = max(b.fail_counter for b in group)
            opened = [b for b in group if b.state != "closed"]
            wait = min((b.seconds_until_probe() for b in opened), default=0.0)
            state_cell = badge(worst.state, BREAKER_COLOURS.get(worst.state, "#57606a"))
            if len(group) > 1:
                state_cell += f" <small>{len(opened)}/{len(group)} not closed</small>"
        else:
            fails, wait, opened = 0, 0.0, []
            state_cell = badge("closed", BREAKER_COLOURS["closed"])
        if not opened:
            probe = ""
        elif wait > 0:
            due = (now + timedelta(seconds=wait)).astimezone(UTC).strftime("%H:%M:%S")
            probe = f"{math.ceil(wait)} s <small>({due} UTC)</small>"
        else:
            probe = "probe due"
        if row.last_status is not None:
            status_cell = badge(row.last_status.value, STATUS_COLOURS[row.last_status])
        elif row.selected and row.done < row.total:
            cancelled = badge("cancelled", STATUS_COLOURS[Status.CANCELLED])
            status_cell = "<em>running…</em>" if live else cancelled
        else:
            status_cell = ""
        duration = (
            f"{row.last_duration:.2f} s"
            if row.last_duration is not None and not math.isnan(row.last_duration)
            else ""
        )
        calls = f"{row.done}/{row.total}" if row.selected else ""
        if row.cancelled:
            calls += f" <small>({row.cancelled} cancelled)</small>"
        error = row.last_error or ""
        body.append(
            f"<tr><td class='intgkit-name' title='{escape(name, quote=True)}'>"
            f"{escape(titles.get(name, name))}</td>"
            f"<td>{state_cell}</td><td class='num'>{fails}</td><td>{probe}</td>"
            f"<td>{status_cell}</td><td class='num'>{duration}</td>"
            f"<td class='num'>{calls}</td><td class='num'>{row.timeouts}</td>"
            f"<td class='cut error' title='{escape(error, quote=True)}'>{escape(cut(error))}</td></tr>"
        )
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    return (
        PANEL_CSS + "<div class='intgkit-scroll'><table class='intgkit-table intgkit-status-table'>"
        "<thead><tr><th>integration</th><th>breaker</th><th>fails</th><th>probe in</th>"
        "<th>last status</th><th>last duration</th><th>calls</th><th>timeouts</th><th>last error</th>"
        "</tr></thead><tbody>" + "".join(body) + "</tbody></table></div>"
        f"<small class='intgkit-muted intgkit-updated'>updated {stamp} UTC</small>"
    )

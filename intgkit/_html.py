"""HTML reprs for notebooks. Every text that may come from outside is escaped here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from ._status import Status

if TYPE_CHECKING:
    from ._models import IntegrationResult

STATUS_COLOURS = {
    Status.OK: "#1a7f37",
    Status.ERROR: "#cf222e",
    Status.TIMEOUT: "#bc4c00",
    Status.CIRCUIT_OPEN: "#8250df",
    Status.NOT_CONFIGURED: "#6e7781",
    Status.CANCELLED: "#57606a",
}
BREAKER_COLOURS = {"closed": "#1a7f37", "open": "#cf222e", "half-open": "#bc4c00"}
MAX_ROWS = 200


def badge(text: str, colour: str) -> str:
    """A small coloured label."""
    return (
        f'<span style="background:{colour};color:#fff;border-radius:3px;padding:0 4px;'
        f'font-size:85%">{escape(text)}</span>'
    )


def results_html(results: Iterable[IntegrationResult], title: str) -> str:
    """A table of results: status badge, integration, target, duration, sections or error."""
    items = list(results)
    counts = dict.fromkeys(Status, 0)
    for r in items:
        counts[r.status] += 1
    summary = " ".join(badge(f"{n} {s.value}", STATUS_COLOURS[s]) for s, n in counts.items() if n)
    rows = []
    for r in items[:MAX_ROWS]:
        detail = (
            f"{escape(r.error_type or '')}: {escape(r.error or '')}"
            if r.error_type
            else escape(", ".join(f"{s.name} ({s.n_rows})" for s in r.sections))
        )
        rows.append(
            f"<tr><td>{badge(r.status.value, STATUS_COLOURS[r.status])}</td>"
            f"<td>{escape(r.integration)}</td>"
            f"<td>{escape(str(r.target) if r.target is not None else '')}</td>"
            f"<td style='text-align:right'>{r.duration_s:.3f}s</td><td>{escape(r.breaker_state)}</td>"
            f"<td style='text-align:left'>{detail}</td></tr>"
        )
    more = f"<tr><td colspan=6>… {len(items) - MAX_ROWS} more</td></tr>" if len(items) > MAX_ROWS else ""
    return (
        f"<div><strong>{escape(title)}</strong>: {len(items)} results {summary}"
        "<table><thead><tr><th>status</th><th>integration</th><th>target</th><th>duration</th>"
        "<th>breaker</th><th>sections / error</th></tr></thead><tbody>"
        + "".join(rows)
        + more
        + "</tbody></table></div>"
    )


def breakers_html(breakers: Iterable[Mapping[str, Any]]) -> str:
    """The breaker table with coloured states, from one mapping per breaker (the keys of
    ``BreakerBoard.rows()``), so that this module needs nothing of the breakers' own."""
    rows = []
    for b in breakers:
        state = str(b["state"])
        opened = b["opened_at"].isoformat(timespec="seconds") if b["opened_at"] else ""
        rows.append(
            f"<tr><td>{escape(str(b['key']))}</td>"
            f"<td>{badge(state, BREAKER_COLOURS.get(state, '#6e7781'))}</td>"
            f"<td>{b['fail_counter']}</td><td>{escape(opened)}</td><td>{b['reset_timeout']:g}</td>"
            f"<td>{b['seconds_until_probe']:.0f}</td><td>{b['abandoned_threads']}</td></tr>"
        )
    return (
        "<table><thead><tr><th>breaker</th><th>state</th><th>fail_counter</th><th>opened_at</th>"
        "<th>reset_timeout</th><th>seconds_until_probe</th><th>abandoned_threads</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )

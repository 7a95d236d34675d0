"""A run as one HTML file to share: a summary per target, the failed checks, every call's status.

For the reader who was not at the keyboard (a manager, a site owner, an auditor): one file that
opens in any browser, offline, with nothing to install. So it is self-contained (the style is
inline, there is no script, no font, no image) and its Content-Security-Policy forbids loading
anything at all. Every value that came from a run is escaped: targets, observed headers and
error messages are outside text.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import ExportError, UsageError
from ._findings_view import SEVERITIES, by_severity, failed_findings, findings_frame, target_summary
from ._models import IntegrationResult, Status
from ._version import __version__

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["report_html", "to_html"]

SEVERITY_COLOURS = {
    "critical": "#8b0000",
    "high": "#cf222e",
    "medium": "#9a6700",
    "low": "#0969da",
    "info": "#57606a",
    "other": "#57606a",
}
STATUS_COLOURS = {
    Status.OK: "#1a7f37",
    Status.ERROR: "#cf222e",
    Status.TIMEOUT: "#bc4c00",
    Status.CIRCUIT_OPEN: "#8250df",
    Status.NOT_CONFIGURED: "#57606a",
}
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
 background:#fff;margin:0 auto;max-width:1100px;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #d0d7de;
 padding-bottom:4px}h3{font-size:16px;margin:20px 0 6px}
.meta{color:#57606a;margin:0 0 16px}
table{border-collapse:collapse;width:100%;margin:4px 0 12px}
th,td{border-bottom:1px solid #d8dee4;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;color:#fff;border-radius:10px;padding:0 8px;font-size:13px;font-weight:600}
.finding{border:1px solid #d0d7de;border-left:5px solid var(--c);border-radius:6px;padding:8px 12px;
 margin:8px 0}
.finding h4{margin:0 0 4px;font-size:15px}
.finding dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:4px 0}
.finding dt{color:#57606a}.finding dd{margin:0;overflow-wrap:anywhere}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa;padding:1px 4px;
 border-radius:4px;overflow-wrap:anywhere}
.why{margin:6px 0 0}.none{color:#57606a}
.grade{font-size:18px;font-weight:700}
footer{margin-top:40px;color:#57606a;font-size:13px}
"""


def _e(value: Any) -> str:
    """Escaped text for any cell value; missing values are empty."""
    if value is None:
        return ""
    with contextlib.suppress(TypeError, ValueError):
        import pandas as pd

        if pd.isna(value):
            return ""
    return escape(str(value), quote=True)


def _badge(text: str, colour: str) -> str:
    return f'<span class="badge" style="background:{colour}">{escape(text)}</span>'


def report_html(
    results: Iterable[IntegrationResult], *, title: str = "intgkit report", now: datetime | None = None
) -> str:
    """The report as one HTML document (see the module docstring)."""
    items = list(results)
    findings = findings_frame(items)
    failed = failed_findings(findings) if findings is not None else None
    when = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    counts = dict.fromkeys(Status, 0)
    for r in items:
        counts[r.status] += 1
    status_badges = " ".join(
        _badge(f"{n} {s.value}", STATUS_COLOURS.get(s, "#57606a")) for s, n in counts.items() if n
    )
    failed_line = (
        f"{len(failed)} failed check{'s' if len(failed) != 1 else ''} of {len(findings)}"
        if failed is not None and findings is not None
        else "no checks in this run"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
        f'<p class="meta">{escape(when)} · {len(items)} call{"s" if len(items) != 1 else ""} '
        f"{status_badges} · {escape(failed_line)}</p></header>",
        _targets_section(items, findings),
        _findings_section(failed),
        _status_section(items),
        f"<footer>Written by intgkit {escape(__version__)}. Every value above came from the run "
        "and is shown as text.</footer>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _targets_section(items: Sequence[IntegrationResult], findings: pd.DataFrame | None) -> str:
    summary = target_summary(items, findings)
    head = "".join(f"<th>{escape(c)}</th>" for c in ("target", "grade", "checks", "failed", *SEVERITIES))
    rows = []
    for row in summary.to_dict("records"):
        cells = [
            f"<td>{_e(row['target']) or '<span class=none>(none)</span>'}</td>",
            f'<td class="grade">{_e(row["grade"])}</td>',
            f'<td class="num">{int(row["checks"])}</td>',
            f'<td class="num">{int(row["failed"])}</td>',
        ]
        for s in SEVERITIES:
            n = int(row[s])
            cell = _badge(str(n), SEVERITY_COLOURS[s]) if n else '<span class="none">0</span>'
            cells.append(f'<td class="num">{cell}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<section id="targets"><h2>Summary per target</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def _findings_section(failed: pd.DataFrame | None) -> str:
    if failed is None:
        return (
            '<section id="findings"><h2>Failed checks</h2><p class="none">This run has no '
            "findings section (its integrations report no checks).</p></section>"
        )
    if not len(failed):
        return '<section id="findings"><h2>Failed checks</h2><p>No check failed.</p></section>'
    out = ['<section id="findings"><h2>Failed checks, most severe first</h2>']
    for severity, rows in by_severity(failed):
        colour = SEVERITY_COLOURS.get(severity, "#57606a")
        out.append(
            f'<h3 id="severity-{escape(severity)}">{_badge(severity, colour)} '
            f"{len(rows)} failed check{'s' if len(rows) != 1 else ''}</h3>"
        )
        for row in rows.to_dict("records"):
            out.append(_finding(row, colour))
    out.append("</section>")
    return "".join(out)


def _finding(row: Mapping[Any, Any], colour: str) -> str:
    facts = []
    for label, key in (("target", "target"), ("integration", "integration"), ("observed", "observed")):
        if _e(row.get(key)):
            value = f"<code>{_e(row.get(key))}</code>" if key == "observed" else _e(row.get(key))
            facts.append(f"<dt>{label}</dt><dd>{value}</dd>")
    if _e(row.get("expected")):
        facts.append(f"<dt>expected</dt><dd><code>{_e(row.get('expected'))}</code></dd>")
    if _e(row.get("detail")):
        facts.append(f"<dt>detail</dt><dd>{_e(row.get('detail'))}</dd>")
    why = _e(row.get("explanation"))
    return (
        f'<article class="finding" style="--c:{colour}"><h4>{_e(row.get("check"))}</h4>'
        f"<dl>{''.join(facts)}</dl>" + (f'<p class="why">{why}</p>' if why else "") + "</article>"
    )


def _status_section(items: Sequence[IntegrationResult]) -> str:
    rows = []
    for r in items:
        outcome = (
            f"{_e(r.error_type)}: {_e(r.error)}"
            if r.error_type
            else (_e(r.error) or _e(", ".join(f"{s.name} ({s.n_rows})" for s in r.sections)))
        )
        rows.append(
            f"<tr><td>{_badge(r.status.value, STATUS_COLOURS.get(r.status, '#57606a'))}</td>"
            f"<td>{_e(r.integration)}</td><td>{_e(r.target)}</td>"
            f'<td class="num">{r.duration_s:.2f} s</td><td>{_e(r.breaker_state)}</td>'
            f"<td>{outcome}</td></tr>"
        )
    head = "".join(
        f"<th>{c}</th>"
        for c in ("status", "integration", "target", "duration", "breaker", "sections / error")
    )
    return (
        '<section id="calls"><h2>Every call</h2>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )


def to_html(results: Iterable[IntegrationResult], path: str | os.PathLike[str]) -> Path:
    """Write :func:`report_html` to ``path`` (UTF-8), atomically; returns the path."""
    try:
        target = Path(os.fspath(path))
    except TypeError as exc:
        raise UsageError(f"path must be a file path, got {type(path).__name__} {path!r}") from exc
    if target.is_dir():
        raise ExportError(f"{str(target)!r} is a folder; give a file name, e.g. report.html")
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {str(target)!r}: the folder {str(target.parent)!r} does not exist")
    html = report_html(results)
    staging = target.parent / f".{target.name[:100]}.intgkit-{secrets.token_hex(6)}"
    try:
        staging.write_text(html, encoding="utf-8")
        os.replace(staging, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            staging.unlink()
        raise ExportError(f"the report {str(target)!r} could not be written: {exc}") from exc
    return target

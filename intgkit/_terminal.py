"""Tables for a terminal (rich), fitted to its width; plain text when the output is not one.

Rich measures the terminal and wraps or cuts cells so a table never runs past the edge, which
hand-padded columns (pandas' ``to_string``) cannot do: one long cell widened every line of the
old output to hundreds of characters. Piped or redirected output (a file, ``| less``, CI) gets
no colour codes and ASCII rules, at ``COLUMNS`` characters (80 when unset).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._findings_view import SEVERITIES
from ._models import IntegrationResult, Status

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["emit", "make_console", "print_findings", "print_frame", "print_problems", "status_line"]

#: The longest text a cell shows before it is cut with an ellipsis (the full value is in the
#: exports); long enough for a header value, short enough that one row stays a few lines.
MAX_CELL_CHARS = 160
_ASCII_HEAD = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)
SEVERITY_STYLES = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
STATUS_STYLES = {
    Status.OK: "green",
    Status.ERROR: "red",
    Status.TIMEOUT: "dark_orange",
    Status.CIRCUIT_OPEN: "magenta",
    Status.NOT_CONFIGURED: "dim",
}


class _Console(Console):
    """A console that lets the caller handle a closed pipe (``| head``) as it sees fit.

    rich's default exits with status 1 there; the CLI wants to end quietly with the run's own
    exit code, so the error goes up to it.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def make_console(file: TextIO, *, width: int | None = None) -> Console:
    """A console on ``file``: rich's own detection on a terminal, plain text otherwise."""
    is_tty = _isatty(file)
    return _Console(
        file=file,
        width=width,
        color_system="auto" if is_tty else None,
        force_terminal=is_tty,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )


def _isatty(file: TextIO) -> bool:
    try:
        return file.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _table(console: Console, title: str | None, *, expand: bool = False) -> Table:
    return Table(
        title=title,
        title_justify="left",
        title_style="bold" if console.is_terminal else "",
        box=box.SIMPLE_HEAD if console.is_terminal else _ASCII_HEAD,
        show_edge=False,
        pad_edge=False,
        expand=expand,
    )


def emit(console: Console, renderable: Any) -> None:
    """Print to the console; off a terminal, without the spaces rich pads each line with."""
    gap = isinstance(renderable, Table)  # a blank line after a table, before what follows
    if console.is_terminal:
        console.print(renderable)
        if gap:
            console.print()
        return
    with console.capture() as captured:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in captured.get().splitlines())
    console.file.write(text + ("\n\n" if gap else "\n"))


def cell(value: Any, limit: int = MAX_CELL_CHARS) -> str:
    """One value as table text: empty for missing, numbers short, long text cut with ``…``."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e15 else f"{value:g}"
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return ""
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    text = str(value)
    text = " ".join(text.split()) if ("\n" in text or "\r" in text or "\t" in text) else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_findings(
    console: Console, failed: pd.DataFrame, *, title: str, explanations: bool | None = None
) -> None:
    """The failed checks as one table: severity, (integration), target, check, observed, ...

    The integration column appears when more than one integration has failed checks; the
    explanation column when the frame has explanations and the console is wide enough to read
    them (140 columns). Names are cut with an ellipsis to leave the observed value at least a
    third of the width; it folds, and is cut after about three lines.
    """
    rows = failed.to_dict("records")
    integrations = failed["integration"].nunique() if "integration" in failed.columns else 0
    has_explanations = "explanation" in failed.columns and any(cell(r.get("explanation")) for r in rows)
    show_explanation = has_explanations and (
        explanations if explanations is not None else console.width >= 140
    )
    names = (["integration"] if integrations > 1 else []) + ["target", "check"]
    caps = {"integration": 16, "target": 30, "check": 32}
    natural = {n: min(caps[n], max([len(n)] + [len(cell(r.get(n))) for r in rows])) for n in names}
    severity_w = max([len("severity")] + [len(cell(r.get("severity"))) for r in rows])
    ncols = 1 + len(names) + 1 + int(show_explanation)
    room = max(20, console.width - 2 * (ncols - 1))  # two spaces between columns
    text_w = max(20, int(room * (0.55 if show_explanation else 0.35)))
    budget = max(8 * len(names), room - severity_w - text_w)
    widths = dict(natural)
    while sum(widths.values()) > budget:  # shave the widest name column, one character at a time
        widest = max(widths, key=lambda n: widths[n])
        if widths[widest] <= 8:
            break
        widths[widest] -= 1
    observed_w = max(20, room - severity_w - sum(widths.values()))
    if show_explanation:
        observed_w = max(20, observed_w * 2 // 5)
    limit = max(40, observed_w * 3 - 1)  # about three lines
    table = _table(console, title)
    table.add_column("severity", no_wrap=True, width=severity_w)
    for n in names:
        table.add_column(n, no_wrap=True, overflow="ellipsis", width=widths[n])
    table.add_column("observed", overflow="fold", ratio=2 if show_explanation else None)
    if show_explanation:
        table.add_column("explanation", overflow="fold", ratio=3)
    for row in rows:
        severity = cell(row.get("severity"))
        cells: list[Text | str] = [Text(severity, style=SEVERITY_STYLES.get(severity, ""))]
        cells += [cell(row.get(n)) for n in names]
        cells.append(cell(row.get("observed"), limit))
        if show_explanation:
            cells.append(cell(row.get("explanation"), 300))
        table.add_row(*cells)
    emit(console, table)


def print_problems(console: Console, results: Iterable[IntegrationResult]) -> None:
    """The results that are not ok (integration, target, status, error), if any."""
    bad = [r for r in results if r.status is not Status.OK]
    if not bad:
        return
    table = _table(console, "Calls that did not succeed", expand=True)
    table.add_column("status", no_wrap=True)
    table.add_column("integration", no_wrap=True, overflow="ellipsis", ratio=2, max_width=20)
    table.add_column("target", no_wrap=True, overflow="ellipsis", ratio=2, max_width=30)
    table.add_column("error", overflow="fold", ratio=6)
    for r in bad:
        error = f"{r.error_type}: {r.error}" if r.error_type else (r.error or "")
        table.add_row(
            Text(r.status.value, style=STATUS_STYLES.get(r.status, "")),
            cell(r.integration),
            cell(r.target),
            cell(error, 300),
        )
    emit(console, table)


def print_frame(console: Console, frame: pd.DataFrame, *, title: str | None = None) -> None:
    """Any frame as a table that fits: short values (names, hosts, numbers) are cut with an
    ellipsis, never folded mid-word; long text folds."""
    import pandas as pd

    table = _table(console, title)
    rows = [[cell(v) for v in values] for values in frame.itertuples(index=False, name=None)]
    for i, name in enumerate(frame.columns):
        short = max((len(r[i]) for r in rows), default=0) <= 32
        table.add_column(
            cell(name, 40),
            justify="right" if pd.api.types.is_numeric_dtype(frame[name].dtype) else "left",
            no_wrap=short,
            overflow="ellipsis" if short else "fold",
            ratio=None if short else 1,
        )
    for r in rows:
        table.add_row(*r)
    emit(console, table)


def status_line(results: Iterable[IntegrationResult], failed: pd.DataFrame | None = None) -> str:
    """``"6 results: 5 ok, 1 timeout; 12 failed checks: 2 high, 10 medium"`` (non-zero counts only).

    Statuses are counted over the Status enum, so a status added later is counted too.
    """
    items = list(results)
    counts = dict.fromkeys(Status, 0)
    for r in items:
        counts[r.status] += 1
    parts = ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)
    line = f"{len(items)} result{'s' if len(items) != 1 else ''}: {parts or 'none'}"
    if failed is not None:
        by: dict[Any, int] = failed["severity"].value_counts().to_dict()
        sev = ", ".join(f"{by[s]} {s}" for s in SEVERITIES if by.get(s))
        line += f"; {len(failed)} failed check{'s' if len(failed) != 1 else ''}"
        line += f": {sev}" if sev else ""
    return line

"""The history view: pick a past run to show it, or see what changed since the previous run.

Reads the runner's run history (``intgkit.History``, the ``history`` extra) only when the tab
asks: listing the runs, loading one, and diffing two are each one short DuckDB session, so a
notebook that never opens the tab never touches the store. Comparable runs are runs of the
same integrations, as ``intgkit diff`` compares them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._integration import DEFAULT

if TYPE_CHECKING:
    import pandas as pd

    from .._results import IntegrationResults
    from .._runner import IntegrationRunner
    from .._store import History

__all__ = ["history_of", "previous_comparable", "run_choices"]


def history_of(runner: IntegrationRunner) -> History | str:
    """The History the runner records to, or a sentence saying why there is none."""
    if runner.history is None:
        return "Run history is off for this runner (IntegrationRunner(history=None))."
    import importlib.util

    if importlib.util.find_spec("duckdb") is None:
        return 'Run history needs the history extra: pip install "intgkit[history]".'
    from .._store import History

    return History(None if runner.history is DEFAULT else runner.history)


def run_choices(runs: pd.DataFrame) -> list[tuple[str, str]]:
    """Dropdown options, newest first: (label, run_id); the label says when, what and how it went."""
    out = []
    for row in runs.to_dict("records"):
        counts = ", ".join(
            f"{row[s]} {s}"
            for s in ("ok", "error", "timeout", "circuit_open", "not_configured", "cancelled")
            if row.get(s)
        )
        when = row["started_at"].strftime("%Y-%m-%d %H:%M:%S")
        partial = " (partial)" if row["partial"] else ""
        out.append(
            (f"{when} · {row['integrations']} · {counts or 'no results'}{partial}", str(row["run_id"]))
        )
    return out


def previous_comparable(runs: pd.DataFrame, run_id: str) -> str | None:
    """The newest run before ``run_id`` with the same integrations, or None."""
    ids = list(runs["run_id"])
    if run_id not in ids:
        return None
    at = ids.index(run_id)
    mine = sorted(str(runs["integrations"].iloc[at]).split(", "))
    for i in range(at + 1, len(ids)):
        if sorted(str(runs["integrations"].iloc[i]).split(", ")) == mine:
            return str(ids[i])
    return None


def changes(history: History, results: IntegrationResults | None) -> tuple[str, Any, Any] | str:
    """(previous run id, results diff, findings diff) for the panel's last run, or why not."""
    if results is None:
        return "No run yet: run once, then this compares it with the previous run."
    if results.run_id is None:
        return (
            "The last run was not recorded (history off or recording failed), so there is nothing to compare."
        )
    runs = history.runs()
    old = previous_comparable(runs, results.run_id)
    if old is None:
        return "This is the first recorded run of these integrations: nothing to compare with yet."
    return old, history.diff(old, results.run_id), history.diff(old, results.run_id, "findings")

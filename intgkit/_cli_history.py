"""``intgkit history`` and ``intgkit diff``: the run history from a shell, for people and for CI.

``intgkit diff --fail-on-new high`` exits 1 when a finding of that severity (or worse) is new
since the previous comparable run, so a weekly cron job or a CI step fails on a regression
and passes on old, known problems. Exit codes as the rest of the command: 0, 1, 2 for usage.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COMMANDS", "add_parsers", "run_command"]

COMMANDS = ("history", "diff")
EXIT_OK, EXIT_FAILED = 0, 1


def add_parsers(sub: Any, severity: Any) -> None:
    """Add the ``history`` and ``diff`` subcommands to the CLI's subparsers."""
    p_history = sub.add_parser("history", help="the recorded runs, newest first")
    _store_option(p_history)
    p_history.add_argument("--limit", type=int, default=20, metavar="N", help="show the N newest runs (20)")
    p_history.add_argument("--format", choices=["table", "json"], default="table", help="table or JSON")

    p_diff = sub.add_parser(
        "diff",
        help="what changed between two recorded runs (default: the last two of the same integrations)",
        description="Status changes, changed values (grades, scores) and new, resolved and changed "
        "findings between two runs of the run history.",
    )
    p_diff.add_argument("runs", nargs="*", metavar="RUN", help="the older and the newer run id (or none)")
    _store_option(p_diff)
    p_diff.add_argument(
        "--fail-on-new",
        type=severity,
        metavar="SEVERITY",
        help="exit 1 when a finding this severe or worse is new (critical, high, medium, low, info)",
    )
    p_diff.add_argument("--format", choices=["table", "json"], default="table", help="table or JSON")


def _store_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--store",
        type=Path,
        metavar="FILE",
        help="the history file (default: $INTGKIT_HISTORY, else history.duckdb in the user data folder)",
    )


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``history`` or ``diff``; IntgkitError propagates to the CLI's own handling."""
    from ._errors import UsageError
    from ._store import History

    history = History(args.store)
    if args.command == "history":
        if args.limit < 1:
            raise UsageError(f"--limit must be >= 1, got {args.limit}")
        return _history(history, args, out)
    if len(args.runs) not in (0, 2):
        raise UsageError(f"give two run ids (older, newer) or none, got {len(args.runs)}")
    return _diff(history, args, out)


def _history(history: Any, args: argparse.Namespace, out: TextIO) -> int:
    runs = history.runs().head(args.limit)
    if args.format == "json":
        json.dump(_records(runs), out, indent=2)
        out.write("\n")
        return EXIT_OK
    from ._terminal import emit, make_console, print_frame

    console = make_console(out)
    if runs.empty:
        emit(console, f"No runs recorded in {history.path} yet.")
        return EXIT_OK
    import pandas as pd

    from ._store._db import _STATUSES

    shown = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "started_at": runs["started_at"].dt.strftime("%Y-%m-%d %H:%M:%S"),
            "integrations": runs["integrations"],
            "targets": runs["n_targets"],
            "results": [
                ", ".join(f"{int(row[s])} {s}" for s in _STATUSES if row[s]) or "none"
                for _, row in runs.iterrows()
            ],
            "partial": ["yes" if p else "" for p in runs["partial"]],
        }
    )
    print_frame(console, shown, title=f"Runs in {history.path} (newest first)")
    return EXIT_OK


def _diff(history: Any, args: argparse.Namespace, out: TextIO) -> int:
    from ._errors import UsageError
    from ._findings_view import severities_at_least

    if args.runs:
        old, new = args.runs
    else:
        pair = history.last_comparable()
        if pair is None:
            raise UsageError(
                f"{history.path} holds no two runs of the same integrations; run them twice, "
                f"or give two run ids (intgkit history lists them)"
            )
        old, new = pair
    changes = history.diff(old, new)
    findings = history.diff(old, new, "findings")
    code = EXIT_OK
    if args.fail_on_new:
        severe = set(severities_at_least(args.fail_on_new))
        new_severe = findings[(findings["change"] == "new") & findings["severity"].isin(severe)]
        if len(new_severe):
            code = EXIT_FAILED
    if args.format == "json":
        json.dump(
            {"old": old, "new": new, "results": _records(changes), "findings": _records(findings)},
            out,
            indent=2,
        )
        out.write("\n")
        return code
    from ._terminal import emit, make_console, print_frame

    console = make_console(out)
    emit(console, f"Changes from run {old} to run {new}")
    if changes.empty and findings.empty:
        emit(console, "Nothing changed.")
    if not changes.empty:
        print_frame(console, changes, title=f"Results ({len(changes)} changes)")
    if not findings.empty:
        counts = findings["change"].value_counts()
        summary = ", ".join(f"{int(counts[c])} {c}" for c in ("new", "resolved", "changed") if c in counts)
        print_frame(
            console, findings.drop(columns=["result_before", "result_after"]), title=f"Findings ({summary})"
        )
    if code:
        emit(console, f"New findings of severity {args.fail_on_new} or worse: exit 1")
    return code


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in frame.astype(object).to_dict("records"):
        out.append({str(k): _plain(v) for k, v in row.items()})
    return out


def _plain(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value

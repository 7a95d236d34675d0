"""The ``intgkit`` command: list integrations, run them over targets, or run the offline demo.

Exit codes: 0 when every result is ok, 1 when some result is not, 2 for a usage error
(argparse's own convention), so scripts and CI can branch on the outcome.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._errors import IntgkitError, UsageError
from ._registry import IntegrationRegistry, default_registry, is_configured
from ._runner import DEFAULT_TIMEOUT, IntegrationRunner
from ._settings import as_settings, missing_settings

if TYPE_CHECKING:
    from ._models import IntegrationResults

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_TARGETS_FILE_BYTES = 50 * 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (public so the docs and tests can introspect it)."""
    parser = argparse.ArgumentParser(
        prog="intgkit", description="Run integrations concurrently under timeouts and circuit breakers."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,run,demo}")

    p_list = sub.add_parser("list", help="list the registered integrations and their configuration")
    p_list.add_argument("--format", choices=["table", "json"], default="table")

    p_run = sub.add_parser("run", help="run integrations over targets")
    p_run.add_argument("names", nargs="*", metavar="NAME", help="integrations to run (default: all)")
    p_run.add_argument(
        "-t",
        "--target",
        action="append",
        default=[],
        dest="targets",
        help="a target (host name, URL, id); repeat for more",
    )
    p_run.add_argument("--targets-file", type=Path, help="a file with one target per line (# comments)")
    p_run.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per call, or 'none' (default {DEFAULT_TIMEOUT:g})",
    )
    p_run.add_argument("--max-concurrency", type=_positive_int, default=32)
    p_run.add_argument("--csv", type=Path, metavar="DIR", help="also export every table as CSV into DIR")
    p_run.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="how to print the results on stdout",
    )
    p_run.add_argument("--section", help="print this section's rows instead of the summary")
    p_run.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")

    p_demo = sub.add_parser("demo", help="audit a local test site, TLS and DNS server, fully offline")
    p_demo.add_argument(
        "--csv",
        type=Path,
        metavar="DIR",
        default=Path("intgkit-demo"),
        help="where to write the CSV export (default: ./intgkit-demo)",
    )
    p_demo.add_argument("--format", choices=["table", "json"], default="table")
    return parser


def _timeout(text: str) -> float | None:
    if text.strip().lower() in {"none", "off"}:
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (e.g. 30) or 'none', got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive finite number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(
    argv: Sequence[str] | None = None,
    *,
    registry: IntegrationRegistry | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the command; returns the exit code (the console script exits with it)."""
    out = stdout or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error
        return int(exc.code or 0)
    reg = registry or default_registry()
    try:
        if args.command == "list":
            return _list(reg, args, out)
        if args.command == "run":
            return _run(reg, args, out)
        from ._demo import run_demo

        return run_demo(args.csv, fmt=args.format, stdout=out)
    except IntgkitError as exc:
        print(f"intgkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED


def _list(reg: IntegrationRegistry, args: argparse.Namespace, out: TextIO) -> int:
    rows: list[dict[str, Any]] = []
    for integ in reg:
        settings = as_settings(integ.settings)
        rows.append(
            {
                "name": integ.name,
                "title": integ.title,
                "configured": is_configured(integ),
                "missing_settings": missing_settings(settings),
                "settings": [s.name for s in settings],
            }
        )
    if args.format == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not rows:
        out.write("no integrations registered\n")
        return EXIT_OK
    widths = [max(len(r["name"]) for r in rows), max(len(r["title"]) for r in rows)]
    out.write(f"{'name':<{widths[0]}}  {'title':<{widths[1]}}  configured  missing settings\n")
    for r in rows:
        missing = ", ".join(r["missing_settings"]) or "-"
        out.write(
            f"{r['name']:<{widths[0]}}  {r['title']:<{widths[1]}}  "
            f"{'yes' if r['configured'] else 'no':<10}  {missing}\n"
        )
    for name, error in sorted(reg.load_errors.items()):
        print(f"intgkit: plugin {name!r} failed to load: {error}", file=sys.stderr)
    return EXIT_OK


def read_targets(args: argparse.Namespace) -> list[str] | None:
    """Targets from --target and --targets-file, in order; None when neither was given."""
    targets = list(args.targets)
    if args.targets_file is not None:
        path: Path = args.targets_file
        if not path.is_file():
            raise UsageError(f"--targets-file {str(path)!r} is not a readable file")
        if path.stat().st_size > MAX_TARGETS_FILE_BYTES:
            raise UsageError(f"--targets-file {str(path)!r} is larger than 50 MiB; split it")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"--targets-file {str(path)!r} is not UTF-8 text: {exc}") from None
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                targets.append(line)
    if not targets and args.targets_file is None:
        return None
    return targets


def _run(reg: IntegrationRegistry, args: argparse.Namespace, out: TextIO) -> int:
    targets = read_targets(args)
    runner = IntegrationRunner(reg, timeout=args.timeout, max_concurrency=args.max_concurrency)
    names = args.names or None
    runner.plan(names, targets)  # every mistake is reported before anything runs
    if args.csv is not None:
        _check_csv_dir(args.csv)
    progress = not args.no_progress and sys.stderr.isatty()
    results = runner.run(names, targets, progress=progress)
    if args.section is not None:
        results.to_frame(args.section)  # unknown section: a clear error, before printing anything
    print_results(results, args.format, out, section=args.section)
    if args.csv is not None:
        path = results.to_csv(args.csv)
        print(f"intgkit: wrote CSV export to {path}", file=sys.stderr)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _check_csv_dir(path: Path) -> None:
    if path.exists() and not path.is_dir():
        raise UsageError(f"--csv {str(path)!r} is a file; give a directory (it is created if missing)")


def print_results(results: IntegrationResults, fmt: str, out: TextIO, *, section: str | None = None) -> None:
    """Print results as a table, CSV or JSON."""
    if fmt == "json":
        json.dump([_result_json(r) for r in results], out, indent=2, default=str)
        out.write("\n")
        return
    frame = results.to_frame(section)
    if fmt == "csv":
        from .frames import neutralize_frame

        neutralize_frame(frame).to_csv(out, index=False)
        return
    import pandas as pd

    with pd.option_context(
        "display.max_rows", 500, "display.max_columns", 50, "display.width", 200, "display.max_colwidth", 80
    ):
        out.write(frame.to_string(index=False) + "\n")


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "integration": r.integration,
        "target": r.target,
        "status": r.status.value,
        "error_type": r.error_type,
        "error": r.error,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "duration_s": r.duration_s,
        "breaker_state": r.breaker_state,
        "sections": {
            s.name: (s.rows.to_dict("records") if hasattr(s.rows, "to_dict") else [dict(x) for x in s.rows])
            for s in r.sections
        },
    }


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

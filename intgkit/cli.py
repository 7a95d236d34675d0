"""The ``intgkit`` command: list integrations, run them over targets, or run the offline demo.

``intgkit run`` shows what an analyst came for first: the failed checks, most severe first, in
one table fitted to the terminal, then the calls that did not succeed, then one status line.
Every option, target and output path is checked before the first call is made, so a typo costs
a second, not a run; the exports are written before anything is printed, so a closed pipe or a
wrong ``--section`` never loses a run.

Exit codes: 0 when every result is ok (and, with ``--fail-on``, no failed check is that severe),
1 when some result is not (or such a check failed), 2 for a usage error (argparse's own
convention), so scripts, cron and CI can branch on the outcome.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._errors import ExportError, IntgkitError, MissingExtraError, UsageError
from ._findings_view import FINDINGS, SEVERITIES
from ._registry import IntegrationRegistry, default_registry, is_configured
from ._runner import DEFAULT_TIMEOUT, IntegrationRunner
from ._settings import as_settings, missing_settings
from ._version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from ._results import IntegrationResults

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_TARGETS_FILE_BYTES = 50 * 1024 * 1024


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (public so the docs and tests can introspect it)."""
    parser = argparse.ArgumentParser(
        prog="intgkit", description="Run integrations concurrently under timeouts and circuit breakers."
    )
    parser.add_argument("--version", action="version", version=f"intgkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{list,run,demo,history,diff}")

    p_list = sub.add_parser("list", help="list the registered integrations and their configuration")
    p_list.add_argument(
        "--format", choices=["table", "json"], default="table", help="table (default) or JSON on stdout"
    )

    p_run = sub.add_parser(
        "run",
        help="run integrations over targets",
        description="Run integrations over targets. Prints the failed checks (most severe first), "
        "the calls that did not succeed and a status line; every option is checked before any call.",
    )
    p_run.add_argument("names", nargs="*", metavar="NAME", help="integrations to run (default: all)")
    p_run.add_argument(
        "-t",
        "--target",
        action="append",
        default=[],
        dest="targets",
        help="a target (host name, URL, id; no spaces); repeat for more",
    )
    p_run.add_argument(
        "--targets-file",
        type=Path,
        metavar="FILE",
        help="a UTF-8 file with one target per line (# comments and blank lines ignored, "
        "duplicates dropped with a warning)",
    )
    p_run.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per call, or 'none' (default {DEFAULT_TIMEOUT:g})",
    )
    p_run.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=32,
        metavar="N",
        help="calls in flight at once (default 32)",
    )
    _output_options(p_run)
    p_run.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="how to print on stdout: table (default; findings first), csv or json",
    )
    p_run.add_argument(
        "--section",
        help="print this section's rows (in any --format) instead of the findings view",
    )
    p_run.add_argument(
        "--severity",
        type=_severity,
        metavar="SEVERITY",
        help=f"show only failed checks this severe or worse ({', '.join(SEVERITIES)})",
    )
    p_run.add_argument(
        "--fail-on",
        type=_severity,
        metavar="SEVERITY",
        help="exit 1 when a check this severe or worse failed (for CI and cron)",
    )
    p_run.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    where = p_run.add_mutually_exclusive_group()  # distributed runs (extra dask; docs/scaling.md)
    where.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="run on a local Dask cluster of N worker processes (--max-concurrency is per worker)",
    )
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="run on the Dask cluster at ADDRESS, e.g. tcp://host:8786"
    )

    p_demo = sub.add_parser("demo", help="audit a local test site, TLS and DNS server, fully offline")
    p_demo.add_argument(
        "--csv",
        type=Path,
        metavar="DIR",
        default=Path("intgkit-demo"),
        help="where to write the CSV export (default: ./intgkit-demo)",
    )
    p_demo.add_argument("--xlsx", type=Path, metavar="FILE", help="also write an Excel workbook")
    p_demo.add_argument("--html", type=Path, metavar="FILE", help="also write a shareable HTML report")
    p_demo.add_argument(
        "--format", choices=["table", "json"], default="table", help="table (default) or JSON on stdout"
    )
    from ._cli_history import add_parsers

    add_parsers(sub, _severity)  # intgkit history, intgkit diff (the run history)
    return parser


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--csv",
        type=Path,
        metavar="DIR",
        help="also export every table as CSV into DIR (created; an earlier export there is replaced)",
    )
    p.add_argument(
        "--excel-csv",
        action="store_true",
        help="write the CSV files as UTF-8 with a BOM, which Excel needs to read accents right",
    )
    p.add_argument(
        "--xlsx", type=Path, metavar="FILE", help="also write an Excel workbook, one sheet per table"
    )
    p.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write a self-contained HTML report (summary per target, findings, statuses)",
    )


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


def _severity(text: str) -> str:
    value = text.strip().lower()
    if value not in SEVERITIES:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(SEVERITIES)}, got {text!r}")
    return value


def main(
    argv: Sequence[str] | None = None,
    *,
    registry: IntegrationRegistry | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the command; returns the exit code (the console script exits with it).

    A reader that stops early (``intgkit list | head -1``) ends the command quietly, with the
    exit code the command had reached, as the Python docs advise for SIGPIPE.
    """
    out = stdout or sys.stdout
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (or --help / --version)
        return int(exc.code or 0)
    reg = registry or default_registry()
    state = _State()
    try:
        if args.command == "list":
            state.code = _list(reg, args, out)
        elif args.command == "run":
            state.code = _run(reg, args, out, state)
        elif args.command in ("history", "diff"):
            from ._cli_history import run_command

            state.code = run_command(args, out)
        else:
            state.code = _demo(args, out, state)
        out.flush()  # surface a closed pipe here, not in the interpreter's final flush
    except BrokenPipeError:
        _silence(out)
    except IntgkitError as exc:
        print(f"intgkit: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError | MissingExtraError) else EXIT_FAILED
    return state.code


@dataclass
class _State:
    """The exit code reached so far: what a closed pipe ends the command with."""

    code: int = EXIT_OK


def _silence(out: TextIO) -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot raise again."""
    try:
        fd = out.fileno()
    except (AttributeError, ValueError, OSError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


# -- list ------------------------------------------------------------------------------------------


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
    for name, error in sorted(reg.load_errors.items()):
        print(f"intgkit: plugin {name!r} failed to load: {error}", file=sys.stderr)
    if args.format == "json":
        json.dump(rows, out, indent=2)
        out.write("\n")
        return EXIT_OK
    if not rows:
        out.write("No integrations are registered.\n")
        return EXIT_OK
    widths = [max(len(r["name"]) for r in rows), max(len(r["title"]) for r in rows)]
    out.write(f"{'name':<{widths[0]}}  {'title':<{widths[1]}}  configured  missing settings\n")
    for r in rows:
        missing = ", ".join(r["missing_settings"]) or "-"
        out.write(
            f"{r['name']:<{widths[0]}}  {r['title']:<{widths[1]}}  "
            f"{'yes' if r['configured'] else 'no':<10}  {missing}\n"
        )
    return EXIT_OK


# -- run: everything checked before the first call ------------------------------------------------


def read_targets(args: argparse.Namespace) -> list[str] | None:
    """Targets from ``--target`` and ``--targets-file``, in order; None when neither was given.

    Surrounding spaces and a UTF-8 BOM are stripped, ``#`` comments and blank lines skipped, and
    a target given twice is kept once with a warning on stderr. A target with a space or a
    control character inside is a usage error naming it (a quoting mistake, not a host).
    """
    found: list[tuple[str, str]] = [(t, f"-t {t!r}") for t in args.targets]
    if args.targets_file is not None:
        found += _targets_file(args.targets_file)
    if not found and args.targets_file is None:
        return None
    targets: list[str] = []
    seen: dict[str, str] = {}
    for raw, where in found:
        target = raw.strip()
        if not target:
            raise UsageError(f"{where}: a target is empty; give a host name, URL or id")
        bad = next((c for c in target if c.isspace() or ord(c) < 32 or ord(c) == 127), None)
        if bad is not None:
            raise UsageError(
                f"{where}: target {target!r} contains "
                f"{'a space' if bad == ' ' else f'the control character {bad!r}'}; a target is "
                f"one host name, URL or id (quote each one separately, e.g. -t a.example -t b.example)"
            )
        if target in seen:
            print(
                f"intgkit: warning: {where}: target {target!r} is listed again (first: {seen[target]}); "
                f"running it once",
                file=sys.stderr,
            )
            continue
        seen[target] = where
        targets.append(target)
    if not targets:
        raise UsageError(
            f"--targets-file {str(args.targets_file)!r} lists no targets (only comments or blanks)"
        )
    return targets


def _targets_file(path: Path) -> list[tuple[str, str]]:
    name = str(path)
    if not path.is_file():
        raise UsageError(f"--targets-file {name!r} is not a readable file")
    if path.stat().st_size > MAX_TARGETS_FILE_BYTES:
        raise UsageError(f"--targets-file {name!r} is larger than 50 MiB; split it")
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: Notepad's BOM is not part of a target
    except UnicodeDecodeError as exc:
        raise UsageError(f"--targets-file {name!r} is not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise UsageError(f"--targets-file {name!r} cannot be read: {exc.strerror or exc}") from None
    out: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.lstrip("\ufeff")
        comment = line.find("#")
        if comment == 0 or (comment > 0 and line[comment - 1].isspace()):
            line = line[:comment]  # "# note" and "host  # note"; a URL's #fragment stays
        if line.strip():
            out.append((line, f"{name}:{number}"))
    return out


@dataclass
class _Plan:
    """A checked run: what to call and where every output goes."""

    runner: IntegrationRunner
    names: list[str] | None
    targets: list[str] | None
    outputs: dict[str, Path] = field(default_factory=dict)


def prepare_run(reg: IntegrationRegistry, args: argparse.Namespace) -> _Plan:
    """Check every name, target, option and output path; UsageError before any call is made."""
    targets = read_targets(args)
    runner = IntegrationRunner(reg, timeout=args.timeout, max_concurrency=args.max_concurrency)
    names = args.names or None
    runner.plan(names, targets)  # unknown names, bad targets: raised here
    if targets is None:
        chosen = [reg.get(n) for n in names] if names else list(reg)
        need = sorted(i.name for i in chosen if getattr(i, "needs_target", False) is True)
        if need:
            raise UsageError(
                f"{', '.join(need)} need{'s' if len(need) == 1 else ''} a target; give -t HOST "
                f"(repeatable) or --targets-file FILE"
            )
    if args.section is not None and not args.section.strip():
        raise UsageError("--section is empty; give a section name such as 'findings'")
    if getattr(args, "workers", None) is not None or getattr(args, "scheduler", None) is not None:
        from ._distributed import check_cluster_options

        check_cluster_options(args.workers, args.scheduler)
    return _Plan(runner, names, targets, check_outputs(args))


def check_outputs(args: argparse.Namespace) -> dict[str, Path]:
    """The export paths, checked: usable, distinct, and the extras they need installed."""
    outputs: dict[str, Path] = {}
    if args.csv is not None:
        from ._manifest import check_export_dir  # not frames: no pandas import before the run

        try:
            check_export_dir(args.csv)
        except ExportError as exc:
            raise UsageError(f"--csv: {exc}") from None
        outputs["csv"] = args.csv
    for option, suffixes in (("xlsx", (".xlsx",)), ("html", (".html", ".htm"))):
        path: Path | None = getattr(args, option)
        if path is None:
            continue
        flag = f"--{option}"
        if path.suffix.lower() not in suffixes:
            raise UsageError(f"{flag} {str(path)!r} must end in {' or '.join(suffixes)}")
        if path.is_dir():
            raise UsageError(f"{flag} {str(path)!r} is a folder; give a file name, e.g. report{suffixes[0]}")
        parent = path.parent
        if not parent.is_dir():
            raise UsageError(f"{flag} {str(path)!r}: the folder {str(parent)!r} does not exist")
        if not os.access(parent, os.W_OK):
            raise UsageError(f"{flag} {str(path)!r}: the folder {str(parent)!r} is not writable")
        outputs[option] = path
    if "xlsx" in outputs and importlib.util.find_spec("xlsxwriter") is None:
        raise MissingExtraError("xlsxwriter", "excel", "--xlsx")
    files = [p.resolve() for k, p in outputs.items() if k != "csv"]
    if len(set(files)) != len(files):
        raise UsageError("--xlsx and --html name the same file; give each its own")
    if "csv" in outputs:
        folder = outputs["csv"].resolve()
        inside = [f for f in files if folder in f.parents]
        if inside:
            raise UsageError(
                f"{str(inside[0])!r} lies inside the --csv folder, which an export replaces whole; "
                f"write it beside the folder"
            )
    return outputs


def _run(reg: IntegrationRegistry, args: argparse.Namespace, out: TextIO, state: _State) -> int:
    plan = prepare_run(reg, args)
    progress = not args.no_progress and sys.stderr.isatty()
    if args.workers is None and args.scheduler is None:
        results = plan.runner.run(plan.names, plan.targets, progress=progress)
    else:
        from ._distributed import cluster_client

        with cluster_client(args.workers, args.scheduler) as client:
            results = plan.runner.run(plan.names, plan.targets, progress=progress, client=client)
    failed = write_outputs(results, plan.outputs, excel_csv=args.excel_csv)
    state.code = EXIT_FAILED if failed else exit_code(results, args.fail_on)
    print_results(results, args.format, out, section=args.section, severity=args.severity)
    return state.code


def write_outputs(results: IntegrationResults, outputs: dict[str, Path], *, excel_csv: bool = False) -> int:
    """Write the exports before anything is printed, so nothing printed can lose them.

    One export that fails (a full disk, a folder changed since the check) does not stop the
    others or the printing: it is reported on stderr. Returns how many failed.
    """

    def csv(path: Path) -> Path:
        return results.to_csv(path, excel=excel_csv)

    writers: dict[str, tuple[str, Callable[[Path], Path]]] = {
        "csv": ("the CSV export to", csv),
        "xlsx": ("the Excel workbook", results.to_excel),
        "html": ("the HTML report", results.to_html),
    }
    failed = 0
    for key, (what, write) in writers.items():
        if key not in outputs:
            continue
        try:
            path = write(outputs[key])
        except IntgkitError as exc:
            failed += 1
            print(f"intgkit: error: could not write {what} {str(outputs[key])!r}: {exc}", file=sys.stderr)
        else:
            print(f"intgkit: wrote {what} {path}", file=sys.stderr)
    return failed


def exit_code(results: IntegrationResults, fail_on: str | None) -> int:
    """1 when a result is not ok, or a check at ``fail_on`` or worse failed; else 0."""
    if not all(r.ok for r in results):
        return EXIT_FAILED
    if fail_on is not None:
        from ._findings_view import failed_findings, findings_frame

        findings = findings_frame(results)
        if findings is not None and len(failed_findings(findings, min_severity=fail_on)):
            return EXIT_FAILED
    return EXIT_OK


# -- printing ----------------------------------------------------------------------------------------


def print_results(
    results: IntegrationResults,
    fmt: str,
    out: TextIO,
    *,
    section: str | None = None,
    severity: str | None = None,
) -> None:
    """Print results: the findings view (table), or one section / the summary in any format.

    ``severity`` keeps only failed checks this severe or worse, wherever findings are printed.
    """
    if section is None and fmt == "table":
        print_findings_view(results, out, severity=severity)
        return
    if section is None and fmt == "json":
        json.dump([_result_json(r) for r in results], out, indent=2, default=str, ensure_ascii=False)
        out.write("\n")
        return
    frame = results.to_frame(section)  # an unknown section: UsageError listing those that exist
    if section == FINDINGS and severity is not None:
        from ._findings_view import failed_findings

        frame = failed_findings(frame, min_severity=severity)
    if fmt == "csv":
        from .frames import write_plain_csv

        write_plain_csv(frame, out)
        return
    if fmt == "json":
        out.write(frame.to_json(orient="records", date_format="iso", force_ascii=False, indent=2))
        out.write("\n")
        return
    from ._terminal import emit, make_console, print_frame

    console = make_console(out)
    if not len(frame):
        emit(console, f"Section {section!r} has no rows in this run.")
        return
    print_frame(console, frame, title=f"{section} ({len(frame)} rows)")


def print_findings_view(
    results: IntegrationResults, out: TextIO, *, severity: str | None = None, width: int | None = None
) -> None:
    """Findings first: the failed checks, then the calls that did not succeed, then one line."""
    from ._findings_view import failed_findings, findings_frame
    from ._terminal import emit, make_console, print_findings, print_frame, print_problems, status_line

    console = make_console(out, width=width)
    findings = findings_frame(results)
    failed: pd.DataFrame | None = None
    if findings is not None:
        failed = failed_findings(findings, min_severity=severity)
        scope = f" at {severity} or worse" if severity else ""
        if len(failed):
            print_findings(console, failed, title=f"Failed checks{scope}, most severe first")
        else:
            emit(console, f"No failed checks{scope}: {len(findings)} checks ran.")
    elif len(results):
        summary = results.to_frame()[["integration", "target", "status", "duration_s", "n_rows"]]
        print_frame(console, summary, title="Results")
    else:
        emit(console, "Nothing ran: no integration was selected.")
    print_problems(console, results)
    emit(console, status_line(results, failed))


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


# -- demo --------------------------------------------------------------------------------------------


def _demo(args: argparse.Namespace, out: TextIO, state: _State) -> int:
    import asyncio

    from ._demo import audit
    from ._findings_view import findings_frame, target_summary
    from ._terminal import emit, make_console, print_frame

    args.excel_csv = False
    outputs = check_outputs(args)
    results = asyncio.run(audit())
    failed = write_outputs(results, outputs)
    state.code = EXIT_FAILED if failed else exit_code(results, None)
    if args.format == "json":
        print_results(results, "json", out)
        return state.code
    console = make_console(out)
    emit(console, "intgkit demo: a deliberately mediocre site, audited offline on 127.0.0.1")
    print_frame(console, target_summary(results, findings_frame(results)), title="Summary per target")
    print_findings_view(results, out)
    path = outputs["csv"]
    if not failed:
        files = sorted(p.name for p in path.iterdir())
        emit(console, f"\nCSV export: {path}/ ({len(files)} files; read it back with intgkit.read_csv)")
    return state.code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

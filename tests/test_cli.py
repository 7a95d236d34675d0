"""The intgkit command: findings first, options checked before any call, exports, pipes.

Most tests run the real ``intgkit`` console script in a subprocess, with test integrations
installed through a real entry point (tests/cli_plugin/cliplug.py plus a dist-info folder), so
what is tested is what a user types. Numbers in the docstrings are the items of issue 16.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import intgkit
from intgkit.cli import build_parser, main

INTGKIT = Path(sys.executable).with_name("intgkit")
PLUGIN_DIR = Path(__file__).resolve().parent / "cli_plugin"
ENTRY_POINTS = """\
[intgkit.integrations]
slow = cliplug:slow
audit = cliplug:audit
hostcheck = cliplug:hostcheck
broken = cliplug:broken
many = cliplug:many
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """An environment in which `intgkit` finds the test plugin through its entry point."""
    site = tmp_path / "site"
    dist = site / "cliplug-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cliplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTGKIT_", "CLOUDFLARE_", "CLIPLUG_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(PLUGIN_DIR)])
    env["CLIPLUG_MARKER"] = str(tmp_path / "calls.log")
    env["INTGKIT_HISTORY"] = str(tmp_path / "history.duckdb")  # never the user's real run history
    env["COLUMNS"] = "100"
    env.pop("FORCE_COLOR", None)
    return env


@pytest.fixture
def intgkit_cmd(plugin_env: dict[str, str], tmp_path: Path) -> Run:
    """Run the real `intgkit` console script in tmp_path; returns the completed process."""
    assert INTGKIT.exists(), f"the intgkit console script is missing beside {sys.executable}"

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(INTGKIT), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
            env={**plugin_env, **(env or {})},
            encoding="utf-8",
        )

    return run


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


# -- 3: findings first -----------------------------------------------------------------------------


def test_run_shows_failed_checks_first_sorted_then_a_status_line(intgkit_cmd: Run, tmp_path: Path) -> None:
    """3: one table of failed checks, most severe first, then the failed calls, then one line."""
    proc = intgkit_cmd("run", "audit", "broken", "-t", "a.example")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Failed checks, most severe first"
    severities = [line.split()[0] for line in lines if line.split()[:1] and line.split()[0] in intgkit_sev()]
    assert severities == ["critical", "high", "medium", "low", "info"]
    assert "fine" not in proc.stdout  # a passed check is not shown
    assert any("ConnectionError: connection refused by a.example" in line for line in lines)
    assert (
        lines[-1] == "2 results: 1 ok, 1 error; 5 failed checks: 1 critical, 1 high, 1 medium, 1 low, 1 info"
    )
    assert "Empty DataFrame" not in proc.stdout and "\x1b[" not in proc.stdout  # plain text in a pipe


def intgkit_sev() -> tuple[str, ...]:
    from intgkit._findings_view import SEVERITIES

    return SEVERITIES


@pytest.mark.parametrize("columns", [60, 120])
def test_findings_table_fits_the_terminal_width(intgkit_cmd: Run, columns: int) -> None:
    """3: every line fits COLUMNS; the 470-character observed value is cut with an ellipsis."""
    proc = intgkit_cmd("run", "audit", "-t", "a.example", env={"COLUMNS": str(columns)})
    assert proc.returncode == 0, proc.stderr
    widths = [len(line) for line in proc.stdout.splitlines()]
    assert max(widths) <= columns, proc.stdout
    assert "…" in proc.stdout and "x" * 200 not in proc.stdout.replace("\n", "")
    assert all(line == line.rstrip() for line in proc.stdout.splitlines())  # no padding


def test_severity_filters_and_fail_on_sets_the_exit_code(intgkit_cmd: Run) -> None:
    """3: --severity high shows critical and high only; --fail-on decides the exit code."""
    proc = intgkit_cmd("run", "audit", "-t", "a.example", "--severity", "high")
    assert proc.returncode == 0, proc.stderr
    shown = {line.split()[0] for line in proc.stdout.splitlines() if line.split()[:1]} & set(intgkit_sev())
    assert shown == {"critical", "high"}
    assert "Failed checks at high or worse" in proc.stdout
    assert intgkit_cmd("run", "audit", "-t", "a.example", "--fail-on", "critical").returncode == 1
    assert intgkit_cmd("run", "audit", "-t", "a.example", "--fail-on", "INFO").returncode == 1
    proc = intgkit_cmd("run", "hostcheck", "-t", "a.example", "--fail-on", "low")
    assert proc.returncode == 0, proc.stderr


def test_section_works_with_every_format(intgkit_cmd: Run) -> None:
    """3: --section picks the rows in table, csv and json alike; --severity filters findings."""
    proc = intgkit_cmd("run", "audit", "-t", "a.example", "--section", "findings", "--format", "json")
    rows = json.loads(proc.stdout)
    assert len(rows) == 6 and {r["check"] for r in rows} >= {"fine", "check_info"}
    proc = intgkit_cmd(
        "run", "audit", "-t", "a.example", "--section", "findings", "--format", "json", "--severity", "high"
    )
    assert [r["severity"] for r in json.loads(proc.stdout)] == ["critical", "high"]
    proc = intgkit_cmd("run", "audit", "-t", "a.example", "--section", "facts", "--format", "csv")
    assert list(csv.DictReader(io.StringIO(proc.stdout))) == [
        {"integration": "audit", "target": "a.example", "note": "", "value": "1"}
    ]
    assert proc.stdout.splitlines()[1] == 'audit,a.example,"",1'  # "" is a quoted empty field
    proc = intgkit_cmd("run", "audit", "-t", "a.example", "--section", "facts")
    assert proc.stdout.splitlines()[0] == "facts (1 rows)" and "a.example" in proc.stdout


def test_empty_results_print_a_sentence(intgkit_cmd: Run) -> None:
    """3: an empty section or no failed check is a sentence, not pandas' 'Empty DataFrame'."""
    proc = intgkit_cmd("run", "audit", "-t", "a.example", "--section", "nothing")
    assert proc.returncode == 0 and proc.stdout == "Section 'nothing' has no rows in this run.\n"
    proc = intgkit_cmd("run", "audit", "-t", "clean.example")
    assert proc.stdout.splitlines()[0] == "No failed checks: 6 checks ran."
    proc = intgkit_cmd("run", "audit", "-t", "a.example", "--severity", "critical", "--section", "findings")
    assert "Empty DataFrame" not in proc.stdout and proc.stdout.splitlines()[0] == "findings (1 rows)"


# -- 4 and 5: everything checked before any call ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--csv", "mixed"], "mixed"),
        (["--xlsx", "out.csv"], "out.csv"),
        (["--html", "nowhere/report.html"], "nowhere"),
        (["--xlsx", "same.xlsx", "--csv", "same.xlsx"], "same.xlsx"),
        (["--severity", "urgent"], "urgent"),
        (["--fail-on", "bad"], "bad"),
        (["--section", " "], "--section"),
        (["-t", "exa mple.org"], "exa mple.org"),
        (["-t", "a.example", "nosuch"], "nosuch"),
    ],
)
def test_bad_options_are_refused_before_any_call(
    intgkit_cmd: Run, tmp_path: Path, args: list[str], named: str
) -> None:
    """4, 5: exit 2 naming the value, in well under the 10 s a call would take, and no call made."""
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "notes.txt").write_text("mine")
    (tmp_path / "same.xlsx").mkdir()
    base = ["run", "slow"] + ([] if "-t" in args else ["-t", "a.example"])
    start = time.monotonic()
    proc = intgkit_cmd(*base, *args)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert named in proc.stderr and "Traceback" not in proc.stderr
    assert calls(tmp_path) == [] and elapsed < 8
    assert (tmp_path / "mixed" / "notes.txt").read_text() == "mine"


def test_validation_is_fast(registry: intgkit.IntegrationRegistry, tmp_path: Path) -> None:
    """4: a refused run costs well under 0.5 s once the registry is loaded (the issue's bound)."""

    @intgkit.integration(registry=registry, name="slow")
    async def slow(target: str | None) -> None:
        raise AssertionError("must not run")

    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "x.txt").write_text("x")
    worst = 0.0
    for args in (["--csv", str(tmp_path / "mixed")], ["-t", "exa mple.org"], ["--xlsx", "a.csv"]):
        start = time.perf_counter()
        code = main(["run", "slow", "-t", "a.example", *args], registry=registry, stdout=io.StringIO())
        worst = max(worst, time.perf_counter() - start)
        assert code == 2
    assert worst < 0.5


def test_unknown_section_keeps_the_exports(intgkit_cmd: Run, tmp_path: Path) -> None:
    """4: --section nosuch --csv out/ writes the export, then says which sections exist (exit 2)."""
    proc = intgkit_cmd(
        "run", "audit", "-t", "a.example", "--section", "nosuch", "--csv", "out", "--xlsx", "out.xlsx",
        "--html", "report.html",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "'nosuch'" in proc.stderr and "findings" in proc.stderr
    assert set(intgkit.read_csv(tmp_path / "out")) == {"summary", "findings", "facts", "nothing"}
    from openpyxl import load_workbook

    assert load_workbook(tmp_path / "out.xlsx").sheetnames == ["summary", "findings", "facts", "nothing"]
    assert "Why critical matters for a.example." in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_targets_file_comments_bom_spaces_and_duplicates(intgkit_cmd: Run, tmp_path: Path) -> None:
    """5: # comments and blanks skipped, BOM and spaces stripped, duplicates run once with a warning."""
    (tmp_path / "targets.txt").write_bytes(
        "\ufeffa.example\n# a comment\n\n  b.example  \nc.example  # inline note\na.example\n".encode()
    )
    proc = intgkit_cmd(
        "run", "hostcheck", "--targets-file", "targets.txt", "-t", "b.example", "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    assert [r["target"] for r in json.loads(proc.stdout)] == ["b.example", "a.example", "c.example"]
    assert "targets.txt:4: target 'b.example' is listed again (first: -t 'b.example')" in proc.stderr
    assert "targets.txt:6: target 'a.example' is listed again (first: targets.txt:1)" in proc.stderr
    assert sorted(calls(tmp_path)) == ["hostcheck a.example", "hostcheck b.example", "hostcheck c.example"]


def test_target_free_run_of_an_integration_that_needs_one_is_a_usage_error(
    intgkit_cmd: Run, tmp_path: Path
) -> None:
    """5: `intgkit run` without -t, for integrations that need a target, names them (exit 2)."""
    proc = intgkit_cmd("run", "hostcheck", "audit")
    assert proc.returncode == 2 and "hostcheck needs a target" in proc.stderr
    proc = intgkit_cmd("run", "http_headers", "dns_email")
    assert proc.returncode == 2 and "dns_email, http_headers need a target" in proc.stderr
    assert calls(tmp_path) == []
    assert intgkit_cmd("run", "audit").returncode == 0  # takes target None


# -- 6: pipes, version, help -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "env"),
    [
        ("intgkit list | head -1", {"CLIPLUG_MANY": "1"}),
        ("intgkit list --format json | head -2", {"CLIPLUG_MANY": "1"}),
        ("intgkit run audit --targets-file many.txt | head -3", {}),
    ],
)
def test_closed_pipe_ends_quietly(
    plugin_env: dict[str, str], tmp_path: Path, command: str, env: dict[str, str]
) -> None:
    """6: a reader that stops early (head) ends the command quietly, exit 0, no traceback."""
    (tmp_path / "many.txt").write_text("".join(f"host{i}.example\n" for i in range(400)))
    script = f"set -o pipefail; {command}"
    proc = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**plugin_env, **env, "PATH": f"{INTGKIT.parent}{os.pathsep}{os.environ['PATH']}"},
    )
    assert proc.stderr == "" or "Traceback" not in proc.stderr, proc.stderr
    assert "BrokenPipeError" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_version_and_help_for_every_option(intgkit_cmd: Run) -> None:
    """6: `intgkit --version` prints the version; every option of every command has help text."""
    proc = intgkit_cmd("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"intgkit {intgkit.__version__}"
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, p in sub.choices.items()
        for action in p._actions
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []
    assert "calls in flight at once" in intgkit_cmd("run", "--help").stdout


# -- in-process checks of the pieces -----------------------------------------------------------------


def test_list_shows_configuration(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`intgkit list` shows name, title, configured and the missing settings."""
    monkeypatch.delenv("CLI_TEST_API_KEY", raising=False)

    @intgkit.integration(registry=registry, title="Needs a key", settings=["CLI_TEST_API_KEY"])
    async def keyed(target: str | None) -> dict[str, object]:
        return {}

    out = io.StringIO()
    assert main(["list"], registry=registry, stdout=out) == 0
    line = next(line for line in out.getvalue().splitlines() if line.startswith("keyed"))
    assert "Needs a key" in line and " no " in line and "CLI_TEST_API_KEY" in line
    out = io.StringIO()
    main(["list", "--format", "json"], registry=registry, stdout=out)
    assert json.loads(out.getvalue())[0]["missing_settings"] == ["CLI_TEST_API_KEY"]


def test_csv_export_and_formulas(registry: intgkit.IntegrationRegistry, tmp_path: Path) -> None:
    """--csv writes a readable export; CSV on stdout neutralises formulas (OWASP)."""

    @intgkit.integration(registry=registry)
    async def echo(target: str | None) -> dict[str, object]:
        return {"echo": [{"value": target, "formula": "=1+1"}]}

    out = io.StringIO()
    assert (
        main(
            ["run", "echo", "-t", "x", "--section", "echo", "--format", "csv"], registry=registry, stdout=out
        )
        == 0
    )
    assert "'=1+1" in out.getvalue()
    assert (
        main(
            ["run", "echo", "-t", "x", "--csv", str(tmp_path / "export")],
            registry=registry,
            stdout=io.StringIO(),
        )
        == 0
    )
    assert list(intgkit.read_csv(tmp_path / "export")["echo"]["formula"]) == ["=1+1"]


@pytest.mark.slow
def test_demo_runs_offline(tmp_path: Path) -> None:
    """`intgkit demo` audits the local servers with every built-in integration, findings first."""
    proc = subprocess.run(
        [str(INTGKIT), "demo", "--csv", str(tmp_path / "demo"), "--html", str(tmp_path / "demo.html")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    site = next(line for line in lines if line.startswith("site.test "))
    assert site.split()[:2] == ["site.test", "C"]  # the MDN Observatory grade of the demo site
    for integration in ("http_headers", "tls_certificate", "dns_email", "cloudflare"):
        assert integration in proc.stdout
    assert any(
        line.split()[:4] == ["high", "tls_certificate", "shop.site.test", "expiration"] for line in lines
    )
    assert max(len(line) for line in lines) <= 120
    frames = intgkit.read_csv(tmp_path / "demo")
    assert set(frames["summary"]["status"]) == {"ok"} and len(frames["findings"]) > 20
    assert "shop.site.test" in (tmp_path / "demo.html").read_text(encoding="utf-8")


def test_findings_view_shows_explanations_when_wide_and_counts_every_status() -> None:
    """3: at 160 columns the explanation column appears (not at 100); the status line counts
    every status of the Status enum, whichever exist."""
    from intgkit._models import IntegrationResult, IntegrationSection, Status
    from intgkit._results import IntegrationResults
    from intgkit.cli import print_findings_view

    row = {"target": "a.example", "check": "hsts", "passed": False, "severity": "high",
           "observed": "max-age=60", "explanation": "Browsers may use plain HTTP."}  # fmt: skip
    results = IntegrationResults(
        [IntegrationResult("audit", "a.example", Status.OK, (IntegrationSection("findings", (row,)),))]
        + [IntegrationResult("other", f"t{i}", s) for i, s in enumerate(Status)]
    )
    wide, narrow = io.StringIO(), io.StringIO()
    print_findings_view(results, wide, width=160)
    print_findings_view(results, narrow, width=100)
    assert "explanation" in wide.getvalue().splitlines()[1] and "plain HTTP" in wide.getvalue()
    assert "explanation" not in narrow.getvalue() and "plain HTTP" not in narrow.getvalue()
    counts = ", ".join(f"{2 if s is Status.OK else 1} {s.value}" for s in Status)
    assert wide.getvalue().splitlines()[-1] == f"{len(Status) + 1} results: {counts}; 1 failed check: 1 high"


def test_a_failing_export_loses_nothing_else(
    registry: intgkit.IntegrationRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """4: an export that fails after the checks (the folder filled during the run) is reported;
    the other exports are written and the findings printed; exit 1."""
    folder = tmp_path / "out"

    @intgkit.integration(registry=registry)
    async def filler(target: str | None) -> dict[str, object]:
        folder.mkdir()
        (folder / "notes.txt").write_text("someone else's file")
        return {"findings": [{"target": target, "check": "c", "passed": False, "severity": "high"}]}

    out = io.StringIO()
    args = ["run", "filler", "-t", "a.example", "--csv", str(folder), "--html", str(tmp_path / "r.html")]
    assert main(args, registry=registry, stdout=out) == 1
    err = capsys.readouterr().err
    assert "could not write the CSV export to" in err and "holds no intgkit export" in err
    assert (tmp_path / "r.html").exists() and (folder / "notes.txt").read_text() == "someone else's file"
    assert out.getvalue().splitlines()[0] == "Failed checks, most severe first"

"""The intgkit command: list, run (exit codes 0/1/2, formats, CSV) and the offline demo."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

import intgkit
from intgkit.cli import main


@pytest.fixture
def reg() -> intgkit.IntegrationRegistry:
    registry = intgkit.IntegrationRegistry(None)

    @intgkit.integration(registry=registry, title="Echo")
    async def echo(target):  # type: ignore[no-untyped-def]
        return {"echo": [{"value": target, "formula": "=1+1"}]}

    @intgkit.integration(registry=registry, title="Broken")
    async def broken(target):  # type: ignore[no-untyped-def]
        raise ConnectionError("refused")

    @intgkit.integration(registry=registry, title="Needs a key", settings=["CLI_TEST_API_KEY"])
    async def keyed(target):  # type: ignore[no-untyped-def]
        return {}

    return registry


def run_cli(args: list[str], reg: intgkit.IntegrationRegistry) -> tuple[int, str]:
    out = io.StringIO()
    code = main(args, registry=reg, stdout=out)
    return code, out.getvalue()


def test_list_shows_configuration(reg: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    """`intgkit list` shows name, title, configured and the missing settings."""
    monkeypatch.delenv("CLI_TEST_API_KEY", raising=False)
    code, out = run_cli(["list"], reg)
    assert code == 0
    keyed = next(line for line in out.splitlines() if line.startswith("keyed"))
    assert "Needs a key" in keyed and " no " in keyed and "CLI_TEST_API_KEY" in keyed
    code, out = run_cli(["list", "--format", "json"], reg)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["echo"]["configured"] is True and rows["keyed"]["missing_settings"] == ["CLI_TEST_API_KEY"]


def test_run_exit_codes(reg: intgkit.IntegrationRegistry) -> None:
    """Exit 0 when all results are ok, 1 when some failed, 2 for usage errors."""
    assert run_cli(["run", "echo", "-t", "a"], reg)[0] == 0
    assert run_cli(["run", "echo", "broken", "-t", "a"], reg)[0] == 1
    assert run_cli(["run", "nope", "-t", "a"], reg)[0] == 2
    assert run_cli(["run", "echo", "--timeout", "-3", "-t", "a"], reg)[0] == 2
    assert run_cli(["run", "echo", "--max-concurrency", "0"], reg)[0] == 2
    assert run_cli(["run", "echo", "-t", "a\tb"], reg)[0] == 2


def test_run_formats_and_csv(reg: intgkit.IntegrationRegistry, tmp_path: Path) -> None:
    """--format json/csv/table print the results; --csv writes a readable export."""
    targets = tmp_path / "targets.txt"
    targets.write_text("# comment\nalpha\n\nbeta\n")
    code, out = run_cli(["run", "echo", "--targets-file", str(targets), "--format", "json"], reg)
    data = json.loads(out)
    assert code == 0 and [d["target"] for d in data] == ["alpha", "beta"]
    assert data[0]["sections"]["echo"] == [{"value": "alpha", "formula": "=1+1"}]
    code, out = run_cli(["run", "echo", "-t", "x", "--section", "echo", "--format", "csv"], reg)
    assert "'=1+1" in out  # formulas are neutralized in CSV output
    code, out = run_cli(["run", "echo", "-t", "x", "--csv", str(tmp_path / "export")], reg)
    assert code == 0 and "echo" in out
    frames = intgkit.read_csv(tmp_path / "export")
    assert list(frames["echo"]["formula"]) == ["=1+1"]


def test_unknown_section_and_bad_targets_file(reg: intgkit.IntegrationRegistry, tmp_path: Path) -> None:
    """An unknown --section and a missing --targets-file are usage errors."""
    assert run_cli(["run", "echo", "-t", "x", "--section", "nope"], reg)[0] == 2
    assert run_cli(["run", "echo", "--targets-file", str(tmp_path / "missing.txt")], reg)[0] == 2


@pytest.mark.slow
def test_demo_runs_offline(tmp_path: Path) -> None:
    """`intgkit demo` audits the local servers with every built-in integration and writes CSV."""
    proc = subprocess.run(
        [sys.executable, "-m", "intgkit.cli", "demo", "--csv", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "site.test     55     C" in proc.stdout
    for integration in ("http_headers", "tls_certificate", "dns_email", "cloudflare"):
        assert integration in proc.stdout
    assert "shop.site.test" in proc.stdout and "expiration" in proc.stdout
    frames = intgkit.read_csv(tmp_path / "demo")
    assert set(frames["summary"]["status"]) == {"ok"} and len(frames["findings"]) > 20

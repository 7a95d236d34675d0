"""``intgkit history`` and ``intgkit diff``: runs newest first, the changes, and the exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_history import T0, audit

from intgkit import History, Status, cli


def run_cli(*argv: str) -> tuple[int, str]:
    buf = io.StringIO()
    return cli.main(list(argv), stdout=buf), buf.getvalue()


@pytest.fixture
def store(history_path: Path) -> tuple[Path, list[str]]:
    """Three runs: an audit, a run of another integration, a changed audit (newest)."""
    h = History(history_path)
    ids = [h.record(audit("C", "none", False))]
    from intgkit import IntegrationResult, IntegrationResults

    dns = IntegrationResults([IntegrationResult("dns", "a.example", Status.OK, started_at=T0)])
    ids.append(h.record(dns))
    ids.append(h.record(audit("B", "unsafe-inline", True, b_status=Status.ERROR)))
    return history_path, ids


def test_history_lists_runs_newest_first(store: tuple[Path, list[str]]) -> None:
    """The table and the JSON list every run, newest first, with status counts."""
    path, ids = store
    code, text = run_cli("history", "--format", "json")
    assert code == 0
    rows = json.loads(text)
    assert [r["run_id"] for r in rows] == ids[::-1]
    assert (rows[0]["ok"], rows[0]["error"]) == (1, 1)
    code, text = run_cli("history", "--store", str(path))
    assert code == 0 and "(newest first)" in text
    assert text.index("1 ok") < text.index("dns") < text.index("2 ok")


def test_diff_defaults_to_the_last_two_comparable_runs(store: tuple[Path, list[str]]) -> None:
    """No run ids: the newest run and the previous one of the same integrations (not the dns run)."""
    _, ids = store
    code, text = run_cli("diff", "--format", "json")
    assert code == 0
    data = json.loads(text)
    assert (data["old"], data["new"]) == (ids[0], ids[2])
    assert {(r["key"], r["change"]) for r in data["results"]} == {
        ("observatory.grade", "changed"),
        ("observatory.score", "changed"),
        ("status", "changed"),
    }
    code, text = run_cli("diff", ids[0], ids[2])
    assert code == 0 and "observatory.grade" in text and "resolved" in text


def test_fail_on_new_exits_1_only_for_new_findings_that_severe(history_path: Path) -> None:
    """A new high finding fails --fail-on-new high and medium, not critical; no new one: 0."""
    h = History(history_path)
    old = h.record(audit("C", "ok", True))
    new = h.record(audit("C", "none", True))  # csp now fails: a new high finding
    assert run_cli("diff", old, new, "--fail-on-new", "high")[0] == 1
    assert run_cli("diff", old, new, "--fail-on-new", "medium")[0] == 1
    assert run_cli("diff", old, new, "--fail-on-new", "critical")[0] == 0
    assert run_cli("diff", new, old, "--fail-on-new", "info")[0] == 0  # only resolved ones
    assert run_cli("diff", new, new, "--fail-on-new", "info")[0] == 0


def test_diff_usage_errors_exit_2(history_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One run id, an unknown id, nothing to compare, a bad severity: exit 2 with a message."""
    h = History(history_path)
    only = h.record(audit("C", "ok", True))
    assert run_cli("diff", only)[0] == 2
    assert run_cli("diff", only, "nope")[0] == 2
    assert "no run 'nope'" in capsys.readouterr().err
    assert run_cli("diff")[0] == 2
    assert "no two runs of the same integrations" in capsys.readouterr().err
    assert run_cli("diff", "--fail-on-new", "severe")[0] == 2


def test_history_off_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    """With INTGKIT_HISTORY=off and no --store, the command says how to point it at a store."""
    assert run_cli("history")[0] == 2
    assert "turned off" in capsys.readouterr().err

"""The runner records each run once, at the end, also when cancelled; recording never breaks a run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import intgkit
from intgkit import History, IntegrationRunner
from intgkit._store import flush

OBSERVED = ["first"]


@pytest.fixture
def reg(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> intgkit.IntegrationRegistry:
    """Two integrations: one quick with rows and a declared secret setting, one slow."""
    monkeypatch.setenv("DEMO_TOKEN", "tok-never-stored-71c")
    OBSERVED[:] = ["first"]

    @intgkit.integration(
        registry=registry, settings=["DEMO_TOKEN", intgkit.Setting("DEMO_OPTIONAL_UNSET", required=False)]
    )
    async def quick(target, settings):  # type: ignore[no-untyped-def]
        if target == "bad":
            raise ConnectionError("refused")
        return {
            "findings": [
                {
                    "check": "c1",
                    "result_id": "r1",
                    "passed": False,
                    "severity": "high",
                    "observed": OBSERVED[0],
                }
            ]
        }

    @intgkit.integration(registry=registry)
    async def slow(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(30)
        return {}

    return registry


def test_a_run_is_recorded_in_the_given_store(reg: intgkit.IntegrationRegistry, tmp_path: Path) -> None:
    """run() records once; run_id is set; the stored run loads equal; settings: presence only."""
    path = tmp_path / "h.duckdb"
    results = IntegrationRunner(reg, history=path).run(["quick"], targets=["a", "bad"])
    assert results.run_id is not None
    h = History(path)
    runs = h.runs()
    assert runs["run_id"].tolist() == [results.run_id]
    assert runs[["ok", "error", "partial"]].values.tolist() == [[1, 1, False]]
    loaded = h.load(results.run_id)
    pd.testing.assert_frame_equal(loaded.to_frame(), results.to_frame())
    pd.testing.assert_frame_equal(loaded.to_frame("findings"), results.to_frame("findings"))
    with duckdb.connect(str(path), read_only=True) as con:
        settings = json.loads(con.execute("SELECT settings_present FROM runs").fetchall()[0][0])
    assert settings == {"quick": {"DEMO_TOKEN": True, "DEMO_OPTIONAL_UNSET": False}}


def test_default_store_follows_the_environment(reg: intgkit.IntegrationRegistry, history_path: Path) -> None:
    """Without history=, runs go to $INTGKIT_HISTORY; arun records too."""
    runner = IntegrationRunner(reg)
    first = runner.run(["quick"], targets=["a"])
    OBSERVED[0] = "second"
    second = asyncio.run(runner.arun(["quick"], targets=["a"]))
    assert History().runs()["run_id"].tolist() == [second.run_id, first.run_id]
    changes = History().diff(first.run_id, second.run_id, "findings")
    assert changes[["key", "change", "before", "after"]].values.tolist() == [
        ["c1", "changed", "first", "second"]
    ]


def test_history_none_records_nothing(reg: intgkit.IntegrationRegistry, history_path: Path) -> None:
    """history=None turns recording off for that runner."""
    results = IntegrationRunner(reg, history=None).run(["quick"], targets=["a"])
    flush()
    assert results.run_id is None and not history_path.exists()


def test_a_bad_store_warns_and_the_run_still_returns(
    reg: intgkit.IntegrationRegistry, tmp_path: Path
) -> None:
    """A store path that is a folder: the results come back, with a HistoryWarning naming the path."""
    with pytest.warns(intgkit.HistoryWarning, match=rf"{tmp_path}.*is a folder.*not recorded"):
        results = IntegrationRunner(reg, history=tmp_path).run(["quick"], targets=["a", "bad"])
    assert results.counts()["ok"] == 1 and results.run_id is None
    not_duckdb = tmp_path / "notes.duckdb"
    not_duckdb.write_text("a text file, not a database\n")
    with pytest.warns(intgkit.HistoryWarning, match=r"notes\.duckdb.*not a DuckDB file"):
        results = asyncio.run(IntegrationRunner(reg, history=not_duckdb).arun(["quick"], targets=["a"]))
    assert len(results) == 1


def test_a_cancelled_run_is_stored_as_partial(reg: intgkit.IntegrationRegistry, tmp_path: Path) -> None:
    """Cancelling a run stores it with partial=True and the results it had (the rest cancelled)."""
    path = tmp_path / "h.duckdb"
    runner = IntegrationRunner(reg, history=path)

    async def main() -> None:
        task = asyncio.ensure_future(runner.arun(["quick", "slow"], targets=["a", "b"]))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    last = runner.last_results
    assert last is not None and last.run_id is not None
    h = History(path)
    runs = h.runs()
    assert (
        runs[["partial", "ok"]].values.tolist() == [[True, 2]]
        and runs["error"].iloc[0] + runs["cancelled"].iloc[0] == 2
    )
    loaded = h.load(last.run_id)
    pd.testing.assert_frame_equal(loaded.to_frame(), last.to_frame())
    assert [r.error_type for r in loaded if r.integration == "slow"] == ["CancelledError", "CancelledError"]


def test_history_argument_is_checked(reg: intgkit.IntegrationRegistry) -> None:
    """history= takes a path, None or nothing; anything else is refused before any run."""
    for bad in ("", 42, ["a"]):
        with pytest.raises(intgkit.UsageError, match="history is a store file path"):
            IntegrationRunner(reg, history=bad)  # type: ignore[arg-type]

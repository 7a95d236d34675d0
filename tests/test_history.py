"""The run history: exact round trips, what changed, pruning, bad input, two writers, kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intgkit
from intgkit import History, IntegrationResult, IntegrationResults, IntegrationSection, Status
from intgkit._store import _db

DATA = Path(__file__).parent / "data"
T0 = datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=UTC)


def finding(
    target: str, check: str, result_id: str, passed: bool, severity: str, observed: str | None
) -> dict[str, Any]:
    return {
        "integration": "web",
        "target": target,
        "check": check,
        "result_id": result_id,
        "passed": passed,
        "severity": severity,
        "observed": observed,
        "expected": "x",
        "detail": "",
        "explanation": "why",
    }


def audit(grade: str, csp: str, hsts_passed: bool, b_status: Status = Status.OK) -> IntegrationResults:
    """Two targets of one web audit: findings plus a one-row observatory section."""
    a = IntegrationResult(
        "web",
        "a.example",
        Status.OK,
        (
            IntegrationSection(
                "findings",
                [
                    finding("a.example", "csp", "csp-" + csp, csp == "ok", "high", csp),
                    finding(
                        "a.example",
                        "hsts",
                        "hsts-ok" if hsts_passed else "hsts-missing",
                        hsts_passed,
                        "medium",
                        None,
                    ),
                    finding("a.example", "cookies", "cookies-none", True, "info", "no cookies"),
                ],
            ),
            IntegrationSection("observatory", [{"grade": grade, "score": {"C": 55, "B": 70}.get(grade, 0)}]),
        ),
        started_at=T0,
        duration_s=0.25,
    )
    b = (
        IntegrationResult(
            "web",
            "b.example",
            Status.OK,
            (
                IntegrationSection(
                    "findings", [finding("b.example", "csp", "csp-none", False, "high", "none")]
                ),
            ),
            started_at=T0,
            duration_s=0.5,
        )
        if b_status is Status.OK
        else IntegrationResult(
            "web", "b.example", b_status, error_type="ConnectionError", error="refused", started_at=T0
        )
    )
    return IntegrationResults([a, b])


def assert_same_frames(loaded: IntegrationResults, original: IntegrationResults) -> None:
    pd.testing.assert_frame_equal(loaded.to_frame(), original.to_frame())
    assert loaded.section_names() == original.section_names()
    for name in original.section_names():
        pd.testing.assert_frame_equal(loaded.to_frame(name), original.to_frame(name))


# -- round trips ---------------------------------------------------------------------------------------


def test_load_gives_the_runs_own_frames_and_results(history_path: Path) -> None:
    """load() rebuilds results (statuses, errors, sections, summaries) and equal frames."""
    h = History(history_path)
    original = audit("C", "none", False, b_status=Status.ERROR)
    run_id = h.record(original)
    assert original.run_id == run_id
    loaded = h.load(run_id)
    assert loaded.run_id == run_id
    assert_same_frames(loaded, original)
    assert [(r.integration, r.target, r.status, r.error_type, r.error) for r in loaded] == [
        ("web", "a.example", Status.OK, None, None),
        ("web", "b.example", Status.ERROR, "ConnectionError", "refused"),
    ]
    assert loaded[0].started_at == T0 and loaded[1].sections == ()
    rows = loaded[0].section("observatory").rows
    assert len(rows) == 1 and rows[0] == {"grade": "C", "score": 55}


def test_dataframe_sections_keep_their_dtypes_exactly(history_path: Path) -> None:
    """The DuckDB traps (ordered categoricals, ns tz truncation, NaN as NULL, mixed dicts) are undone."""
    frame = pd.DataFrame(
        {
            "kind": pd.Categorical(["http", "db", None], categories=["http", "db", "dns"]),
            "ranked": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
            "name": pd.array(["github", "", pd.NA], dtype="string"),
            "when": pd.to_datetime(["2026-01-01 10:00:00.123456789"] * 2 + [None])
            .tz_localize("UTC")
            .tz_convert("Europe/Paris"),
            "naive": pd.to_datetime(["2026-01-01 10:00:00.000000001", None, "1999-12-31 00:00:00.000000000"]),
            "wait": pd.to_timedelta([1, None, 86_400_000_000_123], unit="ns"),
            "retries": pd.array([0, None, 2], dtype="Int64"),
            "ratio": pd.arrays.FloatingArray(np.array([0.5, 0.0, np.nan]), np.array([False, True, False])),
            "plain": [1.5, np.nan, float("inf")],
            "flag": pd.array([True, None, False], dtype="boolean"),
            "big": np.array([2**63 + 5, 0, 1], dtype=np.uint64),
            "payload": pd.Series([{"a": 1, "b": [1, {"c": None}]}, {"x": "1"}, None], dtype=object),
            "mixed": pd.Series([1, "1", pd.NA], dtype=object),
            "long": ["é" * 100_000, "'=cmd", "line\nbreak\r\n\ttab"],
        }
    )
    original = IntegrationResults(
        [IntegrationResult("db", f"t{i}", Status.OK, (IntegrationSection("rows", frame),)) for i in range(3)]
    )
    h = History(history_path)
    loaded = h.load(h.record(original))
    assert_same_frames(loaded, original)
    got = loaded.to_frame("rows")
    assert got["ranked"].cat.ordered and not got["kind"].cat.ordered
    assert got["when"].iloc[0].nanosecond == 789
    assert got["payload"].iloc[0] == {"a": 1, "b": [1, {"c": None}]} and got["mixed"].iloc[1] == "1"


def test_codec_keeps_nan_apart_from_na_in_masked_floats() -> None:
    """A masked float's NaN (a value) and NA (missing) both survive DuckDB, which stores NULL for both."""
    from intgkit._store._codec import decode_column, encode_column

    column = pd.Series(pd.arrays.FloatingArray(np.array([0.5, 0.0, np.nan]), np.array([False, True, False])))
    spec, sql_type, cells = encode_column(column)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t (v {sql_type})")
    con.register("cells", pd.DataFrame({"v": cells}))
    con.execute("INSERT INTO t SELECT v FROM cells")
    back = pd.Series(decode_column(con.sql("SELECT v FROM t").df()["v"], json.loads(json.dumps(spec))))
    assert back.isna().tolist() == [False, True, False] and np.isnan(back.array.to_numpy(na_value=0.0)[2])
    pd.testing.assert_series_equal(back, column)


cells = st.one_of(
    st.none(),
    st.text(max_size=30),
    st.text(min_size=2000, max_size=3000),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.datetimes(timezones=st.just(UTC), min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.recursive(
        st.one_of(st.none(), st.text(max_size=5), st.integers(-1000, 1000), st.booleans()),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=6,
    ),
)
column_names = st.sampled_from(["a", "b", "observed", "run_id", "A", "x y", "ünï", ""])
rows = st.lists(st.dictionaries(column_names, cells, max_size=4), min_size=1, max_size=4)
results_strategy = st.lists(
    st.tuples(
        st.sampled_from(["alpha", "beta"]),
        st.sampled_from(list(Status)),
        st.lists(
            st.tuples(st.sampled_from(["s1", "findings", "s 2"]), rows), max_size=2, unique_by=lambda t: t[0]
        ),
        st.one_of(st.none(), st.text(max_size=20)),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=results_strategy)
def test_round_trip_of_any_run(
    spec: list[tuple[str, Status, list[tuple[str, list[dict[str, Any]]]], str | None]], tmp_path: Path
) -> None:
    """Any run's summary and section frames come back equal (NA vs "", nesting, tz, long text)."""
    items = [
        IntegrationResult(
            name,
            f"t{i}",
            status,
            tuple(IntegrationSection(s, r, {"n": len(r)}) for s, r in sections),
            error=error,
            started_at=T0 + timedelta(microseconds=i) if i % 2 else None,
            duration_s=float(i),
        )
        for i, (name, status, sections, error) in enumerate(spec)
    ]
    original = IntegrationResults(items)
    h = History(tmp_path / "runs.duckdb")  # one store for every example: columns of many types meet
    loaded = h.load(h.record(original))
    assert_same_frames(loaded, original)
    for a, b in zip(loaded, original, strict=True):
        assert [(s.name, s.n_rows, dict(s.summary)) for s in a.sections] == [
            (s.name, s.n_rows, dict(s.summary)) for s in b.sections
        ]


def test_runs_lists_newest_first_with_counts(history_path: Path) -> None:
    """runs(): one row per run, newest first, counts by status, partial flag."""
    h = History(history_path)
    first = h.record(audit("C", "none", False))
    second = h.record(audit("C", "none", False, b_status=Status.TIMEOUT), partial=True)
    runs = h.runs()
    assert runs["run_id"].tolist() == [second, first]
    assert runs[["ok", "timeout", "error", "n_results", "n_targets"]].values.tolist() == [
        [1, 1, 0, 2, 2],
        [2, 0, 0, 2, 2],
    ]
    assert runs["partial"].tolist() == [True, False]
    assert runs["integrations"].tolist() == ["web", "web"]
    assert str(runs["started_at"].dtype) == "datetime64[us, UTC]"


# -- what changed ------------------------------------------------------------------------------------


def test_diff_reports_status_grade_and_observed_changes(history_path: Path) -> None:
    """ok -> error, a grade change and a changed observed value all appear; a run vs itself is empty."""
    h = History(history_path)
    old = h.record(audit("C", "none", False))
    new = h.record(audit("B", "unsafe-inline", True, b_status=Status.ERROR))
    changes = h.diff(old, new)
    got = changes.astype(object).where(changes.notna(), None).values.tolist()
    assert got == [
        ["web", "a.example", "observatory.grade", "changed", "C", "B"],
        ["web", "a.example", "observatory.score", "changed", "55", "70"],
        ["web", "b.example", "status", "changed", "ok", "error"],
    ]
    findings = h.diff(old, new, "findings")
    got = findings[["target", "key", "change", "severity", "before", "after"]]
    assert got.astype(object).where(got.notna(), None).values.tolist() == [
        ["a.example", "hsts", "resolved", "medium", None, None],
        ["a.example", "csp", "changed", "high", "none", "unsafe-inline"],
    ]  # b.example's findings are not compared: its call failed in the new run
    assert h.diff(new, new).empty and h.diff(new, new, "findings").empty
    assert list(findings.columns) == [
        "integration",
        "target",
        "key",
        "change",
        "before",
        "after",
        "severity",
        "result_before",
        "result_after",
    ]


def test_new_findings_and_repeated_checks_are_keyed_stably(history_path: Path) -> None:
    """A failing check that appears is new; the n-th repeat of a check on a target is key check#n."""
    h = History(history_path)
    old = audit("C", "ok", True)
    new_items = list(audit("C", "ok", True))
    extra = IntegrationSection(
        "findings",
        [
            *new_items[0].section("findings").rows,
            finding("a.example", "cookies", "cookies-insecure", False, "low", "sid"),
        ],
    )
    new_items[0] = IntegrationResult(
        "web", "a.example", Status.OK, (extra, new_items[0].sections[1]), started_at=T0
    )
    a, b = h.record(old), h.record(IntegrationResults(new_items))
    findings = h.diff(a, b, "findings")
    assert findings[["target", "key", "change", "severity", "after"]].values.tolist() == [
        ["a.example", "cookies#2", "new", "low", "sid"],
        ["a.example", "csp", "new", "high", "none"],
    ] or findings[["target", "key", "change"]].values.tolist()[0] == ["a.example", "cookies#2", "new"]
    reverse = h.diff(b, a, "findings")
    assert set(reverse["change"]) == {"resolved"}


def test_results_diff_in_memory_matches_the_store(history_path: Path) -> None:
    """results.diff(old) gives the frames History.diff gives for the same two runs."""
    h = History(history_path)
    old, new = audit("C", "none", False), audit("B", "unsafe-inline", True, b_status=Status.ERROR)
    a, b = h.record(old), h.record(new)
    pd.testing.assert_frame_equal(new.diff(old), h.diff(a, b))
    pd.testing.assert_frame_equal(new.diff(old, "findings"), h.diff(a, b, "findings"))
    pd.testing.assert_frame_equal(new.diff(h.load(a)), h.diff(a, b))
    assert old.diff(old).empty


def test_default_diff_takes_the_last_two_comparable_runs(history_path: Path) -> None:
    """diff() with no ids compares the two newest runs of the same integrations."""
    h = History(history_path)
    a = h.record(audit("C", "none", False))
    other = IntegrationResults([IntegrationResult("dns", "a.example", Status.OK, started_at=T0)])
    h.record(other)
    b = h.record(audit("B", "none", False))
    assert h.last_comparable() == (a, b)
    assert h.diff()["key"].tolist() == ["observatory.grade", "observatory.score"]


def test_prune_keeps_the_newest_and_drops_old_runs(history_path: Path) -> None:
    """prune(keep=N) and prune(older_than=...) delete whole runs from every table."""
    h = History(history_path)
    now = datetime.now(UTC)
    ids = [h.record(audit("C", "none", False), started_at=now - timedelta(days=10 - i)) for i in range(4)]
    assert h.prune(keep=2) == 2
    assert h.runs()["run_id"].tolist() == ids[:1:-1]
    with duckdb.connect(str(history_path)) as con:
        left = {
            t: con.execute(f"SELECT count(DISTINCT run_id) FROM {t}").fetchall()[0][0]
            for t in ("results", "result_sections", "frame_columns", "section_findings")
        }
    assert left == dict.fromkeys(left, 2)
    assert h.prune(older_than="7.5d") == 1  # the run of 8 days ago; 7 days ago stays
    assert h.runs()["run_id"].tolist() == [ids[3]]
    assert h.prune(older_than=timedelta(hours=1)) == 1
    assert h.runs().empty
    with pytest.raises(intgkit.UsageError, match="older_than"):
        h.prune(older_than="ninety days")
    with pytest.raises(intgkit.UsageError, match="keep"):
        h.prune(keep=-1)


def test_tables_are_plain_sql(history_path: Path) -> None:
    """The documented tables answer plain SQL from DuckDB itself."""
    h = History(history_path)
    h.record(audit("C", "none", False))
    with duckdb.connect(str(history_path), read_only=True) as con:
        high = con.execute(
            'SELECT target, "check" FROM section_findings '
            "WHERE severity = 'high' AND NOT passed ORDER BY target"
        ).fetchall()
        status = con.execute("SELECT status, count(*) FROM results GROUP BY status").fetchall()
        version = con.execute("SELECT max(version) FROM schema_version").fetchall()
    assert high == [("a.example", "csp"), ("b.example", "csp")]
    assert status == [("ok", 2)]
    assert version == [(1,)]


# -- files made by this version, and bad input ------------------------------------------------------


V1_FILE = DATA / "history_v1.duckdb"


def make_v1_file(path: Path) -> None:
    """Made tests/data/history_v1.duckdb (by hand, with schema version 1); small 16 KiB blocks
    keep the file at a few hundred KiB instead of DuckDB's default 256 KiB per block."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS store (BLOCK_SIZE 16384)")
    con.close()
    h = History(path)
    h.record(audit("C", "none", False), started_at=T0)
    h.record(audit("B", "unsafe-inline", True, b_status=Status.ERROR), started_at=T0 + timedelta(days=7))


def test_a_store_written_by_schema_v1_opens_and_loads(tmp_path: Path) -> None:
    """tests/data holds a store made by schema version 1; it opens, lists, loads and diffs."""
    copy = tmp_path / "v1.duckdb"
    copy.write_bytes(V1_FILE.read_bytes())
    h = History(copy)
    runs = h.runs()
    assert len(runs) == 2 and runs["started_at"].tolist() == [T0 + timedelta(days=7), T0]
    assert_same_frames(h.load(runs["run_id"].iloc[1]), audit("C", "none", False))
    assert h.diff()["key"].tolist() == ["observatory.grade", "observatory.score", "status"]


def test_a_store_from_a_newer_intgkit_is_refused(history_path: Path) -> None:
    """A schema version above this intgkit's names the path and says to upgrade."""
    History(history_path).record(audit("C", "none", False))
    with duckdb.connect(str(history_path)) as con:
        con.execute("INSERT INTO schema_version VALUES (99, now()::TIMESTAMP, 'future')")
    with pytest.raises(intgkit.HistoryError, match=r"runs\.duckdb.*newer intgkit.*upgrade"):
        History(history_path).runs()


def test_bad_store_paths_name_the_path(tmp_path: Path) -> None:
    """A folder, a non-DuckDB file, a DuckDB file of something else and a corrupt file: clear errors."""
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(intgkit.HistoryError, match=r"folder.*is a folder"):
        History(folder).runs()
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database at all\n")
    with pytest.raises(intgkit.HistoryError, match=r"notes\.txt.*not a DuckDB file"):
        History(text).runs()
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE sales (x INTEGER)")
    with pytest.raises(intgkit.HistoryError, match=r"other\.duckdb.*not an intgkit run history"):
        History(other).runs()
    corrupt = tmp_path / "corrupt.duckdb"
    good = tmp_path / "good.duckdb"
    History(good).record(audit("C", "none", False))
    data = bytearray(good.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    corrupt.write_bytes(bytes(data))
    with pytest.raises(intgkit.HistoryError, match=r"corrupt\.duckdb"):
        History(corrupt).runs()
    with pytest.raises(intgkit.HistoryError, match=r"missing\.duckdb.*does not exist"):
        History(tmp_path / "missing.duckdb").load("x")


def test_a_store_under_a_file_is_refused(tmp_path: Path) -> None:
    """A store path whose folder is a file names the path before any work."""
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(intgkit.HistoryError, match=r"plain-file.*cannot create its folder"):
        History(blocker / "runs.duckdb").record(audit("C", "none", False))


def test_unknown_run_id_lists_the_newest(history_path: Path) -> None:
    """An unknown run id is a UsageError that names the store and the newest ids."""
    h = History(history_path)
    run_id = h.record(audit("C", "none", False))
    with pytest.raises(intgkit.UnknownRunError, match=rf"no run 'nope'.*{run_id}") as info:
        h.load("nope")
    assert str(history_path) in str(info.value)
    with pytest.raises(intgkit.UnknownRunError):
        h.diff(run_id, "nope")
    with pytest.raises(intgkit.UsageError, match="both run ids"):
        h.diff(run_id)
    with pytest.raises(intgkit.UsageError, match="'results' or 'findings'"):
        h.diff(run_id, run_id, "grades")


def test_default_path_is_the_user_data_folder_or_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """INTGKIT_HISTORY moves the store or turns it off; unset, platformdirs' user data folder."""
    from intgkit._store import default_path

    monkeypatch.setenv("INTGKIT_HISTORY", str(tmp_path / "x.duckdb"))
    assert default_path() == tmp_path / "x.duckdb" and History().path == tmp_path / "x.duckdb"
    monkeypatch.setenv("INTGKIT_HISTORY", "off")
    assert default_path() is None
    with pytest.raises(intgkit.UsageError, match="turned off"):
        History()
    monkeypatch.delenv("INTGKIT_HISTORY")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_path() == tmp_path / "data" / "intgkit" / "history.duckdb"


# -- two writers, kills, spooling --------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_history import audit
    from intgkit import History
    h = History(sys.argv[1], lock_timeout=float(sys.argv[3]))
    for i in range(int(sys.argv[2])):
        print(h.record(audit("C", "none", i % 2 == 0)), flush=True)
    """
).format(tests=str(Path(__file__).parent))


def _writer(path: Path, n: int, lock_timeout: float = 30.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(n), str(lock_timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_writer_processes_lose_no_run(history_path: Path) -> None:
    """Two processes recording at once: every run of both is stored and loads."""
    procs = [_writer(history_path, 5), _writer(history_path, 5)]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids += out.split()
    h = History(history_path)
    assert sorted(h.runs()["run_id"]) == sorted(ids) and len(ids) == 10
    for run_id in ids[::5]:
        assert len(h.load(run_id)) == 2


def test_a_locked_store_spools_the_run_and_the_next_opener_merges_it(history_path: Path) -> None:
    """A writer that cannot get the lock in time writes a spool file; nothing is lost."""
    History(history_path).record(audit("C", "none", False))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
            "time.sleep(60)",
            str(history_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        spooled = _writer(history_path, 1, lock_timeout=0.2)
        out, err = spooled.communicate(timeout=60)
        assert spooled.returncode == 0, err
        assert list((history_path.parent / "runs.duckdb.pending").glob("*.duckdb"))
    finally:
        holder.kill()
        holder.communicate()
    runs = History(history_path).runs()
    assert out.strip() in runs["run_id"].tolist() and len(runs) == 2
    assert not list((history_path.parent / "runs.duckdb.pending").glob("*.duckdb"))


@pytest.mark.slow
def test_a_writer_killed_at_any_moment_leaves_every_earlier_run(history_path: Path) -> None:
    """SIGKILL during writes, at several moments: the store opens and every finished run loads."""
    finished: list[str] = []
    for extra in (0.0, 0.05, 0.13, 0.31):  # after its first run, at different points of later writes
        proc = _writer(history_path, 1000)
        assert proc.stdout is not None
        finished.append(proc.stdout.readline().strip())
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        finished += out.split()
    h = History(history_path)
    stored = set(h.runs()["run_id"])
    assert set(finished) <= stored and finished
    assert_same_frames(h.load(finished[0]), audit("C", "none", True))  # each writer's first run
    for run_id in sorted(stored):
        assert len(h.load(run_id)) == 2


def test_background_recording_failure_warns_and_keeps_the_run(tmp_path: Path) -> None:
    """A store that turns out corrupt when written: the write fails later, reported by flush()."""
    from intgkit._store import _history

    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"\0" * 8 + b"DUCK" + os.urandom(20000))
    results = audit("C", "none", False)
    run_id = _history.record_in_background(
        bad, results, started_at=None, partial=False, integrations=["web"], settings_present={}
    )
    assert run_id is not None
    with pytest.warns(intgkit.HistoryWarning, match=rf"{run_id} was not recorded in .*bad\.duckdb"):
        _history.flush(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _history.flush(bad)  # reported once


def test_stored_cells_are_what_the_store_says(history_path: Path) -> None:
    """frame_columns describes each stored column; specs are JSON with a kind."""
    h = History(history_path)
    run_id = h.record(audit("C", "none", False))
    with duckdb.connect(str(history_path), read_only=True) as con:
        specs = con.execute(
            "SELECT name, spec FROM frame_columns WHERE run_id = ? AND frame = 'summary' ORDER BY ordinal",
            [run_id],
        ).fetchall()
    assert [n for n, _ in specs] == list(intgkit.frames.SUMMARY_COLUMNS)
    assert json.loads(specs[2][1])["kind"] == "category"
    assert _db.SCHEMA_VERSION == 1

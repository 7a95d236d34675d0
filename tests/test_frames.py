"""Frames (summary and tidy sections) and CSV/Parquet exports that read back exactly."""

from __future__ import annotations

import json
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import intgkit
from intgkit import (
    ExportError,
    IntegrationResult,
    IntegrationResults,
    IntegrationSection,
    MissingExtraError,
    Status,
    UnknownSectionError,
    UsageError,
    frames,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def result(
    integration: str = "dns",
    target: str | None = "a.example",
    sections: dict[str, Any] | None = None,
    status: Status = Status.OK,
    **kw: Any,
) -> IntegrationResult:
    secs = tuple(
        IntegrationSection(name, rows if isinstance(rows, pd.DataFrame) else tuple(rows))
        for name, rows in (sections or {}).items()
    )
    kw.setdefault("started_at", T0)
    kw.setdefault("duration_s", 0.25)
    return IntegrationResult(integration, target, status, secs, **kw)


def run_two(registry: intgkit.IntegrationRegistry) -> IntegrationResults:
    """A real run: an async integration with dict rows, a sync one with a DataFrame, one failure."""

    @intgkit.integration(name="records", registry=registry)
    async def records(target):  # type: ignore[no-untyped-def]
        return {
            "rows": [{"host": target, "ttl": 300, "ok": True}, {"host": target, "ttl": -5, "note": "=1+1"}]
        }

    @intgkit.integration(name="table", registry=registry)
    def table(target):  # type: ignore[no-untyped-def]
        return {"rows": pd.DataFrame({"host": [target], "ttl": [60]})}

    @intgkit.integration(name="broken", registry=registry)
    def broken(target):  # type: ignore[no-untyped-def]
        raise RuntimeError("no route")

    runner = intgkit.IntegrationRunner(registry, timeout=5)
    return runner.run(["records", "table", "broken"], targets=["a.example", "b.example"])


def assert_round_trip(results: IntegrationResults, back: dict[str, pd.DataFrame]) -> None:
    expected = results.to_frames()
    assert list(back) == list(expected)
    for key, frame in expected.items():
        pd.testing.assert_frame_equal(back[key], frame)


# -- summary ------------------------------------------------------------------------------------


def test_summary_columns_and_dtypes_from_a_real_run(registry: intgkit.IntegrationRegistry) -> None:
    """The summary has the documented columns in order, with the documented dtypes."""
    results = run_two(registry)
    frame = results.to_frame()
    assert list(frame.columns) == list(frames.SUMMARY_COLUMNS)
    assert len(frame) == 6
    text = pd.StringDtype()
    for name in ("integration", "target", "error_type", "error", "breaker_state"):
        assert frame[name].dtype == text, name
    assert isinstance(frame["status"].dtype, pd.CategoricalDtype)
    assert list(frame["status"].cat.categories) == [s.value for s in Status]
    assert frame["started_at"].dtype == pd.DatetimeTZDtype("us", "UTC")
    assert frame["duration_s"].dtype == np.float64
    assert frame["n_sections"].dtype == np.int64 and frame["n_rows"].dtype == np.int64
    assert frame["status"].value_counts()["timeout"] == 0
    assert list(frame["status"].astype(str)) == ["ok", "ok", "ok", "ok", "error", "error"]
    assert list(frame["n_rows"]) == [2, 2, 1, 1, 0, 0]
    assert frame["error"].iloc[4] == "no route" and pd.isna(frame["error"].iloc[0])


def test_empty_run_gives_an_empty_summary_with_the_same_dtypes() -> None:
    """No results: zero rows, but the same columns and dtypes as a full summary."""
    empty = IntegrationResults([]).to_frame()
    full = IntegrationResults([result()]).to_frame()
    assert len(empty) == 0
    pd.testing.assert_series_equal(empty.dtypes, full.dtypes)
    assert list(IntegrationResults([]).to_frames()) == ["summary"]


def test_cancelled_call_has_nat_start_and_nan_duration() -> None:
    """A result without a start time or duration shows NaT and NaN, not an error."""
    cancelled = result(status=Status.ERROR, started_at=None, duration_s=math.nan, error_type="CancelledError")
    frame = IntegrationResults([cancelled, result(started_at=datetime(2024, 1, 1))]).to_frame()
    assert pd.isna(frame["started_at"].iloc[0]) and math.isnan(frame["duration_s"].iloc[0])
    assert frame["started_at"].iloc[1] == pd.Timestamp("2024-01-01", tz="UTC")  # naive taken as UTC


# -- sections -----------------------------------------------------------------------------------


def test_section_rows_from_a_real_run_are_tidy(registry: intgkit.IntegrationRegistry) -> None:
    """Rows from dicts and DataFrames of every result, integration and target first."""
    frame = run_two(registry).to_frame("rows")
    assert list(frame.columns) == ["integration", "target", "host", "ttl", "ok", "note"]
    assert list(frame["integration"]) == ["records"] * 4 + ["table"] * 2
    assert list(frame["target"]) == [
        "a.example",
        "a.example",
        "b.example",
        "b.example",
        "a.example",
        "b.example",
    ]
    assert frame["ttl"].dtype == np.int64 and list(frame["ttl"]) == [300, -5, 300, -5, 60, 60]
    assert frame["ok"].dtype == "boolean" and frame["ok"].isna().sum() == 4
    assert frame["integration"].dtype == pd.StringDtype()


def test_rows_with_different_keys_are_unioned_in_order_of_first_appearance() -> None:
    """Missing cells become NA, no row or column is dropped, columns keep first appearance."""
    r = result(sections={"s": [{"b": 1, "a": "x"}, {"c": 2.5}, {"a": "y", "d": None}]})
    frame = IntegrationResults([r]).to_frame("s")
    assert list(frame.columns) == ["integration", "target", "b", "a", "c", "d"]
    assert len(frame) == 3
    assert frame["b"].dtype == "Int64" and list(frame["b"].isna()) == [False, True, True]
    assert frame["a"].dtype == pd.StringDtype() and list(frame["a"].isna()) == [False, True, False]
    assert frame["c"].dtype == np.float64 and frame["c"].iloc[1] == 2.5
    assert frame["d"].isna().all()


def test_unknown_section_lists_the_sections_that_exist() -> None:
    """Asking for a section no result produced raises UnknownSectionError naming the real ones."""
    results = IntegrationResults([result(sections={"dns": [{"a": 1}], "tls": []})])
    with pytest.raises(UnknownSectionError) as info:
        results.to_frame("certs")
    assert "'dns'" in str(info.value) and "'tls'" in str(info.value) and "'certs'" in str(info.value)
    assert info.value.available == ["dns", "tls"]


def test_a_section_with_no_rows_gives_the_tidy_columns() -> None:
    """A section that exists but is empty is an empty frame, not an error."""
    frame = IntegrationResults([result(sections={"s": []})]).to_frame("s")
    assert list(frame.columns) == ["integration", "target"] and len(frame) == 0


def test_nested_values_stay_intact_unless_flattened() -> None:
    """Dicts and lists stay objects; flatten=True gives dotted columns and keeps lists whole."""
    nested = {"issuer": {"cn": "R3", "org": {"name": "LE"}}, "sans": ["a", "b"], "empty": {}}
    results = IntegrationResults([result(sections={"cert": [nested, {"issuer": "plain"}]})])
    frame = results.to_frame("cert")
    assert frame["issuer"].dtype == object
    assert (
        frame["issuer"].iloc[0] == {"cn": "R3", "org": {"name": "LE"}} and frame["issuer"].iloc[1] == "plain"
    )
    assert frame["sans"].iloc[0] == ["a", "b"]
    flat = results.to_frame("cert", flatten=True)
    assert list(flat.columns) == [
        "integration",
        "target",
        "issuer.cn",
        "issuer.org.name",
        "sans",
        "empty",
        "issuer",
    ]
    assert flat["issuer.org.name"].iloc[0] == "LE" and flat["sans"].iloc[0] == ["a", "b"]
    assert flat["empty"].iloc[0] == {} and flat["issuer"].iloc[1] == "plain"


def test_flatten_refuses_a_dotted_key_that_collides() -> None:
    """A nested key and an existing dotted key for the same column is an error, not an overwrite."""
    results = IntegrationResults([result(sections={"s": [{"a.b": 1, "a": {"b": 2}}]})])
    with pytest.raises(UsageError, match=r"'a\.b'"):
        results.to_frame("s", flatten=True)


@pytest.mark.parametrize("uniform", [True, False])
def test_a_rows_own_integration_and_target_are_never_overwritten(uniform: bool) -> None:
    """Equal values merge; differing ones are kept in row_integration / row_target."""
    rows = [
        {"integration": "dns", "target": "a.example", "v": 1},
        {"integration": "other", "target": "elsewhere", "v": 2},
    ]
    if not uniform:
        rows.append({"v": 3})
    frame = IntegrationResults([result(sections={"s": rows})]).to_frame("s")
    assert list(frame.columns) == ["integration", "target", "row_integration", "row_target", "v"]
    assert set(frame["integration"]) == {"dns"} and set(frame["target"]) == {"a.example"}
    assert pd.isna(frame["row_integration"].iloc[0]) and frame["row_integration"].iloc[1] == "other"
    assert frame["row_target"].iloc[1] == "elsewhere"


def test_equal_integration_and_target_keys_merge_without_extra_columns() -> None:
    """Rows that repeat the result's own integration and target add no column."""
    rows = [{"integration": "dns", "target": "a.example", "v": 1}]
    frame = IntegrationResults([result(sections={"s": rows})]).to_frame("s")
    assert list(frame.columns) == ["integration", "target", "v"]


def test_dataframe_sections_keep_their_dtypes_and_mix_with_dict_rows() -> None:
    """Sections of DataFrames keep their dtypes; mixed with dict rows they are inferred again."""
    df = pd.DataFrame({"kind": pd.Categorical(["A", "MX"]), "n": pd.array([1, None], dtype="Int64")})
    only_frames = IntegrationResults([result(sections={"s": df}), result(target="b", sections={"s": df})])
    frame = only_frames.to_frame("s")
    assert isinstance(frame["kind"].dtype, pd.CategoricalDtype) and frame["n"].dtype == "Int64"
    assert len(frame) == 4 and list(frame["target"]) == ["a.example", "a.example", "b", "b"]
    mixed = IntegrationResults([result(sections={"s": df}), result(target="b", sections={"s": [{"x": 1.5}]})])
    frame = mixed.to_frame("s")
    assert list(frame.columns) == ["integration", "target", "kind", "n", "x"]
    assert list(frame["kind"].iloc[:2]) == ["A", "MX"] and pd.isna(frame["kind"].iloc[2])
    assert frame["x"].iloc[2] == 1.5 and math.isnan(frame["x"].iloc[0])


def test_odd_values_are_kept_not_coerced() -> None:
    """Ints beyond int64 and mixed types stay Python objects; datetimes become datetime64."""
    rows = [{"big": 2**70, "mix": 1, "when": T0}, {"big": 1, "mix": "one", "when": T0 + timedelta(seconds=1)}]
    frame = IntegrationResults([result(sections={"s": rows})]).to_frame("s")
    assert frame["big"].dtype == object and frame["big"].iloc[0] == 2**70
    assert frame["mix"].dtype == object and list(frame["mix"]) == [1, "one"]
    assert frame["when"].dtype.kind == "M" and frame["when"].iloc[1] == pd.Timestamp(T0) + pd.Timedelta(
        seconds=1
    )


def test_to_frames_keys_a_section_named_summary_apart_from_the_summary() -> None:
    """The summary is "summary"; a section named summary is "section_summary"."""
    results = IntegrationResults([result(sections={"summary": [{"a": 1}], "section_summary": [{"b": 2}]})])
    keyed = results.to_frames()
    assert list(keyed) == ["summary", "section_summary", "section_section_summary"]
    assert list(keyed["summary"].columns) == list(frames.SUMMARY_COLUMNS)
    assert list(keyed["section_summary"]["a"]) == [1] and list(keyed["section_section_summary"]["b"]) == [2]
    assert frames.frame_key("summaryx") == "summaryx"


# -- CSV export -------------------------------------------------------------------------------------


def test_csv_export_writes_a_manifest_and_reads_back_equal(
    registry: intgkit.IntegrationRegistry, tmp_path: Path
) -> None:
    """to_csv creates the folder, writes summary, sections and manifest; read_csv gives them back."""
    results = run_two(registry)
    out = results.to_csv(tmp_path / "deep" / "export")
    assert out == (tmp_path / "deep" / "export").resolve()
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "rows.csv", "summary.csv"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == frames.FORMAT_VERSION and manifest["neutralized_formulas"] is True
    status = next(c for c in manifest["tables"]["summary"]["columns"] if c["name"] == "status")
    assert status["categories"] == [s.value for s in Status]
    assert manifest["tables"]["rows"]["file"] == "rows.csv"
    assert_round_trip(results, frames.read_csv(out))


def test_formulas_are_neutralized_reversibly_and_numbers_stay_numbers(tmp_path: Path) -> None:
    """Text starting with = + - @ tab CR LF (OWASP's list) or ' gets a ' prefix; "" stays empty;
    negative numbers are untouched."""
    texts = ["=SUM(A1)", "+1", "-2", "@x", "\tTAB", "\rCR", "'quoted", "", "plain", " =spaced", "\nLF"]
    rows = [{"text": t, "n": -5, "f": -1.5} for t in texts]
    results = IntegrationResults([result(sections={"s": rows})])
    out = results.to_csv(tmp_path / "on")
    data = pd.read_csv(out / "s.csv", dtype=str, keep_default_na=False)
    assert list(data["text"]) == [
        "'=SUM(A1)",
        "'+1",
        "'-2",
        "'@x",
        "'\tTAB",
        "'\rCR",
        "''quoted",
        "",
        "plain",
        " =spaced",
        "'\nLF",
    ]
    assert set(data["n"]) == {"-5"} and set(data["f"]) == {"-1.5"}
    assert_round_trip(results, frames.read_csv(out))
    off = results.to_csv(tmp_path / "off", neutralize_formulas=False)
    data = pd.read_csv(off / "s.csv", dtype=str, keep_default_na=False)
    assert list(data["text"])[:6] == texts[:6] and data["text"].iloc[6] == "''quoted"
    assert json.loads((off / "manifest.json").read_text(encoding="utf-8"))["neutralized_formulas"] is False
    assert_round_trip(results, frames.read_csv(off))


def test_header_cells_are_neutralized_too(tmp_path: Path) -> None:
    """A row key that looks like a formula cannot run from the header row; it reads back as it was."""
    results = IntegrationResults([result(sections={"s": [{"=cmd|' /C calc'!A0": 1, "": 2}]})])
    out = results.to_csv(tmp_path / "x")
    header = (out / "s.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("integration,target,'=cmd|")
    assert_round_trip(results, frames.read_csv(out))


def test_empty_string_and_na_stay_distinct(tmp_path: Path) -> None:
    """ "" and NA in text, and None in object columns, are told apart after a round trip."""
    rows = [{"t": ""}, {"t": None}, {"t": "x"}]
    results = IntegrationResults([result(sections={"s": rows}, error="")])
    back = frames.read_csv(results.to_csv(tmp_path / "x"))
    assert back["s"]["t"].iloc[0] == "" and pd.isna(back["s"]["t"].iloc[1])
    assert back["summary"]["error"].iloc[0] == "" and pd.isna(back["summary"]["error_type"].iloc[0])
    assert_round_trip(results, back)


def test_nested_and_mixed_object_columns_round_trip_as_json(tmp_path: Path) -> None:
    """Dict and list cells, and mixed scalars, come back equal; the manifest says json."""
    rows = [{"o": {"a": [1, 2.5, None, "=x"]}, "m": 1}, {"o": [], "m": "one"}, {"o": None, "m": True}]
    results = IntegrationResults([result(sections={"s": rows})])
    out = results.to_csv(tmp_path / "x")
    columns = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["tables"]["s"]["columns"]
    assert {c["name"]: c["encoding"] for c in columns}["o"] == "json"
    assert_round_trip(results, frames.read_csv(out))


text_cells = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12),
    st.sampled_from(["", "'", "''", "=1", "+1", "-1", "@a", "\t", "\r", "\n", "\r\n", '"', '""', ",", "é✓𝄞"]),
    st.builds(
        lambda a, b: a + b, st.sampled_from(["=", "+", "-", "@", "'", "\t", "\r", '"']), st.text(max_size=5)
    ),
)
cells = st.fixed_dictionaries(
    {
        "text": text_cells,
        "int": st.integers(min_value=-(2**63), max_value=2**63 - 1),
        "float": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()),
        "flag": st.booleans(),
        "when": st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        ),
        "nested": st.one_of(
            st.none(),
            st.lists(st.one_of(st.integers(-10, 10), st.text(max_size=3)), max_size=3),
            st.dictionaries(st.text(max_size=3), st.one_of(st.booleans(), st.none()), max_size=2),
        ),
    },
    optional={"maybe": text_cells},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(cells, min_size=1, max_size=6), section=st.text(min_size=1, max_size=8), target=text_cells
)
def test_csv_round_trip_of_odd_values(
    tmp_path: Path, rows: list[dict[str, Any]], section: str, target: str | None
) -> None:
    """Any text, number, bool, NaN, datetime or nested value reads back equal, dtypes included."""
    results = IntegrationResults(
        [
            result(target=target, sections={section: rows}, error=target),
            result(target="t2", sections={section: rows[:1]}),
        ]
    )
    out = results.to_csv(tmp_path / "x")
    assert_round_trip(results, frames.read_csv(out))


def test_file_names_are_safe_and_distinct(tmp_path: Path) -> None:
    """Section names with path parts, odd characters or clashes give distinct files inside the folder."""
    names = ["../../etc/passwd", "a b", "a_b", "A B", "con", "x/y\\z", "ünï", "summary"]
    results = IntegrationResults([result(sections={n: [{"v": i}] for i, n in enumerate(names)})])
    out = results.to_csv(tmp_path / "x")
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == len(names) + 2  # + summary.csv and manifest.json
    assert all(p.parent == out for p in out.iterdir())
    assert "a_b.csv" in files and "section_summary.csv" in files and "con.csv" not in files
    assert all(n.replace("-", "").replace("_", "").replace(".", "").isalnum() for n in files)
    assert not (tmp_path / "etc").exists()
    back = frames.read_csv(out)
    assert sorted(back) == sorted(["summary", *[frames.frame_key(n) for n in names]])
    assert_round_trip(results, back)


def test_export_again_replaces_the_earlier_one_whole(tmp_path: Path) -> None:
    """A second export leaves no stale section file and no staging folder behind."""
    target = tmp_path / "x"
    IntegrationResults([result(sections={"old": [{"a": 1}]})]).to_csv(target)
    assert (target / "old.csv").exists()
    new = IntegrationResults([result(sections={"new": [{"b": 2}]})])
    new.to_csv(target)
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "new.csv", "summary.csv"]
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
    assert_round_trip(new, frames.read_csv(target))


def test_an_empty_existing_folder_is_used(tmp_path: Path) -> None:
    """An existing empty folder is a fine target."""
    (tmp_path / "x").mkdir()
    IntegrationResults([result()]).to_csv(tmp_path / "x")
    assert (tmp_path / "x" / "manifest.json").exists() and [p.name for p in tmp_path.iterdir()] == ["x"]


def test_a_folder_that_is_not_an_export_is_never_touched(tmp_path: Path) -> None:
    """A non-empty folder without a valid manifest is refused and left as it was."""
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(ExportError, match="not empty and holds no intgkit export"):
        IntegrationResults([result()]).to_csv(target)
    assert [p.name for p in target.iterdir()] == ["thesis.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_an_export_with_foreign_files_in_it_is_refused(tmp_path: Path) -> None:
    """A file someone added to an export folder is not deleted by the next export."""
    target = IntegrationResults([result()]).to_csv(tmp_path / "x")
    (target / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ExportError, match=r"notes\.txt"):
        IntegrationResults([result()]).to_csv(target)
    assert (target / "notes.txt").exists() and (target / "manifest.json").exists()


def test_a_file_or_a_path_under_a_file_is_refused(tmp_path: Path) -> None:
    """The directory may not be a file, nor lie under one (the as-root stand-in for no permission)."""
    a_file = tmp_path / "f.csv"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(ExportError, match="is a file"):
        IntegrationResults([result()]).to_csv(a_file)
    with pytest.raises(ExportError, match="is a file, not a folder"):
        IntegrationResults([result()]).to_csv(a_file / "sub")
    assert a_file.read_text(encoding="utf-8") == "x" and [p.name for p in tmp_path.iterdir()] == ["f.csv"]


def test_the_current_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exporting into the current folder (which would be swapped out) is refused."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExportError, match="current folder"):
        IntegrationResults([result()]).to_csv(".")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_export_leaves_the_earlier_one_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure midway leaves no half-written file and no staging folder; the old export stays."""
    target = tmp_path / "x"
    first = IntegrationResults([result(sections={"a": [{"v": 1}]})])
    first.to_csv(target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    real = frames._write_table
    calls = []

    def failing(*args: Any) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(*args)

    monkeypatch.setattr(frames, "_write_table", failing)
    with pytest.raises(ExportError, match="No space left"):
        IntegrationResults([result(sections={"b": [{"v": 2}]})]).to_csv(target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["x"]
    calls.clear()
    with pytest.raises(ExportError):
        IntegrationResults([result(sections={"b": [{"v": 2}]})]).to_csv(tmp_path / "new")
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def test_values_json_cannot_hold_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    """A set in an object column is an ExportError naming the column; no folder is created."""
    results = IntegrationResults([result(sections={"s": [{"o": {1, 2}}, {"o": "x"}]})])
    with pytest.raises(ExportError, match=r"column 'o'.*set"):
        results.to_csv(tmp_path / "x")
    assert not (tmp_path / "x").exists()
    with pytest.raises(ExportError, match="not a string"):
        IntegrationResults([result(sections={"s": [{"o": {1: "a"}}]})]).to_csv(tmp_path / "x")


# -- reading broken exports ---------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A small valid CSV export."""
    results = IntegrationResults([result(sections={"s": [{"a": 1, "b": "x"}]})])
    return results.to_csv(tmp_path / "export")


def rewrite_manifest(folder: Path, change: Any) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_read_refuses_a_missing_file(export: Path) -> None:
    """A table file that is gone is named in the error."""
    (export / "s.csv").unlink()
    with pytest.raises(ExportError, match=r"s\.csv\) is missing"):
        frames.read_csv(export)


def test_read_refuses_a_truncated_file(export: Path) -> None:
    """A file cut short no longer matches the manifest's checksum."""
    data = (export / "summary.csv").read_bytes()
    (export / "summary.csv").write_bytes(data[: len(data) // 2])
    with pytest.raises(ExportError, match="truncated or edited"):
        frames.read_csv(export)


def test_read_refuses_another_format_version(export: Path) -> None:
    """A manifest of another version says which version this intgkit reads."""
    rewrite_manifest(export, lambda m: m.update(version=99))
    with pytest.raises(ExportError, match="version 99; this intgkit reads versions 1, 2"):
        frames.read_csv(export)


def test_read_refuses_a_csv_with_wrong_columns(export: Path) -> None:
    """A file whose header differs from the manifest names both."""
    path = export / "s.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("a,b", "a,c"), encoding="utf-8")
    rewrite_manifest(export, lambda m: m["tables"]["s"].update(sha256=frames._sha256(path)))
    with pytest.raises(ExportError, match=r"has the columns .*'c'.*the manifest says .*'b'"):
        frames.read_csv(export)


def test_read_refuses_bad_manifests_and_folders(export: Path, tmp_path: Path) -> None:
    """No manifest, invalid JSON, a file name with a path, or no folder: each a clear ExportError."""
    rewrite_manifest(export, lambda m: m["tables"]["s"].update(file="../s.csv"))
    with pytest.raises(ExportError, match="no intgkit export writes"):
        frames.read_csv(export)
    (export / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ExportError, match="cannot be read as JSON"):
        frames.read_csv(export)
    (export / "manifest.json").unlink()
    with pytest.raises(ExportError, match=r"no manifest\.json"):
        frames.read_csv(export)
    with pytest.raises(ExportError, match="does not exist"):
        frames.read_csv(tmp_path / "nowhere")


def test_cells_that_do_not_match_their_dtype_are_an_error(export: Path) -> None:
    """A cell the manifest's dtype cannot hold (an edited file) is an ExportError, not garbage."""
    path = export / "s.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",1,", ",one,"), encoding="utf-8")
    rewrite_manifest(export, lambda m: m["tables"]["s"].update(sha256=frames._sha256(path)))
    with pytest.raises(ExportError, match="column 'a'"):
        frames.read_csv(export)


# -- Parquet ----------------------------------------------------------------------------------------


def test_parquet_round_trip_with_the_same_layout(
    registry: intgkit.IntegrationRegistry, tmp_path: Path
) -> None:
    """to_parquet writes the same tables and manifest; read_parquet gives equal frames."""
    results = run_two(registry)
    nested = IntegrationResults(
        [*results, result(sections={"rows": [{"host": {"a": [1]}, "ttl": 1}], "summary": []})]
    )
    out = nested.to_parquet(tmp_path / "pq")
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "rows.parquet",
        "section_summary.parquet",
        "summary.parquet",
    ]
    assert_round_trip(nested, frames.read_parquet(out))
    with pytest.raises(ExportError, match="read it with read_parquet"):
        frames.read_csv(out)


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyarrow, to_parquet raises MissingExtraError with the pip command, writing nothing."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingExtraError, match=r"intgkit\[parquet\]"):
        IntegrationResults([result()]).to_parquet(tmp_path / "pq")
    assert not (tmp_path / "pq").exists()


# -- one-way neutralizing for the CLI ----------------------------------------------------------------


def test_neutralize_frame_prefixes_formula_text_only() -> None:
    """Text cells and string categories that start a formula get a '; numbers are left alone."""
    frame = pd.DataFrame(
        {
            "t": pd.array(["=1", "ok", None, "'q"], dtype="string"),
            "o": ["@x", 1, None, "-"],
            "c": pd.Categorical(["+a", "b", "+a", "b"]),
            "n": [-1, 2, 3, 4],
        }
    )
    out = frames.neutralize_frame(frame)
    assert list(out["t"].iloc[[0, 1, 3]]) == ["'=1", "ok", "''q"] and pd.isna(out["t"].iloc[2])
    assert list(out["o"]) == ["'@x", 1, None, "'-"]
    assert list(out["c"].astype(str)) == ["'+a", "b", "'+a", "b"]
    assert list(out["n"]) == [-1, 2, 3, 4] and frame["t"].iloc[0] == "=1"


def test_rows_that_are_not_mappings_are_a_clear_error() -> None:
    """A hand-built section whose rows are tuples names the section and what rows must be."""
    results = IntegrationResults([result(sections={"s": [("a", 1)]})])
    with pytest.raises(UsageError, match=r"section 's' of 'dns'.*tuple.*mappings"):
        results.to_frame("s")


def test_a_single_mapping_as_rows_is_one_row() -> None:
    """A section built with one mapping instead of a list of them gives one row."""
    section = IntegrationSection("s", {"a": 1})
    frame = IntegrationResults([IntegrationResult("dns", "t", Status.OK, (section,))]).to_frame("s")
    assert list(frame["a"]) == [1]

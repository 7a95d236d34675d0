"""Exports people open without intgkit: plain CSV (issue 16, item 2) and the Excel workbook.

Plain readers are the csv module and pandas with default options; the workbook is read back
with openpyxl, a second implementation, so cell types are checked as Excel would see them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

import intgkit
from intgkit import frames
from intgkit._models import IntegrationResult, IntegrationSection, Status
from intgkit._results import IntegrationResults

V1_EXPORT = Path(__file__).resolve().parent / "data" / "export_v1"
T0 = dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC)
ROWS = (
    {"check": "spf", "observed": "-all (or ~all)", "detail": "", "note": None, "score": 1.5, "n": 3},
    {"check": "csp", "observed": '=HYPERLINK("http://evil.example","x")', "detail": "Zürich ✓",
     "note": "'quoted", "score": None, "n": 4},
    {"check": "x,y", "observed": 'a\r\nb "q"', "detail": "", "note": "", "score": -2.0, "n": 5},
)  # fmt: skip


def sample() -> IntegrationResults:
    """The results tests/data/export_v1 was written from (by intgkit 0.1, format version 1)."""
    return IntegrationResults(
        [
            IntegrationResult(
                "audit",
                "-x",
                Status.OK,
                (IntegrationSection("findings", ROWS),),
                started_at=T0,
                duration_s=0.25,
            ),
            IntegrationResult("audit", "b.example", Status.ERROR, (), "ConnectionError", "refused", T0, 0.5),
        ]
    )


def assert_frames_equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert list(got) == list(want)
    for key in want:
        pd.testing.assert_frame_equal(got[key], want[key], check_exact=True)


def test_plain_readers_see_empty_strings_as_empty_and_no_lone_quote(tmp_path: Path) -> None:
    """2: "" is a quoted empty field, NA an empty one; no cell is a lone ' marker."""
    out = sample().to_csv(tmp_path / "export")
    raw = (out / "findings.csv").read_bytes().decode("utf-8")
    lines = raw.split("\r\n")
    assert lines[1] == "audit,'-x,spf,'-all (or ~all),\"\",,1.5,3"
    with open(out / "findings.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["detail"] for r in rows] == ["", "Zürich ✓", ""]
    assert all(value != "'" for row in rows for value in row.values())
    assert rows[2]["observed"] == 'a\r\nb "q"' and rows[1]["note"] == "''quoted"
    plain = pd.read_csv(out / "findings.csv")
    assert plain["detail"].isna().tolist() == [True, False, True]  # pandas: empty is NaN, never "'"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == 2 and manifest["encoding"] == "utf-8"
    assert manifest["empty_string"] == '""' and manifest["na"] == ""
    note = next(c for c in manifest["tables"]["findings"]["columns"] if c["name"] == "note")
    assert (note["empty_strings"], note["nas"], note["empty_string_rows"]) == (1, 1, [2])


def test_formula_prefix_follows_owasp_exactly(tmp_path: Path) -> None:
    """2: OWASP's CSV Injection list (= + - @ tab CR LF) is prefixed; other text is not."""
    texts = ["=1+1", "+1", "-all (or ~all)", "@SUM(1)", "\tx", "\rx", "\nx", "~all", " =1", "a=1", "", "ok"]
    results = IntegrationResults(
        [IntegrationResult("i", "t", Status.OK, (IntegrationSection("s", tuple({"v": t} for t in texts)),))]
    )
    out = results.to_csv(tmp_path / "e")
    with open(out / "s.csv", newline="", encoding="utf-8") as f:
        cells = [row["v"] for row in csv.DictReader(f)]
    prefixed = [t for t, c in zip(texts, cells, strict=True) if c == "'" + t]
    assert prefixed == texts[:7]
    assert cells[7:] == texts[7:]
    assert list(frames.read_csv(out)["s"]["v"]) == texts


def test_excel_flag_writes_a_bom_and_reads_back(tmp_path: Path) -> None:
    """2: to_csv(excel=True) writes UTF-8 with a BOM (Excel then decodes Zürich ✓); read back exact."""
    results = sample()
    out = results.to_csv(tmp_path / "bom", excel=True)
    data = (out / "findings.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfintegration,")
    assert "Zürich ✓".encode() in data
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["encoding"] == "utf-8-sig"
    assert_frames_equal(frames.read_csv(out), results.to_frames())
    plain = frames.read_csv(results.to_csv(tmp_path / "plain"))
    assert not (tmp_path / "plain" / "findings.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert_frames_equal(plain, results.to_frames())


def test_columns_holding_both_empty_and_na_read_back_exactly(tmp_path: Path) -> None:
    """2: where a column has both "" and NA, the manifest's row list keeps them apart."""
    values = ["", None, "", "", None, "x", ""]
    results = IntegrationResults(
        [
            IntegrationResult(
                "i", "t", Status.OK, (IntegrationSection("s", tuple({"v": v, "c": v} for v in values)),)
            )
        ]
    )
    want = results.to_frames()
    want["s"]["c"] = want["s"]["c"].astype(pd.CategoricalDtype(["", "x"]))
    out = results.to_csv(tmp_path / "e")
    got = frames.read_csv(out)
    assert got["s"]["v"].tolist() == ["", pd.NA, "", "", pd.NA, "x", ""]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    spec = manifest["tables"]["s"]["columns"][2]
    assert spec["na_rows"] == [1, 4] and "empty_string_rows" not in spec


def test_version_1_exports_still_read(tmp_path: Path) -> None:
    """2: an export written by intgkit 0.1 (format 1: "" as a lone ') reads back as before."""
    manifest = json.loads((V1_EXPORT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == 1 and "encoding" not in manifest
    assert "'-all (or ~all),'," in (V1_EXPORT / "findings.csv").read_text(encoding="utf-8")
    assert_frames_equal(frames.read_csv(V1_EXPORT), sample().to_frames())


def test_read_csv_refuses_an_unknown_encoding(tmp_path: Path) -> None:
    """A manifest naming an encoding other than UTF-8 (with or without BOM) is refused."""
    out = sample().to_csv(tmp_path / "e")
    path = out / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["encoding"] = "latin-1"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(intgkit.ExportError, match="encoding is 'latin-1'"):
        frames.read_csv(out)


# -- Excel -------------------------------------------------------------------------------------------


def test_to_excel_typed_cells_no_formulas_frozen_header_autofilter(tmp_path: Path) -> None:
    """to_excel: one sheet per table, numbers numeric, text never a formula or a link."""
    from openpyxl import load_workbook

    path = sample().to_excel(tmp_path / "run.xlsx")
    assert path == tmp_path / "run.xlsx"
    wb = load_workbook(path)
    assert wb.sheetnames == ["summary", "findings"]
    ws = wb["findings"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["integration", "target", "check", "observed"]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:H4"
    col = {name: i for i, name in enumerate(header)}
    csp = ws[3]
    assert csp[col["observed"]].data_type == "s" and csp[col["observed"]].value == ROWS[1]["observed"]
    assert csp[col["observed"]].hyperlink is None
    assert ws[2][col["observed"]].value == "-all (or ~all)"  # no apostrophe needed in a workbook
    assert ws[2][col["target"]].value == "-x"
    assert ws[2][col["score"]].data_type == "n" and ws[2][col["score"]].value == 1.5
    assert ws[3][col["score"]].value is None and ws[2][col["n"]].value == 3
    assert ws[3][col["detail"]].value == "Zürich ✓"
    summary = wb["summary"]
    names = [c.value for c in summary[1]]
    assert "started_at (UTC)" in names
    started = summary[2][names.index("started_at (UTC)")]
    assert started.is_date and started.value == dt.datetime(2026, 12, 2, 5, 0)
    assert summary[2][names.index("duration_s")].value == 0.25
    cached = summary[2][names.index("cached")]
    assert cached.data_type == "b" and cached.value is False


def test_to_excel_refuses_bad_paths(tmp_path: Path) -> None:
    """A name not ending in .xlsx, a folder, or a missing folder: clear errors, nothing written."""
    with pytest.raises(intgkit.UsageError, match=r"\.xlsx"):
        sample().to_excel(tmp_path / "run.csv")
    with pytest.raises(intgkit.ExportError, match="does not exist"):
        sample().to_excel(tmp_path / "missing" / "run.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_sheet_names_are_excel_safe_and_distinct() -> None:
    """Sheet names: at most 31 characters, no []:*?/\\, distinct ignoring case."""
    from intgkit._excel import sheet_names

    names = sheet_names(["summary", "a/b", "A_b", "x" * 40, "x" * 40 + "y"])
    assert list(names.values()) == ["summary", "a_b", "A_b~2", "x" * 31, "x" * 29 + "~2"]

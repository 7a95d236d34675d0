"""An .xlsx workbook of a run: the summary and one sheet per section, for people who live in Excel.

Why a workbook besides the CSV folder: a cell in a workbook has a type, so numbers stay numbers,
true/false stay booleans and text stays text without the ``'`` that CSV needs against formula
injection. Written with xlsxwriter and its ``strings_to_formulas`` and ``strings_to_urls`` off,
so a value such as ``=HYPERLINK(...)`` from an outside service is stored as text and can never
run, and a URL is not turned into a link (xlsxwriter also drops links past 65,530 per sheet).

Excel has no time zones: UTC datetimes are written as UTC wall times (the header says ``UTC``);
nested values are JSON text; text longer than Excel's 32,767-character cell limit is cut with
an ellipsis. The file is written beside its target and renamed into place.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._errors import ExportError, MissingExtraError, UsageError
from ._models import IntegrationResult

__all__ = ["require_xlsxwriter", "sheet_names", "to_excel"]

#: Excel's limits: characters in a cell, rows in a sheet, characters in a sheet name.
MAX_CELL_CHARS = 32_767
MAX_ROWS = 1_048_576
MAX_SHEET_NAME = 31
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_AUTOFIT_ROWS = 5_000  # autofit reads every cell; past this, widths come from the header


def require_xlsxwriter(feature: str) -> None:
    """MissingExtraError naming ``pip install "intgkit[excel]"`` when xlsxwriter is missing."""
    try:
        importlib.import_module("xlsxwriter")
    except ImportError as exc:
        raise MissingExtraError("xlsxwriter", "excel", feature) from exc


def sheet_names(keys: Iterable[str]) -> dict[str, str]:
    """Excel-safe, distinct sheet names (at most 31 characters, none of ``[]:*?/\\``,
    distinct ignoring case, as Excel compares them)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        base = _BAD_SHEET_CHARS.sub("_", key).strip("'") or "sheet"
        name, i = base[:MAX_SHEET_NAME], 1
        while name.lower() in used:
            i += 1
            suffix = f"~{i}"
            name = base[: MAX_SHEET_NAME - len(suffix)] + suffix
        used.add(name.lower())
        out[key] = name
    return out


def to_excel(results: Iterable[IntegrationResult], path: str | os.PathLike[str]) -> Path:
    """Write the summary and every section as typed sheets of one workbook; returns its path."""
    require_xlsxwriter("results.to_excel")
    from .frames import all_frames

    try:
        target = Path(os.fspath(path))
    except TypeError as exc:
        raise UsageError(f"path must be a file path, got {type(path).__name__} {path!r}") from exc
    if target.suffix.lower() != ".xlsx":
        raise UsageError(f"an Excel workbook's name ends in .xlsx, got {str(target)!r}")
    if target.is_dir():
        raise ExportError(f"{str(target)!r} is a folder; give a file name, e.g. results.xlsx")
    if not target.parent.is_dir():
        raise ExportError(f"cannot write {str(target)!r}: the folder {str(target.parent)!r} does not exist")
    frames = all_frames(results)
    for key, frame in frames.items():
        if len(frame) + 1 > MAX_ROWS:
            raise ExportError(
                f"table {key!r} has {len(frame):,} rows; an Excel sheet holds {MAX_ROWS - 1:,}; "
                f"use to_csv or to_parquet for a run this large"
            )
    names = sheet_names(frames)
    staging = target.parent / f".{target.name[:100]}.intgkit-{secrets.token_hex(6)}.xlsx"
    try:
        with pd.ExcelWriter(
            staging,
            engine="xlsxwriter",
            engine_kwargs={
                "options": {
                    "strings_to_formulas": False,
                    "strings_to_urls": False,
                    "strings_to_numbers": False,
                }
            },
        ) as writer:
            for key, frame in frames.items():
                _write_sheet(writer, _excel_frame(frame), names[key])
        os.replace(staging, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            staging.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, ExportError):
            raise ExportError(f"the workbook {str(target)!r} could not be written: {exc}") from exc
        raise
    return target


def _write_sheet(writer: Any, frame: pd.DataFrame, name: str) -> None:
    frame.to_excel(writer, sheet_name=name, index=False, freeze_panes=(1, 0))
    sheet = writer.sheets[name]
    ncols = len(frame.columns)
    if ncols:
        sheet.autofilter(0, 0, len(frame), ncols - 1)
    if len(frame) <= _AUTOFIT_ROWS:
        sheet.autofit(max_width=60 * 7)  # pixels: about 60 characters
    else:
        for i, column in enumerate(frame.columns):
            sheet.set_column(i, i, max(10, min(40, len(str(column)) + 2)))


def _excel_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns Excel can hold: tz-aware times as UTC wall time, nested values as JSON text."""
    out: dict[str, Any] = {}
    for name in frame.columns:
        column = frame[name]
        dtype = column.dtype
        label = str(name)
        if isinstance(dtype, pd.DatetimeTZDtype):
            out[f"{label} (UTC)"] = column.dt.tz_convert("UTC").dt.tz_localize(None)
        elif isinstance(dtype, pd.CategoricalDtype):
            out[label] = _texts(column.astype(object))
        elif isinstance(dtype, pd.StringDtype) or pd.api.types.is_object_dtype(dtype):
            out[label] = _texts(column)
        elif isinstance(dtype, np.dtype) and dtype.kind == "m":
            out[label] = column.dt.total_seconds()
        else:
            out[label] = column
    return pd.DataFrame(out, index=frame.index)


def _texts(column: pd.Series) -> pd.Series:
    values: list[str | None] = []
    for v in column.tolist():
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            values.append(None)
            continue
        text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
        values.append(text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…")
    return pd.Series(values, index=column.index, dtype=object)

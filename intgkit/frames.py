"""Results as pandas DataFrames, and exports of them to CSV or Parquet folders that read back exactly.

Frames:

- the **summary** (:func:`summary_frame`): one row per result, fixed columns and dtypes, so code
  written against one run works against the next (:data:`SUMMARY_COLUMNS`);
- a **section** (:func:`section_frame`): the rows of one section from every result, tidy (long)
  form, ``integration`` and ``target`` first, then the rows' keys in order of first appearance.
  Rows whose keys differ are unioned (missing cells are NA). Built column-wise in one pass over
  the rows, because a run of 10,000 targets easily yields a million rows.

  A row's own ``integration`` or ``target`` key is never silently overwritten: when it equals
  the result's value it merges into that column, otherwise the row's value is kept in a column
  ``row_integration`` / ``row_target`` (NA on the rows that agreed), placed right after
  ``target``; should the rows also have a key of that name, ``row_integration_2`` and so on.

Exports (:func:`to_csv`, :func:`to_parquet`) write one file per frame plus ``manifest.json``
into a staging folder beside the target and put it in place atomically (_atomic.py: an exchange
of names on Linux, so the target folder is never missing), so a folder holds a whole
export or none. The tables are keyed as :func:`all_frames` keys them: ``"summary"`` is the
summary; a section keeps its name, except that names of the form ``summary``,
``section_summary``, ... get one more ``section_`` prefix (see :func:`frame_key`).

CSV files are meant to be read by anyone (pandas, the csv module, a spreadsheet), so they stay
plain RFC 4180: UTF-8 (with a BOM when ``excel=True``, which Excel needs to decode accents),
CRLF line ends, an empty string is a quoted empty field (``""``) and NA an empty unquoted one.
pandas and the csv module read both as empty, so the manifest also counts, per column, the
empty strings and NAs, and lists the rows of the rarer kind when a column holds both:
:func:`read_csv` gives each cell back exactly.

Cells come from outside services and a spreadsheet runs text that starts with ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or a line feed as a formula (OWASP's list, CSV Injection),
so such text is prefixed with ``'``, which a spreadsheet hides. That catches harmless text too
(``-all`` of an SPF record): OWASP's rule is about the first character, not about what a
spreadsheet would make of the rest. To keep the prefix reversible, text that starts with ``'``
gets one as well; :func:`read_csv` removes exactly one. ``neutralize_formulas=False`` writes
formula-like text as it is (still marking quote-led text). Object columns (nested dicts and
lists, mixed scalars) are stored as JSON text, which is why their values must be JSON values
(str, int, float, bool, None, lists, dicts with str keys).

Format version 1 (intgkit 0.1) wrote an empty string as a lone ``'``; :func:`read_csv` still
reads it, the manifest's ``version`` says which rules a folder follows.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from ._atomic import clean_stale, fsync_dir, replace_dir, staging_path
from ._errors import ExportError, MissingExtraError, UnknownSectionError, UsageError
from ._manifest import _FORMAT, FORMAT_VERSION, MANIFEST, check_export_dir
from ._manifest import check_target as _check_target
from ._manifest import load_manifest as _load_manifest
from ._models import IntegrationResult, Status

__all__ = [
    "FORMAT_VERSION",
    "SUMMARY",
    "SUMMARY_COLUMNS",
    "all_frames",
    "check_export_dir",
    "frame_key",
    "neutralize_frame",
    "read_csv",
    "read_parquet",
    "section_frame",
    "summary_frame",
    "to_csv",
    "to_parquet",
    "write_plain_csv",
]

#: The key of the summary frame in :func:`all_frames` and in exports.
SUMMARY = "summary"
SUMMARY_COLUMNS = (
    "integration",
    "target",
    "status",
    "error_type",
    "error",
    "started_at",
    "duration_s",
    "n_sections",
    "n_rows",
    "breaker_state",
    "queued_s",
    "attempts",
    "waited_s",
    "cached",
)
_TIME_UNIT: Final = "us"  # Python datetimes carry microseconds; finer units would only pretend
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")  # OWASP, CSV Injection
_MARK = "'"

Results = Iterable[IntegrationResult]


def _text_dtype() -> pd.StringDtype:
    # Resolved per call, so pd.options.mode.string_storage is honoured like pandas does.
    return pd.StringDtype()


def _status_dtype() -> pd.CategoricalDtype:
    return pd.CategoricalDtype([s.value for s in Status], ordered=False)


# -- frames --------------------------------------------------------------------------------------


def summary_frame(results: Results) -> pd.DataFrame:
    """One row per result with the columns of :data:`SUMMARY_COLUMNS` and fixed dtypes.

    Text is ``string``, status a categorical of every status (so counts show zeros),
    ``started_at`` UTC datetimes (NaT for calls that never started), ``duration_s``,
    ``queued_s`` and ``waited_s`` float seconds (NaN when unknown), counts and ``attempts``
    int64, ``cached`` bool.
    """
    items = list(results)
    text = _text_dtype()
    started = pd.to_datetime(pd.Series([r.started_at for r in items], dtype=object), utc=True).astype(
        pd.DatetimeTZDtype(unit=_TIME_UNIT, tz="UTC")
    )
    columns: dict[str, Any] = {
        "integration": pd.array([r.integration for r in items], dtype=text),
        "target": pd.array([r.target for r in items], dtype=text),
        "status": pd.Categorical([Status(r.status).value for r in items], dtype=_status_dtype()),
        "error_type": pd.array([r.error_type for r in items], dtype=text),
        "error": pd.array([r.error for r in items], dtype=text),
        "started_at": started.array,
        "duration_s": np.array([_seconds(r.duration_s) for r in items], dtype=np.float64),
        "n_sections": np.array([len(r.sections) for r in items], dtype=np.int64),
        "n_rows": np.array([sum(s.n_rows for s in r.sections) for r in items], dtype=np.int64),
        "breaker_state": pd.array([r.breaker_state for r in items], dtype=text),
        "queued_s": np.array([_seconds(r.queued_s) for r in items], dtype=np.float64),
        "attempts": np.array([r.attempts for r in items], dtype=np.int64),
        "waited_s": np.array([_seconds(r.waited_s) for r in items], dtype=np.float64),
        "cached": np.array([r.cached for r in items], dtype=np.bool_),
    }
    return pd.DataFrame(columns, columns=list(SUMMARY_COLUMNS))


def _seconds(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else math.nan


def section_frame(results: Results, section: str, *, flatten: bool = False) -> pd.DataFrame:
    """The rows of ``section`` from every result, tidy, with ``integration`` and ``target`` first.

    Args:
        results: the results of a run.
        section: a section name; UnknownSectionError lists the ones that exist.
        flatten: expand nested mappings into dotted columns (``{"a": {"b": 1}}`` -> ``a.b``);
            lists and empty mappings stay values. Otherwise nested values stay intact in
            object columns.

    A row's own ``integration`` / ``target`` key that differs from its result's is kept in
    ``row_integration`` / ``row_target`` (see the module docstring), never overwritten.
    """
    if not isinstance(section, str):
        raise UsageError(f"a section is named by a string, got {type(section).__name__} {section!r}")
    items = list(results)
    builder = _Builder(flatten)
    found = False
    for r in items:
        for s in r.sections:
            if s.name == section:
                found = True
                builder.add(r, s.rows, section)
    if not found:
        names: dict[str, None] = {}
        for r in items:
            for s in r.sections:
                names.setdefault(s.name, None)
        raise UnknownSectionError(section, names)
    return builder.frame()


def frame_key(section: str) -> str:
    """The key (and file stem source) of a section among the summary and the other sections.

    ``"summary"`` is the summary's; a section named ``summary`` becomes ``section_summary``,
    one named ``section_summary`` becomes ``section_section_summary``, and so on, which keeps
    every key distinct; other names are unchanged.
    """
    return "section_" + section if re.fullmatch(r"(?:section_)*summary", section) else section


def _section_of_key(key: str) -> str:
    return key.removeprefix("section_") if re.fullmatch(r"(?:section_)+summary", key) else key


def all_frames(results: Results, *, flatten: bool = False) -> dict[str, pd.DataFrame]:
    """``{"summary": ..., <section key>: ...}`` for every section, in order of first appearance."""
    items = list(results)
    out = {SUMMARY: summary_frame(items)}
    names: dict[str, None] = {}
    for r in items:
        for s in r.sections:
            names.setdefault(s.name, None)
    for name in names:
        out[frame_key(name)] = section_frame(items, name, flatten=flatten)
    return out


class _RowKey:
    """Stands for ``row_integration`` / ``row_target`` until the final name is known."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


_ROW_INTEGRATION = _RowKey("integration")
_ROW_TARGET = _RowKey("target")


def _same(value: object, own: object) -> bool:
    return value is own or (isinstance(value, str) and isinstance(own, str) and value == own)


class _Builder:
    """Collects a section's cells column by column: one Python list per column, padded with None.

    Padding is lazy (a column is topped up when it is next touched, and once at the end), so a
    million rows with the same keys cost a few C-level ``extend`` calls per result.
    """

    def __init__(self, flatten: bool) -> None:
        self.flatten = flatten
        self.n = 0
        self.cols: dict[Any, list[Any]] = {}
        self.integration: list[Any] = []
        self.target: list[Any] = []
        # a column that came only from DataFrames of one dtype, never padded, keeps that dtype
        self.frame_dtype: dict[Any, Any] = {}
        self.mixed: set[Any] = set()
        self.dict_rows = False

    def _col(self, key: Any, at: int) -> list[Any]:
        col = self.cols.get(key)
        if col is None:
            col = self.cols[key] = [None] * at
            if at:
                self.mixed.add(key)
        elif len(col) < at:
            col.extend(repeat(None, at - len(col)))
            self.mixed.add(key)
        return col

    def add(self, result: IntegrationResult, rows: Any, section: str) -> None:
        if isinstance(rows, pd.DataFrame):
            self._add_frame(result, rows, section)
            return
        if isinstance(rows, Mapping):
            rows = (rows,)
        elif not isinstance(rows, Sequence):
            rows = list(rows)
        bad = next((r for r in rows if type(r) is not dict and not isinstance(r, Mapping)), None)
        if bad is not None:
            raise UsageError(
                f"section {section!r} of {result.integration!r} (target {result.target!r}) has a row "
                f"that is a {type(bad).__name__}; rows are mappings (one per row) or a DataFrame"
            )
        self._add_rows(result, rows)

    def _add_rows(self, result: IntegrationResult, rows: Sequence[Mapping[Any, Any]]) -> None:
        m = len(rows)
        if not m:
            return
        if self.flatten:
            rows = [_flatten_row(row) for row in rows]
        self.dict_rows = True  # then every column's dtype is inferred from its values
        keys = list(rows[0].keys())
        columns = _same_keys_columns(rows, keys)
        if columns is not None:
            for key, values in zip(keys, columns, strict=True):
                self._extend(result, key, values)
        else:
            base = self.n
            for i, row in enumerate(rows):
                for key, value in row.items():
                    if key == "integration" and isinstance(key, str):
                        if not _same(value, result.integration):
                            self._col(_ROW_INTEGRATION, base + i).append(value)
                    elif key == "target" and isinstance(key, str):
                        if not _same(value, result.target):
                            self._col(_ROW_TARGET, base + i).append(value)
                    else:
                        self._col(key, base + i).append(value)
        self.integration.extend(repeat(result.integration, m))
        self.target.extend(repeat(result.target, m))
        self.n += m

    def _extend(self, result: IntegrationResult, key: Any, values: Sequence[Any]) -> None:
        if isinstance(key, str) and key in ("integration", "target"):
            own = result.integration if key == "integration" else result.target
            if all(_same(v, own) for v in values):
                return
            key = _ROW_INTEGRATION if key == "integration" else _ROW_TARGET
            values = [None if _same(v, own) else v for v in values]
        self._col(key, self.n).extend(values)

    def _add_frame(self, result: IntegrationResult, frame: pd.DataFrame, section: str) -> None:
        m = len(frame)
        if not frame.columns.is_unique:
            dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
            raise UsageError(
                f"section {section!r} of {result.integration!r} (target {result.target!r}) is a "
                f"DataFrame with duplicate columns {dupes}; give each column a distinct name"
            )
        if self.flatten and any(
            frame[c].dtype == object and any(isinstance(v, Mapping) for v in frame[c]) for c in frame.columns
        ):
            self._add_rows(result, frame.to_dict("records"))
            return
        if not m:
            for c in frame.columns:
                if c not in self.cols and not (isinstance(c, str) and c in ("integration", "target")):
                    self.cols[c] = [None] * self.n
                    self.mixed.add(c)
            return
        for c in frame.columns:
            values = frame[c].tolist()
            if isinstance(c, str) and c in ("integration", "target"):
                self._extend(result, c, values)
                continue
            fresh = c not in self.cols
            col = self._col(c, self.n)
            if fresh and not self.n:
                self.frame_dtype[c] = frame[c].dtype
            elif self.frame_dtype.get(c) != frame[c].dtype:
                self.mixed.add(c)
            col.extend(values)
        self.integration.extend(repeat(result.integration, m))
        self.target.extend(repeat(result.target, m))
        self.n += m
        for key in self.cols:
            if len(self.cols[key]) < self.n:
                self.mixed.add(key)

    def frame(self) -> pd.DataFrame:
        names = {"integration", "target"}
        for key in self.cols:
            if isinstance(key, str):
                names.add(key)
        out: dict[Any, Any] = {
            "integration": _text_array(self.integration),
            "target": _text_array(self.target),
        }
        self.integration = self.target = []
        # row_integration / row_target sit beside the columns they shadow
        order = [k for k in (_ROW_INTEGRATION, _ROW_TARGET) if k in self.cols]
        order += [k for k in self.cols if not isinstance(k, _RowKey)]
        for key in order:
            values = self.cols.pop(key)  # free each list as soon as its column exists
            if len(values) < self.n:
                values.extend(repeat(None, self.n - len(values)))
                self.mixed.add(key)
            if isinstance(key, _RowKey):
                key = _free_name(f"row_{key.name}", names)
                names.add(key)
            dtype = None if self.dict_rows or key in self.mixed else self.frame_dtype.get(key)
            out[key] = _column(values, dtype)
        return pd.DataFrame(out, copy=False)


def _same_keys_columns(rows: Sequence[Mapping[Any, Any]], keys: list[Any]) -> list[Sequence[Any]] | None:
    """The rows' cells column by column when every row has exactly ``keys``, else None.

    Equal length plus every key present is the same key set, checked at C speed: the lookup
    raises KeyError for a row that lacks one, before any cell is taken.
    """
    n = len(keys)
    if not n or not all(len(row) == n for row in rows):
        return None
    try:
        if n == 1:
            return [[row[keys[0]] for row in rows]]
        return list(zip(*map(itemgetter(*keys), rows), strict=True))
    except KeyError:
        return None


def _free_name(name: str, taken: set[str]) -> str:
    candidate, i = name, 1
    while candidate in taken:
        i += 1
        candidate = f"{name}_{i}"
    return candidate


def _flatten_row(row: Mapping[Any, Any]) -> Mapping[Any, Any]:
    if not any(isinstance(v, Mapping) for v in row.values()):
        return row
    out: dict[Any, Any] = {}
    for key, value in row.items():
        _flatten_into(out, key, value)
    return out


def _flatten_into(out: dict[Any, Any], key: Any, value: Any) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _flatten_into(out, f"{key}.{k}", v)
        return
    if key in out:
        raise UsageError(
            f"flatten=True would give two values for column {key!r} in one row (a nested key "
            f"and a dotted key collide); rename one of them, or use flatten=False"
        )
    out[key] = value


def _column(values: list[Any], dtype: Any) -> Any:
    """Typed storage for one column: numbers numeric, text ``string``, the rest object."""
    if dtype is not None:
        with contextlib.suppress(TypeError, ValueError):
            return pd.array(values, dtype=dtype)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    try:
        if kind == "string":
            return _text_array(values)
        if kind == "integer":
            try:
                return np.fromiter(values, dtype=np.int64, count=len(values))
            except TypeError:  # None or NA among them
                return pd.array(values, dtype="Int64")
        if kind in ("floating", "mixed-integer-float"):
            try:
                return np.array(values, dtype=np.float64)
            except TypeError:  # pd.NA among them
                return pd.array(values, dtype="Float64").to_numpy(dtype=np.float64, na_value=np.nan)
        if kind == "boolean":
            cells = _object_array(values)
            missing = pd.isna(cells)
            if not missing.any():
                return cells.astype(bool)
            return pd.array(values, dtype="boolean")
        if kind in ("datetime", "datetime64"):
            array = pd.array(values)
            if array.dtype.kind == "M":
                return array
        if kind == "empty" and any(isinstance(v, float) for v in values):  # NaN floats only
            return np.array(values, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        pass  # e.g. an int beyond int64: keep the Python objects
    return _object_array(values)


def _text_array(values: Sequence[Any]) -> Any:
    """A ``string`` array; straight through pyarrow when that is the storage (4x faster)."""
    dtype = _text_dtype()
    if dtype.storage == "pyarrow":
        try:
            pa: Any = importlib.import_module("pyarrow")
        except ImportError:
            return pd.array(values, dtype=dtype)
        try:
            array: Any = pd.arrays.ArrowStringArray(
                pa.array(values, type=pa.large_string(), from_pandas=True)
            )
            if array.dtype == dtype:
                return array
        except (TypeError, ValueError, pa.ArrowException):
            pass
    return pd.array(values, dtype=dtype)


def _object_array(values: Sequence[Any]) -> Any:
    # fromiter stores each value as it is; np.array would unpack equal-length nested lists
    return np.fromiter(values, dtype=object, count=len(values))


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as spreadsheet formulas (a ``'`` before ``= + - @``,
    tab, carriage return, line feed, and before a leading ``'`` so the prefix stays reversible).

    For one-way CSV output (the CLI); :func:`to_csv` does this and more, reversibly.
    """
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            cats = column.cat.categories
            if pd.api.types.infer_dtype(cats, skipna=True) == "string":
                out[name] = column.cat.rename_categories([_neutral(str(c)) for c in cats])
        elif isinstance(column.dtype, pd.StringDtype) or column.dtype == object:
            out[name] = column.map(lambda v: _neutral(v) if isinstance(v, str) else v, na_action="ignore")
    return out


def _neutral(text: str) -> str:
    return _MARK + text if text.startswith((*_FORMULA_START, _MARK)) else text


# -- column codecs: a frame <-> cells a file can hold, with a manifest entry per column -----------


def _encode_text(values: Iterable[Any], neutralize: bool) -> list[str | None]:
    """Text cells for a CSV: formula-like and quote-led text prefixed, "" and None kept."""
    starts = (*_FORMULA_START, _MARK) if neutralize else (_MARK,)
    return [_MARK + v if v and v.startswith(starts) else v for v in values]


def _encode_header(names: Iterable[str], neutralize: bool) -> list[str]:
    # a header has no NA, so an empty name keeps the version-1 marking (a lone ')
    starts = (*_FORMULA_START, _MARK) if neutralize else (_MARK,)
    return [_MARK + v if not v or v.startswith(starts) else v for v in names]


def _empties(spec: dict[str, Any], cells: Sequence[Any]) -> None:
    """Record in a column's manifest entry which empty cells are "" and which are NA.

    Plain CSV readers (pandas included) read a quoted empty field and an empty one alike, so
    the counts (and, when a column holds both, the rows of the rarer kind) make them exact.
    """
    empty = [i for i, c in enumerate(cells) if c == ""]
    if not empty:
        return
    na = [i for i, c in enumerate(cells) if c is None]
    spec["empty_strings"] = len(empty)
    spec["nas"] = len(na)
    if na:
        if len(empty) <= len(na):
            spec["empty_string_rows"] = empty
        else:
            spec["na_rows"] = na


def _decode_text(cells: Iterable[Any]) -> list[str | None]:
    return [None if not isinstance(c, str) else (c[1:] if c.startswith(_MARK) else c) for c in cells]


def _dtype_spec(dtype: Any) -> dict[str, Any]:
    if isinstance(dtype, pd.StringDtype):
        return {"dtype": "string", "storage": dtype.storage, "na": "NA" if dtype.na_value is pd.NA else "NaN"}
    return {"dtype": str(dtype)}


def _dtype_of(spec: Mapping[str, Any], where: str) -> Any:
    try:
        name = spec["dtype"]
        if name == "string":
            storage = spec.get("storage", "python")
            if storage == "pyarrow":
                try:
                    importlib.import_module("pyarrow")
                except ImportError:  # read where it was written with pyarrow: same values
                    storage = "python"
            return pd.StringDtype(storage=storage, na_value=pd.NA if spec.get("na") == "NA" else np.nan)
        return pd.api.types.pandas_dtype(name)
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(
            f"{where}: the manifest's dtype {dict(spec)!r} is not one pandas knows ({exc})"
        ) from exc


def _is_na_cell(value: Any) -> bool:
    # NaN is a value in an object column (JSON writes it), only None / NA are missing
    return value is None or value is pd.NA


def _check_json(value: Any, where: str) -> None:
    """Only values JSON gives back unchanged may go into a JSON cell."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, list):
        for v in value:
            _check_json(v, where)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ExportError(f"{where}: a dict key {k!r} is not a string; JSON keys must be strings")
            _check_json(v, where)
        return
    raise ExportError(
        f"{where}: a {type(value).__name__} value ({value!r:.80}) cannot be stored so that it reads "
        f"back unchanged; cells of object columns must be str, int, float, bool, None, lists or "
        f"dicts with str keys (convert it, e.g. to a string or an ISO date, first)"
    )


class _Encoded:
    """One table ready to write: cell columns (text or native) and its manifest entry."""

    def __init__(self, cells: dict[str, Any], columns: list[dict[str, Any]], rows: int) -> None:
        self.cells = cells
        self.columns = columns
        self.rows = rows


def _encode_frame(frame: pd.DataFrame, key: str, fmt: str, neutralize: bool) -> _Encoded:
    cells: dict[str, Any] = {}
    columns: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, name in enumerate(frame.columns):
        where = f"table {key!r}, column {name!r}"
        if not isinstance(name, str):
            raise ExportError(
                f"table {key!r}: column {position} is named {name!r} ({type(name).__name__}); "
                f"exports need string column names"
            )
        if name in seen:
            raise ExportError(f"table {key!r} has two columns named {name!r}; exports need distinct names")
        seen.add(name)
        spec, data = _encode_column(frame[name], where, fmt, neutralize)
        if fmt == "csv" and spec.get("encoding") in ("text", "category"):
            _empties(spec, data)
        spec["name"] = name
        columns.append(spec)
        header = _encode_header([name], neutralize)[0] if fmt == "csv" else name
        cells[header] = data
    return _Encoded(cells, columns, len(frame))


def _encode_column(series: pd.Series, where: str, fmt: str, neutralize: bool) -> tuple[dict[str, Any], Any]:
    dtype = series.dtype
    csv = fmt == "csv"
    if isinstance(dtype, pd.CategoricalDtype):
        cats = pd.Series(dtype.categories)
        cat_spec, cat_cells = _encode_column(cats, f"{where} (categories)", "csv", neutralize)
        cat_list = [c if c is None or isinstance(c, str) else str(c) for c in cat_cells]
        codes = series.cat.codes.to_numpy()
        spec = {
            "dtype": "category",
            "encoding": "category",
            "ordered": bool(dtype.ordered),
            "categories": cat_list,
            "categories_dtype": cat_spec,
        }
        if not csv:
            return spec, series
        return spec, np.array([None if c < 0 else cat_list[c] for c in codes], dtype=object)
    if isinstance(dtype, pd.StringDtype):
        spec = {**_dtype_spec(dtype), "encoding": "text"}
        if not csv:
            return spec, series
        mask = series.isna().to_numpy()
        values = series.to_numpy(dtype=object)
        return spec, _encode_text((None if na else v for v, na in zip(values, mask, strict=True)), neutralize)
    if pd.api.types.is_object_dtype(dtype):
        values = series.to_numpy(dtype=object)
        na = [_is_na_cell(v) for v in values]
        if all(isinstance(v, str) or n for v, n in zip(values, na, strict=True)):
            spec = {"dtype": "object", "encoding": "text"}
            texts = [None if n else v for v, n in zip(values, na, strict=True)]
            return spec, (_encode_text(texts, neutralize) if csv else np.array(texts, dtype=object))
        out: list[str | None] = []
        for v, n in zip(values, na, strict=True):
            if n:
                out.append(None)
                continue
            _check_json(v, where)
            out.append(json.dumps(v, ensure_ascii=False, allow_nan=True, separators=(",", ":")))
        return {"dtype": "object", "encoding": "json"}, np.array(out, dtype=object)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return {**_dtype_spec(dtype), "encoding": "native"}, series
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        spec = {**_dtype_spec(dtype), "encoding": "datetime"}
        if not csv:
            return spec, series
        mask = series.isna().to_numpy()
        naive = (
            series.dt.tz_convert("UTC").dt.tz_localize(None)
            if isinstance(dtype, pd.DatetimeTZDtype)
            else series
        )
        stamps: Any = naive.to_numpy()
        unit: Any = np.datetime_data(stamps.dtype)[0]
        suffix = "Z" if isinstance(dtype, pd.DatetimeTZDtype) else ""
        texts = np.datetime_as_string(stamps, unit=unit)
        return spec, [None if m else t + suffix for t, m in zip(texts, mask, strict=True)]
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        spec = {**_dtype_spec(dtype), "encoding": "timedelta"}
        if not csv:
            return spec, series
        return spec, [None if pd.isna(v) else str(v) for v in series]
    raise ExportError(
        f"{where}: dtype {dtype} has no faithful CSV/Parquet form here; convert the column to "
        f"text, numbers, datetimes or categories first"
    )


def _decode_column(raw: pd.Series, spec: Mapping[str, Any], where: str, fmt: str) -> Any:
    encoding = spec.get("encoding")
    try:
        if encoding == "category":
            cat_spec = spec["categories_dtype"]
            categories = _decode_column(
                pd.Series(spec["categories"], dtype=object), cat_spec, f"{where} (categories)", "csv"
            )
            dtype = pd.CategoricalDtype(pd.Index(categories), ordered=bool(spec["ordered"]))
            if fmt != "csv":
                return raw.astype(dtype).array
            lookup = {c: i for i, c in enumerate(spec["categories"])}
            codes = np.array(
                [-1 if not isinstance(c, str) else lookup[c] for c in raw.to_numpy(dtype=object)],
                dtype=np.int64,
            )
            return pd.Categorical.from_codes(codes, dtype=dtype)
        dtype = _dtype_of(spec, where)
        values = raw.to_numpy(dtype=object)
        if encoding == "text":
            texts = (
                _decode_text(values) if fmt == "csv" else [v if isinstance(v, str) else None for v in values]
            )
            if pd.api.types.is_object_dtype(dtype):
                return _object_array(texts)
            return pd.array(texts, dtype=dtype)
        if encoding == "json":
            return _object_array([json.loads(v) if isinstance(v, str) else None for v in values])
        if encoding == "native":
            if fmt != "csv":
                return raw.astype(dtype).array
            if pd.api.types.is_bool_dtype(dtype):
                flags = {"True": True, "False": False}
                return pd.array(
                    [flags[v] if isinstance(v, str) else None for v in values], dtype="boolean"
                ).astype(dtype)
            if pd.api.types.is_integer_dtype(dtype):  # via int(), so no digit is lost to a float
                return pd.array([int(v) if isinstance(v, str) else None for v in values], dtype=dtype)
            numbers = pd.to_numeric(pd.Series(values, dtype=object))
            return numbers.astype(dtype).array
        if encoding == "datetime":
            if fmt != "csv":
                return raw.astype(dtype).array
            tz = isinstance(dtype, pd.DatetimeTZDtype)
            parsed = pd.to_datetime(
                pd.Series([v[:-1] if tz and isinstance(v, str) else v for v in values], dtype=object),
                format="ISO8601",
            )
            if tz:
                parsed = parsed.dt.tz_localize("UTC")
            return parsed.astype(dtype).array
        if encoding == "timedelta":
            if fmt != "csv":
                return raw.astype(dtype).array
            return pd.to_timedelta(pd.Series(values, dtype=object)).astype(dtype).array
    except ExportError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise ExportError(
            f"{where}: the file's cells do not match the manifest ({type(exc).__name__}: {exc})"
        ) from exc
    raise ExportError(f"{where}: unknown encoding {encoding!r} in the manifest")


# -- exports ---------------------------------------------------------------------------------------

_STEM_CHARS = re.compile(r"[^a-z0-9_]+")
_RESERVED_STEMS = {
    "con",
    "prn",
    "aux",
    "nul",
    *(f"com{i}" for i in range(10)),
    *(f"lpt{i}" for i in range(10)),
}


def _file_names(keys: Iterable[str], suffix: str) -> dict[str, str]:
    """Safe, distinct file names: keys already safe are kept; others get a hash of the original.

    Kept stems contain no ``-`` and hashed ones do, so the two kinds never meet; lower case only,
    so names stay distinct on case-insensitive file systems too.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for key in keys:
        stem = _STEM_CHARS.sub("_", key.lower()).strip("_")[:80] or "section"
        if stem != key or stem in _RESERVED_STEMS:
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
            stem = f"{stem}-{digest}"
        candidate, i = stem, 1
        while candidate in used:
            i += 1
            candidate = f"{stem}-{i}"
        used.add(candidate)
        out[key] = f"{candidate}.{suffix}"
    return out


def to_csv(
    results: Results,
    directory: str | os.PathLike[str],
    *,
    neutralize_formulas: bool = True,
    excel: bool = False,
) -> Path:
    """Write summary.csv, one CSV per section and manifest.json into ``directory``, atomically.

    The folder is created if missing; a folder holding an earlier intgkit export is replaced
    whole; any other non-empty folder is refused with ExportError and left untouched.

    Args:
        results: the results of a run.
        directory: the export folder.
        neutralize_formulas: prefix text cells that a spreadsheet would run as formulas with
            ``'`` (reversed by :func:`read_csv`).
        excel: write UTF-8 with a byte order mark, without which Excel decodes the files in
            the system's code page (``Zürich`` becomes ``ZÃ¼rich``); other readers skip it.

    Returns:
        The export folder's path.
    """
    if not isinstance(excel, bool):
        raise UsageError(f"excel must be True or False, got {excel!r}")
    return _export(results, directory, "csv", bool(neutralize_formulas), "utf-8-sig" if excel else "utf-8")


def to_parquet(results: Results, directory: str | os.PathLike[str]) -> Path:
    """The layout of :func:`to_csv` in Parquet files (needs ``pip install "intgkit[parquet]"``)."""
    _require_pyarrow("to_parquet")
    return _export(results, directory, "parquet", False)


def _require_pyarrow(feature: str) -> None:
    try:
        for module in ("pyarrow", "pyarrow.parquet"):
            importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError("pyarrow", "parquet", feature) from exc


def _export(
    results: Results, directory: str | os.PathLike[str], fmt: str, neutralize: bool, encoding: str = "utf-8"
) -> Path:
    target = _check_target(directory)
    frames = all_frames(results)
    names = _file_names(frames, fmt)
    encoded = {key: _encode_frame(frame, key, fmt, neutralize) for key, frame in frames.items()}
    del frames
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {str(parent)!r} for the export: {exc}") from exc
    clean_stale(target)  # folders of writers that crashed
    staging = staging_path(target)
    try:
        staging.mkdir()
    except OSError as exc:
        raise ExportError(f"cannot create a staging folder beside {str(target)!r}: {exc}") from exc
    try:
        tables: dict[str, Any] = {}
        for key, table in encoded.items():
            path = staging / names[key]
            _write_table(table, path, fmt, encoding)
            tables[key] = {
                "file": names[key],
                "section": None if key == SUMMARY else _section_of_key(key),
                "rows": table.rows,
                "sha256": _sha256(path),
                "columns": table.columns,
            }
        manifest = {
            "format": _FORMAT,
            "version": FORMAT_VERSION,
            "file_format": fmt,
            "neutralized_formulas": neutralize,
            "text_marker": _MARK,
            **({"encoding": encoding, "empty_string": '""', "na": ""} if fmt == "csv" else {}),
            "tables": tables,
        }
        _write_bytes(staging / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8"))
        fsync_dir(staging)
        replace_dir(staging, target)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, ExportError):
            raise ExportError(f"the export to {str(target)!r} failed and was not written: {exc}") from exc
        if isinstance(exc, UnicodeError):
            raise ExportError(f"the export to {str(target)!r} failed and was not written: {exc}") from exc
        raise
    return target


def _write_table(table: _Encoded, path: Path, fmt: str, encoding: str = "utf-8") -> None:
    if fmt == "csv":
        with open(path, "w", encoding=encoding, newline="") as f:
            _write_csv_cells(table.cells, f)
            f.flush()
            os.fsync(f.fileno())
        return
    pd.DataFrame(table.cells, copy=False).to_parquet(path, index=False, engine="pyarrow")
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


_NEEDS_QUOTES = re.compile(r'[",\r\n]')
_ROWS_PER_WRITE = 50_000


def _csv_field(value: Any) -> str:
    """One RFC 4180 field: None (NA) an empty field, "" a quoted empty one, others quoted as needed."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, str):
        if value == "" or _NEEDS_QUOTES.search(value):
            return '"' + value.replace('"', '""') + '"'
        return value
    if isinstance(value, float):
        return "" if value != value else repr(value)  # repr: the shortest text that reads back exactly
    return str(value)


def _csv_column(values: Any) -> list[str]:
    """One column's fields; numpy numbers and text take fast paths (a run has millions of cells)."""
    if isinstance(values, pd.Series):
        if isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub":
            return list(map(str, values.to_numpy().tolist()))
        if isinstance(values.dtype, np.dtype) and values.dtype.kind == "f":
            return ["" if v != v else repr(v) for v in values.to_numpy().tolist()]
        values = values.to_numpy() if isinstance(values.dtype, np.dtype) else values.array
    items = values.tolist() if hasattr(values, "tolist") else list(values)
    out: list[str] = []
    append = out.append
    for v in items:
        if v is None:
            append("")
        elif type(v) is not str:
            append(_csv_field(v))
        elif not v:
            append('""')
        elif '"' in v:
            append('"' + v.replace('"', '""') + '"')
        elif "," in v or "\n" in v or "\r" in v:
            append('"' + v + '"')
        else:
            append(v)
    return out


def _write_csv_cells(cells: Mapping[str, Any], out: Any) -> None:
    """Write columns of cells (str, None, numbers) as CSV with CRLF line ends to a text file.

    Not pandas' ``to_csv``: it cannot write an empty string and NA differently, which plain
    readers then cannot tell apart (and neither could this module's reader without the manifest).
    """
    out.write(",".join(_csv_field(str(name)) for name in cells) + "\r\n")
    columns = [_csv_column(v) for v in cells.values()]
    n = len(columns[0]) if columns else 0
    if not columns:
        return
    for start in range(0, n, _ROWS_PER_WRITE):
        part = [c[start : start + _ROWS_PER_WRITE] for c in columns]
        out.write("".join(",".join(row) + "\r\n" for row in zip(*part, strict=True)))


def write_plain_csv(frame: pd.DataFrame, out: Any, *, neutralize_formulas: bool = True) -> None:
    """A frame as plain CSV on a text stream (the CLI's ``--format csv``): one way, no manifest.

    Same cells as the exports: "" quoted, NA empty, formula-like text prefixed with ``'``;
    nested values as JSON, datetimes ISO 8601.
    """
    encoded = _encode_frame(frame, "stdout", "csv", neutralize_formulas)
    _write_csv_cells(encoded.cells, out)


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- readers -----------------------------------------------------------------------------------------


def read_csv(directory: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Read a :func:`to_csv` export back: frames equal to ``results.to_frames()``, dtypes included.

    Raises:
        ExportError: the folder, its manifest or a file is missing, of another version, or
            does not match the manifest (truncated, edited, wrong columns).
    """
    return _read(directory, "csv")


def read_parquet(directory: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Read a :func:`to_parquet` export back (needs the ``parquet`` extra)."""
    _require_pyarrow("read_parquet")
    return _read(directory, "parquet")


def _read(directory: str | os.PathLike[str], fmt: str) -> dict[str, pd.DataFrame]:
    folder = Path(os.fspath(directory))
    if not folder.is_dir():
        what = "is a file" if folder.exists() else "does not exist"
        raise ExportError(f"{str(folder)!r} {what}; give the folder an intgkit export was written to")
    manifest = _load_manifest(folder, fmt)
    assert manifest is not None
    out: dict[str, pd.DataFrame] = {}
    for key, table in manifest["tables"].items():
        out[key] = _read_table(
            folder,
            key,
            table,
            fmt,
            manifest.get("neutralized_formulas") is True,
            manifest.get("encoding", "utf-8"),
        )
    return out


def _read_table(
    folder: Path, key: str, table: Mapping[str, Any], fmt: str, neutralized: bool, encoding: str = "utf-8"
) -> pd.DataFrame:
    path = folder / table["file"]
    where = f"table {key!r} ({table['file']})"
    if not path.is_file():
        raise ExportError(
            f"{where} is missing from {str(folder)!r}; the export is incomplete, export it again"
        )
    if table.get("sha256") != _sha256(path):
        raise ExportError(
            f"{where} does not match the manifest's checksum: it was truncated or edited after "
            f"the export; export it again"
        )
    columns = table["columns"]
    names = [c["name"] for c in columns]
    try:
        if fmt == "csv":
            raw = pd.read_csv(
                path,
                dtype=object,
                keep_default_na=False,
                na_values=[""],
                encoding=encoding,
                skip_blank_lines=False,
                engine="c",
            )
            expected = _encode_header(names, neutralized)
            header = list(raw.columns)
            if header != expected:
                raise ExportError(
                    f"{where} has the columns {[str(h) for h in header][:20]}; the manifest says {names[:20]}"
                )
            raw.columns = pd.Index(names)
        else:
            raw = pd.read_parquet(path, engine="pyarrow")
            if list(raw.columns) != names:
                raise ExportError(
                    f"{where} has the columns {list(raw.columns)[:20]}; the manifest says {names[:20]}"
                )
    except ExportError:
        raise
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ExportError(f"{where} cannot be parsed: {exc}") from exc
    if len(raw) != table.get("rows"):
        raise ExportError(f"{where} has {len(raw)} rows; the manifest says {table.get('rows')}")
    data = {
        spec["name"]: _decode_column(
            _restore_empties(raw[spec["name"]], spec) if fmt == "csv" else raw[spec["name"]],
            spec,
            f"{where}, column {spec['name']!r}",
            fmt,
        )
        for spec in columns
    }
    return pd.DataFrame(data, copy=False)


def _restore_empties(raw: pd.Series, spec: Mapping[str, Any]) -> pd.Series:
    """Give back the empty strings the manifest recorded (a CSV reader read them as NA)."""
    if not spec.get("empty_strings"):
        return raw
    values = raw.to_numpy(dtype=object, copy=True)
    missing = pd.isna(values)
    if "empty_string_rows" in spec:
        rows = np.asarray(spec["empty_string_rows"], dtype=np.int64)
    else:
        rows = np.flatnonzero(missing)
        if "na_rows" in spec:
            rows = np.setdiff1d(rows, np.asarray(spec["na_rows"], dtype=np.int64))
    if len(rows) and (rows.max() >= len(values) or not missing[rows].all()):
        raise ExportError(
            f"column {spec.get('name')!r}: the manifest's empty-string rows do not match the file"
        )
    values[rows] = ""
    return pd.Series(values, index=raw.index, dtype=object)

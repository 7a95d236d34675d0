"""Frame columns <-> DuckDB columns that read back exactly, dtypes included.

DuckDB 2.0's own pandas round trip is close but not exact (docs/architecture.md, "Run history"):
it orders unordered categoricals, truncates tz-aware timestamps to microseconds, turns the
values of mixed-key dicts into strings, stores NaN as NULL and gives ``str`` for every text
column. So each column is stored in a plain SQL type and described by a small JSON *spec*
(the pandas dtype and how the cells were encoded) kept beside the data, and decoding applies
the spec:

==================================  ======================  =====================================
pandas column                       DuckDB column           notes
==================================  ======================  =====================================
``string`` / ``str`` / text object  VARCHAR                 NA is NULL; ``""`` stays ``""``
category                            VARCHAR (the value)     categories and ordered in the spec
int / uint / float / bool           BIGINT/UBIGINT/DOUBLE/  masked (``Int64``, ``boolean``) too;
                                    BOOLEAN                 a masked float's NaN rows are listed
datetime64 (tz-aware)               TIMESTAMP[_NS], UTC     the zone and unit in the spec
timedelta64                         BIGINT (ticks)          INTERVAL would drop nanoseconds
anything else in an object column   VARCHAR (JSON)          nested dicts/lists; other objects as
                                                            their ``str`` (``lossy`` in the spec)
==================================  ======================  =====================================
"""

from __future__ import annotations

import datetime
import importlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["decode_column", "encode_column"]


def _text_spec(dtype: pd.StringDtype) -> dict[str, Any]:
    return {"kind": "string", "storage": dtype.storage, "na": "NA" if dtype.na_value is pd.NA else "NaN"}


def _string_dtype(spec: Mapping[str, Any]) -> pd.StringDtype:
    storage = spec.get("storage", "python")
    if storage == "pyarrow":
        try:
            importlib.import_module("pyarrow")
        except ImportError:  # written where pyarrow was installed: same values
            storage = "python"
    return pd.StringDtype(storage=storage, na_value=pd.NA if spec.get("na") == "NA" else np.nan)


#: The key of a tagged value in JSON cells: a datetime or date kept as ISO text with its type.
_TAG = "__intgkit_value__"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime):  # pd.Timestamp included
        return {_TAG: "datetime", "iso": value.isoformat()}
    if isinstance(value, datetime.date):
        return {_TAG: "date", "iso": value.isoformat()}
    raise TypeError(type(value).__name__)


def _untag(obj: dict[str, Any]) -> Any:
    kind = obj.get(_TAG)
    if kind is not None and len(obj) == 2 and isinstance(obj.get("iso"), str):
        if kind == "datetime":
            return datetime.datetime.fromisoformat(obj["iso"])
        if kind == "date":
            return datetime.date.fromisoformat(obj["iso"])
    return obj


def _json_cell(value: Any) -> tuple[str, bool]:
    """JSON text for a nested value; (text, lossless). Non-JSON objects become their str()."""
    try:
        text = json.dumps(
            value, ensure_ascii=False, allow_nan=True, separators=(",", ":"), default=_json_default
        )
    except (TypeError, ValueError):
        return json.dumps(str(value), ensure_ascii=False), False
    return text, _exact_json(value)


def _exact_json(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int, float, datetime.date)):
        nanosecond: int = getattr(value, "nanosecond", 0)  # a pd.Timestamp's nanoseconds are lost
        return not nanosecond
    if type(value) is list:
        return all(_exact_json(v) for v in value)
    if type(value) is dict:
        return _TAG not in value and all(isinstance(k, str) and _exact_json(v) for k, v in value.items())
    return False


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA


def encode_column(series: pd.Series) -> tuple[dict[str, Any], str, Any]:
    """(spec, DuckDB type, cells) for one column; cells are an array DuckDB scans natively."""
    dtype: Any = series.dtype
    spec: dict[str, Any]
    if isinstance(dtype, pd.CategoricalDtype):
        cats = pd.Series(dtype.categories)
        cat_spec, _, cat_cells = encode_column(cats)
        spec = {
            "kind": "category",
            "ordered": bool(dtype.ordered),
            "categories": [None if _is_missing(c) else c for c in list(cat_cells)],
            "categories_spec": cat_spec,
        }
        codes = series.cat.codes.to_numpy()
        lookup = np.array([*spec["categories"], None], dtype=object)
        return spec, "VARCHAR", lookup[codes]  # code -1 (NA) picks the trailing None
    if isinstance(dtype, pd.StringDtype):
        return _text_spec(dtype), "VARCHAR", series.array
    if pd.api.types.is_object_dtype(dtype):
        values = series.to_numpy(dtype=object)
        if all(isinstance(v, str) or _is_missing(v) for v in values):
            spec = {"kind": "object-text"}
            if any(v is pd.NA for v in values):
                spec["na_rows"] = [i for i, v in enumerate(values) if v is pd.NA]
            return spec, "VARCHAR", np.array([None if _is_missing(v) else v for v in values], dtype=object)
        cells: list[str | None] = []
        lossy = False
        na_rows: list[int] = []
        for i, v in enumerate(values):
            if _is_missing(v):
                if v is pd.NA:
                    na_rows.append(i)
                cells.append(None)
                continue
            text, exact = _json_cell(v)
            lossy |= not exact
            cells.append(text)
        spec = {"kind": "json"}
        if lossy:
            spec["lossy"] = True
        if na_rows:
            spec["na_rows"] = na_rows
        return spec, "VARCHAR", np.array(cells, dtype=object)
    if isinstance(dtype, pd.DatetimeTZDtype) or (isinstance(dtype, np.dtype) and dtype.kind == "M"):
        tz = getattr(dtype, "tz", None)
        naive = series.dt.tz_convert("UTC").dt.tz_localize(None) if tz is not None else series
        unit = np.datetime_data(naive.to_numpy().dtype)[0]
        spec = {"kind": "datetime", "dtype": str(dtype), "tz": None if tz is None else str(tz)}
        return spec, ("TIMESTAMP_NS" if unit == "ns" else "TIMESTAMP"), naive.array
    if isinstance(dtype, np.dtype) and dtype.kind == "m":
        ticks = series.to_numpy().view(np.int64)
        mask = series.isna().to_numpy()
        return (
            {"kind": "timedelta", "dtype": str(dtype)},
            "BIGINT",
            pd.arrays.IntegerArray(np.where(mask, 0, ticks), mask) if mask.any() else ticks,
        )
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        kind = np.dtype(getattr(dtype, "numpy_dtype", dtype)).kind
        sql = {"b": "BOOLEAN", "i": "BIGINT", "u": "UBIGINT", "f": "DOUBLE"}.get(kind)
        if sql is not None:
            spec = {"kind": "native", "dtype": str(dtype)}
            if kind == "f" and isinstance(dtype, pd.api.extensions.ExtensionDtype):
                # a masked float holds NaN apart from NA; DuckDB would store both as NULL
                data = series.array
                nan = np.isnan(np.asarray(data.to_numpy(dtype="float64", na_value=0.0)))
                if nan.any():
                    spec["nan_rows"] = np.flatnonzero(nan).tolist()
            return spec, sql, series.array
    # periods, intervals, complex numbers, sparse ...: their text, marked lossy
    return (
        {"kind": "json", "lossy": True, "dtype": str(dtype)},
        "VARCHAR",
        np.array(
            [
                None if v is None or (isinstance(v, float) and math.isnan(v)) else json.dumps(str(v))
                for v in series.astype(object)
            ],
            dtype=object,
        ),
    )


def decode_column(raw: pd.Series, spec: Mapping[str, Any]) -> Any:
    """The column ``encode_column`` stored, from the Series DuckDB's ``.df()`` gave back."""
    kind = spec["kind"]
    dtype: Any
    values: Any
    out: Any
    if kind == "category":
        cat_spec = spec["categories_spec"]
        categories = decode_column(pd.Series(spec["categories"], dtype=object), cat_spec)
        dtype = pd.CategoricalDtype(pd.Index(categories), ordered=bool(spec["ordered"]))
        values = raw.to_numpy(dtype=object)
        texts = spec["categories"]
        lookup = {c: i for i, c in enumerate(texts)}
        codes = np.fromiter((lookup.get(v, -1) for v in values), dtype=np.int64, count=len(values))
        return pd.Categorical.from_codes(codes, dtype=dtype)
    if kind == "string":
        dtype = _string_dtype(spec)
        if raw.dtype == dtype:
            return raw.array
        return raw.astype(dtype).array
    if kind == "object-text":
        values = raw.astype(object).to_numpy()
        out = np.fromiter(
            (v if isinstance(v, str) else None for v in values), dtype=object, count=len(values)
        )
        for i in spec.get("na_rows", ()):
            out[i] = pd.NA
        return out
    if kind == "json":
        values = raw.astype(object).to_numpy()
        out = np.fromiter(
            (json.loads(v, object_hook=_untag) if isinstance(v, str) else None for v in values),
            dtype=object,
            count=len(values),
        )
        for i in spec.get("na_rows", ()):
            out[i] = pd.NA
        return out
    if kind == "datetime":
        dtype = pd.api.types.pandas_dtype(spec["dtype"])
        series = raw
        if isinstance(series.dtype, pd.DatetimeTZDtype):  # not expected: we store naive UTC
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        if spec.get("tz") is not None:
            series = series.dt.tz_localize("UTC")
        return series.astype(dtype).array
    if kind == "timedelta":
        dtype = np.dtype(spec["dtype"])
        if raw.isna().any():
            ticks = raw.astype("Int64").to_numpy(dtype=np.int64, na_value=np.iinfo(np.int64).min)
        else:
            ticks = raw.to_numpy(dtype=np.int64)
        return ticks.view(dtype)  # int64 min is NaT
    if kind == "native":
        dtype = pd.api.types.pandas_dtype(spec["dtype"])
        array: Any = raw.astype(dtype).array if raw.dtype != dtype else raw.array
        nan_rows = spec.get("nan_rows")
        if nan_rows:  # NaN apart from NA in a masked float array: rebuild values and mask
            values = np.asarray(array.to_numpy(dtype=np.float64, na_value=0.0)).copy()
            mask = np.asarray(array.isna()).copy()
            values[np.asarray(nan_rows)] = np.nan
            mask[np.asarray(nan_rows)] = False
            return type(array)(values.astype(dtype.numpy_dtype), mask)
        return array
    raise ValueError(f"unknown column kind {kind!r}")

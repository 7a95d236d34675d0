"""The run history (DuckDB): store layout in _db, column codecs in _codec, diffs in _diff,
the public :class:`History` and background recording in _history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._results import register_differ
from ._history import ENV_VAR, History, HistoryWarning, UnknownRunError, default_path, flush

if TYPE_CHECKING:
    import pandas as pd

    from .._results import IntegrationResults

__all__ = ["ENV_VAR", "History", "HistoryWarning", "UnknownRunError", "default_path", "diff_results", "flush"]


def diff_results(old: IntegrationResults, new: IntegrationResults, what: str = "results") -> pd.DataFrame:
    """:meth:`History.diff` for two IntegrationResults in memory (a private in-memory DuckDB)."""
    from .._errors import UsageError
    from . import _db, _diff
    from ._history import run_data

    if what not in ("results", "findings"):
        raise UsageError(f"what is 'results' or 'findings', got {what!r}")
    duckdb = _db._duckdb()
    con = duckdb.connect()
    try:
        for statement in _db._SCHEMA_V1:
            con.execute(statement)
        _db.write_run(con, run_data(old, "a"))
        _db.write_run(con, run_data(new, "b"))
        if what == "findings":
            return _diff.diff_findings(con, "a", "b")
        return _diff.diff_results(con, "a", "b")
    finally:
        con.close()


register_differ(diff_results)

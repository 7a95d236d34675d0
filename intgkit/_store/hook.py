"""The runner's side of the run history: which store a runner records to, and recording a run.

Kept apart from _history so the runner imports only this small module (no pandas, no DuckDB)
until a run ends. By default (``history`` not given) a runner records to the default store,
and recording is silently off when DuckDB is missing (one debug event says so), so installing
intgkit without the ``history`` extra never changes what a run does. An explicit path with
DuckDB missing is a caller mistake: MissingExtraError at construction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import MissingExtraError, UsageError
from .._integration import DEFAULT
from .._log import logger

if TYPE_CHECKING:
    from .._planning import Call
    from .._results import IntegrationResults

__all__ = ["check_history", "record_run", "report"]

_duckdb_missing_noted = False


def _has_duckdb() -> bool:
    import importlib.util

    return importlib.util.find_spec("duckdb") is not None


def check_history(history: Any) -> Any:
    """DEFAULT, None, or the given path as a Path; UsageError / MissingExtraError otherwise."""
    if history is DEFAULT or history is None:
        return history
    if not isinstance(history, (str, os.PathLike)) or not os.fspath(history):
        raise UsageError(
            f"history is a store file path, None (off) or left out (the default store), got {history!r}"
        )
    if not _has_duckdb():
        raise MissingExtraError("duckdb", "history", "IntegrationRunner(history=...)")
    return Path(os.fspath(history)).expanduser()


def _store_path(history: Any) -> Path | None:
    global _duckdb_missing_noted
    if history is not DEFAULT:
        return history  # type: ignore[no-any-return]
    if not _has_duckdb():
        if not _duckdb_missing_noted:
            _duckdb_missing_noted = True
            logger().debug("history_off", reason='duckdb is not installed: pip install "intgkit[history]"')
        return None
    from ._history import default_path

    return default_path()


def record_run(
    history: Any, calls: Sequence[Call], results: IntegrationResults, *, partial: bool, started_at: datetime
) -> None:
    """Hand the run to the background writer and set ``results.run_id``; never raises."""
    try:
        path = _store_path(history)
        if path is None:
            return
        specs = {c.spec.name: c.spec for c in calls}
        settings_present: dict[str, dict[str, bool]] = {}
        from .._settings import as_settings

        for name, spec in specs.items():
            declared = as_settings(getattr(spec.integration, "settings", ()) or ())
            # which settings were present, never a value
            settings_present[name] = {s.name: s.value() is not None for s in declared}
        from ._history import record_in_background

        results.run_id = record_in_background(
            path,
            results,
            started_at=started_at,
            partial=partial,
            integrations=list(specs),
            settings_present=settings_present,
            secrets=sorted({v for spec in specs.values() for v in spec.secrets}, key=len, reverse=True),
        )
    except Exception as exc:  # noqa: BLE001 - recording must never break a run
        logger().warning("history_record_failed", error=f"{type(exc).__name__}: {exc}")


def report(history: Any) -> None:
    """Start the run's background write, and warn (in the caller's thread, after a run) about
    runs that could not be recorded."""
    if history is None:
        return
    try:
        path = _store_path(history)
    except Exception:  # noqa: BLE001 - reporting must never break a run
        return
    if path is None:
        return
    import warnings

    from ._history import HistoryWarning, release, take_failures

    release(path)
    for message in take_failures(path):
        warnings.warn(message, HistoryWarning, stacklevel=3)

"""History: the run history as a user sees it (runs, load, diff, prune), and recording runs.

Recording is write-behind: the runner hands a finished run to :func:`record_in_background`,
which checks the store path at once (a bad path warns right away and the run is returned
unrecorded), gives the run its id, and writes it from a worker thread, so a caller does not
wait for the DuckDB write. The thread is not a daemon (a script's interpreter waits for it at
exit); every History method, and :func:`flush`, wait for this process's pending writes to the
same file first, and surface a failed write as a :class:`HistoryWarning`.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import re
import secrets
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from .._errors import HistoryError, UsageError
from .._log import logger
from .._models import IntegrationResult, IntegrationSection, Status, make_result
from .._results import IntegrationResults

if TYPE_CHECKING:
    import pandas as pd

    from ._db import RunData, Store

__all__ = ["ENV_VAR", "History", "HistoryWarning", "default_path", "flush", "record_in_background"]

#: The environment variable that moves the default store; ``off`` (or empty) turns recording off.
ENV_VAR = "INTGKIT_HISTORY"
_OFF = ("", "off", "0", "none", "false")
_FILE = "history.duckdb"


class HistoryWarning(UserWarning):
    """A run could not be recorded in the run history (the run itself is unaffected)."""


def default_path() -> Path | None:
    """The store's default file: ``$INTGKIT_HISTORY``, else the platform's user data folder.

    None when ``INTGKIT_HISTORY`` says off (``off``, ``0``, ``none``, ``false`` or empty).
    """
    env = os.environ.get(ENV_VAR)
    if env is not None:
        if env.strip().lower() in _OFF:
            return None
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("intgkit", appauthor=False) / _FILE


def _as_path(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        found = default_path()
        if found is None:
            raise UsageError(
                f"the run history is turned off ({ENV_VAR}={os.environ.get(ENV_VAR)!r}); "
                f"give History(path) or set {ENV_VAR} to a file path"
            )
        return found
    try:
        return Path(os.fspath(path)).expanduser()
    except TypeError:
        raise UsageError(
            f"a history path is a str or os.PathLike, got {type(path).__name__} {path!r}"
        ) from None


# -- run ids ------------------------------------------------------------------------------------------

_RUN_ID = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{6}$")


def new_run_id(moment: datetime | None = None) -> str:
    """``20261202T101500.123456Z-3fa9c1``: sorts by time, unique, short enough to type."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return f"{moment:%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


# -- building a RunData from results --------------------------------------------------------------------


def run_data(
    results: Iterable[IntegrationResult],
    run_id: str,
    *,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    partial: bool = False,
    integrations: Sequence[str] | None = None,
    settings_present: Mapping[str, Mapping[str, bool]] | None = None,
    secrets: Sequence[str] = (),
) -> RunData:
    from .. import frames
    from .._redact import redact_cell
    from ._db import RunData

    items = list(results)
    summary = frames.summary_frame(items)
    names: dict[str, None] = {}
    result_sections: list[tuple[int, int, str, int, dict[str, Any]]] = []
    for position, r in enumerate(items):
        for ordinal, s in enumerate(r.sections):
            names.setdefault(s.name, None)
            rows = s.rows
            n = 1 if isinstance(rows, Mapping) else len(rows)
            facts = dict(s.summary)
            if facts and secrets:  # the runner redacts rows, not section summaries
                facts = {k: redact_cell(v, secrets) for k, v in facts.items()}
            result_sections.append((position, ordinal, s.name, n, facts))
    sections = {name: frames.section_frame(items, name) for name in names}
    starts = [r.started_at for r in items if r.started_at is not None]
    now = datetime.now(UTC)
    started = started_at or (min(starts) if starts else now)
    if integrations is None:
        integrations = list(dict.fromkeys(r.integration for r in items))
    targets = {r.target for r in items}
    return RunData(
        run_id=run_id,
        started_at=started if started.tzinfo else started.replace(tzinfo=UTC),
        finished_at=finished_at or now,
        integrations=list(integrations),
        n_targets=len(targets),
        partial=bool(partial),
        settings_present={k: dict(v) for k, v in (settings_present or {}).items()},
        summary=summary,
        sections=sections,
        result_sections=result_sections,
    )


class _StoredRows(Sequence[dict[str, Any]]):
    """A loaded section's rows: its slice of the stored frame, made into dicts on first use."""

    __slots__ = ("_frame", "_rows", "_start", "_stop")

    def __init__(self, frame: pd.DataFrame, start: int, stop: int) -> None:
        self._frame = frame
        self._start = start
        self._stop = stop
        self._rows: list[dict[str, Any]] | None = None

    def _materialise(self) -> list[dict[str, Any]]:
        if self._rows is None:
            part = self._frame.iloc[self._start : self._stop]
            records: list[dict[Any, Any]] = part.to_dict("records")
            self._rows = [
                {k: v for k, v in row.items() if k not in ("integration", "target")} for row in records
            ]
        return self._rows

    def __len__(self) -> int:
        return self._stop - self._start

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        return self._materialise()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._materialise())

    def __repr__(self) -> str:
        return f"<{len(self)} stored rows>"


def _num(value: Any) -> Any:
    return math.nan if value is None else value


def _py(value: Any) -> Any:
    import pandas as pd

    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a run's objects are made or read.

    They hold no reference cycles, and in a process that holds a big run (a million row dicts)
    the collections that object creation triggers cost ten times the work itself (measured:
    building 30,000 results' sections, 0.27 s with the collector, 0.03 s without).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def results_of(run: RunData) -> IntegrationResults:
    """IntegrationResults rebuilt from a stored run; its frames are the stored frames."""
    s = run.summary
    n = len(s)
    col = {c: s[c].tolist() if c in s.columns else [None] * n for c in s.columns}
    by_result: dict[int, list[tuple[int, str, int, dict[str, Any]]]] = {}
    for position, ordinal, name, rows, summary in run.result_sections:
        by_result.setdefault(position, []).append((ordinal, name, rows, summary))
    offsets = dict.fromkeys(run.sections, 0)
    items: list[IntegrationResult] = []
    for i in range(n):
        sections = []
        for _ordinal, name, rows, summary in by_result.get(i, ()):
            frame = run.sections.get(name)
            start = offsets.get(name, 0)
            stored: Any = _StoredRows(frame, start, start + rows) if frame is not None else ()
            if frame is not None:
                offsets[name] = start + rows
            sections.append(IntegrationSection(name, stored, summary))
        started = _py(col["started_at"][i])
        items.append(
            make_result(
                str(col["integration"][i]),
                _py(col["target"][i]),
                Status(str(col["status"][i])),
                tuple(sections),
                _py(col["error_type"][i]),
                _py(col["error"][i]),
                None if started is None else started.to_pydatetime(),
                float(_num(col["duration_s"][i])),
                str(_py(col["breaker_state"][i]) or ""),
                float(_num(col["queued_s"][i])),
                int(_num(col["attempts"][i])),
                float(_num(col["waited_s"][i])),
                bool(col["cached"][i]),
            )
        )
    out = IntegrationResults(items, run_id=run.run_id)
    cache: dict[str | None, pd.DataFrame] = {None: run.summary}
    cache.update(run.sections)
    out._frames = cache
    return out


# -- background recording ------------------------------------------------------------------------------

_pending: dict[str, list[threading.Thread]] = {}
_waiting: dict[str, list[threading.Event]] = {}
#: seconds a background write waits for its run's door to return before it starts anyway
_RELEASE_WAIT = 0.5
_failures: dict[str, list[str]] = {}
_guard = threading.Lock()


def record_in_background(
    path: Path,
    results: IntegrationResults,
    *,
    started_at: datetime | None,
    partial: bool,
    integrations: Sequence[str],
    settings_present: Mapping[str, Mapping[str, bool]],
    secrets: Sequence[str] = (),
    lock_timeout: float = 30.0,
) -> str | None:
    """Give the run an id and write it from a thread; None if the path is bad.

    Never warns (it runs in whatever thread ended the run): failures wait in a list that
    :func:`take_failures` (the runner's doors, right after a run) and :func:`flush` report.
    """
    from ._db import Store

    store = Store(path, lock_timeout=lock_timeout)
    try:
        store.check(for_write=True)
    except HistoryError as exc:
        with _guard:
            _failures.setdefault(str(path), []).append(f"{exc}; this run was not recorded")
        return None
    run_id = new_run_id()
    finished = datetime.now(UTC)
    items = tuple(results)

    go = threading.Event()

    def write() -> None:
        # wait until the run's door has returned (release()), so the write never competes with
        # the caller for the GIL on the way out of run(); a run no door releases starts anyway
        go.wait(_RELEASE_WAIT)
        try:
            data = run_data(  # no _gc_paused here: gc state is process-wide, and this is a thread
                items,
                run_id,
                started_at=started_at,
                finished_at=finished,
                partial=partial,
                integrations=integrations,
                settings_present=settings_present,
                secrets=secrets,
            )
            _write_or_spool(store, data)
            logger().debug("history_recorded", run_id=run_id, results=len(items))
        except Exception as exc:  # noqa: BLE001 - a write that fails is reported, never raised into a run
            message = f"run {run_id} was not recorded in {str(path)!r}: {type(exc).__name__}: {exc}"
            logger().warning("history_record_failed", run_id=run_id, error=message)
            with _guard:
                _failures.setdefault(str(path), []).append(message)

    thread = threading.Thread(target=write, name=f"intgkit-history-{run_id}", daemon=False)
    with _guard:
        _pending.setdefault(str(path), []).append(thread)
        _waiting.setdefault(str(path), []).append(go)
    thread.start()
    return run_id


def release(path: Path) -> None:
    """Let the pending writes to ``path`` start (the run's door calls this as it returns)."""
    with _guard:
        events = _waiting.pop(str(path), [])
    for event in events:
        event.set()


def _write_or_spool(store: Store, data: RunData) -> None:
    from ._db import StoreLocked

    try:
        store.write(data)
    except StoreLocked:
        spooled = store.spool(data)
        logger().info("history_spooled", run_id=data.run_id, file=spooled.name)


def take_failures(path: Path) -> list[str]:
    """The recording failures noted so far for ``path`` (each reported once), without waiting."""
    with _guard:
        return _failures.pop(str(path), [])


def flush(path: str | os.PathLike[str] | None = None, timeout: float | None = None) -> None:
    """Wait for this process's pending history writes (to ``path``, or to every store).

    A write that failed is reported here as a :class:`HistoryWarning`, in the caller's thread.
    """
    key = None if path is None else str(Path(os.fspath(path)).expanduser())
    with _guard:
        threads = [t for p, ts in _pending.items() if key is None or p == key for t in ts]
        events = [e for p, es in _waiting.items() if key is None or p == key for e in es]
    for event in events:
        event.set()
    for t in threads:
        t.join(timeout)
    with _guard:
        for p in list(_pending):
            if key is None or p == key:
                _pending[p] = [t for t in _pending[p] if t.is_alive()]
        failed = [m for p, ms in _failures.items() if key is None or p == key for m in ms]
        for p in list(_failures):
            if key is None or p == key:
                del _failures[p]
    for message in failed:
        warnings.warn(message, HistoryWarning, stacklevel=3)


# -- the public face -------------------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_age(value: str | timedelta) -> timedelta:
    if isinstance(value, timedelta):
        if value.total_seconds() < 0:
            raise UsageError(f"older_than must not be negative, got {value}")
        return value
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    raise UsageError(f"older_than takes a timedelta or a text like '90d', '12h', '30m', '2w', got {value!r}")


class History:
    """The run history: every recorded run, as DataFrames and IntegrationResults.

    Args:
        path: the store file; None means the default (``$INTGKIT_HISTORY``, else
            ``history.duckdb`` in the platform's user data folder).
        lock_timeout: seconds to wait while another process holds the file.

    Every method opens the file, works and closes it, so other processes (another kernel, the
    CLI) can use it in between. Needs ``pip install "intgkit[history]"`` (DuckDB).
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout: float = 30.0) -> None:
        from ._db import Store, _duckdb

        _duckdb()  # the missing extra is named here, not at the first query
        if not isinstance(lock_timeout, (int, float)) or not lock_timeout >= 0:
            raise UsageError(f"lock_timeout is seconds (>= 0), got {lock_timeout!r}")
        self.path = _as_path(path)
        self._store: Store = Store(self.path, lock_timeout=float(lock_timeout))

    def __repr__(self) -> str:
        return f"History({str(self.path)!r})"

    def _connect(self, *, create: bool = False) -> Any:
        flush(self.path)
        return self._store.connect(create=create)

    # -- writing --
    def record(
        self,
        results: IntegrationResults,
        *,
        partial: bool = False,
        started_at: datetime | None = None,
    ) -> str:
        """Store a run now (in this thread) and return its run id (also set on ``results``)."""
        if not isinstance(results, IntegrationResults):
            raise UsageError(f"record() takes IntegrationResults, got {type(results).__name__}")
        run_id = new_run_id()
        flush(self.path)
        with _gc_paused():
            data = run_data(results, run_id, started_at=started_at, partial=partial)
            _write_or_spool(self._store, data)
        results.run_id = run_id
        return run_id

    # -- reading --
    def runs(self) -> pd.DataFrame:
        """One row per run, newest first: run_id, started_at, finished_at, integrations,
        n_targets, n_results, one count per status, partial."""
        import pandas as pd

        from ._db import _STATUSES

        with self._connect(create=True) as con:
            self._store.merge_pending(con)
            frame = con.execute(
                "SELECT run_id, started_at, finished_at, integrations, n_targets, n_results, "
                + ", ".join(_STATUSES)
                + ", partial FROM runs ORDER BY started_at DESC, finished_at DESC, run_id DESC"
            ).df()
        text = pd.StringDtype()
        out: pd.DataFrame = frame.astype({"run_id": text})
        for c in ("started_at", "finished_at"):
            out[c] = pd.to_datetime(out[c]).dt.tz_localize("UTC").astype("datetime64[us, UTC]")
        out["integrations"] = [", ".join(v) for v in out["integrations"]]
        out["integrations"] = out["integrations"].astype(text)
        for c in ("n_targets", "n_results", *_STATUSES):
            out[c] = out[c].astype("int64")
        out["partial"] = out["partial"].astype(bool)
        return out

    def _known(self, con: Any, run_id: object) -> str:
        if not isinstance(run_id, str):
            raise UsageError(f"a run id is a string such as those in History().runs(), got {run_id!r}")
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchall():
            return run_id
        recent = [
            r[0]
            for r in con.execute(
                "SELECT run_id FROM runs ORDER BY started_at DESC, finished_at DESC LIMIT 5"
            ).fetchall()
        ]
        raise UnknownRunError(run_id, self.path, recent)

    def load(self, run_id: str) -> IntegrationResults:
        """The stored run as IntegrationResults whose frames equal the run's own, dtypes included."""
        from ._db import read_run

        with self._connect() as con, _gc_paused():
            self._known(con, run_id)
            return results_of(read_run(con, run_id))

    def diff(self, old: str | None = None, new: str | None = None, what: str = "results") -> pd.DataFrame:
        """What changed from run ``old`` to run ``new`` (default: the last two comparable runs).

        Args:
            old: the earlier run's id.
            new: the later run's id.
            what: ``"results"`` (status changes and changed one-row section values, e.g. a
                grade) or ``"findings"`` (new, resolved and changed findings).
        """
        from ._diff import diff_findings, diff_results

        if what not in ("results", "findings"):
            raise UsageError(f"what is 'results' or 'findings', got {what!r}")
        with self._connect() as con:
            if old is None and new is None:
                pair = _last_comparable(con)
                if pair is None:
                    raise UsageError(
                        f"run history {str(self.path)!r} has no two runs of the same integrations "
                        f"to compare; "
                        f"give two run ids (History().runs() lists them)"
                    )
                old, new = pair
            elif old is None or new is None:
                raise UsageError("give both run ids (old, new), or neither for the last two comparable runs")
            a, b = self._known(con, old), self._known(con, new)
            return diff_findings(con, a, b) if what == "findings" else diff_results(con, a, b)

    def last_comparable(self) -> tuple[str, str] | None:
        """The ids of the two newest runs of the same integrations, (older, newer), or None."""
        with self._connect() as con:
            return _last_comparable(con)

    def prune(self, keep: int | None = None, older_than: str | timedelta | None = None) -> int:
        """Delete runs beyond the newest ``keep`` and/or started more than ``older_than`` ago.

        Returns:
            How many runs were deleted.
        """
        from ._db import delete_runs

        if keep is None and older_than is None:
            raise UsageError("prune() needs keep=N (runs to keep) and/or older_than (e.g. '90d')")
        if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 0):
            raise UsageError(f"keep is a number of runs (an int >= 0), got {keep!r}")
        age = None if older_than is None else _parse_age(older_than)
        with self._connect() as con:
            rows = con.execute(
                "SELECT run_id, started_at FROM runs ORDER BY started_at DESC, finished_at DESC, run_id DESC"
            ).fetchall()
            doomed: list[str] = []
            cutoff = None if age is None else datetime.now(UTC).replace(tzinfo=None) - age
            for i, (run_id, started) in enumerate(rows):
                if (keep is not None and i >= keep) or (cutoff is not None and started < cutoff):
                    doomed.append(run_id)
            delete_runs(con, doomed)
            if doomed:
                con.execute("CHECKPOINT")
        return len(doomed)

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run a query on the store (tables in docs/architecture.md) and return its frame."""
        if not isinstance(query, str):
            raise UsageError(f"query is SQL text, got {type(query).__name__}")
        with self._connect() as con:
            frame: pd.DataFrame = con.execute(query, params or []).df()
            return frame


class UnknownRunError(UsageError, KeyError):
    """A run id that the store does not hold; lists the newest ones."""

    def __init__(self, run_id: str, path: Path, recent: Sequence[str]) -> None:
        self.run_id = run_id
        self.path = path
        super().__init__(run_id)
        shown = ", ".join(map(repr, recent)) or "(none: the store is empty)"
        self._message = f"run history {str(path)!r} has no run {run_id!r}; the newest runs are {shown}"

    def __str__(self) -> str:
        return self._message


def _last_comparable(con: Any) -> tuple[str, str] | None:
    rows = con.execute(
        "SELECT run_id, list_sort(integrations) FROM runs "
        "ORDER BY started_at DESC, finished_at DESC, run_id DESC"
    ).fetchall()
    if not rows:
        return None
    newest, integrations = rows[0]
    for run_id, other in rows[1:]:
        if list(other) == list(integrations):
            return run_id, newest
    return None

"""The run-history file: schema and migrations, connecting under contention, writing and reading runs.

Layout (schema version 1; docs/architecture.md "Run history" explains the choices):

- ``schema_version(version, applied_at, by_intgkit)``: one row per applied migration.
- ``runs``: one row per run; a run is visible once this row is committed, and every other row
  of the run is written in the same transaction, so a run is stored whole or not at all.
- ``results``: the summary frame of every run, one row per result, ``position`` its order.
- ``result_sections``: which sections each result had, in order, with their row counts and
  summary mappings (JSON): what ``load`` needs to rebuild IntegrationResult objects.
- ``frame_columns``: per run and frame, each column's name, its physical column and its
  dtype spec (see _codec), so frames come back with the dtypes they had.
- ``section_tables``: the table that holds each section name's rows, ``section_<slug>``;
  one table per section name across runs, typed columns, with ``run_id`` first. A column
  whose type differs from an earlier run's column of that name gets a new physical column
  (``observed__2``), so earlier rows never change type.

DuckDB lets one process hold the file read-write. Every operation opens the file, does its
work in one transaction and closes it, so other processes wait only that long; a locked file
is retried with backoff (``lock_timeout``), and a write that still cannot get the lock goes to
a spool file beside the store (``<file>.pending/<run_id>.duckdb``, written then renamed), which
the next process that opens the store merges in. No run is lost and no file is shared by two
writers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._errors import HistoryError, MissingExtraError
from .._log import logger
from ._codec import decode_column, encode_column

if TYPE_CHECKING:
    import duckdb

__all__ = ["SCHEMA_VERSION", "RunData", "Store"]

SCHEMA_VERSION = 1
_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file
_HOUSEKEEPING = frozenset({"run_id"})
_STATUSES = ("ok", "error", "timeout", "circuit_open", "not_configured", "cancelled")
_LOCK_WORDS = ("Could not set lock", "Conflicting lock")

_SCHEMA_V1 = [
    "CREATE TABLE schema_version "
    "(version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL, by_intgkit VARCHAR)",
    """CREATE TABLE runs (
        run_id VARCHAR PRIMARY KEY,
        started_at TIMESTAMP,
        finished_at TIMESTAMP,
        integrations VARCHAR[],
        n_targets BIGINT,
        n_results BIGINT,
        ok BIGINT, error BIGINT, timeout BIGINT, circuit_open BIGINT, not_configured BIGINT,
        cancelled BIGINT,
        partial BOOLEAN,
        intgkit_version VARCHAR,
        settings_present VARCHAR
    )""",
    """CREATE TABLE results (
        run_id VARCHAR NOT NULL, position BIGINT NOT NULL,
        integration VARCHAR, target VARCHAR, status VARCHAR, error_type VARCHAR, error VARCHAR,
        started_at TIMESTAMP, duration_s DOUBLE, n_sections BIGINT, n_rows BIGINT,
        breaker_state VARCHAR, queued_s DOUBLE, attempts BIGINT, waited_s DOUBLE, cached BOOLEAN
    )""",
    """CREATE TABLE result_sections (
        run_id VARCHAR NOT NULL, position BIGINT NOT NULL, ordinal INTEGER NOT NULL,
        section VARCHAR NOT NULL, n_rows BIGINT NOT NULL, summary VARCHAR
    )""",
    """CREATE TABLE frame_columns (
        run_id VARCHAR NOT NULL, frame VARCHAR NOT NULL, ordinal INTEGER NOT NULL,
        name VARCHAR NOT NULL, physical VARCHAR NOT NULL, spec VARCHAR NOT NULL
    )""",
    "CREATE TABLE section_tables (section VARCHAR PRIMARY KEY, table_name VARCHAR UNIQUE NOT NULL)",
]

#: from-version -> statements that bring a store to the next version. Empty while 1 is the only
#: version; a future change adds ``1: [...]`` and bumps SCHEMA_VERSION (tests/data holds a v1 file).
_MIGRATIONS: dict[int, list[str]] = {}

_SUMMARY = "summary"  # the frame key of the summary in frame_columns
#: frame_columns rows with this ordinal describe a frame (e.g. whether findings repeat a check)
_META_ORDINAL = -1
_SUMMARY_PHYSICAL = (
    "integration", "target", "status", "error_type", "error", "started_at", "duration_s", "n_sections",
    "n_rows", "breaker_state", "queued_s", "attempts", "waited_s", "cached",
)  # fmt: skip


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:
        raise MissingExtraError("duckdb", "history", "the run history") from exc
    return duckdb


@dataclass(slots=True)
class RunData:
    """One run as frames plus what rebuilding its results needs."""

    run_id: str
    started_at: datetime
    finished_at: datetime
    integrations: list[str]
    n_targets: int
    partial: bool
    settings_present: dict[str, dict[str, bool]]
    summary: pd.DataFrame
    sections: dict[str, pd.DataFrame]
    #: (result position, ordinal, section name, rows it added to the frame, summary mapping)
    result_sections: list[tuple[int, int, str, int, dict[str, Any]]] = field(default_factory=list)
    intgkit_version: str = ""


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_SLUG = re.compile(r"[^a-z0-9_]+")


def _table_slug(section: str, taken: set[str]) -> str:
    base = "section_" + (_SLUG.sub("_", section.lower()).strip("_")[:40] or "x")
    name, i = base, 1
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


# process-wide: one lock per store file, so our own threads never interleave transactions
_PATH_LOCKS: dict[str, threading.Lock] = {}
_PATH_LOCKS_GUARD = threading.Lock()


def _path_lock(path: Path) -> threading.Lock:
    with _PATH_LOCKS_GUARD:
        return _PATH_LOCKS.setdefault(str(path), threading.Lock())


class Store:
    """Operations on one history file; each opens, works in one transaction and closes."""

    def __init__(self, path: Path, *, lock_timeout: float = 30.0) -> None:
        self.path = path
        self.lock_timeout = lock_timeout

    # -- opening ----------------------------------------------------------------------------
    def check(self, *, for_write: bool) -> None:
        """Refuse a path that cannot hold a store, before any work: HistoryError naming it."""
        path = self.path
        if path.is_dir():
            raise HistoryError(path, "is a folder; give a file path for the store, e.g. <folder>/runs.duckdb")
        if path.exists():
            try:
                with open(path, "rb") as f:
                    head = f.read(16)
            except OSError as exc:
                raise HistoryError(path, f"cannot be read ({exc.strerror or exc})") from exc
            if head and (len(head) < 12 or head[8:12] != _MAGIC):
                raise HistoryError(
                    path, "is not a DuckDB file (no DuckDB header); give another path or move the file away"
                )
            if for_write and not os.access(path, os.W_OK):
                raise HistoryError(path, "is not writable; give a path you can write to")
        elif for_write:
            parent = path.parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryError(path, f"cannot create its folder ({exc.strerror or exc})") from exc
            if not parent.is_dir():
                raise HistoryError(path, f"cannot be created: {str(parent)!r} is not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise HistoryError(path, f"cannot be created: the folder {str(parent)!r} is not writable")

    @contextlib.contextmanager
    def connect(self, *, create: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """An open connection with the schema current; retried while another process holds the file."""
        duckdb = _duckdb()
        if not create and not self.path.exists():
            raise HistoryError(self.path, "does not exist; no run has been recorded there yet")
        self.check(for_write=create)
        with _path_lock(self.path):
            con = self._open(duckdb, deadline=time.monotonic() + self.lock_timeout)
            try:
                self._migrate(con)
                yield con
            finally:
                con.close()

    def _open(self, duckdb: Any, deadline: float) -> duckdb.DuckDBPyConnection:
        delay = 0.005
        wal_set_aside = False
        while True:
            try:
                return duckdb.connect(str(self.path))  # type: ignore[no-any-return]
            except duckdb.Error as exc:
                if not wal_set_aside and "replaying WAL" in str(exc) and self._set_wal_aside(str(exc)):
                    wal_set_aside = True
                    continue
                text = str(exc)
                if not isinstance(exc, duckdb.IOException):
                    raise HistoryError(
                        self.path, f"cannot be opened as a DuckDB store ({_first_line(text)})"
                    ) from None
                if any(w in text for w in _LOCK_WORDS):
                    if time.monotonic() + delay > deadline:
                        raise StoreLocked(self.path) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.2)
                    continue
                raise HistoryError(
                    self.path, f"cannot be opened as a DuckDB store ({_first_line(text)})"
                ) from None

    def _set_wal_aside(self, error: str) -> bool:
        """A write-ahead log DuckDB cannot replay (seen after writers were killed twice during a
        checkpoint) would make the store unusable for good: keep it beside the store under
        another name and open the store as of its last checkpoint."""
        wal = self.path.with_name(self.path.name + ".wal")
        aside = self.path.with_name(f"{self.path.name}.wal.unreadable-{int(time.time())}")
        try:
            os.replace(wal, aside)
        except OSError:
            return False
        logger().warning(
            "history_wal_set_aside",
            store=str(self.path),
            kept_as=aside.name,
            error=_first_line(error),
            hint="runs recorded since the store's last checkpoint are not in it",
        )
        return True

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        try:
            names = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
            if "schema_version" not in names:
                if names - {"schema_version"}:
                    raise HistoryError(
                        self.path,
                        f"is a DuckDB file but not an intgkit run history (tables: {sorted(names)[:8]})",
                    )
                from .._version import __version__

                con.execute("BEGIN")
                for statement in _SCHEMA_V1:
                    con.execute(statement)
                con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    [1, _naive_utc(datetime.now(UTC)), __version__],
                )
                con.execute("COMMIT")
            row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
            version = int(row[0] or 0)
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    self.path,
                    f"was written by a newer intgkit (store schema {version}; this one reads up to "
                    f"{SCHEMA_VERSION}); upgrade intgkit",
                )
            while version < SCHEMA_VERSION:
                from .._version import __version__

                con.execute("BEGIN")
                for statement in _MIGRATIONS[version]:
                    con.execute(statement)
                version += 1
                con.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    [version, _naive_utc(datetime.now(UTC)), __version__],
                )
                con.execute("COMMIT")
        except HistoryError:
            raise
        except _duckdb().Error as exc:
            raise HistoryError(
                self.path, f"cannot be read as a run history ({_first_line(str(exc))})"
            ) from None

    # -- writing ----------------------------------------------------------------------------
    def write(self, run: RunData) -> None:
        """Store one run in one transaction; StoreLocked when the file stays locked."""
        with self.connect(create=True) as con:
            self.merge_pending(con)
            write_run(con, run)

    def spool(self, run: RunData) -> Path:
        """Write the run to its own file beside the store, for the next opener to merge."""
        folder = pending_dir(self.path)
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{run.run_id}.duckdb"
        tmp = folder / f".{run.run_id}.{secrets.token_hex(4)}.tmp"
        duckdb = _duckdb()
        con = duckdb.connect(str(tmp))
        try:
            for statement in _SCHEMA_V1:
                con.execute(statement)
            con.execute("INSERT INTO schema_version VALUES (1, ?, '')", [_naive_utc(datetime.now(UTC))])
            write_run(con, run)
        finally:
            con.close()
        os.replace(tmp, final)
        return final

    def merge_pending(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Move spooled runs into the open store; a spool file that cannot be read is kept aside."""
        folder = pending_dir(self.path)
        if not folder.is_dir():
            return []
        merged: list[str] = []
        duckdb = _duckdb()
        for file in sorted(folder.glob("*.duckdb")):
            try:
                spool = duckdb.connect(str(file), read_only=True)
            except duckdb.Error:
                with contextlib.suppress(OSError):
                    os.replace(file, file.with_suffix(".unreadable"))
                continue
            try:
                runs = [r[0] for r in spool.execute("SELECT run_id FROM runs").fetchall()]
                data = [read_run(spool, run_id) for run_id in runs]
            finally:
                spool.close()
            have = {r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()}
            for run in data:
                if run.run_id not in have:
                    write_run(con, run)
                    merged.append(run.run_id)
            with contextlib.suppress(OSError):
                file.unlink()
        return merged


class StoreLocked(HistoryError):
    """Another process kept the store locked for longer than ``lock_timeout``."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "is locked by another process (a run being recorded, or a DuckDB session)")


def pending_dir(path: Path) -> Path:
    return path.with_name(path.name + ".pending")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else text


# -- the write path -------------------------------------------------------------------------------


def _columns_of(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ?", [table]
    ).fetchall()
    return dict(rows)


def _section_table(con: duckdb.DuckDBPyConnection, section: str) -> str:
    row = con.execute("SELECT table_name FROM section_tables WHERE section = ?", [section]).fetchall()
    if row:
        return str(row[0][0])
    taken = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    table = _table_slug(section, taken)
    con.execute(f"CREATE TABLE {_quote(table)} (run_id VARCHAR NOT NULL)")
    con.execute("INSERT INTO section_tables VALUES (?, ?)", [section, table])
    return table


def _physical(name: str, sql_type: str, existing: dict[str, str], used: set[str]) -> tuple[str, bool]:
    """The physical column for a frame column: an existing one of the same type, or a new name."""
    base = name if name and name not in _HOUSEKEEPING else f"{name}_"
    candidate, i = base, 1
    while True:
        key = candidate.lower()  # DuckDB column names are case-insensitive
        match = next((c for c in existing if c.lower() == key), None)
        if candidate not in used and key not in {u.lower() for u in used}:
            if match is None:
                return candidate, True
            if existing[match] == sql_type:
                return match, False
        i += 1
        candidate = f"{base}__{i}"


def write_run(con: duckdb.DuckDBPyConnection, run: RunData) -> None:
    """Every row of one run, in one transaction (all or nothing)."""
    from .._version import __version__

    counts = run.summary["status"].astype(object).value_counts().to_dict() if len(run.summary) else {}
    con.execute("BEGIN")
    try:
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run.run_id,
                _naive_utc(run.started_at),
                _naive_utc(run.finished_at),
                list(run.integrations),
                run.n_targets,
                len(run.summary),
                *(int(counts.get(s, 0)) for s in _STATUSES),
                run.partial,
                run.intgkit_version or __version__,
                json.dumps(run.settings_present, sort_keys=True),
            ],
        )
        _write_summary(con, run)
        if run.result_sections:
            rs = pd.DataFrame(
                {
                    "run_id": run.run_id,
                    "position": np.array([r[0] for r in run.result_sections], dtype=np.int64),
                    "ordinal": np.array([r[1] for r in run.result_sections], dtype=np.int32),
                    "section": np.array([r[2] for r in run.result_sections], dtype=object),
                    "n_rows": np.array([r[3] for r in run.result_sections], dtype=np.int64),
                    "summary": np.array(
                        [
                            json.dumps(r[4], default=str, ensure_ascii=False) if r[4] else None
                            for r in run.result_sections
                        ],
                        dtype=object,
                    ),
                }
            )
            con.register("_rs", rs)
            con.execute("INSERT INTO result_sections SELECT * FROM _rs")
            con.unregister("_rs")
        for section, frame in run.sections.items():
            _write_section(con, run.run_id, section, frame)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise


def _write_summary(con: duckdb.DuckDBPyConnection, run: RunData) -> None:
    cells: dict[str, Any] = {"run_id": run.run_id, "position": np.arange(len(run.summary), dtype=np.int64)}
    meta = []
    for ordinal, name in enumerate(run.summary.columns):
        spec, _sql, data = encode_column(run.summary[name])
        cells[_SUMMARY_PHYSICAL[ordinal]] = data
        meta.append((run.run_id, _SUMMARY, ordinal, str(name), _SUMMARY_PHYSICAL[ordinal], json.dumps(spec)))
    frame = pd.DataFrame(cells, copy=False)
    if not len(frame):
        frame = frame.iloc[0:0]
    con.register("_summary", frame)
    con.execute("INSERT INTO results BY NAME SELECT * FROM _summary")
    con.unregister("_summary")
    _write_meta(con, meta)


def _write_meta(con: duckdb.DuckDBPyConnection, meta: list[tuple[Any, ...]]) -> None:
    if not meta:
        return
    frame = pd.DataFrame(meta, columns=["run_id", "frame", "ordinal", "name", "physical", "spec"])
    frame["ordinal"] = frame["ordinal"].astype(np.int32)
    con.register("_meta", frame)
    con.execute("INSERT INTO frame_columns SELECT * FROM _meta")
    con.unregister("_meta")


def _write_section(con: duckdb.DuckDBPyConnection, run_id: str, section: str, frame: pd.DataFrame) -> None:
    table = _section_table(con, section)
    existing = _columns_of(con, table)
    used: set[str] = {"run_id"}
    cells: dict[str, Any] = {"run_id": np.full(len(frame), run_id, dtype=object)} if len(frame) else {}
    meta = []
    for ordinal, column_name in enumerate(frame.columns):
        name: Any = column_name
        spec, sql_type, data = encode_column(frame.iloc[:, ordinal])
        text_name = name if isinstance(name, str) else str(name)
        if not isinstance(name, str):
            spec["name_json"] = json.dumps(name) if isinstance(name, (int, float, bool)) else None
        physical, new = _physical(text_name, sql_type, existing, used)
        used.add(physical)
        if new:
            con.execute(f"ALTER TABLE {_quote(table)} ADD COLUMN {_quote(physical)} {sql_type}")
            existing[physical] = sql_type
        cells[physical] = data
        meta.append((run_id, section, ordinal, text_name, physical, json.dumps(spec)))
    if section == "findings" and {"integration", "target", "check"} <= set(frame.columns):
        # whether a check repeats on one target: the diff needs a window (a sort) only then, and
        # pandas answers it here in a fraction of what a GROUP BY costs at every diff
        repeats = bool(len(frame)) and bool(frame.duplicated(["integration", "target", "check"]).any())
        meta.append(
            (run_id, section, _META_ORDINAL, "", "", json.dumps({"kind": "meta", "repeats": repeats}))
        )
    _write_meta(con, meta)
    if len(frame):
        data_frame = pd.DataFrame(cells, copy=False)
        con.register("_section", data_frame)
        con.execute(f"INSERT INTO {_quote(table)} BY NAME SELECT * FROM _section")
        con.unregister("_section")


# -- the read path --------------------------------------------------------------------------------


def _frame_specs(
    con: duckdb.DuckDBPyConnection, run_id: str
) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    rows = con.execute(
        "SELECT frame, name, physical, spec FROM frame_columns WHERE run_id = ? AND ordinal >= 0 "
        "ORDER BY frame, ordinal",
        [run_id],
    ).fetchall()
    out: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for frame, name, physical, spec in rows:
        out.setdefault(frame, []).append((name, physical, json.loads(spec)))
    return out


def _decode(raw: pd.DataFrame, columns: Sequence[tuple[str, str, Mapping[str, Any]]]) -> pd.DataFrame:
    data: dict[Any, Any] = {}
    for i, (name, _physical, spec) in enumerate(columns):
        key: Any = name
        if "name_json" in spec and spec["name_json"] is not None:
            key = json.loads(spec["name_json"])
        data[key] = decode_column(raw.iloc[:, i], spec)
    return pd.DataFrame(data, copy=False)


def read_run(con: duckdb.DuckDBPyConnection, run_id: str) -> RunData:
    """One stored run as frames; HistoryError (UnknownRun) when it is not there."""
    row = con.execute(
        "SELECT started_at, finished_at, integrations, n_targets, partial, settings_present, intgkit_version "
        "FROM runs WHERE run_id = ?",
        [run_id],
    ).fetchall()
    if not row:
        raise KeyError(run_id)
    started, finished, integrations, n_targets, partial, settings, version = row[0]
    specs = _frame_specs(con, run_id)
    summary_cols = specs.pop(_SUMMARY, [])
    select = ", ".join(_quote(p) for _, p, _ in summary_cols) or "run_id"
    raw = con.sql(f"SELECT {select} FROM results WHERE run_id = $1 ORDER BY position", params=[run_id]).df()
    summary = _decode(raw, summary_cols)
    tables = dict(con.execute("SELECT section, table_name FROM section_tables").fetchall())
    sections: dict[str, pd.DataFrame] = {}
    order = [
        r[0]
        for r in con.execute(
            "SELECT section FROM result_sections WHERE run_id = ? GROUP BY section "
            "ORDER BY min(position * 2147483648 + ordinal)",
            [run_id],
        ).fetchall()
    ]
    for section in order:
        columns = specs.get(section, [])
        table = tables.get(section)
        if table is None or not columns:
            continue
        select = ", ".join(_quote(p) for _, p, _ in columns)
        raw = con.sql(f"SELECT {select} FROM {_quote(table)} WHERE run_id = $1", params=[run_id]).df()
        sections[section] = _decode(raw, columns)
    result_sections = [
        (int(p), int(o), str(s), int(n), json.loads(m) if m else {})
        for p, o, s, n, m in con.execute(
            "SELECT position, ordinal, section, n_rows, summary FROM result_sections WHERE run_id = ? "
            "ORDER BY position, ordinal",
            [run_id],
        ).fetchall()
    ]
    return RunData(
        run_id=run_id,
        started_at=started.replace(tzinfo=UTC),
        finished_at=finished.replace(tzinfo=UTC),
        integrations=list(integrations),
        n_targets=int(n_targets),
        partial=bool(partial),
        settings_present=json.loads(settings) if settings else {},
        summary=summary,
        sections=sections,
        result_sections=result_sections,
        intgkit_version=version or "",
    )


def delete_runs(con: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> None:
    """Remove runs from every table, in one transaction."""
    if not run_ids:
        return
    ids = list(run_ids)
    tables = [r[0] for r in con.execute("SELECT table_name FROM section_tables").fetchall()]
    con.execute("BEGIN")
    try:
        for table in ["results", "result_sections", "frame_columns", *tables, "runs"]:
            con.execute(f"DELETE FROM {_quote(table)} WHERE list_contains(?, run_id)", [ids])
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise

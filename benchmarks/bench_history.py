"""The run history (issue 12): recording, loading and diffing runs against plain DuckDB/pandas.

Baselines, each what a competent user writes instead, over the same timed region:

- record: ``results.to_frame()`` and ``results.to_frame("findings")`` (the frames must be built
  from the results either way), then DuckDB's own bulk insert of each,
  ``CREATE TABLE t AS SELECT * FROM df``, into a new file, and ``close()``. intgkit's timed
  region is ``History(path).record(results)``: the same frames, the column codecs that make
  them read back exactly, the catalog rows, one transaction, ``close()``.
- recording overhead: a 10,000-call no-op run with ``history=None`` against the same run with
  ``history=path``; the run returns when its results are handed to the background writer, so
  the time until the write is on disk is reported on its own row (information).
- load: ``duckdb.connect(path)`` and ``con.sql("SELECT ... WHERE run_id = ?").df()`` of the
  summary and the findings rows of one run from the same store, against ``History.load(run_id)``
  plus ``to_frame()`` and ``to_frame("findings")`` (dtypes restored).
- diff: a pandas outer merge on (integration, target, check) of the two runs' findings frames
  already in memory, against ``History.diff(a, b, "findings")``, which joins in DuckDB straight
  from the file (nothing loaded beforehand) and returns the tidy changes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

import intgkit
from intgkit import History, IntegrationResult, IntegrationResults, IntegrationSection, Status
from intgkit._store import flush

from ._common import Row, interleaved, row

SEVERITIES = ("high", "medium", "low", "info")


def make_results(n_results: int, n_rows: int, variant: int = 0) -> IntegrationResults:
    """Findings rows (the common columns); ``variant`` 1 flips the first check of one target in
    100 and changes one observed value in another 100, as a later audit would."""
    results = []
    for i in range(n_results):
        rows = [
            {
                "integration": "audit",
                "target": f"host-{i}.example",
                "check": f"check-{j}",
                "result_id": f"check-{j}-{'fail' if _fails(i, j, variant) else 'pass'}",
                "passed": not _fails(i, j, variant),
                "severity": SEVERITIES[j % 4],
                "observed": f"value {(i * j) % 97}" + ("!" if variant and i % 100 == 50 and j == 1 else ""),
                "expected": "something",
                "detail": "",
                "explanation": "why this matters",
            }
            for j in range(n_rows)
        ]
        results.append(
            IntegrationResult(
                "audit",
                f"host-{i}.example",
                Status.OK,
                (IntegrationSection("findings", rows),),
                started_at=None,
                duration_s=0.01,
            )
        )
    return IntegrationResults(results)


def _fails(i: int, j: int, variant: int) -> bool:
    return ((i + j) % 5 == 0) != bool(variant and i % 100 == 0 and j == 0)


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(quick: bool) -> list[Row]:
    n_results, n_rows, repeats = (2_000, 10, 3) if quick else (100_000, 10, 3)
    n_calls = 1_000 if quick else 10_000
    size = f"{n_results:,} results, {n_results * n_rows:,} findings rows"
    work = Path(tempfile.mkdtemp(prefix="intgkit-bench-history-"))
    counter = iter(range(10**9))
    try:
        old, new = make_results(n_results, n_rows), make_results(n_results, n_rows, variant=1)
        rows: list[Row] = []

        # -- record ----------------------------------------------------------------------------
        def ours_record() -> float:
            h = History(work / f"ours-{next(counter)}.duckdb")
            return _timed(lambda: h.record(old))

        def duckdb_record() -> float:
            path = work / f"plain-{next(counter)}.duckdb"

            def write() -> None:
                summary = old.to_frame()  # noqa: F841 - scanned by name below
                findings = old.to_frame("findings")  # noqa: F841
                con = duckdb.connect(str(path))
                con.execute("CREATE TABLE results AS SELECT * FROM summary")
                con.execute("CREATE TABLE findings AS SELECT * FROM findings")
                con.close()

            return _timed(write)

        t = interleaved({"intgkit": ours_record, "duckdb": duckdb_record}, repeats)
        rows.append(
            row(
                f"history: record a run, {size}",
                t["intgkit"],
                t["duckdb"],
                1.5,
                note="baseline: to_frame() x2 + CREATE TABLE AS SELECT * FROM df per frame + close",
            )
        )

        # -- recording overhead on a no-op run ----------------------------------------------------
        reg = intgkit.IntegrationRegistry(None)

        @intgkit.integration(name="noop", registry=reg)
        async def noop(target: str | None) -> dict[str, Any]:
            return {}

        targets = [f"t{i}" for i in range(n_calls)]
        plain = intgkit.IntegrationRunner(reg, history=None)
        store = work / "overhead.duckdb"
        recording = intgkit.IntegrationRunner(reg, history=store)
        written: list[float] = []

        def run_plain() -> float:
            return _timed(lambda: plain.run(["noop"], targets))

        def run_recorded() -> float:
            t0 = time.perf_counter()
            recording.run(["noop"], targets)
            returned = time.perf_counter() - t0
            flush(store)
            written.append(time.perf_counter() - t0)
            return returned

        o = interleaved({"plain": run_plain, "recorded": run_recorded}, repeats + 2)
        rows.append(
            row(
                f"history: {n_calls:,}-call no-op run, recording on (until run() returns)",
                o["recorded"],
                o["plain"],
                1.10,
                note="baseline: the same run with history=None; the write continues in a thread",
            )
        )
        written_median = sorted(written)[len(written) // 2]
        rows.append(
            row(
                f"history: {n_calls:,}-call no-op run, recording on (until the run is on disk)",
                written_median,
                o["plain"],
                None,
                note="run() plus flush(): the background write finished; information",
            )
        )

        # -- load and diff -------------------------------------------------------------------------
        path = work / "two-runs.duckdb"
        h = History(path)
        a, b = h.record(old), h.record(new)

        def ours_load() -> float:
            def load() -> None:
                loaded = h.load(a)
                loaded.to_frame()
                loaded.to_frame("findings")

            return _timed(load)

        def duckdb_load() -> float:
            def load() -> None:
                con = duckdb.connect(str(path))
                con.sql("SELECT * FROM results WHERE run_id = $1", params=[a]).df()
                con.sql("SELECT * FROM section_findings WHERE run_id = $1", params=[a]).df()
                con.close()

            return _timed(load)

        t = interleaved({"intgkit": ours_load, "duckdb": duckdb_load}, repeats)
        rows.append(
            row(
                f"history: load a run, {size}",
                t["intgkit"],
                t["duckdb"],
                1.5,
                note="baseline: connect + SELECT ... WHERE run_id .df() of both tables (dtypes not restored)",
            )
        )

        frame_a = h.load(a).to_frame("findings")
        frame_b = h.load(b).to_frame("findings")

        def pandas_diff() -> float:
            return _timed(
                lambda: frame_a.merge(
                    frame_b, on=["integration", "target", "check"], how="outer", suffixes=("_a", "_b")
                )
            )

        def ours_diff() -> float:
            return _timed(lambda: h.diff(a, b, "findings"))

        t = interleaved({"intgkit": ours_diff, "pandas": pandas_diff}, repeats)
        changes = h.diff(a, b, "findings")
        rows.append(
            row(
                f"history: diff two runs' findings, {size}",
                t["intgkit"],
                t["pandas"],
                1.0,
                note=f"baseline: pandas outer merge of the two findings frames in memory; {len(changes):,} "
                "changes",
            )
        )
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for r in run(quick=False):
        print(r)

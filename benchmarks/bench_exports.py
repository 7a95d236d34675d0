"""CSV export: ``results.to_csv(folder)`` against pandas' ``to_csv`` of the same frames.

The baseline is what a competent user writes without intgkit's exporter: every frame of
``results.to_frames()`` written with ``DataFrame.to_csv(index=False)`` into a folder. intgkit does
more in its timed region (the frames too, formula neutralisation, "" apart from NA, the
manifest with dtypes and checksums, fsync, an atomic rename), so the ratio says what that costs;
reading back is timed the same way against ``pandas.read_csv`` of each file. Its own CSV writer
replaced ``DataFrame.to_csv`` in format 2 (pandas writes "" and NA alike), which this guards.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

import intgkit
from intgkit import IntegrationResult, IntegrationResults, IntegrationSection, Status

from ._common import Row, interleaved, row


def make_results(n_results: int, n_rows: int) -> IntegrationResults:
    """Findings-like rows: text with empties and NAs, a formula-like value, numbers, booleans."""
    results = []
    for i in range(n_results):
        rows = tuple(
            {
                "check": f"check-{j}",
                "passed": j % 3 == 0,
                "severity": ("high", "medium", "low")[j % 3],
                "observed": "-all (or ~all)" if j % 7 == 0 else ("" if j % 2 else f"max-age={j}"),
                "detail": None if j % 5 else "a, b",
                "score": j * 0.5,
                "n": j,
            }
            for j in range(n_rows)
        )
        results.append(
            IntegrationResult(
                "audit", f"host-{i}.example", Status.OK, (IntegrationSection("findings", rows),)
            )
        )
    return IntegrationResults(results)


def run(quick: bool) -> list[Row]:
    """Write and read times against pandas, interleaved, medians."""
    n_results, repeats = (500, 3) if quick else (5_000, 5)
    results = make_results(n_results, 100)
    size = f"{n_results * 100:,} rows"
    work = Path(tempfile.mkdtemp(prefix="intgkit-bench-"))
    counter = iter(range(10**9))

    def timed(fn: Any) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def ours_write() -> float:
        return timed(lambda: results.to_csv(work / f"ours-{next(counter)}"))

    def pandas_write() -> float:
        def write() -> None:
            folder = work / f"pandas-{next(counter)}"
            folder.mkdir()
            for key, frame in results.to_frames().items():
                frame.to_csv(folder / f"{key}.csv", index=False)

        return timed(write)

    try:
        t = interleaved({"intgkit": ours_write, "pandas": pandas_write}, repeats)
        ours_dir = results.to_csv(work / "read-ours")
        pandas_dir = work / "read-pandas"
        pandas_dir.mkdir()
        for key, frame in results.to_frames().items():
            frame.to_csv(pandas_dir / f"{key}.csv", index=False)
        r = interleaved(
            {
                "intgkit": lambda: timed(lambda: intgkit.read_csv(ours_dir)),
                "pandas": lambda: timed(lambda: [pd.read_csv(p) for p in sorted(pandas_dir.glob("*.csv"))]),
            },
            repeats,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return [
        row(
            f"export: results.to_csv, {size}",
            t["intgkit"],
            t["pandas"],
            None,
            note="baseline: to_frames() + DataFrame.to_csv per frame; information",
        ),
        row(
            f"export: intgkit.read_csv, {size}",
            r["intgkit"],
            r["pandas"],
            None,
            note="baseline: pandas.read_csv per file (no dtypes restored); information",
        ),
    ]


if __name__ == "__main__":
    for r in run(quick=False):
        print(r)

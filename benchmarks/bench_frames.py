"""Section frames against ``pandas.DataFrame.from_records`` on the same, already flat records.

The target (the frames issue): 10,000 results x 100 rows of 8 mixed columns into one tidy frame
in at most 1.5x the time and 1.5x the peak memory of from_records, measured in the same run,
median of repeats. Run ``python -m benchmarks.bench_frames [--quick]``; a benchmarks runner calls
:func:`run`.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from intgkit import IntegrationResult, IntegrationResults, IntegrationSection, Status, frames

TARGET = 1.5


def make_results(n_results: int, n_rows: int) -> tuple[IntegrationResults, list[dict[str, Any]]]:
    """The results, and the same rows already flat (integration and target included)."""
    started = datetime(2024, 1, 1, tzinfo=UTC)
    results = []
    flat: list[dict[str, Any]] = []
    for i in range(n_results):
        target = f"host-{i}.example"
        rows = tuple(
            {
                "name": f"record-{j}",
                "kind": "A" if j % 2 else "AAAA",
                "value": f"192.0.2.{j % 256}",
                "ttl": 300 + j,
                "priority": j % 10,
                "score": j * 0.5,
                "latency_ms": i * 0.001 + j,
                "valid": j % 3 == 0,
            }
            for j in range(n_rows)
        )
        results.append(
            IntegrationResult(
                "dns",
                target,
                Status.OK,
                (IntegrationSection("records", rows),),
                started_at=started,
                duration_s=0.1,
            )
        )
        flat.extend({"integration": "dns", "target": target, **row} for row in rows)
    return IntegrationResults(results), flat


def _seconds(fn: Callable[[], Any]) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _peak_bytes(fn: Callable[[], Any]) -> float:
    """Peak traced allocation during one call (tracemalloc sees numpy's and pyarrow's buffers
    allocated through Python's allocator; RSS would also count the records made beforehand)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def _interleaved(
    measure: Callable[[Callable[[], Any]], float], a: Callable[[], Any], b: Callable[[], Any], repeats: int
) -> tuple[float, float]:
    """Medians of ``measure`` over alternating calls, so machine noise hits both sides alike."""
    xs, ys = [], []
    for _ in range(repeats):
        xs.append(measure(a))
        ys.append(measure(b))
    return statistics.median(xs), statistics.median(ys)


def _row(case: str, ours: float, base: float, unit: str) -> dict[str, Any]:
    ratio = ours / base if base else float("inf")
    return {
        "case": case,
        f"intgkit_{unit}": ours,
        f"baseline_{unit}": base,
        "ratio": ratio,
        "target": TARGET,
        "met": ratio <= TARGET,
        "note": "median of interleaved repeats, same process",
    }


def run(quick: bool) -> list[dict[str, Any]]:
    """Time and peak memory against from_records: one row each, with the ratio and whether it met 1.5x."""
    n_results, repeats = (1_000, 5) if quick else (10_000, 5)
    results, flat = make_results(n_results, 100)
    size = f"{n_results:,} results x 100 rows"

    def ours() -> Any:
        return frames.section_frame(results, "records")

    def baseline() -> Any:
        return pd.DataFrame.from_records(flat)

    ours(), baseline()  # warm up imports and caches
    t_ours, t_base = _interleaved(_seconds, ours, baseline, repeats)
    m_ours, m_base = _interleaved(_peak_bytes, ours, baseline, 3)
    return [
        _row(f"section_frame, {size}: time", t_ours, t_base, "s"),
        _row(f"section_frame, {size}: peak memory (tracemalloc)", m_ours, m_base, "bytes"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,000 results instead of 10,000")
    args = parser.parse_args()
    for row in run(args.quick):
        unit = "s" if "intgkit_s" in row else "bytes"
        ours, base = row[f"intgkit_{unit}"], row[f"baseline_{unit}"]
        if unit == "bytes":
            ours, base, unit = ours / 2**20, base / 2**20, "MiB"
        verdict = "met" if row["met"] else "MISSED"
        print(
            f"{row['case']}: intgkit {ours:.3f} {unit}, from_records {base:.3f} {unit}, "
            f"ratio {row['ratio']:.2f} (target <= {row['target']}: {verdict})"
        )


if __name__ == "__main__":
    main()

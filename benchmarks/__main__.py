"""``python -m benchmarks [--quick] [--check] [--json FILE] [--only NAME,...]``: every case, one table.

Each case runs intgkit against its baselines in this process and reports medians of repeats;
the table shows case, intgkit time, baseline time, ratio, target and whether it was met.
Without ``--check`` targets are reported, not enforced: the exit status is 0 unless a case
crashed (CI runs ``--quick`` on every commit as a smoke test; shared machines are too noisy to
gate on ratios). ``--check`` (for full runs on a quiet machine) exits 1 when a target is missed.

Adding cases: write ``benchmarks/bench_NAME.py`` with ``run(quick: bool) -> list[Row]`` (rows from
``_common.row``) and add ``("NAME", "benchmarks.bench_NAME")`` to MODULES below.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from ._common import Row, machine

#: (name, module): each module has ``run(quick: bool) -> list[dict]``.
MODULES = [
    ("runner", "benchmarks.bench_runner"),
    ("frames", "benchmarks.bench_frames"),
    ("exports", "benchmarks.bench_exports"),
    ("history", "benchmarks.bench_history"),
    ("import", "benchmarks.bench_import"),
    ("audit", "benchmarks.bench_audit"),
    ("http_headers", "benchmarks.bench_http_headers"),
    ("tls", "benchmarks.bench_tls"),
    ("dns_email", "benchmarks.bench_dns_email"),
    ("policies", "benchmarks.bench_policies"),
    ("distributed", "benchmarks.bench_distributed"),
]

#: Case numbers (the issue's) for modules whose rows do not carry one.
PREFIX = {"frames": "6 frames: "}


def _value(r: Row, side: str) -> tuple[float | None, str]:
    """The row's measurement for ``side`` (intgkit or baseline) and its unit, whatever the key."""
    for key, value in r.items():
        if key.startswith(side + "_") and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), key[len(side) + 1 :]
    return None, ""


def _fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        if abs(value) < 1e-3:
            return f"{value * 1e6:.2f} us"
        if abs(value) < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.3f} s"
    if unit in ("bytes", "b"):
        if abs(value) >= 1 << 20:
            return f"{value / (1 << 20):.1f} MiB"
        if abs(value) >= 1 << 10:
            return f"{value / (1 << 10):.1f} KiB"
        return f"{value:.0f} B"
    return f"{value:.4g} {unit}".strip()


def _target(r: Row) -> str:
    t = r.get("target")
    if t is None:
        return "-"
    if isinstance(t, (int, float)):
        return f"<= {t:.2f}x"
    return str(t)


def _met(r: Row) -> str:
    met = r.get("met")
    if met is None:
        return "info" if r.get("target") is None else "-"
    return "met" if met else "MISSED"


def table(rows: list[Row]) -> str:
    """The rows as a plain-text table (also valid Markdown)."""
    header = ["case", "intgkit", "baseline", "ratio", "target", "met"]
    lines = []
    for r in rows:
        iv, iu = _value(r, "intgkit")
        bv, bu = _value(r, "baseline")
        ratio = r.get("ratio")
        lines.append(
            [
                str(r.get("case", "?")),
                _fmt(iv, iu),
                _fmt(bv, bu),
                "-" if not isinstance(ratio, (int, float)) else f"{ratio:.2f}x",
                _target(r),
                _met(r),
            ]
        )
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)
    ]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        cells = [
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _load(module: str) -> Callable[[bool], list[Row]] | None:
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None  # not written yet
        raise
    run: Callable[[bool], list[Row]] = mod.run
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds (CI smoke test)")
    parser.add_argument("--json", metavar="FILE", help="also write the rows and the machine as JSON")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a target is missed (full runs on a quiet machine)"
    )
    parser.add_argument(
        "--only", metavar="NAMES", help=f"comma-separated subset of: {', '.join(n for n, _ in MODULES)}"
    )
    args = parser.parse_args(argv)
    chosen = [m for m in MODULES if not args.only or m[0] in args.only.split(",")]

    info = machine()
    print(
        f"intgkit benchmarks ({'quick' if args.quick else 'full'}): {info['cpu']}, {info['cores']} cores, "
        f"Python {info['python']}, pandas {info['pandas']}",
        flush=True,
    )
    rows: list[Row] = []
    notes: list[str] = []
    crashed = False
    started = time.perf_counter()
    for name, module in chosen:
        t0 = time.perf_counter()
        try:
            run = _load(module)
            if run is None:
                notes.append(f"{name}: skipped ({module} is not there yet)")
                continue
            got = run(args.quick)
        except Exception:
            crashed = True
            notes.append(f"{name}: CRASHED\n{traceback.format_exc()}")
            continue
        prefix = PREFIX.get(name)
        if prefix:  # number the rows of modules that do not number their own
            got = [
                r if str(r.get("case", "")).startswith(prefix[0]) else {**r, "case": prefix + str(r["case"])}
                for r in got
            ]
        rows.extend(got)
        print(f"  {name}: {len(got)} rows in {time.perf_counter() - t0:.1f} s", flush=True)

    print()
    print(table(rows))
    for r in rows:
        if r.get("note"):
            print(f"  - {r['case']}: {r['note']}")
    for note in notes:
        print(f"note: {note}")
    total = time.perf_counter() - started
    missed = [r["case"] for r in rows if r.get("met") is False]
    print(f"\n{len(rows)} rows, {len(missed)} targets missed, {total:.1f} s")

    if args.json:
        doc: dict[str, Any] = {
            "quick": args.quick,
            "machine": info,
            "seconds": total,
            "rows": rows,
            "notes": notes,
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, default=str)
            f.write("\n")
    if crashed:
        return 1
    if args.check and missed:
        print(f"--check: {len(missed)} targets missed: " + "; ".join(map(str, missed)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

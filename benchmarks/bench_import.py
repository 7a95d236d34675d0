"""Import time: ``python -c "import intgkit"`` against ``python -c "import pandas"``, each in a
fresh process (so nothing is cached in the interpreter), interleaved, median of several runs."""

from __future__ import annotations

import subprocess
import sys
import time

from ._common import Row, interleaved, row


def _fresh(statement: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - t0


def run(quick: bool) -> list[Row]:
    """The import case (7)."""
    repeats = 3 if quick else 11
    t = interleaved(
        {
            "intgkit": lambda: _fresh("import intgkit"),
            "pandas": lambda: _fresh("import pandas"),
            "python": lambda: _fresh("pass"),
        },
        repeats,
    )
    return [
        row(
            "7 import: python -c 'import intgkit'",
            t["intgkit"],
            t["pandas"],
            1.15,
            note="baseline: python -c 'import pandas'; whole process, interpreter start included",
        ),
        row(
            "7 import: intgkit's own import time",
            t["intgkit"] - t["python"],
            t["pandas"] - t["python"],
            None,
            note="both less an empty interpreter's start; information",
        ),
    ]

"""Counters the reliability tests keep, reported at the end of each module and optionally as JSON.

tests/test_faults.py, tests/test_bad_input.py and tests/test_secrets.py add to one process-wide
Counter; each module's ``reliability_report`` fixture writes the running totals to the terminal
when the module's tests end, and to the JSON file named by INTGKIT_RELIABILITY_JSON when set.
docs/reliability.md quotes these lines.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator

import pytest

STATS: Counter[str] = Counter()
#: Measured figures (seconds, bytes) the load tests report.
FIGURES: dict[str, float] = {}

#: The order the summary line prints its counters in.
KEYS = (
    "runs",
    "calls",
    "faults_injected",
    "results_lost",
    "hangs",
    "cancelled_runs",
    "breaker_steps",
    "secrets_planted",
    "channels_scanned",
    "secrets_leaked",
    "bad_inputs_tried",
    "bad_inputs_refused_clearly",
)


def summary_line() -> str:
    """``runs=… calls=… …`` for every counter, zeros included."""
    counters = " ".join(f"{k}={STATS[k]}" for k in KEYS)
    figures = " ".join(f"{k}={v:g}" for k, v in sorted(FIGURES.items()))
    return f"{counters} {figures}".strip()


@pytest.fixture(scope="module", autouse=True)
def reliability_report(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module's tests: print the running totals (and write them as JSON when asked)."""
    yield
    line = f"intgkit reliability after {request.module.__name__}: {summary_line()}"
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)
    path = os.environ.get("INTGKIT_RELIABILITY_JSON")
    if path:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({**{k: STATS[k] for k in KEYS}, **FIGURES}, fh, indent=2)

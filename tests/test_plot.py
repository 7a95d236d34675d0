"""results.plot_timeline(): one bar per call, coloured by status, on a seconds axis."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.colors import to_hex

from intgkit import IntegrationResult, IntegrationResults, Status
from intgkit._html import STATUS_COLOURS

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Every figure made in a test is closed after it."""
    yield
    plt.close("all")


def result(
    name: str, target: str | None, status: Status, start_s: float | None, duration: float
) -> IntegrationResult:
    started = None if start_s is None else T0 + timedelta(seconds=start_s)
    return IntegrationResult(name, target, status, started_at=started, duration_s=duration)


@pytest.fixture
def results() -> IntegrationResults:
    """Three placed calls and one cancelled before it could start."""
    return IntegrationResults(
        [
            result("good", "a.example", Status.OK, 1.0, 0.5),
            result("slow", "a.example", Status.TIMEOUT, 1.2, 2.0),
            result("flaky", None, Status.ERROR, 1.5, 0.25),
            result("late", None, Status.ERROR, None, math.nan),
        ]
    )


def test_one_bar_per_started_call_with_status_colours(results: IntegrationResults) -> None:
    """Bars start relative to the earliest start, are as wide as the duration, coloured by status."""
    ax = results.plot_timeline()
    bars = ax.patches
    assert len(bars) == 3
    assert [round(b.get_x(), 6) for b in bars] == [0.0, 0.2, 0.5]
    assert [b.get_width() for b in bars] == [0.5, 2.0, 0.25]
    assert [to_hex(b.get_facecolor()) for b in bars] == [
        STATUS_COLOURS[Status.OK],
        STATUS_COLOURS[Status.TIMEOUT],
        STATUS_COLOURS[Status.ERROR],
    ]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["good@a.example", "slow@a.example", "flaky"]
    assert "1 cancelled, not shown" in ax.get_title()
    assert "seconds" in ax.get_xlabel()


def test_timeout_line_and_legend(results: IntegrationResults) -> None:
    """The timeout is a dashed vertical line at its value; the legend names the statuses present."""
    _fig, ax = plt.subplots()
    assert results.plot_timeline(ax, timeout=1.5) is ax
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [1.5, 1.5]
    assert line.get_linestyle() == "--"
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["ok", "error", "timeout", "timeout 1.5 s"]


def test_no_timeout_no_line(results: IntegrationResults) -> None:
    """Without a timeout nothing but bars is drawn."""
    ax = results.plot_timeline()
    assert ax.get_lines() == []


def test_empty_results_draw_an_empty_axes() -> None:
    """An empty run still returns an Axes, titled as empty."""
    ax = IntegrationResults().plot_timeline()
    assert len(ax.patches) == 0
    assert ax.get_title() == "no calls to show"


def test_missing_matplotlib_names_the_extra() -> None:
    """Without matplotlib, plot_timeline says which extra to install."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["matplotlib"] = None
        import intgkit
        try:
            intgkit.IntegrationResults().plot_timeline()
        except intgkit.MissingExtraError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert 'pip install "intgkit[plot]"' in out

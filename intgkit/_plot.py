"""A run as a timeline: one bar per call, so slow calls, timeouts and stalls show at a glance.

matplotlib is the ``plot`` extra: imported here only, when a timeline is drawn.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._errors import MissingExtraError
from ._html import STATUS_COLOURS
from ._models import IntegrationResult, Status

if TYPE_CHECKING:
    from collections.abc import Iterable

    from matplotlib.axes import Axes

__all__ = ["plot_timeline"]

TIMEOUT_COLOUR = "#57606a"


def plot_timeline(
    results: Iterable[IntegrationResult], ax: Axes | None = None, timeout: float | None = None
) -> Axes:
    """Draw one horizontal bar per call, from its start to its end, coloured by status.

    Starts are relative to the earliest start, so the x axis is seconds into the run. Calls
    cancelled with the run carry no start time and cannot be placed;
    they are counted in the title rather than silently dropped.

    Args:
        results: the results of one run, e.g. an IntegrationResults.
        ax: the Axes to draw on; a new figure (pyplot, so notebooks show it) when None.
        timeout: the run's per-call timeout, drawn as a dashed vertical line.

    Returns:
        The Axes drawn on.
    """
    try:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise MissingExtraError("matplotlib", "plot", "plot_timeline()") from exc

    items = list(results)
    placed = [r for r in items if r.started_at is not None and not math.isnan(r.duration_s)]
    skipped = len(items) - len(placed)
    if ax is None:
        import matplotlib.pyplot as plt

        _fig, ax = plt.subplots(figsize=(8, min(2 + 0.3 * len(placed), 40)))

    t0 = min((r.started_at for r in placed if r.started_at is not None), default=None)
    starts = [(r.started_at - t0).total_seconds() for r in placed if r.started_at and t0]
    widths = [max(r.duration_s, 0.0) for r in placed]
    labels = [r.integration if r.target is None else f"{r.integration}@{r.target}" for r in placed]
    colours = [STATUS_COLOURS[r.status] for r in placed]
    ys = list(range(len(placed)))
    if placed:
        ax.barh(ys, widths, left=starts, color=colours, height=0.6)
        ax.set_yticks(ys, labels)
        ax.set_ylim(len(placed) - 0.5, -0.5)  # first call on top, in selection order
    ax.set_xlabel("seconds since the first call started")

    handles: list[Patch | Line2D] = [
        Patch(color=STATUS_COLOURS[s], label=s.value) for s in Status if any(r.status is s for r in placed)
    ]
    if timeout is not None:
        line = ax.axvline(timeout, linestyle="--", color=TIMEOUT_COLOUR, label=f"timeout {timeout:g} s")
        handles.append(line)
    if handles:
        ax.legend(handles=handles, loc="best", fontsize="small")

    title = f"{len(placed)} calls" if placed else "no calls to show"
    if skipped:
        title += f" ({skipped} cancelled, not shown: no start time)"
    ax.set_title(title)
    return ax

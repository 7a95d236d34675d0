"""The results view: a compact summary at a glance, the full frame and every section one click away.

The full summary frame is wide (timestamps at microsecond precision, queue and retry columns);
at a glance a reader needs who, what, how it ended and why, so the compact view keeps those,
rounds durations and cuts long errors (whole in the full frame).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._results import IntegrationResults

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COMPACT_COLUMNS", "SUMMARY", "compact_summary", "frame_for"]

SUMMARY = "summary"
COMPACT_COLUMNS = ("integration", "target", "status", "duration_s", "breaker_state", "error")
#: Errors longer than this are cut in the compact summary (the full frame has them whole).
MAX_ERROR_CHARS = 60


def compact_summary(results: IntegrationResults) -> pd.DataFrame:
    """The summary's columns a reader needs at a glance, durations to 0.01 s, errors cut."""
    frame = results.to_frame().loc[:, list(COMPACT_COLUMNS)]
    frame["duration_s"] = frame["duration_s"].round(2)
    frame["error"] = (
        frame["error"]
        .map(
            lambda e: (
                e if not isinstance(e, str) or len(e) <= MAX_ERROR_CHARS else e[: MAX_ERROR_CHARS - 1] + "…"
            )
        )
        .astype(frame["error"].dtype)
    )
    return frame


def frame_for(results: IntegrationResults, which: str, *, full: bool) -> pd.DataFrame:
    """The frame the picker names: the summary (compact unless ``full``) or a section."""
    if which == SUMMARY:
        return results.to_frame() if full else compact_summary(results)
    return results.to_frame(which)

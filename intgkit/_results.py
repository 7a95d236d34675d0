"""The results of one run: :class:`IntegrationResults`, with its DataFrame, export and display
methods.

A floor above the values it holds (_models) and above their renderers (frames, _html, _plot,
_excel, _report), which it calls: they import the values, never this module, so none of them
can need it back. The renderers are imported inside the methods that use them, so ``import
intgkit`` imports no pandas. The run history (_store) sits above: it builds these results when
it loads a run, and it compares two of them for :meth:`IntegrationResults.diff`, which it
registers here when imported (:func:`register_differ`) rather than this module importing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, overload

from ._models import IntegrationResult
from ._status import Status

if TYPE_CHECKING:
    import os
    from pathlib import Path

    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["IntegrationResults", "register_differ"]

#: ``diff_results(old, new, what)`` of the run history, registered by ``intgkit._store``
Differ = Callable[["IntegrationResults", "IntegrationResults", str], "pd.DataFrame"]
_differ: list[Differ] = []


def register_differ(differ: Differ) -> None:
    """Set how :meth:`IntegrationResults.diff` compares two runs (the run history's engine)."""
    _differ[:] = [differ]


class IntegrationResults(Sequence[IntegrationResult]):
    """The ordered, immutable results of one run, with DataFrame and export methods.

    Results keep the order of the selection (integrations, then targets), whatever order
    the calls finished in.
    """

    __slots__ = ("_frames", "_items", "run_id")

    def __init__(self, results: Sequence[IntegrationResult] = (), *, run_id: str | None = None) -> None:
        items = tuple(results)
        for r in items:
            item: object = r  # checked at run time: callers outside mypy pass anything
            if not isinstance(item, IntegrationResult):
                from ._errors import UsageError

                raise UsageError(
                    f"IntegrationResults holds IntegrationResult values, got {type(item).__name__}"
                )
        self._items = items
        #: the id the run was recorded under in the run history, None when not recorded.
        self.run_id = run_id
        # frames a stored run was loaded with (History.load): to_frame returns copies of them
        self._frames: dict[str | None, pd.DataFrame] | None = None

    @overload
    def __getitem__(self, index: int) -> IntegrationResult: ...
    @overload
    def __getitem__(self, index: slice) -> IntegrationResults: ...
    def __getitem__(self, index: int | slice) -> IntegrationResult | IntegrationResults:
        if isinstance(index, slice):
            return IntegrationResults(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[IntegrationResult]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IntegrationResults):
            return self._items == other._items
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equality by value, like a list

    def counts(self) -> dict[str, int]:
        """How many results ended with each status (every status present, zeros included)."""
        out = {s.value: 0 for s in Status}
        for r in self._items:
            out[r.status.value] += 1
        return out

    @property
    def failed(self) -> IntegrationResults:
        """The results whose status is not ok."""
        return IntegrationResults([r for r in self._items if r.status is not Status.OK])

    def section_names(self) -> list[str]:
        """The distinct section names, in order of first appearance."""
        seen: dict[str, None] = {}
        for r in self._items:
            for s in r.sections:
                seen.setdefault(s.name, None)
        return list(seen)

    # -- frames and files (see intgkit.frames) -------------------------------------------
    def to_frame(self, section: str | None = None, *, flatten: bool = False) -> pd.DataFrame:
        """The summary frame (one row per result), or the tidy frame of one section.

        Args:
            section: a section name; None gives the summary.
            flatten: expand nested mappings in section rows into dotted columns.
        """
        from . import frames

        if self._frames is not None and not flatten and (section is None or section in self._frames):
            return self._frames[section].copy()
        if section is None:
            return frames.summary_frame(self)
        return frames.section_frame(self, section, flatten=flatten)

    def to_frames(self, *, flatten: bool = False) -> dict[str, pd.DataFrame]:
        """``{"summary": ..., <section>: ...}`` for every section in the run."""
        from . import frames

        if self._frames is not None and not flatten:
            return {
                frames.SUMMARY if key is None else frames.frame_key(key): frame.copy()
                for key, frame in self._frames.items()
            }
        return frames.all_frames(self, flatten=flatten)

    def diff(self, old: IntegrationResults, what: str = "results") -> pd.DataFrame:
        """What changed since ``old`` (an earlier run): see :meth:`intgkit.History.diff`.

        Args:
            old: the earlier run's results (e.g. ``History().load(run_id)``).
            what: ``"results"`` (status and one-row section value changes, e.g. a grade) or
                ``"findings"`` (new, resolved and changed findings). Needs the ``history`` extra.
        """
        given: object = old  # checked at run time: callers outside mypy pass anything
        if not isinstance(given, IntegrationResults):
            from ._errors import UsageError

            raise UsageError(f"diff() compares with an earlier IntegrationResults, got {type(old).__name__}")
        if not _differ:  # intgkit._store registers it; `import intgkit` imports that
            raise RuntimeError("IntegrationResults.diff needs intgkit's run history: import intgkit")
        return _differ[0](old, self, what)

    def to_csv(
        self, directory: str | os.PathLike[str], *, neutralize_formulas: bool = True, excel: bool = False
    ) -> Path:
        """Write summary.csv, one CSV per section and a manifest, atomically; see frames.

        ``excel=True`` writes UTF-8 with a BOM, so Excel decodes accents and symbols right.
        """
        from . import frames

        return frames.to_csv(self, directory, neutralize_formulas=neutralize_formulas, excel=excel)

    def to_excel(self, path: str | os.PathLike[str]) -> Path:
        """Write an .xlsx workbook: the summary and one sheet per section, typed cells, text
        never run as a formula, frozen header, autofilter (needs the ``excel`` extra)."""
        from ._excel import to_excel

        return to_excel(self, path)

    def to_html(self, path: str | os.PathLike[str]) -> Path:
        """Write a self-contained HTML report to share: a summary per target (grade, failed
        checks by severity), the failed checks grouped by severity with their explanations,
        and the status of every call. One file, no external assets, every value escaped."""
        from ._report import to_html

        return to_html(self, path)

    def to_parquet(self, directory: str | os.PathLike[str]) -> Path:
        """Write the same layout as to_csv in Parquet (needs the ``parquet`` extra)."""
        from . import frames

        return frames.to_parquet(self, directory)

    def plot_timeline(self, ax: Axes | None = None, *, timeout: float | None = None) -> Axes:
        """A bar per call from its start to its end, coloured by status (needs ``plot``)."""
        from ._plot import plot_timeline

        return plot_timeline(self, ax=ax, timeout=timeout)

    # -- display -------------------------------------------------------------------------
    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in self.counts().items() if v)
        return f"IntegrationResults({len(self._items)} results: {counts or 'empty'})"

    def _repr_html_(self) -> str:
        from ._html import results_html

        return results_html(self._items, title="IntegrationResults")

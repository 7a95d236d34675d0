"""The values a run produces: statuses, sections, one result per call, and a run's results.

Frozen dataclasses with slots, so a result handed to a notebook cannot be changed behind the
runner's back, and enums that are strings, so they print, compare and serialise as text.
The DataFrame, export and display methods live in other modules (frames, _html, _plot) and
are imported only when called, which keeps ``import intgkit`` light.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    import os
    from pathlib import Path

    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["IntegrationResult", "IntegrationResults", "IntegrationSection", "Status"]


class Status(enum.StrEnum):
    """How one (integration, target) call ended."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    CIRCUIT_OPEN = "circuit_open"
    NOT_CONFIGURED = "not_configured"
    #: the caller cancelled the run (Cancel, Ctrl-C, ``task.cancel()``) before the call ended;
    #: never counted on a breaker.
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class IntegrationSection:
    """One named table an integration produced for one target.

    Args:
        name: the section's name, e.g. ``"findings"``; rows of equal names across
            results form one tidy frame.
        rows: the rows, as mappings (one per row) or as a pandas DataFrame.
        summary: optional scalar facts about the section as a whole.
    """

    name: str
    rows: Any = ()
    summary: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"a section name must be a non-empty string, got {self.name!r}")

    @property
    def n_rows(self) -> int:
        """The number of rows, for either storage form."""
        return len(self.rows)

    def __repr__(self) -> str:
        return f"IntegrationSection(name={self.name!r}, n_rows={self.n_rows})"


@dataclass(frozen=True, slots=True)
class IntegrationResult:
    """The outcome of one (integration, target) call; exactly one exists per call.

    Attributes:
        integration: the integration's name.
        target: the target the call was for (None when the integration takes none).
        status: how the call ended.
        sections: the sections it produced (empty unless ``status`` is ok, or the
            integration returned a full result carrying sections).
        error_type: the exception class name for error and timeout results.
        error: a one-line, secret-free description of what went wrong.
        started_at: when the call started running (UTC); None when it never started.
        duration_s: how long the call ran, in seconds (attempts and backoff between them
            included; time queued for a worker or a rate-limit token excluded).
        breaker_state: the breaker's state right after the call.
        queued_s: seconds the call waited for a worker or a thread before it started.
        attempts: how many times the integration was called (1 unless retried).
        waited_s: seconds spent in retry backoff and waiting for a rate-limit token, apart
            from ``duration_s``'s running time.
        cached: True when the result was reused from the result cache rather than called.
    """

    integration: str
    target: str | None
    status: Status
    sections: tuple[IntegrationSection, ...] = ()
    error_type: str | None = None
    error: str | None = None
    started_at: datetime | None = None
    duration_s: float = 0.0
    breaker_state: str = "closed"
    queued_s: float = 0.0
    attempts: int = 1
    waited_s: float = 0.0
    cached: bool = False

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.status is Status.OK

    def section(self, name: str) -> IntegrationSection:
        """The section called ``name``; UnknownSectionError lists the ones that exist."""
        for s in self.sections:
            if s.name == name:
                return s
        from ._errors import UnknownSectionError

        raise UnknownSectionError(name, [s.name for s in self.sections])

    def __repr__(self) -> str:
        parts = [f"{self.integration!r}", f"target={self.target!r}", f"status={self.status.value!r}"]
        if self.error_type:
            parts.append(f"error={self.error_type}: {self.error}")
        else:
            parts.append(f"sections={[s.name for s in self.sections]}")
        parts.append(f"duration_s={self.duration_s:.3f}")
        return f"IntegrationResult({', '.join(parts)})"

    def _repr_html_(self) -> str:
        from ._html import results_html

        return results_html((self,), title="IntegrationResult")


_FIELDS = tuple(IntegrationResult.__dataclass_fields__)


class UnfrozenResult:
    """IntegrationResult's exact slot layout without the frozen ``__setattr__``.

    The runner makes one result per call, and a frozen dataclass's ``__init__`` sets each of
    its 13 fields through ``object.__setattr__``: about 0.8 us a result, more than the rest of
    the per-call path. An object of this class is filled by plain attribute stores and then
    becomes an IntegrationResult by assigning its ``__class__``, which CPython allows between
    classes with the same slots and nothing else (the assignment checks the layout; a field
    added to IntegrationResult but not here fails at import, in :func:`make_result` below).
    Nothing but this module's :func:`make_result` and the engine's hot path builds one.
    """

    __slots__ = _FIELDS

    def __init__(
        self,
        integration: str,
        target: str | None,
        status: Status,
        sections: tuple[IntegrationSection, ...],
        error_type: str | None,
        error: str | None,
        started_at: datetime | None,
        duration_s: float,
        breaker_state: str,
        queued_s: float,
        attempts: int,
        waited_s: float,
        cached: bool,
    ) -> None:
        self.integration = integration
        self.target = target
        self.status = status
        self.sections = sections
        self.error_type = error_type
        self.error = error
        self.started_at = started_at
        self.duration_s = duration_s
        self.breaker_state = breaker_state
        self.queued_s = queued_s
        self.attempts = attempts
        self.waited_s = waited_s
        self.cached = cached


def make_result(
    integration: str,
    target: str | None,
    status: Status,
    sections: tuple[IntegrationSection, ...],
    error_type: str | None,
    error: str | None,
    started_at: datetime | None,
    duration_s: float,
    breaker_state: str,
    queued_s: float = 0.0,
    attempts: int = 1,
    waited_s: float = 0.0,
    cached: bool = False,
) -> IntegrationResult:
    """``IntegrationResult(...)`` with every field given, for the runner's hot path (see
    :class:`UnfrozenResult`). IntegrationResult has no ``__post_init__``; a test pins that
    both ways build equal, frozen results."""
    r = UnfrozenResult(
        integration, target, status, sections, error_type, error, started_at, duration_s,
        breaker_state, queued_s, attempts, waited_s, cached,
    )  # fmt: skip
    r.__class__ = IntegrationResult  # type: ignore[assignment]
    return r  # type: ignore[return-value]


# the layouts must match, or the __class__ assignment above raises TypeError: checked on import
make_result("", None, Status.OK, (), None, None, None, 0.0, "closed")


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
        from ._store import diff_results

        return diff_results(old, self, what)

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

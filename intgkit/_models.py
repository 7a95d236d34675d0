"""The values a run produces: sections and one result per call (statuses in _status).

Frozen dataclasses with slots, so a result handed to a notebook cannot be changed behind the
runner's back. A run's collection of them, with its DataFrame, export and display methods, is
:class:`~intgkit._results.IntegrationResults`, a floor above: the renderers (frames, _html,
_plot, _excel, _report) import these values, so these values import none of them, except the
one-result HTML repr's renderer (_html), which imports nothing of this module at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ._status import Status

__all__ = ["IntegrationResult", "IntegrationSection", "Status"]


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

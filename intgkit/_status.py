"""How one call ended: :class:`Status`, on the ground floor.

Its own module because the values (_models), their renderers (_html, _plot, frames) and the
runner all need it, and the renderers must not import the values' module that calls them.
An enum of strings, so statuses print, compare and serialise as text.
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


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

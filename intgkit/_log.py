"""structlog, the library way: never configured by intgkit, quiet until the application speaks.

Unconfigured structlog prints every event, debug included, to stdout, which would flood a
notebook cell (and break nbval's output comparison). So until the application has configured
structlog (``structlog.configure``, or ``structlog.testing.capture_logs`` in tests), intgkit
logs through a private logger that prints warnings only, to stderr, without timestamps.
Once it has, every event flows through the application's configuration.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["logger"]

_quiet: Any = None
_quiet_file: Any = None


def logger() -> Any:
    """The logger to use now: the application's structlog, or the quiet fallback."""
    if structlog.is_configured():
        return structlog.get_logger("intgkit")
    global _quiet, _quiet_file
    if _quiet is None or _quiet_file is not sys.stderr:  # follow redirection (capsys, kernels)
        _quiet_file = sys.stderr
        _quiet = structlog.wrap_logger(
            structlog.PrintLogger(file=sys.stderr),
            processors=[
                structlog.processors.add_log_level,
                structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_name="intgkit",
        )
    return _quiet

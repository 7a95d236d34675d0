"""intgkit: run many integrations (APIs, DNS, TLS, web pages) from a notebook, safely.

A registry of integrations, a thin runner (concurrency, a timeout and a circuit breaker per
call, one result per call whatever happens) and results as pandas DataFrames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._breakers import Admission, Breaker, BreakerBoard
from ._cache import ResultCache
from ._errors import (
    DuplicateIntegrationError,
    ExportError,
    HistoryError,
    IntgkitError,
    MissingExtraError,
    TransientError,
    UnknownIntegrationError,
    UnknownSectionError,
    UsageError,
)
from ._integration import FunctionIntegration, Integration
from ._models import IntegrationResult, IntegrationSection
from ._planning import Plan, PlannedCall
from ._policies import RateLimit, Retry
from ._registry import ENTRY_POINT_GROUP, IntegrationRegistry, default_registry, integration
from ._results import IntegrationResults
from ._runner import DEFAULT_TIMEOUT, IntegrationRunner
from ._settings import Setting
from ._status import Status
from ._store import History, HistoryWarning, UnknownRunError
from ._version import __version__

if _TYPE_CHECKING:
    import os

    import pandas as pd


def read_csv(directory: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Read a ``results.to_csv()`` export back into frames equal to the originals.

    Returns ``{"summary": ..., <section>: ...}``; see :mod:`intgkit.frames` (imported here
    lazily, so ``import intgkit`` does not import pandas).
    """
    from .frames import read_csv as _read_csv

    return _read_csv(directory)


__all__ = [
    "Admission",
    "Breaker",
    "BreakerBoard",
    "DEFAULT_TIMEOUT",
    "DuplicateIntegrationError",
    "ENTRY_POINT_GROUP",
    "ExportError",
    "FunctionIntegration",
    "History",
    "HistoryError",
    "HistoryWarning",
    "Integration",
    "IntegrationRegistry",
    "IntegrationResult",
    "IntegrationResults",
    "IntegrationRunner",
    "IntegrationSection",
    "IntgkitError",
    "MissingExtraError",
    "Plan",
    "PlannedCall",
    "RateLimit",
    "ResultCache",
    "Retry",
    "Setting",
    "Status",
    "TransientError",
    "UnknownIntegrationError",
    "UnknownRunError",
    "UnknownSectionError",
    "UsageError",
    "__version__",
    "default_registry",
    "integration",
    "read_csv",
]

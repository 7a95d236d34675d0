"""The exceptions intgkit raises, all for caller mistakes, never for failures of outside services.

Failures of outside services become :class:`~intgkit.IntegrationResult` values; these
exceptions exist so that a wrong call fails fast, before any work starts, with a message
that says what was wrong and what would be right::

    IntgkitError
     ├── UsageError (ValueError)            a bad argument to a public entry point
     │    ├── UnknownIntegrationError (KeyError-like lookups by name)
     │    ├── DuplicateIntegrationError     a second integration under a taken name
     │    └── UnknownSectionError           a section name no result produced
     ├── ExportError (OSError)              a CSV/Parquet export or import that cannot proceed
     ├── HistoryError (OSError)             the run-history store cannot be used (names the path)
     ├── MissingExtraError (ImportError)    an optional dependency is not installed
     └── TransientError                     raised BY an integration: "try again later"

TransientError is the one an integration raises rather than intgkit: a retry policy that
declares it (``intgkit.Retry(on=(intgkit.TransientError, ...))``) retries the call, after the
server's ``retry_after`` when one is given.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DuplicateIntegrationError",
    "ExportError",
    "HistoryError",
    "IntgkitError",
    "MissingExtraError",
    "TransientError",
    "UnknownIntegrationError",
    "UnknownSectionError",
    "UsageError",
]

#: How many valid names an error message lists at most, so a registry of thousands stays readable.
MAX_LISTED = 20


def list_names(names: Iterable[str], limit: int = MAX_LISTED) -> str:
    """Render a bounded, sorted list of names for an error message."""
    ordered = sorted(names)
    shown = ", ".join(repr(n) for n in ordered[:limit])
    if len(ordered) > limit:
        shown += f", ... ({len(ordered) - limit} more)"
    return shown or "(none)"


class IntgkitError(Exception):
    """Root of every exception intgkit raises on purpose."""


class UsageError(IntgkitError, ValueError):
    """A public entry point was called with an argument it cannot accept."""


class UnknownIntegrationError(UsageError):
    """A name was asked for that no registered integration has.

    Attributes:
        name: the unknown name.
        suggestions: close matches among the registered names.
    """

    def __init__(self, name: object, known: Iterable[str]) -> None:
        import difflib

        known = list(known)
        self.name = name
        self.suggestions: list[str] = (
            difflib.get_close_matches(name, known, n=3, cutoff=0.6) if isinstance(name, str) else []
        )
        hint = f" Did you mean {' or '.join(map(repr, self.suggestions))}?" if self.suggestions else ""
        super().__init__(f"unknown integration {name!r}.{hint} Registered integrations: {list_names(known)}")


class DuplicateIntegrationError(UsageError):
    """An integration was registered under a name that is already taken.

    Attributes:
        name: the contested name.
        existing: the integration registered first.
        new: the integration that was refused.
    """

    def __init__(self, name: str, existing: object, new: object) -> None:
        self.name = name
        self.existing = existing
        self.new = new
        super().__init__(
            f"an integration named {name!r} is already registered ({existing!r}); "
            f"refusing {new!r}. Choose another name, or unregister the first one."
        )


class UnknownSectionError(UsageError, KeyError):
    """A section was asked for that no result in the run produced.

    Attributes:
        section: the unknown section name.
        available: the section names that exist.
    """

    def __init__(self, section: object, available: Iterable[str]) -> None:
        self.section = section
        self.available = sorted(available)
        super().__init__(section)
        self._message = (
            f"no section named {section!r} in these results; "
            f"sections that exist: {list_names(self.available)}"
        )

    def __str__(self) -> str:  # KeyError would repr() the message otherwise
        return self._message


class ExportError(IntgkitError, OSError):
    """An export or import of results cannot proceed (the folder, its files or their contents)."""


class HistoryError(IntgkitError, OSError):
    """The run-history store at ``path`` cannot be used: a folder, unwritable, not a store, corrupt.

    Attributes:
        path: the store's path, as given.
    """

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        super().__init__(f"run history {str(path)!r} {problem}")

    def __str__(self) -> str:  # OSError would format (errno, strerror) otherwise
        return str(self.args[0])


class MissingExtraError(IntgkitError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs {module!r}, which is not installed; "
            f'install it with: pip install "intgkit[{extra}]"',
            name=module,
        )


class TransientError(IntgkitError):
    """An integration's "try again later": a failure that a retry may cure.

    Raise it for HTTP 429/503 and the like; a :class:`~intgkit.Retry` policy that declares it
    retries the call, waiting at least ``retry_after`` when the server said how long.

    Args:
        message: what happened, e.g. ``"HTTP 429"`` (keep secrets out; it is redacted anyway).
        retry_after: the server's Retry-After: seconds (a number or its text), an HTTP-date
            string, a timedelta or an aware datetime. A value that is none of these is logged
            (``retry_after_unparseable``) and the policy's own backoff is used: a malformed
            header from outside must not turn into a crash.

    Attributes:
        retry_after: the value as given.
        retry_after_s: seconds to wait, measured from when the error was raised (None when
            no usable value was given).
    """

    def __init__(self, message: str = "transient failure", retry_after: object = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.retry_after_s: float | None = None
        if retry_after is not None:
            from ._retry_after import parse_retry_after

            self.retry_after_s = parse_retry_after(retry_after)
            if self.retry_after_s is None:
                from ._log import logger

                shown = repr(retry_after)
                logger().warning(
                    "retry_after_unparseable",
                    retry_after=shown if len(shown) <= 80 else shown[:79] + "…",
                    expected="seconds (e.g. 120) or an HTTP-date (e.g. 'Wed, 21 Oct 2015 07:28:00 GMT')",
                    fallback="the retry policy's exponential backoff",
                )

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
     └── MissingExtraError (ImportError)    an optional dependency is not installed
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "DuplicateIntegrationError",
    "ExportError",
    "IntgkitError",
    "MissingExtraError",
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


class MissingExtraError(IntgkitError, ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""

    def __init__(self, module: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs {module!r}, which is not installed; "
            f'install it with: pip install "intgkit[{extra}]"',
            name=module,
        )

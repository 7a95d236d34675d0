"""The Integration protocol, the decorator that turns a function into one, and output shapes.

An integration is anything with a name, a title, declared settings, ``is_configured()`` and a
``fetch(target)`` that is a coroutine function or a plain function. What fetch returns is
normalised here into sections, so the runner and the frames see one shape only.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from ._errors import UsageError
from ._models import IntegrationResult, IntegrationSection
from ._policies import RateLimit, Retry, validate_cache_ttl, validate_max_concurrency
from ._settings import Setting, SettingsView, as_settings, missing_settings

__all__ = ["DEFAULT", "FunctionIntegration", "Integration"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Default:
    """The "use the default" sentinel for timeouts: ``timeout=<default>`` in help() and docs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<default>"

    def __reduce__(self) -> str:
        return "DEFAULT"


#: Passed as ``timeout`` (or left out): the integration's own, else the runner's timeout.
DEFAULT: Any = _Default()


class Integration(Protocol):
    """What the runner needs from an integration.

    Attributes:
        name: unique snake_case identifier, used to select it and to key its breaker.
        title: a human title for tables and the panel.
        settings: the environment variables it reads (names or :class:`Setting`).

    Optional attributes the runner honours when present: ``timeout`` (seconds or None, a
    per-integration override of the runner's timeout), ``breaker_per_target`` (True to
    give each target its own circuit breaker, for per-host checks), ``needs_target`` (True
    when ``fetch(None)`` cannot work, so ``intgkit run`` without targets is a usage error),
    and the policies
    ``retry`` (:class:`~intgkit.Retry`), ``rate_limit`` (:class:`~intgkit.RateLimit`),
    ``max_concurrency`` (a bulkhead inside the run's limit) and ``cache_ttl`` (seconds).
    An ``async def expand(self, target)`` may say what a target stands for: a list of
    sub-targets (one call and one result each, e.g. every zone for target None) or None.
    """

    # Read-only members, so that a class may declare them as plain attributes of narrower
    # types (a tuple of Settings) or as properties.
    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def settings(self) -> Sequence[str | Setting]: ...

    def is_configured(self) -> bool:
        """Whether every required setting is present; unconfigured integrations are not called."""
        ...

    def fetch(self, target: str | None) -> Any:
        """Fetch data for one target; may be ``async def`` or a plain (blocking) function.

        Returns a mapping of section name to rows (a list of dicts) or to a DataFrame,
        an IntegrationSection, a list of them, or a full IntegrationResult.
        """
        ...


def validate_name(name: object) -> str:
    """Refuse names that would not work as identifiers, breaker keys and file names."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 100:
        raise UsageError(
            f"an integration name must be snake_case (lowercase letters, digits, underscores, "
            f"starting with a letter, at most 100 characters), got {name!r}"
        )
    return name


def validate_timeout(timeout: object, what: str = "timeout") -> float | None:
    """A timeout is a positive finite number of seconds, or None for no limit."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise UsageError(
            f"{what} must be a positive number of seconds or None for no limit, "
            f"got {type(timeout).__name__} {timeout!r}"
        )
    t = float(timeout)
    if not (t > 0 and t != float("inf")):  # also refuses NaN
        raise UsageError(
            f"{what} must be a positive finite number of seconds (e.g. 30) or None "
            f"for no limit, got {timeout!r}"
        )
    return t


class FunctionIntegration:
    """An integration made from a function by :func:`integration`.

    The function is called as ``fn(target, settings)``, ``fn(target)`` or ``fn()``,
    depending on how many parameters it takes; ``settings`` is a read-only mapping of
    the declared settings that are set.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str,
        title: str | None = None,
        settings: Iterable[str | Setting] | None = None,
        timeout: float | None = DEFAULT,
        breaker_per_target: bool = False,
        needs_target: bool = False,
        description: str | None = None,
        retry: Retry | None = None,
        rate_limit: RateLimit | None = None,
        max_concurrency: int | None = None,
        cache_ttl: float | None = None,
    ) -> None:
        if not callable(func):
            raise UsageError(f"@integration decorates a function, got {type(func).__name__}")
        self.func = func
        self.name = validate_name(name)
        self.title = title if title is not None else name.replace("_", " ").title()
        if not isinstance(self.title, str):
            raise UsageError(f"title must be a string, got {type(title).__name__}")
        self.settings: tuple[Setting, ...] = as_settings(settings)
        if timeout is not DEFAULT:
            self.timeout = validate_timeout(timeout, f"timeout of integration {name!r}")
        self.breaker_per_target = bool(breaker_per_target)
        self.needs_target = bool(needs_target)
        if retry is not None and not isinstance(retry, Retry):
            raise UsageError(f"retry must be an intgkit.Retry(...) or None, got {type(retry).__name__}")
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise UsageError(
                f"rate_limit must be an intgkit.RateLimit(...) or None, got {type(rate_limit).__name__}"
            )
        self.retry = retry
        self.rate_limit = rate_limit
        self.max_concurrency = validate_max_concurrency(max_concurrency, f"max_concurrency of {name!r}")
        self.cache_ttl = validate_cache_ttl(cache_ttl, f"cache_ttl of {name!r}")
        self.description = description if description is not None else (inspect.getdoc(func) or "")
        self.is_async = inspect.iscoroutinefunction(func)
        self._arity = _arity(func, name)

    def is_configured(self) -> bool:
        """True when every required setting is set (an empty variable counts as unset)."""
        return not missing_settings(self.settings)

    def bind(self) -> Callable[[str | None], Any]:
        """A one-argument callable for the runner, with settings read once per run."""
        func, arity = self.func, self._arity
        if arity == 2:
            view = SettingsView(self.settings)
            return lambda target: func(target, view)
        if arity == 1:
            return func
        return lambda target: func()

    def fetch(self, target: str | None) -> Any:
        """Call the function for one target (a coroutine when the function is async)."""
        return self.bind()(target)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly, as if undecorated."""
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        kind = "async" if self.is_async else "sync"
        return f"<integration {self.name!r} ({kind} {getattr(self.func, '__qualname__', self.func)!s})>"


def _arity(func: Callable[..., Any], name: str) -> int:
    """How many of (target, settings) the function takes."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: pass both
        return 2
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 2:
        raise UsageError(
            f"integration {name!r}: the function must take (target, settings), (target) or (), "
            f"but it requires {len(required)} arguments: {', '.join(p.name for p in required)}"
        )
    return min(len(positional), 2)


# -- output normalisation ----------------------------------------------------------------------


class MalformedOutput(TypeError):
    """An integration returned something that is not one of the accepted shapes."""


_ACCEPTED = (
    "a mapping of section name to rows (a list of dicts) or to a DataFrame, "
    "an IntegrationSection, a list of IntegrationSections, or an IntegrationResult"
)


def normalize_output(value: Any) -> tuple[IntegrationSection, ...] | IntegrationResult:
    """Turn what fetch returned into sections (or pass a full result through)."""
    if type(value) is dict or isinstance(value, Mapping):  # the common case skips the ABC check
        return tuple(_section(k, v) for k, v in value.items())
    if isinstance(value, IntegrationSection):
        return (value,)
    if isinstance(value, IntegrationResult):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(s, IntegrationSection) for s in value):
        names = [s.name for s in value]
        if len(set(names)) != len(names):
            raise MalformedOutput(f"returned two sections with the same name: {names}")
        return tuple(value)
    raise MalformedOutput(f"returned {_describe(value)}; expected {_ACCEPTED}")


def _section(name: object, rows: Any) -> IntegrationSection:
    if not isinstance(name, str) or not name:
        raise MalformedOutput(f"section names must be non-empty strings, got {name!r}")
    if isinstance(rows, IntegrationSection):
        if rows.name != name:
            raise MalformedOutput(f"section {name!r} holds an IntegrationSection named {rows.name!r}")
        return rows
    if isinstance(rows, (list, tuple)):
        for i, row in enumerate(rows):
            if type(row) is not dict and not isinstance(row, Mapping):
                raise MalformedOutput(
                    f"section {name!r}: row {i} is {_describe(row)}; each row must be a mapping "
                    f"of column name to value"
                )
        return IntegrationSection(name, tuple(rows))
    if isinstance(rows, Mapping):
        return IntegrationSection(name, (rows,))
    if type(rows).__name__ == "DataFrame" and type(rows).__module__.startswith("pandas"):
        return IntegrationSection(name, rows)
    raise MalformedOutput(
        f"section {name!r} is {_describe(rows)}; a section is a list of dicts or a DataFrame"
    )


def _describe(value: Any) -> str:
    if value is None:
        return "None"
    if inspect.isgenerator(value) or inspect.isasyncgen(value):
        return "a generator (materialise it into a list)"
    if inspect.iscoroutine(value):
        return "a coroutine"
    return f"a {type(value).__name__}"

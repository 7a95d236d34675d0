"""The registry of integrations: register, look up, filter by configuration, discover plugins.

Verbs follow pluggy's PluginManager (register -> name, unregister, get, names,
load_entrypoints -> count). The default registry loads the ``intgkit.integrations``
entry-point group on first use, which is how the built-in integrations and third-party
packages arrive; integrations defined in a notebook cell register themselves on definition.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, overload

from ._errors import DuplicateIntegrationError, UnknownIntegrationError, UsageError
from ._integration import DEFAULT, FunctionIntegration, Integration, validate_name
from ._log import logger
from ._policies import RateLimit, Retry
from ._settings import Setting, as_settings, missing_settings

__all__ = ["ENTRY_POINT_GROUP", "IntegrationRegistry", "default_registry", "integration"]

ENTRY_POINT_GROUP = "intgkit.integrations"
_REQUIRED = ("name", "title", "settings", "is_configured", "fetch")


class IntegrationRegistry:
    """Integrations by name.

    Args:
        entry_point_group: the group :meth:`load_entrypoints` reads; None to never load any.
        autoload: load the entry points on first lookup (the default registry does).
    """

    def __init__(self, entry_point_group: str | None = ENTRY_POINT_GROUP, *, autoload: bool = False):
        self._items: dict[str, Integration] = {}
        self._group = entry_point_group
        self._autoload = autoload and entry_point_group is not None
        self._lock = threading.RLock()
        self._warned: set[tuple[str, tuple[str, ...]]] = set()
        self.load_errors: dict[str, str] = {}

    # -- registration ------------------------------------------------------------------------
    def register(self, obj: Any) -> str:
        """Add an integration; returns its name. Refuses duplicates and incomplete objects.

        Re-registering an integration defined at the same place (a notebook cell run again)
        replaces the earlier definition instead of failing.
        """
        check_integration(obj)
        name: str = obj.name
        with self._lock:
            existing = self._items.get(name)
            if existing is not None and existing is not obj and not _same_definition(existing, obj):
                raise DuplicateIntegrationError(name, existing, obj)
            self._items[name] = obj
        return name

    def __call__(self, obj: Any) -> Any:
        """Use the registry as a decorator for integration classes or objects."""
        self.register(obj() if isinstance(obj, type) else obj)
        return obj

    def unregister(self, name_or_obj: str | Integration) -> Integration:
        """Remove an integration by name or object; returns it."""
        name = name_or_obj if isinstance(name_or_obj, str) else getattr(name_or_obj, "name", None)
        with self._lock:
            self._ensure_loaded()
            if not isinstance(name, str) or name not in self._items:
                raise UnknownIntegrationError(name, self._items)
            return self._items.pop(name)

    def clear(self) -> None:
        """Forget every integration (tests and notebooks starting over)."""
        with self._lock:
            self._items.clear()
            self._warned.clear()
            self._autoload = False

    # -- lookup ------------------------------------------------------------------------------
    def get(self, name: str) -> Integration:
        """The integration called ``name``; the error suggests close matches."""
        self._ensure_loaded()
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise UnknownIntegrationError(name, self._items) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._ensure_loaded()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return name in self._items

    def __iter__(self) -> Iterator[Integration]:
        self._ensure_loaded()
        return iter([self._items[n] for n in sorted(self._items)])

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._items)

    def configured(self) -> list[Integration]:
        """The integrations whose ``is_configured()`` is true, warning about partial ones."""
        out = []
        for integ in self:
            if is_configured(integ):
                out.append(integ)
            else:
                self.warn_if_partial(integ)
        return out

    def missing(self, name: str) -> list[str]:
        """The required settings of ``name`` that are unset or empty."""
        return missing_settings(as_settings(self.get(name).settings))

    def warn_if_partial(self, integ: Integration) -> None:
        """Log a warning, once per set of missing names, when some settings are set and some not."""
        settings = [s for s in as_settings(integ.settings) if s.required]
        missing = tuple(missing_settings(settings))
        if not missing or len(missing) == len(settings):
            return
        key = (integ.name, missing)
        if key in self._warned:
            return
        self._warned.add(key)
        logger().warning(
            "integration_partly_configured",
            integration=integ.name,
            missing_settings=list(missing),
            hint="set these environment variables (empty values count as missing)",
        )

    # -- plugins -----------------------------------------------------------------------------
    def load_entrypoints(self, group: str | None = None) -> int:
        """Register the integrations advertised under an entry-point group; returns how many.

        An entry point may name an integration object, a class (instantiated without
        arguments) or a callable returning one or a list of them. A plugin that fails to
        load is recorded in ``load_errors`` and logged, never fatal: one broken package
        must not take the others down.
        """
        from importlib.metadata import entry_points

        group = group or self._group
        if group is None:
            raise UsageError("this registry has no entry-point group; pass one")
        count = 0
        for ep in entry_points(group=group):
            try:
                loaded = ep.load()
                for obj in _expand(loaded):
                    if getattr(obj, "name", None) in self._items and self._items[obj.name] is obj:
                        continue
                    self.register(obj)
                    count += 1
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not fatal
                self.load_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                logger().warning(
                    "integration_plugin_failed",
                    entry_point=ep.name,
                    value=ep.value,
                    error=f"{type(exc).__name__}: {exc}",
                )
        return count

    def _ensure_loaded(self) -> None:
        if self._autoload:
            with self._lock:
                if self._autoload:
                    self._autoload = False
                    self.load_entrypoints()

    def __repr__(self) -> str:
        return f"IntegrationRegistry({len(self._items)} integrations: {', '.join(sorted(self._items))})"


def _expand(loaded: Any) -> list[Any]:
    if isinstance(loaded, type):
        return [loaded()]
    if all(hasattr(loaded, a) for a in _REQUIRED):
        return [loaded]
    if isinstance(loaded, (list, tuple)):
        return [x for item in loaded for x in _expand(item)]
    if callable(loaded):
        return _expand(loaded())
    return [loaded]


def check_integration(obj: Any) -> None:
    """Refuse objects that do not satisfy the Integration protocol, naming what is missing."""
    missing = [a for a in _REQUIRED if not hasattr(obj, a)]
    if missing:
        raise UsageError(
            f"{obj!r} is not an integration: it lacks {', '.join(missing)}. An integration "
            f"has name, title, settings, is_configured() and fetch(target); or decorate a "
            f"function with @intgkit.integration"
        )
    validate_name(obj.name)
    if not callable(obj.fetch) or not callable(obj.is_configured):
        raise UsageError(f"integration {obj.name!r}: fetch and is_configured must be callable")
    as_settings(obj.settings)


def is_configured(integ: Integration) -> bool:
    """``integ.is_configured()``, where an exception counts as not configured."""
    try:
        return bool(integ.is_configured())
    except Exception:  # noqa: BLE001 - a broken check means we cannot call it safely
        return False


def _same_definition(a: Any, b: Any) -> bool:
    """True when both come from the same place in ``__main__``: a notebook cell run again."""
    return _defined_at(a) == _defined_at(b) and _defined_at(a)[0] == "__main__"


def _defined_at(obj: Any) -> tuple[str, str]:
    where = getattr(obj, "func", None) if isinstance(obj, FunctionIntegration) else type(obj)
    return (getattr(where, "__module__", ""), getattr(where, "__qualname__", ""))


_default: IntegrationRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> IntegrationRegistry:
    """The process-wide registry the decorator and the runner use unless given another."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = IntegrationRegistry(autoload=True)
    return _default


def reset_default_registry() -> IntegrationRegistry:
    """Start the default registry over (entry points reload on next use); for tests."""
    global _default
    with _default_lock:
        _default = IntegrationRegistry(autoload=True)
    return _default


# -- the decorator: an integration from a function, registered where it is defined -----------


@overload
def integration(func: Callable[..., Any], /) -> FunctionIntegration: ...
@overload
def integration(
    *,
    name: str | None = None,
    title: str | None = None,
    settings: Iterable[str | Setting] | None = None,
    timeout: float | None = ...,
    breaker_per_target: bool = False,
    needs_target: bool = False,
    description: str | None = None,
    retry: Retry | None = None,
    rate_limit: RateLimit | None = None,
    max_concurrency: int | None = None,
    cache_ttl: float | None = None,
    registry: IntegrationRegistry | None = None,
    register: bool = True,
) -> Callable[[Callable[..., Any]], FunctionIntegration]: ...
def integration(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
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
    registry: IntegrationRegistry | None = None,
    register: bool = True,
) -> FunctionIntegration | Callable[[Callable[..., Any]], FunctionIntegration]:
    """Turn a function into an integration and register it (in the default registry).

    Args:
        name: unique snake_case name; defaults to the function's name.
        title: human title; defaults to the name in title case.
        settings: environment variables it needs (names or :class:`Setting`).
        timeout: per-integration timeout in seconds (None: no limit), overriding the runner's.
        breaker_per_target: one circuit breaker per target instead of one per integration
            (the default shares one across targets: right for one API, wrong for many hosts).
        needs_target: True when the function cannot run with target None (the command
            line then refuses a run without targets).
        retry: an :class:`~intgkit.Retry`: retry the declared exceptions, Retry-After obeyed,
            within the call's timeout.
        rate_limit: a :class:`~intgkit.RateLimit` token bucket, shared by every call of this
            integration in the process (waiting for a token does not count against the timeout).
        max_concurrency: a bulkhead: at most this many of its calls in flight, inside the
            run's own limit, so one slow integration cannot take every worker.
        cache_ttl: seconds an ok result may be reused by a later run (same target and
            settings); 0 or None: no cache.
        registry: where to register; the default registry when None.
        register: False to create it without registering.
    """

    def wrap(f: Callable[..., Any]) -> FunctionIntegration:
        obj = FunctionIntegration(
            f,
            name=name if name is not None else getattr(f, "__name__", ""),
            title=title,
            settings=settings,
            timeout=timeout,
            breaker_per_target=breaker_per_target,
            needs_target=needs_target,
            description=description,
            retry=retry,
            rate_limit=rate_limit,
            max_concurrency=max_concurrency,
            cache_ttl=cache_ttl,
        )
        if register:
            (registry if registry is not None else default_registry()).register(obj)
        return obj

    return wrap(func) if func is not None else wrap

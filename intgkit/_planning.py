"""Planning: a selection of integrations times a list of targets, turned into calls.

Every caller mistake (an unknown name, a bad target, a bad timeout or concurrency) is raised
here, before any integration is called: a run that starts never fails half-way for a reason
the caller could have been told up front. Planning also does, once per run, what the engine
would otherwise repeat per call: it reads each integration's settings and secrets, binds its
fetch function, picks its timeout and looks up its breaker.

``IntegrationRunner.plan()`` returns a :class:`Plan`, a read-only sequence of
:class:`PlannedCall` (what will be called, with which time limit, under which breaker); the
engine's own call objects stay private behind it.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from ._breakers import Breaker, BreakerBoard, key_label
from ._cache import ResultCache, settings_fingerprint
from ._errors import UsageError
from ._integration import DEFAULT, Integration, validate_timeout
from ._policies import (
    LIMITERS,
    LimiterBoard,
    RateLimit,
    Retry,
    TokenBucket,
    validate_cache_ttl,
    validate_max_concurrency,
)
from ._registry import IntegrationRegistry, check_integration, is_configured
from ._settings import as_settings, missing_settings, secret_values

__all__ = ["Plan", "PlannedCall"]

MAX_TARGET_LEN = 2048


@dataclass(slots=True)
class Spec:
    """What the engine needs of one integration for one run, resolved once."""

    name: str
    integration: Integration
    invoke: Callable[[str | None], Any]
    is_async: bool
    timeout: float | None
    configured: bool
    missing: list[str]
    secrets: list[str]
    per_target: bool
    #: the per-call policies (retry, rate limit, bulkhead, cache); None when it has none,
    #: which keeps the engine's path for such calls what it was
    policies: Policies | None = None
    #: the integration's ``expand(target)``: a coroutine function returning the sub-targets a
    #: target stands for (one call each, replacing it), or None to call the target as it is
    expand: Callable[[str | None], Awaitable[Sequence[str] | None]] | None = None
    #: an ``async def``, configured, with no expansion, no cache and no keyed rate limit: the
    #: engine's fast path (see _engine._Run._fast)
    fast: bool = False

    def __post_init__(self) -> None:
        pol = self.policies
        self.fast = (
            self.is_async
            and self.configured
            and self.expand is None
            # policies at rest fit the fast path; a cache, or a bucket per key, do not
            and (pol is None or (pol.cache is None and (pol.rate_limit is None or pol.bucket is not None)))
        )


class Lane:
    """One integration's bulkhead in one run: calls in flight, and calls parked for a slot."""

    __slots__ = ("busy", "parked")

    def __init__(self) -> None:
        self.busy = 0
        self.parked: deque[Call] = deque()


@dataclass(slots=True)
class Policies:
    """One integration's resolved policies for one run (runner arguments already applied)."""

    retry: Retry | None = None
    rate_limit: RateLimit | None = None
    #: the integration's token bucket when the rate limit has no per-call key
    bucket: TokenBucket | None = None
    max_concurrency: int | None = None
    cache: ResultCache | None = None
    cache_ttl: float = 0.0
    fingerprint: str = ""
    #: ``run(..., refresh=True)``: skip cached results, store fresh ones
    refresh: bool = False
    #: where the buckets are: the process's (LIMITERS) or the runner's Redis board
    limiters: LimiterBoard = field(default_factory=lambda: LIMITERS)
    #: the bulkhead's state in this run (a Policies object belongs to one run's plan)
    lane: Lane = field(default_factory=Lane)

    def bucket_for(self, name: str, target: str | None) -> TokenBucket | None:
        """The token bucket a call for ``target`` takes its tokens from."""
        if self.bucket is not None or self.rate_limit is None:
            return self.bucket
        return self.limiters.get(name, self.rate_limit, self.rate_limit.key_for(target))


@dataclass(slots=True)
class Overrides:
    """What a runner (and one run) says about policies, over what integrations declare."""

    retry: Retry | None = None
    rate_limits: Mapping[str, RateLimit | None] = field(default_factory=dict)
    cache_ttl: float | None = None
    cache: ResultCache | None = None
    refresh: bool = False
    #: the runner's ``rate_limit_storage`` board, or None for the process's LIMITERS
    limiters: LimiterBoard | None = None


@dataclass(slots=True)
class Call:
    """One planned call: its place in the run, its integration, its target, its breaker."""

    index: int
    spec: Spec
    target: str | None
    breaker: Breaker
    #: for a call made by expanding another one (see Spec.expand): that call
    parent: Call | None = None


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One call a run will make, as :meth:`IntegrationRunner.plan` describes it.

    Attributes:
        integration: the integration's name.
        target: the target (None when the integration takes none).
        timeout: the call's time limit in seconds (None: no limit), after every override.
        configured: False when a required setting is missing: the call will not be made and
            its result will be ``not_configured``.
        breaker: the label of the circuit breaker it runs under (``name`` or ``name@target``).
    """

    integration: str
    target: str | None
    timeout: float | None
    configured: bool
    breaker: str


class Plan(Sequence[PlannedCall]):
    """The calls of one run, in selection order (integrations, then targets).

    A read-only sequence of :class:`PlannedCall`; ``len(plan)`` is the number of results the
    run will return. Building it validated everything a run needs, so a plan that was built
    is a run that will start.
    """

    __slots__ = ("_calls",)

    def __init__(self, calls: list[Call]) -> None:
        self._calls = calls

    def __len__(self) -> int:
        return len(self._calls)

    @overload
    def __getitem__(self, index: int) -> PlannedCall: ...
    @overload
    def __getitem__(self, index: slice) -> list[PlannedCall]: ...
    def __getitem__(self, index: int | slice) -> PlannedCall | list[PlannedCall]:
        if isinstance(index, slice):
            return [_describe(c) for c in self._calls[index]]
        return _describe(self._calls[index])

    def __iter__(self) -> Iterator[PlannedCall]:
        return (_describe(c) for c in self._calls)

    def __repr__(self) -> str:
        names = list(dict.fromkeys(c.spec.name for c in self._calls))
        return (
            f"<Plan of {len(self._calls)} calls: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}>"
        )


def _describe(call: Call) -> PlannedCall:
    s = call.spec
    return PlannedCall(s.name, call.target, s.timeout, s.configured, key_label(call.breaker.key))


def plan_calls(
    registry: IntegrationRegistry,
    board: BreakerBoard,
    integrations: Any,
    targets: Any,
    *,
    timeout: Any,
    default_timeout: float | None,
    breaker_per_target: bool | None,
    overrides: Overrides | None = None,
) -> list[Call]:
    """Validate a selection and return its calls in selection order (integrations, then
    targets). Raises UsageError (or UnknownIntegrationError) for anything wrong."""
    specs = [
        _spec(registry, i, timeout, default_timeout, breaker_per_target, overrides)
        for i in _select(registry, integrations)
    ]
    target_list = validate_targets(targets)
    calls: list[Call] = []
    for spec in specs:
        if spec.configured is False:
            registry.warn_if_partial(spec.integration)
        n = len(calls)
        if spec.per_target:
            name = spec.name
            calls += [Call(n + i, spec, t, board.get((name, t))) for i, t in enumerate(target_list)]
        else:  # one breaker for every target: looked up once
            breaker = board.get((spec.name, None))
            calls += [Call(n + i, spec, t, breaker) for i, t in enumerate(target_list)]
    return calls


def _select(registry: IntegrationRegistry, integrations: Any) -> list[Integration]:
    if integrations is None:
        return list(registry)
    if isinstance(integrations, str) or not isinstance(integrations, Iterable):
        integrations = [integrations]
    chosen: list[Integration] = []
    seen: set[str] = set()
    for item in integrations:
        if isinstance(item, str):
            integ = registry.get(item)
        elif hasattr(item, "fetch"):
            check_integration(item)
            integ = item
        else:
            raise UsageError(
                f"integrations are selected by name or passed as Integration objects, got "
                f"{type(item).__name__} {item!r}; registered: {registry.names()[:20]}"
            )
        if integ.name in seen:
            raise UsageError(f"integration {integ.name!r} is selected twice; select it once")
        seen.add(integ.name)
        chosen.append(integ)
    return chosen


def _spec(
    registry: IntegrationRegistry,
    integ: Integration,
    timeout: Any,
    default_timeout: float | None,
    breaker_per_target: bool | None,
    overrides: Overrides | None = None,
) -> Spec:
    settings = as_settings(integ.settings)
    if timeout is not DEFAULT:
        t = validate_timeout(timeout)
    elif hasattr(integ, "timeout"):
        t = validate_timeout(integ.timeout, f"timeout of integration {integ.name!r}")
    else:
        t = default_timeout
    bind = getattr(integ, "bind", None)
    invoke: Callable[[str | None], Any] = bind() if callable(bind) else integ.fetch
    is_async = (
        bool(getattr(integ, "is_async", False))
        if callable(bind)
        else inspect.iscoroutinefunction(integ.fetch)
    )
    per_target = (
        breaker_per_target
        if breaker_per_target is not None
        else bool(getattr(integ, "breaker_per_target", False))
    )
    configured = is_configured(integ)
    return Spec(
        name=integ.name,
        integration=integ,
        invoke=invoke,
        is_async=is_async,
        timeout=t,
        configured=configured,
        missing=missing_settings(settings) if not configured else [],
        secrets=secret_values(settings),
        per_target=per_target,
        policies=_policies(integ, settings, overrides or _NO_OVERRIDES),
        expand=_expander(integ),
    )


_NO_OVERRIDES = Overrides()


def _expander(integ: Integration) -> Callable[[str | None], Awaitable[Sequence[str] | None]] | None:
    expand = getattr(integ, "expand", None)
    if expand is None:
        return None
    if not inspect.iscoroutinefunction(expand):
        raise UsageError(
            f"expand of integration {integ.name!r} must be an async method "
            f"(async def expand(self, target) -> list of targets or None), got {expand!r}"
        )
    return expand  # type: ignore[no-any-return]


def _policies(integ: Integration, settings: Sequence[Any], over: Overrides) -> Policies | None:
    """Resolve an integration's policies: its declarations, then the runner's overrides."""
    name = integ.name
    retry = over.retry if over.retry is not None else getattr(integ, "retry", None)
    if retry is not None and not isinstance(retry, Retry):
        raise UsageError(
            f"retry of integration {name!r} must be an intgkit.Retry(...) or None, got {type(retry).__name__}"
        )
    rate_limit = over.rate_limits[name] if name in over.rate_limits else getattr(integ, "rate_limit", None)
    if rate_limit is not None and not isinstance(rate_limit, RateLimit):
        raise UsageError(
            f"rate_limit of integration {name!r} must be an intgkit.RateLimit(...) or None, "
            f"got {type(rate_limit).__name__}"
        )
    bulkhead = validate_max_concurrency(
        getattr(integ, "max_concurrency", None), f"max_concurrency of integration {name!r}"
    )
    ttl = (
        over.cache_ttl
        if over.cache_ttl is not None
        else validate_cache_ttl(getattr(integ, "cache_ttl", None), f"cache_ttl of integration {name!r}")
    )
    cache = over.cache if ttl else None
    if retry is None and rate_limit is None and bulkhead is None and cache is None:
        return None
    board = over.limiters if over.limiters is not None else LIMITERS
    return Policies(
        retry=retry,
        rate_limit=rate_limit,
        bucket=board.get(name, rate_limit) if rate_limit is not None and rate_limit.key is None else None,
        max_concurrency=bulkhead,
        cache=cache,
        cache_ttl=ttl or 0.0,
        fingerprint=settings_fingerprint(settings) if cache is not None else "",
        refresh=over.refresh,
        limiters=board,
    )


def validate_concurrency(value: object) -> int:
    """A whole number of calls in flight, >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"max_concurrency must be a whole number >= 1 (e.g. 32), got {value!r}")
    return value


def validate_targets(targets: object) -> list[str | None]:
    """Targets as a list: strings, non-empty, no control characters, no duplicates."""
    if targets is None:
        return [None]
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, Iterable) or isinstance(targets, (bytes, dict)):
        raise UsageError(f"targets must be a list of strings, got {type(targets).__name__}")
    out: list[str | None] = []
    seen: set[str] = set()
    for i, t in enumerate(targets):
        if not isinstance(t, str):
            raise UsageError(f"targets must be strings; target {i} is {type(t).__name__} {t!r}")
        if not t.strip():
            raise UsageError(f"target {i} is empty; targets are host names, URLs or ids")
        if len(t) > MAX_TARGET_LEN:
            raise UsageError(f"target {i} is {len(t)} characters long; the limit is {MAX_TARGET_LEN}")
        bad = next((c for c in t if ord(c) < 32 or ord(c) == 127), None)
        if bad is not None:
            raise UsageError(
                f"target {i} ({t!r}) contains the control character {bad!r}; "
                f"strip whitespace and control characters from targets"
            )
        if t in seen:
            raise UsageError(f"target {t!r} is listed twice; each target once gives one result per call")
        seen.add(t)
        out.append(t)
    if not out:
        raise UsageError(
            "targets is empty; pass at least one target, or None for integrations that take none"
        )
    return out

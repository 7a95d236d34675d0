"""IntegrationRunner: the doors (arun, run, stream, plan) onto planning and the engine.

Every selected (integration, target) call runs concurrently, each isolated under its timeout
and its circuit breaker, and ends as exactly one IntegrationResult whatever the integration
does. The runner raises only for caller mistakes, and only before any work starts: planning
(_planning.py) raises them; the engine (_engine.py) turns everything else into results. This
module keeps the doors thin: validate, plan, hand the calls to the engine, collect.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._breakers import BreakerBoard, Clock
from ._cache import ResultCache
from ._engine import OnStart, cancelled_result, drive
from ._errors import UsageError
from ._integration import DEFAULT, Integration, validate_timeout
from ._log import logger
from ._models import IntegrationResult
from ._planning import Call, Overrides, Plan, plan_calls, validate_concurrency
from ._policies import LIMITERS, RateLimit, Retry, validate_cache_ttl
from ._redact import describe_exception
from ._registry import IntegrationRegistry, default_registry
from ._results import IntegrationResults

if TYPE_CHECKING:
    import pandas as pd
    import pybreaker

    from ._distributed import DistributedRun

__all__ = ["DEFAULT_TIMEOUT", "IntegrationRunner"]

DEFAULT_TIMEOUT = 30.0

OnResult = Callable[[IntegrationResult], Any]


class IntegrationRunner:
    """Runs integrations over targets concurrently, each call under a timeout and a breaker.

    Args:
        registry: where names are looked up; the default registry when None.
        timeout: seconds each call may take (None: no limit); an integration's own
            ``timeout`` attribute overrides it.
        fail_max: consecutive failures (errors, timeouts) that open a breaker.
        reset_timeout: seconds an open breaker waits before letting one probe through.
        max_concurrency: how many calls may be in flight at once.
        breaker_per_target: None follows each integration's ``breaker_per_target``;
            True or False forces one breaker per (integration, target) or per integration.
        clock: aware-UTC clock for the breakers (tests inject one).
        max_abandoned_threads: per integration, how many threads of plain calls that timed
            out may still be running before its further calls are refused (``error``,
            ``ThreadsExhausted``) rather than given yet another thread. Python cannot stop a
            thread; the breakers usually stop such calls long before (docs/architecture.md).
        listeners: pybreaker listeners for every breaker (exceptions in them are logged).
        retry: a :class:`Retry` for every integration, over their own ``retry``.
        rate_limits: ``{integration name: RateLimit or None}``, over their own ``rate_limit``.
        cache_ttl: seconds ok results may be reused, over the integrations' ``cache_ttl``
            (0: no caching by this runner).
        cache: the :class:`ResultCache` to use (default: a new one of 10,000 results and
            256 MiB); ``runner.cache.clear()`` empties it.
        history: where ``run``/``arun`` record each run (``intgkit.History``): by default
            ``$INTGKIT_HISTORY`` or the user data folder, silently off when the ``history``
            extra (DuckDB) is not installed; a path for another store; None for no recording.
        breaker_storage: "memory" (default), a Redis URL such as ``"redis://localhost:6379/0"``
            (extra ``redis``) or a ``redis.Redis`` client: with Redis, every runner (in any
            process) using the same server and ``breaker_namespace`` shares each breaker's
            state. Redis is pinged here; an unreachable one is a UsageError.
        breaker_namespace: prefix of the breakers' (and the shared rate limits') Redis keys.
        rate_limit_storage: "memory" (default: the process's buckets) or a Redis URL / client
            (extra ``redis``): every runner (in any process, on any Dask worker) using the same
            server and ``breaker_namespace`` takes its tokens from one bucket per integration
            (and bucket key), so together they keep to the limit. Pinged here; a store that
            fails during a run ends the calls that need a token as ``RateLimitStorageError``.
    """

    def __init__(
        self,
        registry: IntegrationRegistry | None = None,
        *,
        timeout: float | None = DEFAULT_TIMEOUT,
        fail_max: int = 3,
        reset_timeout: float = 60.0,
        max_concurrency: int = 32,
        breaker_per_target: bool | None = None,
        clock: Clock | None = None,
        listeners: Iterable[pybreaker.CircuitBreakerListener] = (),
        max_abandoned_threads: int = 64,
        retry: Retry | None = None,
        rate_limits: Mapping[str, RateLimit | None] | None = None,
        cache_ttl: float | None = None,
        cache: ResultCache | None = None,
        history: str | os.PathLike[str] | None = DEFAULT,
        breaker_storage: object = "memory",
        breaker_namespace: str = "intgkit",
        rate_limit_storage: object = "memory",
    ) -> None:
        if registry is not None and not isinstance(registry, IntegrationRegistry):
            raise UsageError(f"registry must be an IntegrationRegistry, got {type(registry).__name__}")
        self.registry = registry if registry is not None else default_registry()
        self.timeout = validate_timeout(timeout)
        self.max_concurrency = validate_concurrency(max_concurrency)
        if (
            isinstance(max_abandoned_threads, bool)
            or not isinstance(max_abandoned_threads, int)
            or (max_abandoned_threads < 1)
        ):
            raise UsageError(
                f"max_abandoned_threads must be a whole number >= 1 (e.g. 64), got {max_abandoned_threads!r}"
            )
        self.max_abandoned_threads = max_abandoned_threads
        if breaker_per_target is not None and not isinstance(breaker_per_target, bool):
            raise UsageError(f"breaker_per_target must be True, False or None, got {breaker_per_target!r}")
        self.breaker_per_target = breaker_per_target
        # kept for distributed runs, whose workers connect to the same storage (the URL travels
        # encrypted: it may hold a password); never shown
        self._breaker_storage = breaker_storage
        self._breaker_namespace = breaker_namespace
        self.breakers = BreakerBoard(
            fail_max=fail_max,
            reset_timeout=reset_timeout,
            clock=clock,
            listeners=listeners,
            storage=breaker_storage,
            namespace=breaker_namespace,
        )
        if retry is not None and not isinstance(retry, Retry):
            raise UsageError(f"retry must be an intgkit.Retry(...) or None, got {type(retry).__name__}")
        self.retry = retry
        self.rate_limits = _validate_rate_limits(rate_limits)
        from ._shared_limits import limiter_board

        # kept (like _breaker_storage) for distributed runs: the URL travels encrypted
        self._rate_limit_storage = rate_limit_storage
        self._limiters = limiter_board(rate_limit_storage, breaker_namespace)
        self.cache_ttl = validate_cache_ttl(cache_ttl)
        if cache is not None and not isinstance(cache, ResultCache):
            raise UsageError(f"cache must be an intgkit.ResultCache or None, got {type(cache).__name__}")
        #: The results cache of this runner (ok results of integrations with a ``cache_ttl``).
        self.cache = cache if cache is not None else ResultCache()
        from ._store.hook import check_history

        #: where runs are recorded: DEFAULT (the default store), a path, or None (off)
        self.history = check_history(history)
        #: The results of the latest run, also when it was cancelled or interrupted: what
        #: finished, and every other call with status ``cancelled``.
        self.last_results: IntegrationResults | None = None

    @property
    def rate_limit_state(self) -> pd.DataFrame:
        """The process's rate-limit buckets now: tokens left, calls waiting, the next token.

        One row per bucket (scope = integration name, key = the bucket's key, '' for the
        integration's one bucket); buckets are shared by every runner of the process.
        """
        if self._limiters is None:
            return LIMITERS.frame()
        import pandas as pd

        return pd.concat([LIMITERS.frame(), self._limiters.frame()], ignore_index=True)

    # -- planning: every caller mistake is raised here, before any work starts ----------------
    def plan(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = DEFAULT,
    ) -> Plan:
        """Validate a selection and describe its calls, without making any.

        Returns a :class:`Plan` (a sequence of :class:`PlannedCall`, in selection order:
        integrations, then targets). Raises UsageError (or UnknownIntegrationError) for
        anything a run of the same arguments would refuse, so a form or a command line can
        report every mistake before a run starts.
        """
        return Plan(self._plan(integrations, targets, timeout))

    def _plan(self, integrations: Any, targets: Any, timeout: Any, refresh: bool = False) -> list[Call]:
        if not isinstance(refresh, bool):
            raise UsageError(f"refresh must be True or False, got {refresh!r}")
        return plan_calls(
            self.registry,
            self.breakers,
            integrations,
            targets,
            timeout=timeout,
            default_timeout=self.timeout,
            breaker_per_target=self.breaker_per_target,
            overrides=Overrides(
                self.retry, self.rate_limits, self.cache_ttl, self.cache, refresh, self._limiters
            ),
        )

    # -- the doors -------------------------------------------------------------------------------
    async def arun(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = DEFAULT,
        max_concurrency: int | None = None,
        on_result: OnResult | None = None,
        progress: bool = False,
        on_start: OnStart | None = None,
        refresh: bool = False,
        client: Any = None,
    ) -> IntegrationResults:
        """Run the selection over the targets; the primary, async door.

        Args:
            integrations: names or Integration objects; None runs every registered one.
            targets: target strings; None calls each integration once with target None.
            timeout: overrides the runner's (and the integrations') timeout for this run.
            max_concurrency: overrides the runner's limit for this run.
            on_result: called with each result as it completes (exceptions are logged);
                a call the run's cancellation stopped has a ``cancelled`` result too.
            progress: show a tqdm progress bar (a widget in Jupyter, text in a terminal).
            on_start: called as ``on_start(integration, target)`` when a call starts running
                (after its breaker let it through), for progress displays.
            refresh: call every integration even where a cached result is fresh (and cache
                the new results).
            client: a dask.distributed ``Client``: run on its cluster, the targets cut into
                partitions, each run by a runner like this one on a worker (extra ``dask``;
                docs/scaling.md). None runs in this process.

        Returns:
            One result per (integration, target), in selection order.
        """
        calls = self._plan(integrations, targets, timeout, refresh)
        callbacks = _callbacks(on_result, progress, len(calls))
        _check_callable("on_start", on_start)
        limit = self._limit(max_concurrency)
        dist = (
            None
            if client is None
            else await asyncio.to_thread(self._distribute, client, calls, timeout, refresh)
        )
        results = await self._run_calls(calls, limit, callbacks, on_start, dist)
        self._report_history()
        return results

    def _report_history(self) -> None:
        if self.history is not None:
            from ._store.hook import report

            report(self.history)

    def _distribute(self, client: Any, calls: list[Call], timeout: Any, refresh: bool) -> DistributedRun:
        from ._distributed import prepare

        return prepare(self, client, calls, timeout, refresh, IntegrationRunner)

    async def _run_calls(
        self,
        calls: list[Call],
        limit: int,
        callbacks: list[Any],
        on_start: OnStart | None = None,
        dist: DistributedRun | None = None,
    ) -> IntegrationResults:
        """Drive planned calls to one result each; ``last_results`` holds them even if cancelled."""
        planned = len(calls)
        slots: list[IntegrationResult | None] = [None] * planned
        extra: dict[int, IntegrationResult] = {}  # results of calls an expansion added

        def sink(call: Call, result: IntegrationResult) -> None:
            if call.index < planned:
                slots[call.index] = result
            else:
                extra[call.index] = result
            for cb in callbacks:
                _safe_callback(cb, result)

        waiting = next((getattr(cb, "waiting", None) for cb in callbacks if hasattr(cb, "waiting")), None)
        started = datetime.now(UTC)
        finished = False
        try:
            # with no callback, the engine may store results in their slots itself
            await self._drive(calls, sink, limit, on_start, waiting, dist, None if callbacks else slots)
            finished = True
        finally:
            for cb in callbacks:
                close = getattr(cb, "close", None)
                if close is not None:
                    close()
            ordered, results = _assemble(calls, planned, slots, extra)
            self.last_results = IntegrationResults(results)
            if self.history is not None:  # once per run, cancelled and interrupted runs too
                from ._store.hook import record_run

                record_run(self.history, ordered, self.last_results, partial=not finished, started_at=started)
        return self.last_results

    async def _drive(
        self,
        calls: list[Call],
        sink: Any,
        limit: int,
        on_start: OnStart | None,
        on_waiting: Callable[[int], Any] | None = None,
        dist: DistributedRun | None = None,
        slots: list[IntegrationResult | None] | None = None,
    ) -> None:
        if dist is not None:
            await dist.drive(sink, on_start)
            return
        await drive(
            calls,
            sink,
            limit,
            abandoned=self.breakers.abandoned_threads,
            max_abandoned=self.max_abandoned_threads,
            on_start=on_start,
            on_waiting=on_waiting,
            slots=slots,
        )

    def _limit(self, max_concurrency: int | None) -> int:
        return self.max_concurrency if max_concurrency is None else validate_concurrency(max_concurrency)

    def run(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = DEFAULT,
        max_concurrency: int | None = None,
        on_result: OnResult | None = None,
        progress: bool = False,
        on_start: OnStart | None = None,
        nested: bool = False,
        refresh: bool = False,
        client: Any = None,
    ) -> IntegrationResults:
        """The sync door: works in a script and inside a running loop (a Jupyter cell).

        Inside a running loop it runs on a private event loop in a worker thread, never
        patching asyncio; prefer ``await runner.arun(...)`` in notebooks. ``nested=True``
        instead runs on the running loop itself through nest-asyncio2 (extra ``nested``; it
        patches asyncio process-wide, see docs/architecture.md). Other arguments as arun.
        """
        # Planned once, in the caller's thread: every mistake is raised here, before any work.
        calls = self._plan(integrations, targets, timeout, refresh)
        limit = self._limit(max_concurrency)
        callbacks = _callbacks(on_result, progress, len(calls))
        _check_callable("on_start", on_start)
        dist = None if client is None else self._distribute(client, calls, timeout, refresh)
        from ._sync import run_sync

        results = run_sync(lambda: self._run_calls(calls, limit, callbacks, on_start, dist), nested=nested)
        self._report_history()
        return results

    async def stream(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = DEFAULT,
        max_concurrency: int | None = None,
        on_start: OnStart | None = None,
        refresh: bool = False,
        client: Any = None,
    ) -> AsyncIterator[IntegrationResult]:
        """Yield results in completion order; results already yielded are not kept.

        Breaking out of the loop (or closing the generator) cancels the calls still pending.
        """
        calls = self._plan(integrations, targets, timeout, refresh)
        limit = self._limit(max_concurrency)
        _check_callable("on_start", on_start)
        dist = (
            None
            if client is None
            else await asyncio.to_thread(self._distribute, client, calls, timeout, refresh)
        )
        # Unbounded: a result waits here only until it is yielded, then nothing holds it.
        queue: asyncio.Queue[IntegrationResult | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                await self._drive(
                    calls, lambda _call, result: queue.put_nowait(result), limit, on_start, None, dist
                )
            finally:
                queue.put_nowait(None)

        producer = asyncio.get_running_loop().create_task(produce())
        try:
            while (item := await queue.get()) is not None:
                yield item
            await producer  # re-raises what the engine raised, if anything
        finally:
            if not producer.done():
                producer.cancel()
                await asyncio.gather(producer, return_exceptions=True)

    def __repr__(self) -> str:
        return (
            f"IntegrationRunner(timeout={self.timeout}, fail_max={self.breakers.fail_max}, "
            f"reset_timeout={self.breakers.reset_timeout:g}, max_concurrency={self.max_concurrency})"
        )


def _check_callable(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise UsageError(f"{name} must be callable, got {type(value).__name__}")


def _assemble(
    calls: list[Call],
    planned: int,
    slots: list[IntegrationResult | None],
    extra: dict[int, IntegrationResult],
) -> tuple[list[Call], list[IntegrationResult]]:
    """Results in plan order; an expanded call's place holds its sub-calls' results, in order.

    A call the run's cancellation stopped before it finished gets a cancelled result.
    """
    children: dict[int, list[Call]] = {}
    for c in calls[planned:]:
        assert c.parent is not None
        children.setdefault(c.parent.index, []).append(c)
    ordered: list[Call] = []
    results: list[IntegrationResult] = []
    for c, r in zip(calls[:planned], slots, strict=True):
        subs = children.get(c.index)
        if subs is None or r is not None:
            ordered.append(c)
            results.append(r if r is not None else cancelled_result(c))
            continue
        for sub in subs:
            ordered.append(sub)
            got = extra.get(sub.index)
            results.append(got if got is not None else cancelled_result(sub))
    return ordered, results


def _validate_rate_limits(value: object) -> dict[str, RateLimit | None]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(
            f"rate_limits must be a mapping of integration name to intgkit.RateLimit (or None to "
            f"lift one), e.g. {{'weather': intgkit.RateLimit(5, per=1.0)}}; got {type(value).__name__}"
        )
    out: dict[str, RateLimit | None] = {}
    for k, v in value.items():
        if not isinstance(k, str) or (v is not None and not isinstance(v, RateLimit)):
            raise UsageError(
                f"rate_limits maps integration names to intgkit.RateLimit(...) or None; "
                f"got {k!r}: {type(v).__name__}"
            )
        out[k] = v
    return out


def _callbacks(on_result: OnResult | None, progress: bool, total: int) -> list[Any]:
    out: list[Any] = []
    if on_result is not None:
        if not callable(on_result):
            raise UsageError(f"on_result must be callable, got {type(on_result).__name__}")
        out.append(on_result)
    if progress:
        from ._progress import ProgressBar

        out.append(ProgressBar(total))
    return out


def _safe_callback(cb: Callable[[IntegrationResult], Any], result: IntegrationResult) -> None:
    try:
        cb(result)
    except Exception as exc:  # noqa: BLE001 - a callback must never lose a result
        logger().warning(
            "on_result_failed",
            callback=getattr(cb, "__name__", type(cb).__name__),
            error=f"{type(exc).__name__}: {describe_exception(exc)}",
        )

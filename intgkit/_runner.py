"""IntegrationRunner: every selected (integration, target) call, concurrently, each isolated.

Each call runs under its timeout and its circuit breaker, and ends as exactly one
IntegrationResult whatever the integration does (raise, hang, block, return garbage). The
runner raises only for caller mistakes, and only before any work starts (see plan()).

Design notes (docs/architecture.md has the long form):
- At most ``max_concurrency`` worker tasks take calls in selection order, so a run of 100,000
  calls holds 32 tasks, not 100,000; they start on demand (_Workers), so calls that end without
  waiting (open breakers, no-ops) share one task.
- One timer per run keeps every call's time limit (_Deadlines), with asyncio.timeout()'s
  semantics and without a TimerHandle per call. docs/performance.md has the measurements.
- Plain ``def`` integrations run in daemon threads, so a blocking call cannot stall the loop or
  outlive its timeout from the caller's point of view.
- A call cancelled because the *caller* cancelled the run counts as neither success nor failure
  on its breaker; a CancelledError an integration raises by itself is an ordinary error.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._breakers import REJECT, Breaker, BreakerBoard, Clock
from ._errors import UsageError
from ._integration import Integration, MalformedOutput, normalize_output, validate_timeout
from ._log import logger
from ._models import IntegrationResult, IntegrationResults, IntegrationSection, Status, make_result
from ._redact import redact
from ._registry import IntegrationRegistry, check_integration, default_registry, is_configured
from ._settings import as_settings, missing_settings, secret_values

if TYPE_CHECKING:
    import pybreaker

    from ._threads import DaemonPool

__all__ = ["IntegrationRunner"]

DEFAULT_TIMEOUT = 30.0
MAX_TARGET_LEN = 2048
MAX_ERROR_LEN = 2000
_UNSET: Any = object()

OnResult = Callable[[IntegrationResult], Any]

#: Status.value is an enum property; a dict lookup is a fraction of its cost per result.
_STATUS_VALUE = {s: s.value for s in Status}


@dataclass(slots=True)
class _Spec:
    """What the runner needs of one integration for one run, resolved once."""

    name: str
    integration: Integration
    invoke: Callable[[str | None], Any]
    is_async: bool
    timeout: float | None
    configured: bool
    missing: list[str]
    secrets: list[str]
    per_target: bool


@dataclass(slots=True)
class _Call:
    index: int
    spec: _Spec
    target: str | None
    breaker: Breaker


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
        listeners: pybreaker listeners for every breaker (exceptions in them are logged).
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
    ) -> None:
        if registry is not None and not isinstance(registry, IntegrationRegistry):
            raise UsageError(f"registry must be an IntegrationRegistry, got {type(registry).__name__}")
        self.registry = registry if registry is not None else default_registry()
        self.timeout = validate_timeout(timeout)
        self.max_concurrency = _validate_concurrency(max_concurrency)
        if breaker_per_target is not None and not isinstance(breaker_per_target, bool):
            raise UsageError(f"breaker_per_target must be True, False or None, got {breaker_per_target!r}")
        self.breaker_per_target = breaker_per_target
        self.breakers = BreakerBoard(
            fail_max=fail_max, reset_timeout=reset_timeout, clock=clock, listeners=listeners
        )
        #: The results of the latest run, also when it was cancelled or interrupted: what
        #: finished, and every call still pending marked as cancelled in its error.
        self.last_results: IntegrationResults | None = None

    # -- planning: every caller mistake is raised here, before any work starts ----------------
    def plan(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = _UNSET,
    ) -> list[_Call]:
        """Validate a selection and return its calls in selection order (integrations, then
        targets). Raises UsageError (or UnknownIntegrationError) for anything wrong."""
        specs = [self._spec(i, timeout) for i in self._select(integrations)]
        target_list = _validate_targets(targets)
        calls: list[_Call] = []
        board = self.breakers
        for spec in specs:
            if spec.configured is False:
                self.registry.warn_if_partial(spec.integration)
            for t in target_list:
                key = (spec.name, t if spec.per_target else None)
                calls.append(_Call(len(calls), spec, t, board.get(key)))
        return calls

    def _select(self, integrations: Any) -> list[Integration]:
        if integrations is None:
            return list(self.registry)
        if isinstance(integrations, str) or not isinstance(integrations, Iterable):
            integrations = [integrations]
        chosen: list[Integration] = []
        seen: set[str] = set()
        for item in integrations:
            if isinstance(item, str):
                integ = self.registry.get(item)
            elif hasattr(item, "fetch"):
                check_integration(item)
                integ = item
            else:
                raise UsageError(
                    f"integrations are selected by name or passed as Integration objects, got "
                    f"{type(item).__name__} {item!r}; registered: {self.registry.names()[:20]}"
                )
            if integ.name in seen:
                raise UsageError(f"integration {integ.name!r} is selected twice; select it once")
            seen.add(integ.name)
            chosen.append(integ)
        return chosen

    def _spec(self, integ: Integration, timeout: Any) -> _Spec:
        settings = as_settings(integ.settings)
        if timeout is not _UNSET:
            t = validate_timeout(timeout)
        elif hasattr(integ, "timeout"):
            t = validate_timeout(integ.timeout, f"timeout of integration {integ.name!r}")
        else:
            t = self.timeout
        bind = getattr(integ, "bind", None)
        invoke: Callable[[str | None], Any] = bind() if callable(bind) else integ.fetch
        is_async = (
            bool(getattr(integ, "is_async", False))
            if callable(bind)
            else (inspect.iscoroutinefunction(integ.fetch))
        )
        per_target = (
            self.breaker_per_target
            if self.breaker_per_target is not None
            else bool(getattr(integ, "breaker_per_target", False))
        )
        configured = is_configured(integ)
        return _Spec(
            name=integ.name,
            integration=integ,
            invoke=invoke,
            is_async=is_async,
            timeout=t,
            configured=configured,
            missing=missing_settings(settings) if not configured else [],
            secrets=secret_values(settings),
            per_target=per_target,
        )

    # -- the doors -------------------------------------------------------------------------------
    async def arun(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = _UNSET,
        max_concurrency: int | None = None,
        on_result: OnResult | None = None,
        progress: bool = False,
    ) -> IntegrationResults:
        """Run the selection over the targets; the primary, async door.

        Args:
            integrations: names or Integration objects; None runs every registered one.
            targets: target strings; None calls each integration once with target None.
            timeout: overrides the runner's (and the integrations') timeout for this run.
            max_concurrency: overrides the runner's limit for this run.
            on_result: called with each result as it completes (exceptions are logged).
            progress: show a tqdm progress bar (a widget in Jupyter, text in a terminal).

        Returns:
            One result per (integration, target), in selection order.
        """
        calls = self.plan(integrations, targets, timeout=timeout)
        callbacks = _callbacks(on_result, progress, len(calls))
        return await self._run_calls(calls, self._limit(max_concurrency), callbacks)

    async def _run_calls(self, calls: list[_Call], limit: int, callbacks: list[Any]) -> IntegrationResults:
        """Drive planned calls to one result each; ``last_results`` holds them even if cancelled."""
        slots: list[IntegrationResult | None] = [None] * len(calls)

        def sink(call: _Call, result: IntegrationResult) -> None:
            slots[call.index] = result
            for cb in callbacks:
                _safe_callback(cb, result)

        try:
            await self._drive(calls, sink, limit)
        finally:
            for cb in callbacks:
                close = getattr(cb, "close", None)
                if close is not None:
                    close()
            self.last_results = IntegrationResults(
                [r if r is not None else _cancelled(c) for c, r in zip(calls, slots, strict=True)]
            )
        return self.last_results

    def _limit(self, max_concurrency: int | None) -> int:
        return self.max_concurrency if max_concurrency is None else _validate_concurrency(max_concurrency)

    def run(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = _UNSET,
        max_concurrency: int | None = None,
        on_result: OnResult | None = None,
        progress: bool = False,
        nested: bool = False,
    ) -> IntegrationResults:
        """The sync door: works in a script and inside a running loop (a Jupyter cell).

        Inside a running loop it runs on a private event loop in a worker thread, never
        patching asyncio; prefer ``await runner.arun(...)`` in notebooks. ``nested=True``
        instead runs on the running loop itself through nest-asyncio2 (extra ``nested``; it
        patches asyncio process-wide, see docs/architecture.md). Other arguments as arun.
        """
        # Planned once, in the caller's thread: every mistake is raised here, before any work.
        calls = self.plan(integrations, targets, timeout=timeout)
        limit = self._limit(max_concurrency)
        callbacks = _callbacks(on_result, progress, len(calls))
        from ._sync import run_sync

        return run_sync(lambda: self._run_calls(calls, limit, callbacks), nested=nested)

    async def stream(
        self,
        integrations: str | Integration | Iterable[str | Integration] | None = None,
        targets: str | Iterable[str] | None = None,
        *,
        timeout: float | None = _UNSET,
        max_concurrency: int | None = None,
    ) -> AsyncIterator[IntegrationResult]:
        """Yield results in completion order; results already yielded are not kept.

        Breaking out of the loop (or closing the generator) cancels the calls still pending.
        """
        calls = self.plan(integrations, targets, timeout=timeout)
        limit = self._limit(max_concurrency)
        # Unbounded: a result waits here only until it is yielded, then nothing holds it.
        queue: asyncio.Queue[IntegrationResult | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                await self._drive(calls, lambda _call, result: queue.put_nowait(result), limit)
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

    # -- the engine ------------------------------------------------------------------------------
    async def _drive(
        self, calls: Sequence[_Call], sink: Callable[[_Call, IntegrationResult], Any], limit: int
    ) -> None:
        # Bound once per run: the lazy proxy structlog hands out re-binds on every event.
        log = logger().bind()
        started = time.perf_counter()
        log.info("run_started", calls=len(calls), max_concurrency=limit)
        pool: DaemonPool | None = None
        if any(not c.spec.is_async for c in calls):
            from ._threads import DaemonPool

            pool = DaemonPool(min(limit, len(calls)))
        loop = asyncio.get_running_loop()
        deadlines = _Deadlines(loop)
        counts = dict.fromkeys(Status, 0)
        rejections: dict[tuple[Breaker, str], str] = {}  # messages, built once per breaker state per run

        async def work(call: _Call, task: asyncio.Task[Any]) -> None:
            result = await self._call(call, loop, pool, log, deadlines, task, rejections)
            counts[result.status] += 1
            sink(call, result)

        outcome = "finished"
        try:
            await _Workers(loop, calls, limit, work).run()
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            deadlines.close()
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            log.info(
                "run_" + outcome,
                calls=len(calls),
                duration_s=round(time.perf_counter() - started, 6),
                **{k.value: v for k, v in counts.items() if v},
            )

    async def _call(
        self,
        call: _Call,
        loop: asyncio.AbstractEventLoop,
        pool: DaemonPool | None,
        log: Any,
        deadlines: _Deadlines,
        task: asyncio.Task[Any],
        rejections: dict[tuple[Breaker, str], str],
    ) -> IntegrationResult:
        """One call, start to result; ``task`` is the worker task it runs in."""
        spec = call.spec
        breaker = call.breaker
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        if not spec.configured:
            result = IntegrationResult(
                spec.name,
                call.target,
                Status.NOT_CONFIGURED,
                error_type="NotConfigured",
                error="not configured: missing settings "
                + (", ".join(spec.missing) or "(is_configured() is false)"),
                started_at=started_at,
                breaker_state=breaker.state,
            )
            log.info(
                "integration_result",
                integration=spec.name,
                target=call.target,
                status="not_configured",
                duration_s=0.0,
            )
            return result
        timeout = spec.timeout
        admitted = breaker.admit(timeout or 0.0)
        if admitted == REJECT:
            key = (breaker, breaker.state)
            error = rejections.get(key)
            if error is None:
                error = rejections[key] = _rejection(breaker, key[1])
            return self._finish(
                call, log, Status.CIRCUIT_OPEN, started_at, t0, error_type="CircuitOpen", error=error
            )
        # The call's time limit, with asyncio.timeout()'s semantics but no timer of its own (see
        # _Deadlines): the deadline cancels this task, and a cancellation that was ours alone
        # (no new cancel request from the caller) becomes a timeout result.
        entry: list[Any] | None = None
        if timeout is not None:
            cancelling = task.cancelling()
            entry = deadlines.arm(task, timeout)
        try:
            value = await self._invoke(spec, call.target, loop, pool)
        except asyncio.CancelledError as exc:
            if entry is not None and deadlines.disarm(entry) and task.uncancel() <= cancelling:
                return self._timed_out(call, log, admitted, started_at, t0, timeout)
            if task.cancelling():
                breaker.ignore(admitted)  # the caller cancelled the run: neither success nor failure
                raise
            breaker.failure(admitted, exc)
            return self._error(call, log, exc, started_at, t0)
        except Exception as exc:  # noqa: BLE001 - every failure of an integration becomes a result
            if entry is not None and deadlines.disarm(entry):
                task.uncancel()  # cancelled at its deadline, it ended with an error of its own
                if isinstance(exc, TimeoutError):
                    return self._timed_out(call, log, admitted, started_at, t0, timeout)
            breaker.failure(admitted, exc)
            return self._error(call, log, exc, started_at, t0)
        except BaseException:
            if entry is not None and deadlines.disarm(entry):
                task.uncancel()
            raise
        if entry is not None and deadlines.disarm(entry):
            task.uncancel()  # cancelled at its deadline, it swallowed that and returned: keep the value
        try:
            out = normalize_output(value)
        except Exception as exc:  # noqa: BLE001 - a malformed output is an error result
            breaker.failure(admitted, exc)
            return self._error(call, log, exc, started_at, t0)
        if isinstance(out, IntegrationResult):
            return self._passthrough(call, log, out, admitted, started_at, t0)
        breaker.success(admitted)
        if spec.secrets:
            out = _redact_sections(out, spec.secrets)
        return self._finish(call, log, Status.OK, started_at, t0, sections=out)

    def _timed_out(
        self,
        call: _Call,
        log: Any,
        admitted: int,
        started_at: datetime,
        t0: float,
        timeout: float | None,
    ) -> IntegrationResult:
        error = (
            f"timed out after {timeout:g} s (the call's time limit; pass a larger timeout= to allow longer)"
        )
        call.breaker.failure(admitted, TimeoutError(error))
        return self._finish(call, log, Status.TIMEOUT, started_at, t0, error_type="TimeoutError", error=error)

    @staticmethod
    async def _invoke(
        spec: _Spec, target: str | None, loop: asyncio.AbstractEventLoop, pool: DaemonPool | None
    ) -> Any:
        if spec.is_async:
            return await spec.invoke(target)
        assert pool is not None
        value = await loop.run_in_executor(pool, contextvars.copy_context().run, spec.invoke, target)
        if inspect.isawaitable(value):  # a plain function that returned a coroutine
            value = await value
        return value

    def _finish(
        self,
        call: _Call,
        log: Any,
        status: Status,
        started_at: datetime,
        t0: float,
        *,
        sections: tuple[IntegrationSection, ...] = (),
        error_type: str | None = None,
        error: str | None = None,
    ) -> IntegrationResult:
        duration = time.perf_counter() - t0
        result = make_result(
            call.spec.name,
            call.target,
            status,
            sections,
            error_type,
            error,
            started_at,
            duration,
            call.breaker.state,
        )
        log.info(
            "integration_result",
            integration=call.spec.name,
            target=call.target,
            status=_STATUS_VALUE[status],
            duration_s=round(duration, 6),
            error_type=error_type,
        )
        return result

    def _error(
        self, call: _Call, log: Any, exc: BaseException, started_at: datetime, t0: float
    ) -> IntegrationResult:
        kind = "MalformedResult" if isinstance(exc, MalformedOutput) else type(exc).__name__
        message = _describe_exception(exc, call.spec.secrets)
        if isinstance(exc, MalformedOutput):
            message = f"integration {call.spec.name!r} {message}"
        return self._finish(
            call, log, Status.ERROR, started_at, t0, error_type=kind, error=redact(message, call.spec.secrets)
        )

    def _passthrough(
        self, call: _Call, log: Any, out: IntegrationResult, admitted: int, started_at: datetime, t0: float
    ) -> IntegrationResult:
        """An integration returned a full result: keep its status, count it on the breaker."""
        if out.status in (Status.ERROR, Status.TIMEOUT):
            call.breaker.failure(admitted, RuntimeError(out.error or out.status.value))
        elif out.status is Status.OK:
            call.breaker.success(admitted)
        else:
            call.breaker.ignore(admitted)
        secrets = call.spec.secrets
        sections = _redact_sections(out.sections, secrets) if secrets else out.sections
        error = redact(out.error, secrets) if out.error else out.error
        return self._finish(
            call, log, out.status, started_at, t0, sections=sections, error_type=out.error_type, error=error
        )

    def __repr__(self) -> str:
        return (
            f"IntegrationRunner(timeout={self.timeout}, fail_max={self.breakers.fail_max}, "
            f"reset_timeout={self.breakers.reset_timeout:g}, max_concurrency={self.max_concurrency})"
        )


class _Workers:
    """Up to ``limit`` worker tasks taking calls in order, started as the calls need them.

    ``limit`` tasks started up front cost a task per call when calls end without waiting (an
    open breaker, an unconfigured integration, a cached answer): each task runs one call and
    exits. So workers start on demand: a worker that takes a call asks for a check on the
    next turn of the loop; by then every started worker is waiting inside a call (one whose
    call ended at once has moved on to the next), so the check starts as many new workers as
    are running, doubling up to the limit and the calls left. ``limit`` waiting calls are in
    flight within log2(limit) turns of the loop; calls that never wait share one task.
    """

    __slots__ = ("_calls", "_check_pending", "_context", "_done", "_limit", "_live", "_loop",
                 "_next", "_stopping", "_tasks", "_work")  # fmt: skip

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        calls: Sequence[_Call],
        limit: int,
        work: Callable[[_Call, asyncio.Task[Any]], Awaitable[None]],
    ) -> None:
        self._loop = loop
        self._calls = calls
        self._limit = limit
        self._work = work
        self._next = 0
        self._live = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._check_pending = False
        self._stopping = False
        self._done: asyncio.Future[None] = loop.create_future()
        # each worker runs in its own copy of the run's context, as create_task in the run would
        self._context = contextvars.copy_context()

    async def run(self) -> None:
        """Until every call has finished; on an exception (or cancellation) cancel the rest."""
        if not self._calls:
            return
        self._start(1)
        try:
            await self._done
        except BaseException:
            self._stopping = True
            for t in self._tasks:
                t.cancel()
            await asyncio.wait(self._tasks)
            raise

    def _start(self, n: int) -> None:
        for _ in range(n):
            task = self._loop.create_task(self._worker(), context=self._context.copy())
            self._live += 1
            self._tasks.append(task)
            task.add_done_callback(self._exited)

    async def _worker(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        calls, work = self._calls, self._work
        n = len(calls)
        while (i := self._next) < n:
            self._next = i + 1
            if not self._check_pending and self._live < self._limit:
                self._check_pending = True
                self._loop.call_soon(self._check, context=self._context)
            await work(calls[i], task)

    def _check(self) -> None:
        self._check_pending = False
        if self._stopping:
            return
        more = min(self._live, self._limit - self._live, len(self._calls) - self._next)
        if more > 0:
            self._start(more)

    def _exited(self, task: asyncio.Task[None]) -> None:
        self._live -= 1
        if self._done.done():
            return
        if task.cancelled():
            self._done.cancel()
        elif (exc := task.exception()) is not None:
            self._done.set_exception(exc)
        elif self._live == 0:
            self._done.set_result(None)


class _Deadlines:
    """Every call's time limit in one run, kept by one timer instead of one per call.

    ``asyncio.timeout()`` schedules and cancels a TimerHandle per call, a third of the
    runner's own per-call cost on short calls. Here each call pushes its entry,
    ``[deadline, seq, task]``, on a heap, and a single TimerHandle waits for the earliest
    deadline. When it fires, every call past its deadline has its task cancelled and its
    entry marked expired (task set to None, ``_EXPIRED`` appended), exactly what
    asyncio.timeout does; the call then tells its own timeout apart from a cancellation by
    the caller with ``task.uncancel()``, as asyncio.timeout's ``__aexit__`` does.

    A finished call only clears its entry's task; cleared entries leave the heap when they
    reach its top, or all at once when they outnumber the live ones, so the heap stays as
    small as the calls in flight. Per-integration timeouts differ: the heap orders them all.
    """

    __slots__ = ("_due", "_handle", "_heap", "_live", "_loop", "_seq")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._heap: list[list[Any]] = []
        self._seq = 0
        self._live = 0
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf

    def arm(self, task: asyncio.Task[Any], timeout: float) -> list[Any]:
        """Start the clock of the current call of ``task``; returns its entry for disarm()."""
        when = self._loop.time() + timeout
        self._seq += 1
        entry = [when, self._seq, task]
        heap = self._heap
        while heap and heap[0][2] is None:  # calls that finished: keep the heap small
            heapq.heappop(heap)
        if len(heap) > 64 and len(heap) > 2 * self._live:
            heap[:] = [e for e in heap if e[2] is not None]
            heapq.heapify(heap)
        heapq.heappush(heap, entry)
        self._live += 1
        if when < self._due:
            self._schedule(when)
        return entry

    def disarm(self, entry: list[Any]) -> bool:
        """End the clock of a call; True when its deadline had passed and its task was cancelled."""
        if entry[2] is None:
            return len(entry) > 3  # expired (marked by _fire), or disarmed twice
        entry[2] = None
        self._live -= 1
        return False

    def _schedule(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._due = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        # asyncio runs a timer up to one clock resolution early: what was due is due.
        now = max(self._loop.time(), self._due)
        self._handle = None
        self._due = math.inf
        heap = self._heap
        while heap and (heap[0][2] is None or heap[0][0] <= now):
            entry = heapq.heappop(heap)
            task = entry[2]
            if task is not None:
                entry[2] = None
                entry.append(_EXPIRED)
                self._live -= 1
                task.cancel()
        if heap:
            self._schedule(heap[0][0])

    def close(self) -> None:
        """Stop the timer (the run is over; every call has disarmed)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._heap.clear()


_EXPIRED = "expired"


# -- helpers -------------------------------------------------------------------------------------


def _rejection(breaker: Breaker, state: str) -> str:
    cb = breaker.cb
    if state == "half-open":
        return (
            f"circuit breaker {cb.name!r} is half-open and its one probe call is in flight; "
            f"the call was not made"
        )
    return (
        f"circuit breaker {cb.name!r} is open after {cb.fail_max} consecutive failures; "
        f"the call was not made (a probe is allowed after reset_timeout={cb.reset_timeout:g} s)"
    )


def _validate_concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"max_concurrency must be a whole number >= 1 (e.g. 32), got {value!r}")
    return value


def _validate_targets(targets: object) -> list[str | None]:
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


def _describe_exception(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - an exception whose __str__ raises
        text = f"<{type(exc).__name__} whose message could not be rendered>"
    # redact before the cut: a token straddling it would otherwise leave its first part behind
    text = " ".join(redact(text, secrets).split()) or type(exc).__name__
    return text if len(text) <= MAX_ERROR_LEN else text[: MAX_ERROR_LEN - 1] + "…"


def _redact_sections(
    sections: tuple[IntegrationSection, ...], secrets: list[str]
) -> tuple[IntegrationSection, ...]:
    """Replace secret values inside string cells (only runs when an integration has secrets)."""
    out = []
    for s in sections:
        if isinstance(s.rows, tuple):
            rows = tuple({k: _redact_cell(v, secrets) for k, v in row.items()} for row in s.rows)
            out.append(IntegrationSection(s.name, rows, s.summary))
        else:
            frame = s.rows.copy()
            for col in frame.columns:
                # "str" is pandas 3's default text dtype, "string[...]" the opt-in one
                if frame[col].dtype == object or str(frame[col].dtype).startswith("str"):
                    frame[col] = frame[col].map(lambda v: _redact_cell(v, secrets))
            out.append(IntegrationSection(s.name, frame, s.summary))
    return tuple(out)


def _redact_cell(value: Any, secrets: list[str]) -> Any:
    """A cell with secrets masked, inside nested mappings and lists too (headers, raw responses)."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {k: _redact_cell(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_cell(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact_cell(v, secrets) for v in value)
    return value


def _cancelled(call: _Call) -> IntegrationResult:
    return IntegrationResult(
        call.spec.name,
        call.target,
        Status.ERROR,
        error_type="CancelledError",
        error="cancelled: the run was cancelled before this call finished",
        started_at=None,
        duration_s=math.nan,
        breaker_state=call.breaker.state,
    )


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
            error=f"{type(exc).__name__}: {_describe_exception(exc)}",
        )

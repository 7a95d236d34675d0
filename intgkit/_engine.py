"""The engine: planned calls in, exactly one IntegrationResult per call out.

Each call runs under its timeout and its circuit breaker and ends as one result whatever the
integration does (raise, hang, block, return garbage). The engine never raises for an
integration's behaviour; only the caller's own cancellation (or a BaseException such as
KeyboardInterrupt) leaves it, after every call has been accounted for.

The shape of one call, and where per-call policies plug in (docs/architecture.md, "The seam"):

    _Run.call(call)             once per call: not configured? breaker gate, then
        _Run.attempts(call)     THE SEAM: every attempt of one call (today exactly one), and
            _Run.attempt(call)  one attempt: the deadline, the integration, its outcome
        breaker report, result

``attempts`` is the one function a retry, a rate-limit token, a bulkhead or a cache wraps: it
returns an :class:`Outcome` and reports how many attempts it made and how long it waited.

Design notes:
- Worker tasks (_workers.Workers) take calls in selection order, at most ``limit`` at once.
- One timer per run keeps every call's time limit (_deadlines.Deadlines), with
  asyncio.timeout()'s semantics and without a TimerHandle per call.
- Plain ``def`` integrations run in daemon threads, so a blocking call cannot stall the loop or
  outlive its timeout from the caller's point of view. A call's deadline counts from when it
  starts running (for a plain function, when its thread starts it); a thread that a timeout
  abandoned is counted until it ends, and a new thread takes the next call.
- A call cancelled because the *caller* cancelled the run counts as neither success nor failure
  on its breaker; a CancelledError an integration raises by itself is an ordinary error.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ._breakers import CLOSED, NORMAL, REJECT, Admission, Breaker
from ._deadlines import Deadlines
from ._integration import MalformedOutput, normalize_output
from ._log import logger
from ._models import IntegrationResult, IntegrationSection, Status, UnfrozenResult, make_result
from ._planning import Call, Lane, Policies
from ._policies import RateLimited, TokenBucket
from ._redact import describe_exception, redact, redact_sections
from ._workers import Workers

if TYPE_CHECKING:
    from ._threads import DaemonPool

__all__ = ["Outcome", "Sink", "cancelled_result", "drive"]

#: Where the engine delivers each call's result, in completion order.
Sink = Callable[[Call, IntegrationResult], Any]

#: Status.value is an enum property; a dict lookup is a fraction of its cost per result.
_STATUS_VALUE = {s: s.value for s in Status}
_OK = Status.OK
_now = datetime.now
_perf = time.perf_counter


class Outcome:
    """How the attempts of one call ended, before the breaker hears of it.

    ``exc`` is what the breaker is told of a failure (None for a success). ``attempts`` and
    ``waited_s`` are what the policies around the call add (1 and 0.0 without any).
    """

    __slots__ = ("attempts", "error", "error_type", "exc", "neutral", "sections", "status", "t_start",
                 "token_s", "waited_s")  # fmt: skip

    def __init__(
        self,
        status: Status,
        sections: tuple[IntegrationSection, ...] = (),
        error_type: str | None = None,
        error: str | None = None,
        exc: BaseException | None = None,
    ) -> None:
        self.status = status
        self.sections = sections
        self.error_type = error_type
        self.error = error
        self.exc = exc
        self.attempts = 1
        self.waited_s = 0.0
        #: perf_counter() when the integration began running, when later than the call's
        #: start (a plain function waits for its thread); None: when the call started.
        self.t_start: float | None = None
        #: of waited_s, the seconds spent waiting for rate-limit tokens (not part of duration_s)
        self.token_s = 0.0
        #: True when the outcome says nothing about the service (a local rate limit refused
        #: the call): the breaker neither counts it as a failure nor as a success
        self.neutral = False


#: Called when a call starts running: (integration, target).
OnStart = Callable[[str, "str | None"], Any]

#: Guards the hand-over of a plain call between its thread (done) and the loop (abandoned).
_plain_lock = threading.Lock()


async def drive(
    calls: Sequence[Call],
    sink: Sink,
    limit: int,
    *,
    abandoned: dict[str, int] | None = None,
    max_abandoned: int | None = None,
    on_start: OnStart | None = None,
    on_waiting: Callable[[int], Any] | None = None,
    slots: list[IntegrationResult | None] | None = None,
) -> None:
    """Run every call, at most ``limit`` at once, handing each result to ``sink``.

    ``slots``: when given (the caller has nothing to do per result but keep it), the fast
    path stores the result of planned call ``i`` (``i < len(slots)``) in ``slots[i]`` itself
    instead of calling ``sink``: a call less per result.

    ``on_waiting`` hears how many calls wait for a rate-limit token, whenever that changes.

    ``abandoned`` counts, per integration, the threads of plain calls the runner gave up on
    (timed out or cancelled) that are still running; it outlives the run (the runner keeps
    it). An integration with ``max_abandoned`` of them gets no further thread.
    """
    # Bound once per run: the lazy proxy structlog hands out re-binds on every event.
    log = logger().bind()
    started = time.perf_counter()
    log.info("run_started", calls=len(calls), max_concurrency=limit)
    pool: DaemonPool | None = None
    if any(not c.spec.is_async for c in calls):
        from ._threads import DaemonPool

        pool = DaemonPool()
    run = _Run(asyncio.get_running_loop(), pool, log, sink, started)
    run.abandoned = abandoned if abandoned is not None else {}
    run.max_abandoned = max_abandoned if max_abandoned is not None else limit
    run.on_start = on_start
    run.fast = on_start is None and not run.log_debug
    run.on_waiting = on_waiting
    run.calls = calls
    run.slots = slots if slots is not None else []
    outcome = "finished"
    try:
        await Workers(run.loop, calls, limit, run.work).run()
    except BaseException:
        outcome = "cancelled"
        raise
    finally:
        run.deadlines.close()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        log.info(
            "run_" + outcome,
            calls=len(calls),
            duration_s=round(time.perf_counter() - started, 6),
            **{k.value: v for k, v in run.counts.items() if v},
        )


class _Plain:
    """One attempt of a plain function on a pool thread: when its thread started it, its
    deadline (armed from the loop once it started), and whether the runner abandoned it."""

    __slots__ = ("abandoned", "closed", "done", "entry", "t_start")

    def __init__(self) -> None:
        self.t_start: float | None = None  # perf_counter() when the thread began the call
        self.entry: list[Any] | None = None  # its deadline's entry, once armed
        self.closed = False  # the attempt is over on the loop's side: arm no deadline
        self.done = False  # the thread has finished the call
        self.abandoned = False  # the attempt ended while the thread still ran it


class _Run:
    """One run's shared state, and the per-call path."""

    __slots__ = ("abandoned", "calls", "counts", "deadlines", "fast", "log", "log_debug", "log_info",
                 "loop", "max_abandoned", "on_start", "on_waiting", "pool", "rejections", "sink", "slots",
                 "t_run", "waiting")  # fmt: skip

    def __init__(
        self, loop: asyncio.AbstractEventLoop, pool: DaemonPool | None, log: Any, sink: Sink, t_run: float
    ) -> None:
        self.loop = loop
        self.pool = pool
        self.log = log
        # Asked once per run: a filtered-out event still costs its keyword arguments (0.5 us
        # each, two per call), so the per-call events are skipped when nobody listens.
        enabled = getattr(log, "is_enabled_for", None)
        self.log_info = enabled is None or bool(enabled(logging.INFO))
        self.log_debug = enabled is None or bool(enabled(logging.DEBUG))
        self.sink = sink
        self.t_run = t_run  # perf_counter() when the run began: a call's queue time counts from it
        self.deadlines = Deadlines(loop)
        self.counts = dict.fromkeys(Status, 0)
        # circuit_open messages, built once per breaker and state per run
        self.rejections: dict[Breaker, dict[str, str]] = {}
        self.abandoned: dict[str, int] = {}
        self.max_abandoned = 32
        self.on_start: OnStart | None = None
        self.on_waiting: Callable[[int], Any] | None = None
        #: nobody listens for call starts (no on_start, no debug events): the fast path may run
        self.fast = not self.log_debug
        #: calls waiting for a rate-limit token right now
        self.waiting = 0
        #: the run's calls; expanding a call appends its sub-calls here (the workers take them)
        self.calls: Sequence[Call] = ()
        #: where the fast path may store results by call index (see drive); [] = use the sink
        self.slots: list[IntegrationResult | None] = []

    def work(self, call: Call, task: asyncio.Task[Any]) -> Coroutine[Any, Any, None]:
        """A worker's body for one call: run it, count it, deliver it.

        The common call (an ``async def``, configured, no expansion, no cache, its breaker
        closed, a token at once if it has a rate limit, nobody listening for call starts)
        takes the fast path written out in :meth:`_fast`. Everything else, and every call that
        turns out not to be common (the breaker is open, a token must be waited for, a retry is
        due), goes through :meth:`call`, :meth:`attempts` and :meth:`attempt`. (A plain
        function choosing the coroutine: an ``async def`` here would add a frame per call.)
        """
        if call.spec.fast and self.fast:
            return self._fast(call, task)
        return self._general(call, task)

    async def _general(self, call: Call, task: asyncio.Task[Any]) -> None:
        spec = call.spec
        if spec.expand is not None and call.parent is None and await self._expanded(call):
            return
        policies = spec.policies
        if policies is not None and (policies.cache is not None or policies.max_concurrency is not None):
            await self._work_with_policies(call, task, policies)
            return
        result = await self.call(call, task)
        self.counts[result.status] += 1
        self.sink(call, result)

    async def _fast(self, call: Call, task: asyncio.Task[Any]) -> None:
        """The per-call path of the common call, in one coroutine frame: the same steps as
        :meth:`call` and :meth:`attempt` (and, at rest, :meth:`attempts` and the bulkhead of
        :meth:`_work_with_policies`), with no Outcome on success, the result built from
        :class:`UnfrozenResult`, and stored straight in its slot when the run has no callback.

        Every failure goes through the same helpers as the general path (``_raised``,
        ``_policed``, ``_report``), so the two cannot disagree on an outcome; a retry that is
        due continues in ``_policed`` after this first attempt, as ``attempts`` would.
        Measured: about twice the cost of a bare ``await`` per call (docs/performance.md).
        """
        pol = call.spec.policies
        lane: Lane | None = None
        if pol is not None and pol.max_concurrency is not None:
            lane = pol.lane
            if lane.busy >= pol.max_concurrency:
                lane.parked.append(call)  # the bulkhead is full: a call of its own ends runs it
                return
            lane.busy += 1
        counts, slots, deadlines = self.counts, self.slots, self.deadlines
        try:
            while True:
                spec = call.spec
                breaker = call.breaker
                storage = breaker.storage
                if (state := storage.state) != CLOSED:  # refused at once, or a probe through the general path
                    admitted = breaker.admit(spec.timeout or 0.0)
                    if admitted is REJECT:
                        result = self._rejected(call, state if type(state) is str else None)
                    else:
                        result = await self.call(call, task, admitted)
                elif pol is not None and pol.bucket is not None and not pol.bucket.take_now():
                    result = await self.call(call, task)  # a token to wait for
                else:
                    started_at = _now(UTC)
                    t0 = _perf()
                    timeout = spec.timeout
                    entry = None if timeout is None else deadlines.arm(task, timeout)
                    cancelling = task.cancelling()
                    try:
                        value = await spec.invoke(call.target)
                    except BaseException as exc:
                        out = self._raised(call, task, exc, entry, cancelling, timeout, None)
                        if out is None:  # the caller cancelled the run: count it, then stop
                            self._cancelled(call, NORMAL, started_at, t0)
                            raise
                        retry = pol.retry if pol is not None else None
                        if (
                            retry is not None
                            and out.status is Status.ERROR
                            and out.exc is not None
                            and isinstance(out.exc, retry.on)
                        ):
                            try:
                                out = await self._policed(call, task, pol, out, _perf() - t0)  # type: ignore[arg-type]
                            except BaseException:
                                self._cancelled(call, NORMAL, started_at, t0)
                                raise
                        result = self._report(call, NORMAL, out, started_at, t0)
                    else:
                        if entry is not None and deadlines.disarm(entry):
                            task.uncancel()  # cancelled at its deadline, it returned anyway: keep it
                        if type(value) is dict and not value:
                            end = _perf()
                            state = storage.state
                            if state != CLOSED or storage.counter or not breaker.fast:
                                breaker.success(NORMAL)
                                state = breaker.state
                            result = UnfrozenResult(
                                spec.name, call.target, _OK, (), None, None, started_at, end - t0,
                                state, t0 - self.t_run, 1, 0.0, False,
                            )  # type: ignore[assignment]  # fmt: skip
                            result.__class__ = IntegrationResult
                            if self.log_info:
                                self._log_result(call, _OK, end - t0, None)
                        else:
                            out = self._returned(call, value, None)
                            result = self._report(call, NORMAL, out, started_at, t0)
                counts[result.status] += 1
                if call.index < len(slots):
                    slots[call.index] = result
                else:
                    self.sink(call, result)
                if lane is None or not lane.parked:
                    return
                call = lane.parked.popleft()
        finally:
            if lane is not None:
                lane.busy -= 1

    async def _expanded(self, call: Call) -> bool:
        """Ask the integration what ``call``'s target stands for; True when it became sub-calls.

        One call per sub-target is appended to the run (a worker takes each, with every policy,
        the breaker and a result of its own, targeted at the sub-target), and this call makes
        no result of its own. If listing the sub-targets fails (or times out, under the call's
        time limit), this call's result is that error, alone; an empty list is an ok result.
        """
        spec = call.spec
        assert spec.expand is not None
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(spec.timeout):
                subs = await spec.expand(call.target)
        except TimeoutError:
            out = _timed_out(spec.timeout, None)
            out.error = f"listing what target {call.target!r} stands for {out.error}"
            self._deliver(call, self._finish(call, out, started_at, t0))
            return True
        except Exception as exc:  # noqa: BLE001 - a failure to expand is the call's result
            self._deliver(call, self._finish(call, _error(call, exc, None), started_at, t0))
            return True
        if subs is None:
            return False
        targets = list(dict.fromkeys(s for s in subs if isinstance(s, str) and s))
        if not targets:
            self._deliver(call, self._finish(call, Outcome(Status.OK), started_at, t0))
            return True
        calls = self.calls
        assert isinstance(calls, list)
        for target in targets:
            calls.append(Call(len(calls), spec, target, call.breaker, parent=call))
        self.log.info("call_expanded", integration=spec.name, target=call.target, calls=len(targets))
        return True

    def _deliver(self, call: Call, result: IntegrationResult) -> None:
        self.counts[result.status] += 1
        self.sink(call, result)

    async def _work_with_policies(self, call: Call, task: asyncio.Task[Any], pol: Policies) -> None:
        """The cache first (a hit is the result), then the bulkhead, then the call.

        A bulkhead never makes a worker wait: a call whose integration has ``max_concurrency``
        calls in flight is parked, and the worker takes the next call of the plan. Each call
        of that integration that ends runs the next parked one on its own worker, so the
        integration holds at most its limit of workers and the others stay free for the rest.
        """
        cache = pol.cache
        if cache is not None and not pol.refresh:
            hit = cache.get((call.spec.name, call.target, pol.fingerprint))
            if hit is not None:
                self.log.info(
                    "integration_result",
                    integration=hit.integration,
                    target=hit.target,
                    status="ok",
                    duration_s=0.0,
                    cached=True,
                )
                self.counts[Status.OK] += 1
                self.sink(call, hit)
                return
        limit = pol.max_concurrency
        if limit is None:
            await self._one(call, task, pol)
            return
        lane = pol.lane
        if lane.busy >= limit:
            lane.parked.append(call)
            return
        lane.busy += 1
        try:
            while True:
                result = await self.call(call, task)
                if cache is not None and result.status is Status.OK:
                    cache.put((call.spec.name, call.target, pol.fingerprint), result, pol.cache_ttl)
                self.counts[result.status] += 1
                self.sink(call, result)
                if not lane.parked:
                    return
                call = lane.parked.popleft()
        finally:
            lane.busy -= 1

    async def _one(self, call: Call, task: asyncio.Task[Any], pol: Policies) -> None:
        result = await self.call(call, task)
        cache = pol.cache
        if cache is not None and result.status is Status.OK:
            cache.put((call.spec.name, call.target, pol.fingerprint), result, pol.cache_ttl)
        self.counts[result.status] += 1
        self.sink(call, result)

    async def call(
        self, call: Call, task: asyncio.Task[Any], admitted: Admission | None = None
    ) -> IntegrationResult:
        """One call, start to result; ``task`` is the worker task it runs in.

        ``admitted``: the breaker already let the call through (the fast path asked it).
        """
        spec = call.spec
        breaker = call.breaker
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        if admitted is not None:
            return await self._admitted(call, task, admitted, started_at, t0)
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
                queued_s=t0 - self.t_run,
            )
            self.log.info(
                "integration_result",
                integration=spec.name,
                target=call.target,
                status="not_configured",
                duration_s=0.0,
            )
            return result
        admitted = breaker.admit(spec.timeout or 0.0)
        if admitted is REJECT:
            return self._rejected(call)
        return await self._admitted(call, task, admitted, started_at, t0)

    def _rejected(self, call: Call, state: str | None = None) -> IntegrationResult:
        """The result of a call its breaker refused (open, or half-open with its probe out);
        ``state``: the breaker's state if the caller just read it."""
        breaker = call.breaker
        if state is None:
            state = breaker.state
        rejections = self.rejections.get(breaker)
        if rejections is None:
            rejections = self.rejections[breaker] = {}
        error = rejections.get(state)
        if error is None:
            error = rejections[state] = _rejection(breaker, state)
        started_at = _now(UTC)
        t0 = _perf()
        duration = _perf() - t0
        result = UnfrozenResult(
            call.spec.name, call.target, Status.CIRCUIT_OPEN, (), "CircuitOpen", error, started_at,
            duration, state, t0 - self.t_run, 1, 0.0, False,
        )  # fmt: skip
        result.__class__ = IntegrationResult  # type: ignore[assignment]
        if self.log_info:
            self._log_result(call, Status.CIRCUIT_OPEN, duration, "CircuitOpen")
        return result  # type: ignore[return-value]

    async def _admitted(
        self, call: Call, task: asyncio.Task[Any], admitted: Admission, started_at: datetime, t0: float
    ) -> IntegrationResult:
        """A call its breaker let through: its attempts, then the breaker's report and result."""
        spec = call.spec
        if self.log_debug:
            self.log.debug("call_started", integration=spec.name, target=call.target)
        if self.on_start is not None:
            _safe_call(self.on_start, spec.name, call.target)
        try:
            # attempts() is the seam; without policies it is one attempt, called directly
            out = await (self.attempt(call, task) if spec.policies is None else self.attempts(call, task))
        except BaseException:
            self._cancelled(call, admitted, started_at, t0)
            raise
        return self._report(call, admitted, out, started_at, t0)

    def _cancelled(self, call: Call, admitted: Admission, started_at: datetime, t0: float) -> None:
        """The caller cancelled the run (or interrupted it) while the call ran: it counts as
        neither success nor failure, and its result says it was cancelled."""
        call.breaker.ignore(admitted)
        stopped = Outcome(
            Status.CANCELLED,
            error_type="CancelledError",
            error="cancelled: the run was cancelled while this call was running",
        )
        result = self._finish(call, stopped, started_at, t0)
        self.counts[Status.CANCELLED] += 1
        self.sink(call, result)

    def _report(
        self, call: Call, admitted: Admission, out: Outcome, started_at: datetime, t0: float
    ) -> IntegrationResult:
        """Tell the breaker how the call ended, then make its result."""
        breaker = call.breaker
        status = out.status
        if status is Status.OK:
            breaker.success(admitted)
        elif (status is Status.ERROR or status is Status.TIMEOUT) and not out.neutral:
            breaker.failure(admitted, out.exc or RuntimeError(out.error or status.value))
        else:
            breaker.ignore(admitted)
        return self._finish(call, out, started_at, t0)

    async def attempts(self, call: Call, task: asyncio.Task[Any]) -> Outcome:
        """Every attempt of one call; the seam where per-call policies wrap the call.

        Without policies, one attempt. With a retry policy or a rate limit (docs/architecture.md,
        "Policies"), the common case costs next to nothing: a token at once (or no rate limit)
        and a first attempt that does not fail with a declared exception; anything else goes
        on in :meth:`_policed`. Sets the outcome's ``attempts`` and ``waited_s``. The breaker
        has admitted the call; it hears of the returned outcome only. A caller's cancellation
        propagates as CancelledError.
        """
        pol = call.spec.policies
        if pol is None:
            return await self.attempt(call, task)
        bucket = pol.bucket
        if pol.rate_limit is not None and (bucket is None or not bucket.take_now()):
            return await self._policed(call, task, pol, None, 0.0)
        retry = pol.retry
        if retry is None:
            return await self.attempt(call, task)
        t = self.loop.time()
        first = await self.attempt(call, task)
        exc = first.exc
        if exc is None or first.status is not Status.ERROR or not isinstance(exc, retry.on):
            return first
        return await self._policed(call, task, pol, first, self.loop.time() - t)

    async def _policed(
        self, call: Call, task: asyncio.Task[Any], pol: Policies, first: Outcome | None, first_s: float
    ) -> Outcome:
        """Attempts under a retry policy and a rate limit, after ``first`` (attempt 1) if made.

        Before each attempt, a token (waiting for it stops the call's clock); the attempts and
        the backoffs between them share the call's time limit, and a retry that cannot finish
        inside what is left is not started.
        """
        spec = call.spec
        timeout = spec.timeout
        retry = pol.retry
        bucket = pol.bucket_for(spec.name, call.target)
        max_wait = pol.rate_limit.max_wait if pol.rate_limit is not None else None
        if max_wait is not None and math.isinf(max_wait):
            max_wait = None
        loop = self.loop
        used = 0.0  # seconds of the time limit spent: attempts and backoffs
        backoff = 0.0
        token = 0.0
        n = 0
        while True:
            n += 1
            if first is not None:  # attempt 1, made by attempts() with a token it had at once
                out, spent, first = first, first_s, None
            else:
                if bucket is not None:
                    wait = bucket.reserve(max_wait)
                    if wait is None:
                        # a shared bucket's store (Redis) that failed is named as such
                        kind = "RateLimitStorageError" if getattr(bucket, "failed", False) else "RateLimited"
                        out = Outcome(Status.ERROR, error_type=kind, error=bucket.refusal(max_wait))
                        out.neutral = True
                        if n > 1:
                            out.error = f"{out.error} (before attempt {n})"
                        n -= 1
                        break
                    if wait > 0.0:
                        await self._wait_for_token(bucket, wait)
                        token += wait
                t = loop.time()
                out = await self.attempt(call, task, None if timeout is None else timeout - used)
                spent = loop.time() - t
            used += spent
            if retry is None or out.status is not Status.ERROR or out.exc is None:
                break
            decision = retry.next_wait(
                out.exc, n, time_left=None if timeout is None else timeout - used, attempt_s=spent
            )
            if decision is None:
                break
            if isinstance(decision, str):
                out.error = f"{out.error} (attempt {n} of {retry.attempts}; {decision})"
                break
            self.log.info(
                "integration_retry",
                integration=spec.name,
                target=call.target,
                attempt=n,
                wait_s=round(decision, 3),
                reason=f"{out.error_type}: {out.error}",
            )
            await asyncio.sleep(decision)
            used += decision
            backoff += decision
        if out.status is Status.TIMEOUT and timeout is not None:
            total = retry.attempts if retry is not None else n
            out.error = (
                f"timed out after {timeout:g} s during attempt {n} of {total} (the call's time limit "
                f"covers every attempt and the backoff between them; pass a larger timeout= to allow longer)"
            )
            out.exc = TimeoutError(out.error)
        out.attempts = max(n, 1)
        out.waited_s = backoff + token
        out.token_s = token
        out.t_start = None  # the call's time runs from its start, less the token waits
        return out

    async def _wait_for_token(self, bucket: TokenBucket, wait: float) -> None:
        """Sleep until a reserved token is due, counted as waiting; a cancelled wait refunds it."""
        self.waiting += 1
        if self.on_waiting is not None:
            _safe_call(self.on_waiting, self.waiting)
        try:
            await asyncio.sleep(wait)
        except BaseException:
            bucket.release(refund=True)
            raise
        else:
            bucket.release(refund=False)
        finally:
            self.waiting -= 1
            if self.on_waiting is not None:
                _safe_call(self.on_waiting, self.waiting)

    async def attempt(self, call: Call, task: asyncio.Task[Any], left: float | None = -1.0) -> Outcome:
        """One attempt: the integration under its deadline, turned into an Outcome.

        The deadline counts from when the attempt starts running: at once for an ``async
        def``, and for a plain function when its thread starts it (the thread tells the loop),
        so time spent waiting for a thread is never the call's time. ``left``: the seconds of
        the call's time limit still unspent (a policy's attempts share one); by default all.
        """
        spec = call.spec
        timeout = spec.timeout if left == -1.0 else left
        if timeout is not None and timeout <= 0:
            return _timed_out(spec.timeout, None)
        deadlines = self.deadlines
        cancelling = task.cancelling()
        plain: _Plain | None = None
        entry: list[Any] | None = None
        try:
            if spec.is_async:
                # The call's time limit, with asyncio.timeout()'s semantics but no timer of its
                # own (see Deadlines): the deadline cancels this task, and a cancellation that
                # was ours alone (no new cancel request from the caller) becomes a timeout.
                if timeout is not None:
                    entry = deadlines.arm(task, timeout)
                value = await spec.invoke(call.target)
            else:
                if self.abandoned.get(spec.name, 0) >= self.max_abandoned:
                    return self._threads_exhausted(call)
                plain = _Plain()
                value = await self._run_plain(call, task, plain, timeout)
        except BaseException as exc:
            out = self._raised(call, task, exc, entry, cancelling, timeout, plain)
            if out is None:
                raise
            return out
        if plain is not None:
            plain.closed = True
            entry = plain.entry
        if entry is not None and deadlines.disarm(entry):
            task.uncancel()  # cancelled at its deadline, it swallowed that and returned: keep the value
        return self._returned(call, value, plain)

    def _raised(
        self,
        call: Call,
        task: asyncio.Task[Any],
        exc: BaseException,
        entry: list[Any] | None,
        cancelling: int,
        timeout: float | None,
        plain: _Plain | None,
    ) -> Outcome | None:
        """The outcome of an attempt that raised ``exc``; None when the caller's cancellation
        (or a BaseException such as KeyboardInterrupt) must propagate: re-raise it then.

        ``entry`` is the attempt's deadline (for a plain call, read from ``plain``), and
        ``cancelling`` the task's cancel requests before the attempt: a cancellation that
        the deadline alone made (``uncancel()`` brings the count back) is a timeout.
        """
        deadlines = self.deadlines
        if plain is not None:
            plain.closed = True
            entry = plain.entry
        if isinstance(exc, asyncio.CancelledError):
            if entry is not None and deadlines.disarm(entry) and task.uncancel() <= cancelling:
                if plain is not None:
                    self._abandon(call, plain, timeout)
                return _timed_out(timeout, plain)
            if task.cancelling():
                if plain is not None:
                    self._abandon(call, plain, None)
                return None
            return _error(call, exc, plain)
        if isinstance(exc, Exception):  # every failure of an integration becomes an outcome
            if entry is not None and deadlines.disarm(entry):
                task.uncancel()  # cancelled at its deadline, it ended with an error of its own
                if isinstance(exc, TimeoutError):
                    return _timed_out(timeout, plain)
            return _error(call, exc, plain)
        if plain is not None:
            self._abandon(call, plain, None)
        if entry is not None and deadlines.disarm(entry):
            task.uncancel()
        return None

    def _returned(self, call: Call, value: Any, plain: _Plain | None) -> Outcome:
        """The outcome of an attempt that returned ``value`` (its deadline already disarmed)."""
        try:
            out = normalize_output(value)
        except Exception as exc:  # noqa: BLE001 - a malformed output is an error outcome
            return _error(call, exc, plain)
        secrets = call.spec.secrets
        if isinstance(out, IntegrationResult):  # a full result: keep its status
            sections = redact_sections(out.sections, secrets) if secrets else out.sections
            error = redact(out.error, secrets) if out.error else out.error
            result = Outcome(out.status, sections, out.error_type, error)
        else:
            result = Outcome(Status.OK, redact_sections(out, secrets) if secrets else out)
        if plain is not None:
            result.t_start = plain.t_start
        return result

    async def _run_plain(
        self, call: Call, task: asyncio.Task[Any], plain: _Plain, timeout: float | None
    ) -> Any:
        """A plain function on a daemon thread; its deadline is armed when the thread starts it."""
        loop, deadlines, invoke, target = self.loop, self.deadlines, call.spec.invoke, call.target
        ctx = contextvars.copy_context()
        abandoned, name = self.abandoned, call.spec.name

        def started(when: float) -> None:  # on the loop, as soon as the thread began the call
            if not plain.closed and timeout is not None:
                plain.entry = deadlines.arm_at(task, when + timeout)

        def job() -> Any:  # on the pool thread
            plain.t_start = time.perf_counter()
            try:
                loop.call_soon_threadsafe(started, time.monotonic())
            except RuntimeError:  # the loop is closed: the run is over, make no call
                return None
            try:
                return ctx.run(invoke, target)
            finally:
                with _plain_lock:
                    plain.done = True
                    if plain.abandoned:
                        abandoned[name] -= 1

        pool = self.pool
        assert pool is not None
        value = await asyncio.wrap_future(pool.submit(job), loop=loop)
        if inspect.isawaitable(value):  # a plain function that returned a coroutine
            value = await value
        return value

    def _abandon(self, call: Call, plain: _Plain, timeout: float | None) -> None:
        """The attempt is over but its thread still runs the call: count it until it ends."""
        with _plain_lock:
            if plain.done or plain.t_start is None:
                return  # finished, or never started (its queued job was cancelled)
            plain.abandoned = True
            name = call.spec.name
            n = self.abandoned[name] = self.abandoned.get(name, 0) + 1
        if timeout is not None:
            self.log.warning(
                "thread_abandoned",
                integration=name,
                target=call.target,
                timeout_s=timeout,
                still_running=n,
            )

    def _threads_exhausted(self, call: Call) -> Outcome:
        name = call.spec.name
        n = self.abandoned.get(name, 0)
        error = (
            f"not started: {n} threads of integration {name!r} are still stuck in calls that timed "
            f"out (max_abandoned_threads={self.max_abandoned}); the call was not made"
        )
        return Outcome(Status.ERROR, error_type="ThreadsExhausted", error=error, exc=RuntimeError(error))

    def _finish(self, call: Call, out: Outcome, started_at: datetime, t0: float) -> IntegrationResult:
        end = time.perf_counter()
        t_start = out.t_start
        if t_start is None or t_start < t0:
            t_start = t0
        else:  # a plain call: it started when its thread began it
            started_at += timedelta(seconds=t_start - t0)
        duration = end - t_start - out.token_s
        status = out.status
        result = make_result(
            call.spec.name,
            call.target,
            status,
            out.sections,
            out.error_type,
            out.error,
            started_at,
            duration,
            call.breaker.state,
            queued_s=t_start - self.t_run,
            attempts=out.attempts,
            waited_s=out.waited_s,
        )
        if self.log_info:
            self._log_result(call, status, duration, out.error_type)
        return result

    def _log_result(self, call: Call, status: Status, duration: float, error_type: str | None) -> None:
        self.log.info(
            "integration_result",
            integration=call.spec.name,
            target=call.target,
            status=_STATUS_VALUE[status],
            duration_s=round(duration, 6),
            error_type=error_type,
        )


def _timed_out(timeout: float | None, plain: _Plain | None) -> Outcome:
    error = f"timed out after {timeout:g} s (the call's time limit; pass a larger timeout= to allow longer)"
    out = Outcome(Status.TIMEOUT, error_type="TimeoutError", error=error, exc=TimeoutError(error))
    if plain is not None:
        out.t_start = plain.t_start
    return out


def _safe_call(callback: Callable[..., Any], *args: Any) -> None:
    try:
        callback(*args)
    except Exception as exc:  # noqa: BLE001 - a progress callback must never break a call
        logger().warning(
            "on_start_failed",
            callback=getattr(callback, "__name__", type(callback).__name__),
            error=f"{type(exc).__name__}: {describe_exception(exc)}",
        )


def _error(call: Call, exc: BaseException, plain: _Plain | None = None) -> Outcome:
    secrets = call.spec.secrets
    kind = "MalformedResult" if isinstance(exc, MalformedOutput) else type(exc).__name__
    message = describe_exception(exc, secrets)
    if isinstance(exc, MalformedOutput):
        message = f"integration {call.spec.name!r} {message}"
    out = Outcome(Status.ERROR, error_type=kind, error=redact(message, secrets), exc=exc)
    # a rate limit refusing the call says the budget is spent, not that the service is broken
    out.neutral = isinstance(exc, RateLimited)
    if plain is not None:
        out.t_start = plain.t_start
    return out


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


def cancelled_result(call: Call) -> IntegrationResult:
    """The result of a call the run's cancellation stopped before it started."""
    return IntegrationResult(
        call.spec.name,
        call.target,
        Status.CANCELLED,
        error_type="CancelledError",
        error="cancelled: the run was cancelled before this call started",
        started_at=None,
        duration_s=math.nan,
        breaker_state=call.breaker.state,
    )

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
  outlive its timeout from the caller's point of view.
- A call cancelled because the *caller* cancelled the run counts as neither success nor failure
  on its breaker; a CancelledError an integration raises by itself is an ordinary error.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._breakers import REJECT, Breaker
from ._deadlines import Deadlines
from ._integration import MalformedOutput, normalize_output
from ._log import logger
from ._models import IntegrationResult, IntegrationSection, Status, make_result
from ._planning import Call
from ._redact import describe_exception, redact, redact_sections
from ._workers import Workers

if TYPE_CHECKING:
    from ._threads import DaemonPool

__all__ = ["Outcome", "Sink", "cancelled_result", "drive"]

#: Where the engine delivers each call's result, in completion order.
Sink = Callable[[Call, IntegrationResult], Any]

#: Status.value is an enum property; a dict lookup is a fraction of its cost per result.
_STATUS_VALUE = {s: s.value for s in Status}


class Outcome:
    """How the attempts of one call ended, before the breaker hears of it.

    ``exc`` is what the breaker is told of a failure (None for a success). ``attempts`` and
    ``waited_s`` are what the policies around the call add (1 and 0.0 without any).
    """

    __slots__ = ("attempts", "error", "error_type", "exc", "sections", "status", "waited_s")

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


async def drive(calls: Sequence[Call], sink: Sink, limit: int) -> None:
    """Run every call, at most ``limit`` at once, handing each result to ``sink``."""
    # Bound once per run: the lazy proxy structlog hands out re-binds on every event.
    log = logger().bind()
    started = time.perf_counter()
    log.info("run_started", calls=len(calls), max_concurrency=limit)
    pool: DaemonPool | None = None
    if any(not c.spec.is_async for c in calls):
        from ._threads import DaemonPool

        pool = DaemonPool(min(limit, len(calls)))
    run = _Run(asyncio.get_running_loop(), pool, log, sink)
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


class _Run:
    """One run's shared state, and the per-call path."""

    __slots__ = ("counts", "deadlines", "log", "loop", "pool", "rejections", "sink")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, pool: DaemonPool | None, log: Any, sink: Sink
    ) -> None:
        self.loop = loop
        self.pool = pool
        self.log = log
        self.sink = sink
        self.deadlines = Deadlines(loop)
        self.counts = dict.fromkeys(Status, 0)
        # circuit_open messages, built once per breaker state per run
        self.rejections: dict[tuple[Breaker, str], str] = {}

    async def work(self, call: Call, task: asyncio.Task[Any]) -> None:
        """A worker's body for one call: run it, count it, deliver it."""
        result = await self.call(call, task)
        self.counts[result.status] += 1
        self.sink(call, result)

    async def call(self, call: Call, task: asyncio.Task[Any]) -> IntegrationResult:
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
            self.log.info(
                "integration_result",
                integration=spec.name,
                target=call.target,
                status="not_configured",
                duration_s=0.0,
            )
            return result
        admitted = breaker.admit(spec.timeout or 0.0)
        if admitted == REJECT:
            key = (breaker, breaker.state)
            error = self.rejections.get(key)
            if error is None:
                error = self.rejections[key] = _rejection(breaker, key[1])
            return self._finish(
                call, Outcome(Status.CIRCUIT_OPEN, error_type="CircuitOpen", error=error), started_at, t0
            )
        try:
            out = await self.attempts(call, task)
        except BaseException:
            breaker.ignore(admitted)  # the caller cancelled the run: neither success nor failure
            raise
        status = out.status
        if status is Status.OK:
            breaker.success(admitted)
        elif status is Status.ERROR or status is Status.TIMEOUT:
            breaker.failure(admitted, out.exc or RuntimeError(out.error or status.value))
        else:
            breaker.ignore(admitted)
        return self._finish(call, out, started_at, t0)

    async def attempts(self, call: Call, task: asyncio.Task[Any]) -> Outcome:
        """Every attempt of one call; the seam where per-call policies wrap the call.

        Today one attempt. A policy that retries, waits for a rate-limit token, holds a
        bulkhead slot or answers from a cache does it here, and sets the outcome's
        ``attempts`` and ``waited_s``. The breaker has admitted the call; it hears of the
        returned outcome only. A caller's cancellation propagates as CancelledError.
        """
        return await self.attempt(call, task)

    async def attempt(self, call: Call, task: asyncio.Task[Any]) -> Outcome:
        """One attempt: the integration under its deadline, turned into an Outcome."""
        spec = call.spec
        timeout = spec.timeout
        # The call's time limit, with asyncio.timeout()'s semantics but no timer of its own (see
        # Deadlines): the deadline cancels this task, and a cancellation that was ours alone
        # (no new cancel request from the caller) becomes a timeout outcome.
        deadlines = self.deadlines
        entry: list[Any] | None = None
        if timeout is not None:
            cancelling = task.cancelling()
            entry = deadlines.arm(task, timeout)
        try:
            value = await self._invoke(call)
        except asyncio.CancelledError as exc:
            if entry is not None and deadlines.disarm(entry) and task.uncancel() <= cancelling:
                return _timed_out(timeout)
            if task.cancelling():
                raise
            return _error(call, exc)
        except Exception as exc:  # noqa: BLE001 - every failure of an integration becomes an outcome
            if entry is not None and deadlines.disarm(entry):
                task.uncancel()  # cancelled at its deadline, it ended with an error of its own
                if isinstance(exc, TimeoutError):
                    return _timed_out(timeout)
            return _error(call, exc)
        except BaseException:
            if entry is not None and deadlines.disarm(entry):
                task.uncancel()
            raise
        if entry is not None and deadlines.disarm(entry):
            task.uncancel()  # cancelled at its deadline, it swallowed that and returned: keep the value
        try:
            out = normalize_output(value)
        except Exception as exc:  # noqa: BLE001 - a malformed output is an error outcome
            return _error(call, exc)
        secrets = spec.secrets
        if isinstance(out, IntegrationResult):  # a full result: keep its status
            sections = redact_sections(out.sections, secrets) if secrets else out.sections
            error = redact(out.error, secrets) if out.error else out.error
            return Outcome(out.status, sections, out.error_type, error)
        return Outcome(Status.OK, redact_sections(out, secrets) if secrets else out)

    async def _invoke(self, call: Call) -> Any:
        spec = call.spec
        if spec.is_async:
            return await spec.invoke(call.target)
        pool = self.pool
        assert pool is not None
        value = await self.loop.run_in_executor(
            pool, contextvars.copy_context().run, spec.invoke, call.target
        )
        if inspect.isawaitable(value):  # a plain function that returned a coroutine
            value = await value
        return value

    def _finish(self, call: Call, out: Outcome, started_at: datetime, t0: float) -> IntegrationResult:
        duration = time.perf_counter() - t0
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
            attempts=out.attempts,
            waited_s=out.waited_s,
        )
        self.log.info(
            "integration_result",
            integration=call.spec.name,
            target=call.target,
            status=_STATUS_VALUE[status],
            duration_s=round(duration, 6),
            error_type=out.error_type,
        )
        return result


def _timed_out(timeout: float | None) -> Outcome:
    error = f"timed out after {timeout:g} s (the call's time limit; pass a larger timeout= to allow longer)"
    return Outcome(Status.TIMEOUT, error_type="TimeoutError", error=error, exc=TimeoutError(error))


def _error(call: Call, exc: BaseException) -> Outcome:
    secrets = call.spec.secrets
    kind = "MalformedResult" if isinstance(exc, MalformedOutput) else type(exc).__name__
    message = describe_exception(exc, secrets)
    if isinstance(exc, MalformedOutput):
        message = f"integration {call.spec.name!r} {message}"
    return Outcome(Status.ERROR, error_type=kind, error=redact(message, secrets), exc=exc)


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
    """The result of a call the run's cancellation stopped before it finished."""
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

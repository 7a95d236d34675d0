"""Fault injection: whatever integrations do, the runner loses no result, never hangs, leaks nothing.

Property-based (hypothesis): generated mixes of integrations that return, raise, hang, block,
return garbage or enormous sections; caller cancellation and Ctrl-C at random moments; the
breaker state machine against a reference model; and one run of 100,000 calls.
Counters for docs/reliability.md are kept in tests/_reliability.py.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import resource
import signal
import threading
import time
import tracemalloc
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from _reliability import FIGURES, STATS, reliability_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import intgkit
from intgkit import IntegrationResult, IntegrationSection, Status

__all__ = ["reliability_report"]  # the module-scoped fixture that prints the counters

TIMEOUT = 0.3
MARGIN = 0.25  # the brief's bound: a run lasts at most timeout + 0.25 s
ENORMOUS_ROWS = 50_000


# -- faults ------------------------------------------------------------------------------------


class UnrenderableError(Exception):
    """An exception whose str() raises."""

    def __str__(self) -> str:
        raise RuntimeError("cannot render this message")


class UnreprableError(Exception):
    """An exception whose str() and repr() both raise."""

    def __str__(self) -> str:
        raise ValueError("no str")

    def __repr__(self) -> str:
        raise ValueError("no repr")


class BytesArgsError(Exception):
    """An exception whose args are not text."""


#: name -> (factory, expected error_type). Each raise builds a fresh exception.
EXCEPTIONS: dict[str, tuple[Callable[[], BaseException], str]] = {
    "ValueError": (lambda: ValueError("bad value"), "ValueError"),
    "KeyError": (lambda: KeyError("missing"), "KeyError"),
    "OSError": (lambda: OSError(5, "input/output error"), "OSError"),
    "ConnectionResetError": (lambda: ConnectionResetError(104, "reset by peer"), "ConnectionResetError"),
    "RuntimeError-empty": (lambda: RuntimeError(""), "RuntimeError"),
    "ZeroDivisionError": (lambda: ZeroDivisionError("division by zero"), "ZeroDivisionError"),
    "UnicodeDecodeError": (
        lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad byte"),
        "UnicodeDecodeError",
    ),
    "RecursionError": (lambda: RecursionError("too deep"), "RecursionError"),
    "MemoryError": (lambda: MemoryError(), "MemoryError"),
    "Unrenderable": (UnrenderableError, "UnrenderableError"),
    "Unreprable": (UnreprableError, "UnreprableError"),
    "BytesArgs": (lambda: BytesArgsError(b"\x00\xff", 3), "BytesArgsError"),
    "HugeMessage": (lambda: ValueError("x" * 1_000_000), "ValueError"),
    "ExceptionGroup": (lambda: ExceptionGroup("several", [ValueError("a"), KeyError("b")]), "ExceptionGroup"),
    "StopAsyncIteration": (lambda: StopAsyncIteration("done"), "StopAsyncIteration"),
    # Python turns a StopIteration escaping a coroutine into RuntimeError; a plain function's
    # StopIteration cannot be set on an asyncio future, so the runner does the same for it.
    "StopIteration": (lambda: StopIteration("stop"), "RuntimeError"),
    "CancelledError-own": (asyncio.CancelledError, "CancelledError"),
    "TimeoutError-own": (lambda: TimeoutError("upstream timed out"), "TimeoutError"),
}


def _gen() -> Iterator[dict[str, int]]:
    yield {"a": 1}


MALFORMED: dict[str, Callable[[], Any]] = {
    "None": lambda: None,
    "str": lambda: "some text",
    "int": lambda: 42,
    "object": object,
    "rows-not-mappings": lambda: {"s": [1, 2, 3]},
    "row-is-str": lambda: {"s": ["ab"]},
    "generator": _gen,
    "section-generator": lambda: {"s": _gen()},
    "list-of-dicts": lambda: [{"a": 1}],
    "empty-section-name": lambda: {"": []},
    "non-str-section-name": lambda: {1: []},
    "duplicate-sections": lambda: [IntegrationSection("s"), IntegrationSection("s")],
}


@dataclass(frozen=True)
class Behaviour:
    """What one (integration, target) call does."""

    kind: str  # ok | slow_ok | raise | hang | block | malformed | enormous | coroutine_ok
    param: Any = None

    @property
    def is_fault(self) -> bool:
        return self.kind not in ("ok", "slow_ok", "coroutine_ok")

    def expected(self) -> tuple[Status, str | None]:
        if self.kind in ("ok", "slow_ok", "enormous", "coroutine_ok"):
            return Status.OK, None
        if self.kind == "raise":
            return Status.ERROR, EXCEPTIONS[self.param][1]
        if self.kind in ("hang", "block"):
            return Status.TIMEOUT, "TimeoutError"
        return Status.ERROR, "MalformedResult"


def _value(b: Behaviour) -> Any:
    if b.kind == "malformed":
        return MALFORMED[b.param]()
    if b.kind == "enormous":
        row = {"a": 1, "b": "x" * 100}
        return {"big": [row] * ENORMOUS_ROWS}
    return {"s": [{"v": b.kind}]}


async def _act_async(b: Behaviour) -> Any:
    if b.kind == "raise":
        raise EXCEPTIONS[b.param][0]()
    if b.kind == "hang":
        await asyncio.Event().wait()
    if b.kind == "slow_ok":
        await asyncio.sleep(b.param)
    return _value(b)


def _act_sync(b: Behaviour) -> Any:
    if b.kind == "raise":
        raise EXCEPTIONS[b.param][0]()
    if b.kind == "block":
        time.sleep(TIMEOUT + b.param)  # abandoned by the runner; ends by itself shortly after
    if b.kind == "slow_ok":
        time.sleep(b.param)
    if b.kind == "coroutine_ok":
        return _act_async(Behaviour("ok"))  # a plain function returning an awaitable
    return _value(b)


_common = st.one_of(
    st.just(Behaviour("ok")),
    st.builds(Behaviour, st.just("slow_ok"), st.floats(0, 0.1)),
    st.builds(Behaviour, st.just("raise"), st.sampled_from(sorted(EXCEPTIONS))),
    st.builds(Behaviour, st.just("malformed"), st.sampled_from(sorted(MALFORMED))),
    st.just(Behaviour("enormous")),
)
ASYNC_BEHAVIOURS = st.one_of(_common, st.just(Behaviour("hang")))
SYNC_BEHAVIOURS = st.one_of(
    _common, st.builds(Behaviour, st.just("block"), st.floats(0.05, 0.3)), st.just(Behaviour("coroutine_ok"))
)


@st.composite
def fault_mixes(draw: st.DrawFn) -> tuple[int, list[tuple[bool, list[Behaviour]]]]:
    """(number of targets, [(is_async, behaviour per target)] per integration)."""
    n_targets = draw(st.integers(1, 4))
    integrations = []
    for _ in range(draw(st.integers(1, 6))):
        is_async = draw(st.booleans())
        strategy = ASYNC_BEHAVIOURS if is_async else SYNC_BEHAVIOURS
        integrations.append((is_async, draw(st.lists(strategy, min_size=n_targets, max_size=n_targets))))
    return n_targets, integrations


def _register(
    registry: intgkit.IntegrationRegistry, name: str, is_async: bool, plan: dict[str | None, Behaviour]
) -> None:
    if is_async:

        async def fetch(target: str | None) -> Any:
            return await _act_async(plan[target])
    else:

        def fetch(target: str | None) -> Any:
            return _act_sync(plan[target])

    intgkit.integration(fetch, registry=registry, name=name)


def _other_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


def _wait_for_worker_threads(deadline_s: float) -> list[str]:
    """Names of intgkit worker threads still alive after waiting up to ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        alive = [t.name for t in threading.enumerate() if t.name.startswith("intgkit-worker")]
        if not alive or time.monotonic() > end:
            return alive
        time.sleep(0.01)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mix=fault_mixes(), general=st.booleans())
def test_any_mix_of_faults_gives_one_result_per_call_in_order_and_on_time(
    mix: tuple[int, list[tuple[bool, list[Behaviour]]]], general: bool
) -> None:
    """Any mix of returns, raises, hangs, blocks, garbage and huge sections: one result per call,
    selection order, expected status, wall time <= timeout + 0.25 s, no task or warning left.

    ``general``: an ``on_start`` listener takes every call off the engine's fast path, so both
    per-call paths meet every fault."""
    n_targets, integrations = mix
    registry = intgkit.IntegrationRegistry(None)
    targets = [f"t{j}" for j in range(n_targets)]
    names = []
    expected = []
    for i, (is_async, behaviours) in enumerate(integrations):
        name = f"i{i}"
        names.append(name)
        _register(registry, name, is_async, dict(zip(targets, behaviours, strict=True)))
        expected += [(name, t, b) for t, b in zip(targets, behaviours, strict=True)]
    n_calls = len(expected)
    # fail_max above the number of calls: every status is predictable (breakers: the state test)
    runner = intgkit.IntegrationRunner(registry, timeout=TIMEOUT, fail_max=1000, max_concurrency=n_calls)

    async def main() -> tuple[intgkit.IntegrationResults, float, list[asyncio.Task[Any]]]:
        start = time.perf_counter()
        on_start = (lambda integration, target: None) if general else None
        results = await runner.arun(names, targets, on_start=on_start)
        elapsed = time.perf_counter() - start
        await asyncio.sleep(0)
        return results, elapsed, _other_tasks()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results, elapsed, leftover = asyncio.run(main())
        gc.collect()
    STATS["runs"] += 1
    STATS["calls"] += n_calls
    STATS["faults_injected"] += sum(b.is_fault for *_, b in expected)
    keys = [(r.integration, r.target) for r in results]
    STATS["results_lost"] += abs(n_calls - len(set(keys))) + (len(keys) - len(set(keys)))
    STATS["hangs"] += elapsed > TIMEOUT + MARGIN

    assert keys == [(n, t) for n, t, _ in expected]
    for r, (_, _, b) in zip(results, expected, strict=True):
        status, error_type = b.expected()
        assert (r.status, r.error_type) == (status, error_type), (b, r)
        assert r.error is None if status is Status.OK else r.error
        assert len(r.error or "") <= 2000
        if b.kind == "enormous":
            assert r.section("big").n_rows == ENORMOUS_ROWS
    assert elapsed <= TIMEOUT + MARGIN, f"the run took {elapsed:.3f} s"
    assert leftover == []
    assert [w for w in caught if issubclass(w.category, (ResourceWarning, RuntimeWarning))] == []
    assert _wait_for_worker_threads(1.5) == []  # abandoned blocking calls end by themselves


def test_plain_function_raising_stop_iteration_is_an_error_not_a_hang(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """A plain integration raising StopIteration gives an error result at once, even without a timeout."""

    @intgkit.integration(registry=registry)
    def stopper(target):  # type: ignore[no-untyped-def]
        raise StopIteration("exhausted")

    runner = intgkit.IntegrationRunner(registry, timeout=None)

    async def main() -> intgkit.IntegrationResults:
        return await asyncio.wait_for(runner.arun(["stopper"]), 5)

    start = time.perf_counter()
    (r,) = asyncio.run(main())
    assert time.perf_counter() - start < 2
    assert r.status is Status.ERROR and r.error_type == "RuntimeError" and "StopIteration" in (r.error or "")


# -- cancellation and Ctrl-C at random moments -------------------------------------------------


def _breaker_model(results: list[IntegrationResult]) -> dict[str, int]:
    """Consecutive failures per integration, from results in completion order."""
    fails: dict[str, int] = {}
    for r in results:
        if r.status is Status.OK:
            fails[r.integration] = 0
        elif r.status in (Status.ERROR, Status.TIMEOUT):
            fails[r.integration] = fails.get(r.integration, 0) + 1
    return fails


@settings(max_examples=30, deadline=None)
@given(
    delays=st.lists(
        st.lists(st.one_of(st.floats(0, 0.15), st.none()), min_size=1, max_size=4), min_size=1, max_size=4
    ),
    failing=st.lists(st.booleans(), min_size=4, max_size=4),
    cancel_after=st.floats(0, 0.2),
)
def test_cancelling_at_any_moment_keeps_finished_results_and_counts_nothing(
    delays: list[list[float | None]], failing: list[bool], cancel_after: float
) -> None:
    """Cancel a run at a random moment: finished results kept in last_results (the very objects
    delivered), pending ones marked cancelled, breakers count only finished calls, next run works."""
    registry = intgkit.IntegrationRegistry(None)
    n_targets = max(len(d) for d in delays)
    targets = [f"t{j}" for j in range(n_targets)]
    names = []
    for i, row in enumerate(delays):
        plan = {t: row[j % len(row)] for j, t in enumerate(targets)}
        fail = failing[i]

        async def fetch(target: str | None, plan: dict[str, float | None] = plan, fail: bool = fail) -> Any:
            delay = plan[target or ""]
            if delay is None:
                await asyncio.Event().wait()  # hangs until the timeout or the cancellation
            else:
                await asyncio.sleep(delay)
            if fail:
                raise ConnectionError("down")
            return {"s": [{"t": target}]}

        intgkit.integration(fetch, registry=registry, name=f"c{i}")
        names.append(f"c{i}")

    @intgkit.integration(registry=registry)
    async def healthy(target):  # type: ignore[no-untyped-def]
        return {"s": [{"t": target}]}

    runner = intgkit.IntegrationRunner(registry, timeout=0.2, fail_max=1000)
    delivered: list[IntegrationResult] = []

    async def main() -> tuple[bool, list[asyncio.Task[Any]]]:
        task = asyncio.ensure_future(runner.arun(names, targets, on_result=delivered.append))
        await asyncio.sleep(cancel_after)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True, _other_tasks()
        return False, _other_tasks()

    cancelled, leftover = asyncio.run(main())
    STATS["runs"] += 1
    STATS["cancelled_runs"] += cancelled
    STATS["calls"] += len(names) * n_targets
    STATS["faults_injected"] += len(names) * n_targets  # each call is subject to the cancellation
    last = runner.last_results
    assert last is not None
    STATS["results_lost"] += abs(len(last) - len(names) * n_targets)
    assert [(r.integration, r.target) for r in last] == [(n, t) for n in names for t in targets]
    by_key = {(r.integration, r.target): r for r in delivered}
    for r in last:
        if (r.integration, r.target) in by_key:
            assert r is by_key[(r.integration, r.target)]
            if r.status is Status.CANCELLED:  # stopped while running: it had started
                assert cancelled and r.error_type == "CancelledError"
                assert r.started_at is not None and r.duration_s >= 0
        else:  # never started
            assert cancelled
            assert r.status is Status.CANCELLED and r.error_type == "CancelledError"
            assert "cancelled" in (r.error or "") and r.started_at is None and math.isnan(r.duration_s)
    assert leftover == []
    model = _breaker_model(delivered)
    for name in names:
        assert runner.breakers[name].fail_counter == model.get(name, 0), name
        assert runner.breakers[name].state == "closed"
    after = runner.run(["healthy", *names[:1]], targets[:1], timeout=0.3)
    assert after[0].ok and len(after) == 2 and after[1].status is not Status.CIRCUIT_OPEN


@settings(max_examples=6, deadline=None)
@given(sleeps=st.lists(st.floats(0, 0.3), min_size=1, max_size=5), at=st.floats(0.1, 0.35))
def test_ctrl_c_at_any_moment_keeps_finished_results(sleeps: list[float], at: float) -> None:
    """A real SIGINT at a random moment of run(): KeyboardInterrupt, finished results kept,
    the rest marked cancelled, promptly; the next run works."""
    registry = intgkit.IntegrationRegistry(None)
    targets = [f"t{j}" for j in range(len(sleeps))]
    plan = dict(zip(targets, sleeps, strict=True))

    @intgkit.integration(registry=registry)
    async def quick(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(plan[target])
        return {"s": [{"t": target}]}

    @intgkit.integration(registry=registry)
    async def slow(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(20)
        return {}

    runner = intgkit.IntegrationRunner(registry, timeout=30)
    timer = threading.Timer(at, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(["quick", "slow"], targets)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - start
    STATS["runs"] += 1
    STATS["cancelled_runs"] += 1
    STATS["calls"] += 2 * len(targets)
    STATS["faults_injected"] += 1  # the interrupt
    STATS["hangs"] += elapsed > at + 2
    assert elapsed < at + 2
    last = runner.last_results
    assert last is not None and len(last) == 2 * len(targets)
    for r in last:
        assert r.ok or (r.status is Status.CANCELLED and r.error_type == "CancelledError"), r
        assert r.started_at is not None or r.status is Status.CANCELLED, r
        if r.integration == "quick" and plan[r.target or ""] < at - 0.08:
            assert r.ok, (r, at)  # it had finished before the interrupt
        if r.integration == "slow":
            assert not r.ok
    assert all(r.ok for r in runner.run(["quick"], targets))


# -- the breaker state machine against a reference model ---------------------------------------


class Clock:
    """A settable aware-UTC clock (as tests/test_breakers.py's)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


RESET_S = 10.0


class BreakerMachine(RuleBasedStateMachine):
    """Drives one integration's breaker through successes, failures, timeouts, clock jumps,
    resets, concurrent half-open calls and cancelled probes; a model predicts each outcome."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.registry = intgkit.IntegrationRegistry(None)
        self.mode = "ok"
        self.calls: list[str | None] = []
        self.entered: asyncio.Event | None = None
        machine = self

        @intgkit.integration(registry=self.registry)
        async def svc(target):  # type: ignore[no-untyped-def]
            machine.calls.append(target)
            mode = machine.mode
            if machine.entered is not None:
                machine.entered.set()
            if mode in ("slow_ok", "slow_fail"):
                await asyncio.sleep(0.03)
            if mode in ("hang", "cancel"):
                await asyncio.Event().wait()
            if mode in ("fail", "slow_fail"):
                raise ConnectionError("down")
            return {"s": [{"t": target}]}

        # model
        self.state = "closed"
        self.fails = 0
        self.opened_at: datetime | None = None

    @initialize(fail_max=st.integers(1, 4))
    def make_runner(self, fail_max: int) -> None:
        self.fail_max = fail_max
        self.runner = intgkit.IntegrationRunner(
            self.registry,
            timeout=0.02,
            fail_max=fail_max,
            reset_timeout=RESET_S,
            clock=self.clock,
        )

    # -- the model -------------------------------------------------------------------------------
    def _admits_probe(self) -> bool:
        if self.state == "half-open":
            return True
        assert self.opened_at is not None
        return self.clock.now >= self.opened_at + timedelta(seconds=RESET_S)

    def _record(self, ok: bool) -> None:
        """The model's transition for one reported outcome."""
        if self.state == "closed":
            if ok:
                self.fails = 0
            else:
                self.fails += 1
                if self.fails >= self.fail_max:
                    self.state, self.opened_at = "open", self.clock.now
        elif ok:  # a probe's success closes
            self.state, self.fails, self.opened_at = "closed", 0, None
        else:  # a probe's failure re-opens for another reset_timeout
            self.state, self.opened_at = "open", self.clock.now

    def _one(self, mode: str) -> None:
        self.mode = mode
        self.calls.clear()
        (r,) = self.runner.run(["svc"], ["t"])
        STATS["runs"] += 1
        STATS["calls"] += 1
        STATS["faults_injected"] += mode != "ok"
        if self.state != "closed" and not self._admits_probe():
            assert r.status is Status.CIRCUIT_OPEN and self.calls == []
        else:
            if self.state == "open":
                self.state = "half-open"
            ok = mode == "ok"
            expected = Status.OK if ok else Status.TIMEOUT if mode == "hang" else Status.ERROR
            assert r.status is expected and self.calls == ["t"], r
            self._record(ok)
        assert r.breaker_state == self.state

    # -- rules -----------------------------------------------------------------------------------
    @rule()
    def success(self) -> None:
        self._one("ok")

    @rule()
    def failure(self) -> None:
        self._one("fail")

    @rule()
    def timeout(self) -> None:
        self._one("hang")

    @rule(seconds=st.floats(0.5, RESET_S - 0.5))
    def clock_creeps(self, seconds: float) -> None:
        self.clock.now += timedelta(seconds=seconds)

    @rule(extra=st.floats(0, 100))
    def clock_jumps_past_reset_timeout(self, extra: float) -> None:
        self.clock.now += timedelta(seconds=RESET_S + extra)

    @rule()
    def manual_reset(self) -> None:
        self.runner.breakers.reset()
        self.state, self.fails, self.opened_at = "closed", 0, None

    @rule(n=st.integers(2, 6), ok=st.booleans())
    def concurrent_calls(self, n: int, ok: bool) -> None:
        self.mode = "slow_ok" if ok else "slow_fail"
        self.calls.clear()
        targets = [f"c{i}" for i in range(n)]
        results = self.runner.run(["svc"], targets, max_concurrency=n, timeout=5)
        STATS["runs"] += 1
        STATS["calls"] += n
        STATS["faults_injected"] += 0 if ok else n
        statuses = [r.status for r in results]
        outcome = Status.OK if ok else Status.ERROR
        if self.state == "closed":
            assert statuses == [outcome] * n and sorted(self.calls) == sorted(targets)  # type: ignore[arg-type]
            if ok:
                self._record(True)
            else:  # failures after the one that opens it are dropped (admitted while closed)
                for _ in range(n):
                    if self.state == "closed":
                        self._record(False)
        elif self._admits_probe():
            # exactly one probe is admitted (the first call), every other call is refused
            assert self.calls == ["c0"] and statuses == [outcome] + [Status.CIRCUIT_OPEN] * (n - 1)
            self.state = "half-open"
            self._record(ok)
        else:
            assert statuses == [Status.CIRCUIT_OPEN] * n and self.calls == []

    @rule()
    def cancelled_call(self) -> None:
        """The caller cancels a call in flight: it counts as neither success nor failure."""
        self.mode = "cancel"
        self.calls.clear()
        runner = self.runner

        async def main() -> intgkit.IntegrationResults | None:
            self.entered = asyncio.Event()
            task = asyncio.ensure_future(runner.arun(["svc"], ["t"], timeout=None))
            entered = asyncio.ensure_future(self.entered.wait())
            await asyncio.wait({task, entered}, return_when=asyncio.FIRST_COMPLETED)
            entered.cancel()
            if task.done():
                return task.result()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return None

        try:
            finished = asyncio.run(main())
        finally:
            self.entered = None
        STATS["runs"] += 1
        STATS["cancelled_runs"] += 1
        STATS["calls"] += 1
        STATS["faults_injected"] += 1
        if self.state != "closed" and not self._admits_probe():
            assert finished is not None and finished[0].status is Status.CIRCUIT_OPEN
        else:
            assert finished is None and self.calls == ["t"]
            if self.state == "open":
                self.state = "half-open"  # the probe was admitted, then cancelled: permit released

    # -- checked after every step -----------------------------------------------------------------
    @invariant()
    def breaker_matches_model(self) -> None:
        if not hasattr(self, "runner"):
            return
        STATS["breaker_steps"] += 1
        if "svc" not in {b.key[0] for b in self.runner.breakers}:
            assert self.state == "closed" and self.fails == 0
            return
        b = self.runner.breakers["svc"]
        assert b.state == self.state
        if self.state == "closed":
            assert b.fail_counter == self.fails and b.opened_at is None
            assert b.seconds_until_probe() == 0
        if self.state == "open":
            assert self.opened_at is not None and b.opened_at == self.opened_at
            due = (self.opened_at + timedelta(seconds=RESET_S) - self.clock.now).total_seconds()
            assert b.seconds_until_probe() == pytest.approx(max(0.0, due))

    @precondition(lambda self: hasattr(self, "runner"))
    @rule()
    def table_agrees(self) -> None:
        frame = self.runner.breakers.to_frame()
        assert list(frame["state"]) == ([self.state] if len(frame) else [])


BreakerMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestBreakerStateMachine = BreakerMachine.TestCase
TestBreakerStateMachine.__doc__ = "The breaker follows the reference model through any sequence of steps."


# -- load ----------------------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _many(n_integrations: int) -> intgkit.IntegrationRegistry:
    registry = intgkit.IntegrationRegistry(None)
    for i in range(n_integrations):

        async def fetch(target: str | None) -> Any:
            return {"s": [{"t": target}]}

        intgkit.integration(fetch, registry=registry, name=f"load_{i:04d}")
    return registry


@pytest.mark.slow
def test_100k_calls_over_1000_integrations() -> None:
    """One run of 100,000 calls over 1,000 integrations completes with every result, and its
    memory grows in proportion to the results (about a kilobyte each, measured)."""
    registry = _many(1000)
    targets = [f"t{j:03d}" for j in range(100)]
    runner = intgkit.IntegrationRunner(registry, timeout=30, max_concurrency=64)
    gc.collect()
    before = _rss()
    start = time.perf_counter()
    results = runner.run(registry.names(), targets)
    elapsed = time.perf_counter() - start
    grown = _rss() - before
    STATS["runs"] += 1
    STATS["calls"] += 100_000
    STATS["results_lost"] += 100_000 - len(results)
    assert len(results) == 100_000 and results.counts()["ok"] == 100_000
    assert results[0].integration == "load_0000" and results[-1].target == "t099"
    FIGURES["load_100k_seconds"] = round(elapsed, 2)
    FIGURES["load_100k_rss_growth_bytes_per_result"] = grown // 100_000
    FIGURES["load_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    assert elapsed < 60
    assert grown / 100_000 < 4096, f"{grown / 100_000:.0f} bytes per result"


def _traced_run(n_targets: int) -> tuple[int, int]:
    """(bytes held per result after a run, peak bytes per result during it), by tracemalloc."""
    registry = _many(100)
    targets = [f"t{j:04d}" for j in range(n_targets)]
    runner = intgkit.IntegrationRunner(registry, timeout=30, max_concurrency=64)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        results = runner.run(registry.names(), targets)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(results) == 100 * n_targets
    return (held - base) // len(results), (peak - base) // len(results)


def test_memory_is_proportional_to_the_results() -> None:
    """Bytes held per result stay flat from 2,000 to 20,000 results, and the run's peak is
    within a small factor of what it returns (no hidden per-call garbage kept)."""
    small_held, _ = _traced_run(20)
    held, peak = _traced_run(200)
    STATS["runs"] += 2
    STATS["calls"] += 22_000
    FIGURES["bytes_held_per_result"] = held
    FIGURES["peak_bytes_per_result"] = peak
    assert 0.5 < held / small_held < 1.5, (small_held, held)
    assert held < 3000 and peak < 3 * held, (held, peak)


class _Rows(list):  # type: ignore[type-arg]  # a list that can be weakly referenced
    __slots__ = ("__weakref__",)


async def test_stream_does_not_keep_what_it_has_yielded() -> None:
    """runner.stream() does not keep what it has yielded: beyond the latest max_concurrency + 1,
    results the consumer dropped are freed, and after the stream none is left."""
    refs: dict[tuple[str, str | None], weakref.ref[_Rows]] = {}
    registry = intgkit.IntegrationRegistry(None)

    def make(name: str) -> Callable[[str | None], Any]:
        async def fetch(target: str | None) -> Any:
            await asyncio.sleep(0)  # a real integration awaits: the consumer runs in between
            rows = _Rows([{"t": target}])
            refs[(name, target)] = weakref.ref(rows)
            return IntegrationSection("s", rows)  # kept as is: the result holds this very list

        return fetch

    for i in range(20):
        intgkit.integration(make(f"stream_{i:02d}"), registry=registry, name=f"stream_{i:02d}")
    targets = [f"t{j}" for j in range(100)]
    runner = intgkit.IntegrationRunner(registry, timeout=30, max_concurrency=8)
    seen: list[tuple[str, str | None]] = []
    checks = 0
    async for result in runner.stream(registry.names(), targets):
        key = (result.integration, result.target)
        assert result.section("s").rows is refs[key]()
        seen.append(key)
        if len(seen) % 250 == 0:
            del result
            gc.collect()
            alive = [k for k in seen if refs[k]() is not None]
            # at most the latest few stay referenced for a moment (each worker's last result
            # and the generator's current item): bounded by max_concurrency, never growing
            assert set(alive) <= set(seen[-(8 + 1) :]), f"{len(alive)} yielded results still held"
            checks += 1
    STATS["runs"] += 1
    STATS["calls"] += 2000
    gc.collect()
    assert len(seen) == 2000 == len(set(seen)) and checks == 8
    assert [k for k, ref in refs.items() if ref() is not None] == []


# -- faults that never end: fewer workers than calls, a stuck default executor, a healthy mix -----


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    workers=st.integers(1, 4),
    hung_targets=st.integers(2, 6),
    healthy_first=st.booleans(),
)
def test_calls_hanging_forever_with_fewer_workers_than_calls(
    workers: int, hung_targets: int, healthy_first: bool
) -> None:
    """Plain and async integrations that never return, more calls than workers: every healthy
    call is made once and is ok, healthy breakers stay closed, and the run ends within the hung
    integrations' timeouts (a thread stuck forever is replaced, never waited for)."""
    registry = intgkit.IntegrationRegistry(None)
    forever = threading.Event()
    made: list[tuple[str, str | None]] = []

    @intgkit.integration(registry=registry, name="hung_plain")
    def hung_plain(target):  # type: ignore[no-untyped-def]
        forever.wait()
        return {}

    @intgkit.integration(registry=registry, name="hung_async")
    async def hung_async(target):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    @intgkit.integration(registry=registry, name="ok_plain")
    def ok_plain(target):  # type: ignore[no-untyped-def]
        made.append(("ok_plain", target))
        return {"s": [{"t": target}]}

    @intgkit.integration(registry=registry, name="ok_async")
    async def ok_async(target):  # type: ignore[no-untyped-def]
        made.append(("ok_async", target))
        await asyncio.sleep(0)
        return {"s": [{"t": target}]}

    hung, healthy = ["hung_plain", "hung_async"], ["ok_plain", "ok_async"]
    names = healthy + hung if healthy_first else hung + healthy
    targets = [f"t{i}" for i in range(hung_targets)]
    runner = intgkit.IntegrationRunner(registry, timeout=TIMEOUT, fail_max=2, max_concurrency=workers)
    try:
        start = time.perf_counter()
        results = runner.run(names, targets)
        elapsed = time.perf_counter() - start
    finally:
        forever.set()
    STATS["runs"] += 1
    STATS["calls"] += len(results)
    STATS["faults_injected"] += 2 * hung_targets
    # each hung integration: one round of timeouts opens its breaker (fail_max=2), at most a
    # second round for calls admitted before it opened; the rest is refused at once
    bound = 2 * len(hung) * TIMEOUT * max(1, math.ceil(2 / workers)) + 1.0
    STATS["hangs"] += elapsed > bound
    assert elapsed < bound, (elapsed, bound)
    assert sorted(made) == sorted((n, t) for n in healthy for t in targets)
    for r in results:
        if r.integration in healthy:
            assert r.status is Status.OK, r
        else:
            assert r.status in (Status.TIMEOUT, Status.CIRCUIT_OPEN), r
    assert all(runner.breakers[n].state == "closed" for n in healthy)
    assert all(runner.breakers[n].state == "open" for n in hung)


def test_async_integrations_blocked_in_the_default_executor() -> None:
    """Async integrations whose jobs in the loop's default executor never end (a getaddrinfo
    that does not answer): run() returns after the timeout, from a script's door and from a
    running loop's; healthy integrations using the same executor are not held up."""
    registry = intgkit.IntegrationRegistry(None)
    forever = threading.Event()

    @intgkit.integration(registry=registry, name="stuck_lookup")
    async def stuck_lookup(target):  # type: ignore[no-untyped-def]
        await asyncio.get_running_loop().run_in_executor(None, forever.wait)
        return {}

    @intgkit.integration(registry=registry, name="quick_lookup")
    async def quick_lookup(target):  # type: ignore[no-untyped-def]
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.01)
        return {"s": [{"t": target}]}

    targets = [f"t{i}" for i in range(40)]  # more stuck jobs than asyncio's 32 executor threads
    runner = intgkit.IntegrationRunner(registry, timeout=TIMEOUT, fail_max=1000, max_concurrency=64)

    async def in_a_cell() -> intgkit.IntegrationResults:
        return runner.run(["stuck_lookup", "quick_lookup"], targets)

    try:
        for door in ("script", "running loop"):
            start = time.perf_counter()
            results = (
                runner.run(["stuck_lookup", "quick_lookup"], targets)
                if door == "script"
                else (asyncio.run(in_a_cell()))
            )
            elapsed = time.perf_counter() - start
            STATS["runs"] += 1
            STATS["calls"] += len(results)
            STATS["faults_injected"] += len(targets)
            STATS["hangs"] += elapsed > TIMEOUT + MARGIN + 0.5
            assert elapsed < TIMEOUT + MARGIN + 0.5, (door, elapsed)
            assert [r.status for r in results if r.integration == "stuck_lookup"] == [Status.TIMEOUT] * 40
            assert [r.status for r in results if r.integration == "quick_lookup"] == [Status.OK] * 40
    finally:
        forever.set()


def test_healthy_integrations_stay_ok_and_closed_in_a_faulty_mix() -> None:
    """Run after run on one runner, a mix of hanging, blocking, raising and stuck-executor
    integrations never costs a healthy one a result or a breaker state."""
    registry = intgkit.IntegrationRegistry(None)
    forever = threading.Event()

    @intgkit.integration(registry=registry, name="hangs")
    def hangs(target):  # type: ignore[no-untyped-def]
        forever.wait()

    @intgkit.integration(registry=registry, name="blocks")
    def blocks(target):  # type: ignore[no-untyped-def]
        time.sleep(TIMEOUT + 0.2)
        return {}

    @intgkit.integration(registry=registry, name="raises")
    async def raises(target):  # type: ignore[no-untyped-def]
        raise ConnectionResetError(104, "reset by peer")

    @intgkit.integration(registry=registry, name="stuck_executor")
    async def stuck_executor(target):  # type: ignore[no-untyped-def]
        await asyncio.get_running_loop().run_in_executor(None, forever.wait)

    @intgkit.integration(registry=registry, name="good_plain")
    def good_plain(target):  # type: ignore[no-untyped-def]
        return {"s": [{"t": target}]}

    @intgkit.integration(registry=registry, name="good_async")
    async def good_async(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.01)
        return {"s": [{"t": target}]}

    names = ["hangs", "good_plain", "blocks", "raises", "stuck_executor", "good_async"]
    targets = [f"t{i}" for i in range(10)]
    runner = intgkit.IntegrationRunner(
        registry, timeout=TIMEOUT, fail_max=3, reset_timeout=0.4, max_concurrency=8
    )
    try:
        for _ in range(3):
            start = time.perf_counter()
            results = runner.run(names, targets)
            elapsed = time.perf_counter() - start
            STATS["runs"] += 1
            STATS["calls"] += len(results)
            STATS["faults_injected"] += 4 * len(targets)
            assert elapsed < 8 * TIMEOUT + 1.0, elapsed
            for r in results:
                if r.integration.startswith("good_"):
                    assert r.status is Status.OK and r.queued_s >= 0, r
                else:
                    assert r.status in (Status.TIMEOUT, Status.ERROR, Status.CIRCUIT_OPEN), r
            assert runner.breakers["good_plain"].state == runner.breakers["good_async"].state == "closed"
            time.sleep(0.45)  # past reset_timeout: the faulty ones probe again next run
    finally:
        forever.set()

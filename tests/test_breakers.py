"""Circuit breakers: open after fail_max, one probe when half-open, cancellation ignored."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pybreaker
import pytest

import intgkit
from intgkit import Status


class Clock:
    """A settable clock for the breakers (aware UTC)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def jump(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def failing(
    registry: intgkit.IntegrationRegistry, calls: list[str], name: str = "flaky", **kw: object
) -> None:
    async def flaky(target):  # type: ignore[no-untyped-def]
        calls.append(target)
        raise ConnectionError("down")

    intgkit.integration(flaky, registry=registry, name=name, **kw)  # type: ignore[call-overload]


def test_opens_after_fail_max_and_stops_calling(registry: intgkit.IntegrationRegistry) -> None:
    """After fail_max failures the breaker opens and calls return circuit_open without calling."""
    calls: list[str] = []
    failing(registry, calls)
    runner = intgkit.IntegrationRunner(registry, max_concurrency=1)
    statuses = [r.status for r in runner.run(["flaky"], targets=[f"t{i}" for i in range(5)])]
    assert statuses == [Status.ERROR] * 3 + [Status.CIRCUIT_OPEN] * 2
    assert len(calls) == 3
    r = runner.run(["flaky"], targets=["again"])[0]
    assert r.status is Status.CIRCUIT_OPEN and r.breaker_state == "open" and "open" in (r.error or "")
    assert len(calls) == 3


def test_timeouts_count_as_failures(registry: intgkit.IntegrationRegistry) -> None:
    """Timeouts count against the breaker like errors."""

    @intgkit.integration(registry=registry)
    async def hang(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(10)

    runner = intgkit.IntegrationRunner(registry, timeout=0.05, fail_max=2, max_concurrency=1)
    statuses = [r.status for r in runner.run(["hang"], targets=["a", "b", "c"])]
    assert statuses == [Status.TIMEOUT, Status.TIMEOUT, Status.CIRCUIT_OPEN]


def test_success_resets_the_counter(registry: intgkit.IntegrationRegistry) -> None:
    """Failures are consecutive: a success in between resets the count."""
    outcomes = iter([False, False, True, False, False, True])

    @intgkit.integration(registry=registry)
    async def mixed(target):  # type: ignore[no-untyped-def]
        if not next(outcomes):
            raise ValueError("x")
        return {}

    runner = intgkit.IntegrationRunner(registry, max_concurrency=1)
    results = runner.run(["mixed"], targets=[str(i) for i in range(6)])
    assert Status.CIRCUIT_OPEN not in [r.status for r in results]
    assert runner.breakers["mixed"].fail_counter == 0


def test_half_open_lets_exactly_one_probe_through(
    registry: intgkit.IntegrationRegistry, clock: Clock
) -> None:
    """After reset_timeout, concurrent calls: ONE probe reaches the integration, a success closes."""
    healthy = False
    calls: list[str] = []

    @intgkit.integration(registry=registry)
    async def svc(target):  # type: ignore[no-untyped-def]
        calls.append(target)
        await asyncio.sleep(0.05)
        if not healthy:
            raise ConnectionError("down")
        return {}

    runner = intgkit.IntegrationRunner(registry, fail_max=2, reset_timeout=30, clock=clock, max_concurrency=1)
    runner.run(["svc"], targets=["a", "b"])
    assert runner.breakers["svc"].state == "open"
    assert runner.breakers["svc"].seconds_until_probe() == pytest.approx(30, abs=1)
    clock.jump(31)
    assert runner.breakers["svc"].seconds_until_probe() == 0
    healthy = True
    calls.clear()
    runner.max_concurrency = 10
    results = runner.run(["svc"], targets=[f"p{i}" for i in range(5)])
    assert len(calls) == 1
    assert sorted(r.status.value for r in results) == ["circuit_open"] * 4 + ["ok"]
    rejected = [r for r in results if r.status is Status.CIRCUIT_OPEN]
    assert all("half-open and its one probe call is in flight" in (r.error or "") for r in rejected)
    assert runner.breakers["svc"].state == "closed"
    assert all(r.ok for r in runner.run(["svc"], targets=["x", "y"]))


def test_failed_probe_reopens(registry: intgkit.IntegrationRegistry, clock: Clock) -> None:
    """A failing probe re-opens the breaker for another reset_timeout."""
    calls: list[str] = []
    failing(registry, calls)
    runner = intgkit.IntegrationRunner(registry, fail_max=1, reset_timeout=10, clock=clock)
    runner.run(["flaky"], targets=["a"])
    clock.jump(11)
    (probe,) = runner.run(["flaky"], targets=["b"])
    assert probe.status is Status.ERROR and probe.breaker_state == "open"
    assert runner.run(["flaky"], targets=["c"])[0].status is Status.CIRCUIT_OPEN
    assert calls == ["a", "b"]


def test_cancelled_probe_releases_the_permit(registry: intgkit.IntegrationRegistry, clock: Clock) -> None:
    """A probe cancelled by its caller counts as nothing and lets the next call probe."""
    mode = "fail"

    @intgkit.integration(registry=registry)
    async def svc(target):  # type: ignore[no-untyped-def]
        if mode == "fail":
            raise ConnectionError("x")
        if mode == "hang":
            await asyncio.sleep(10)
        return {}

    runner = intgkit.IntegrationRunner(registry, fail_max=1, reset_timeout=5, clock=clock)
    runner.run(["svc"], targets=["a"])
    clock.jump(6)
    mode = "hang"

    async def cancel_probe() -> None:
        task = asyncio.ensure_future(runner.arun(["svc"], targets=["probe"]))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_probe())
    assert runner.breakers["svc"].state == "half-open"
    mode = "ok"
    assert runner.run(["svc"], targets=["next"])[0].ok
    assert runner.breakers["svc"].state == "closed"


def test_cancellation_never_counts_as_failure_even_at_the_tripping_call(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """Cancelling a run whose call would be the fail_max-th does not trip the breaker."""
    calls: list[str] = []

    @intgkit.integration(registry=registry)
    async def svc(target):  # type: ignore[no-untyped-def]
        calls.append(target)
        if target == "slow":
            await asyncio.sleep(10)
        raise ConnectionError("x")

    runner = intgkit.IntegrationRunner(registry, fail_max=2, max_concurrency=1)
    runner.run(["svc"], targets=["a"])

    async def cancel() -> None:
        task = asyncio.ensure_future(runner.arun(["svc"], targets=["slow"]))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):  # not CircuitBreakerError: cancellation kept
            await task

    asyncio.run(cancel())
    assert runner.breakers["svc"].state == "closed" and runner.breakers["svc"].fail_counter == 1


def test_per_target_breakers(registry: intgkit.IntegrationRegistry) -> None:
    """With breaker_per_target, one dead host does not stop the others."""

    @intgkit.integration(registry=registry, breaker_per_target=True)
    async def host(target):  # type: ignore[no-untyped-def]
        if target == "dead":
            raise ConnectionError("refused")
        return {}

    runner = intgkit.IntegrationRunner(registry, fail_max=2)
    for _ in range(3):
        results = runner.run(["host"], targets=["dead", "alive"])
    assert [r.status for r in results] == [Status.CIRCUIT_OPEN, Status.OK]
    frame = runner.breakers.to_frame()
    assert set(frame["key"]) == {"host@dead", "host@alive"}
    assert dict(zip(frame["key"], frame["state"], strict=True)) == {
        "host@dead": "open",
        "host@alive": "closed",
    }


def test_breaker_table_and_reset(registry: intgkit.IntegrationRegistry) -> None:
    """runner.breakers shows a frame of every breaker and can reset one or all."""
    calls: list[str] = []
    failing(registry, calls, name="one")
    failing(registry, calls, name="two")
    runner = intgkit.IntegrationRunner(registry, fail_max=1)
    runner.run(["one", "two"], targets=["t"])
    frame = runner.breakers.to_frame()
    assert list(frame.columns) == [
        "key",
        "integration",
        "target",
        "state",
        "fail_counter",
        "opened_at",
        "reset_timeout",
        "seconds_until_probe",
        "abandoned_threads",
    ]
    assert list(frame["state"]) == ["open", "open"]
    assert str(frame["opened_at"].dtype) == "datetime64[ns, UTC]"
    assert (frame["seconds_until_probe"] > 50).all()
    runner.breakers.reset("one")
    assert runner.breakers["one"].state == "closed" and runner.breakers["two"].state == "open"
    runner.breakers.reset()
    assert runner.breakers["two"].state == "closed" and runner.breakers["two"].fail_counter == 0
    with pytest.raises(intgkit.UsageError, match="no breaker 'three'"):
        runner.breakers.reset("three")
    assert " open " not in repr(runner.breakers) and "closed" in runner.breakers._repr_html_()


def test_state_changes_are_logged(
    registry: intgkit.IntegrationRegistry, logs: list[dict[str, object]], clock: Clock
) -> None:
    """Every state change is a structlog event."""
    calls: list[str] = []
    failing(registry, calls)
    runner = intgkit.IntegrationRunner(registry, fail_max=1, reset_timeout=5, clock=clock)
    runner.run(["flaky"], targets=["a"])
    clock.jump(6)
    runner.run(["flaky"], targets=["b"])
    changes = [(e["old_state"], e["new_state"]) for e in logs if e["event"] == "breaker_state_changed"]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "open")]


def test_a_raising_listener_never_breaks_a_call(
    registry: intgkit.IntegrationRegistry, logs: list[dict[str, object]]
) -> None:
    """A pybreaker listener that raises is logged; the call's result is unaffected."""

    class Bad(pybreaker.CircuitBreakerListener):
        def success(self, cb, *a):  # type: ignore[no-untyped-def]
            raise RuntimeError("listener bug")

        def failure(self, cb, exc):  # type: ignore[no-untyped-def]
            raise RuntimeError("listener bug")

        def state_change(self, cb, old, new):  # type: ignore[no-untyped-def]
            raise RuntimeError("listener bug")

    outcomes = iter([True, False])

    @intgkit.integration(registry=registry)
    async def svc(target):  # type: ignore[no-untyped-def]
        if not next(outcomes):
            raise ValueError("boom")
        return {}

    runner = intgkit.IntegrationRunner(registry, fail_max=1, listeners=[Bad()], max_concurrency=1)
    results = runner.run(["svc"], targets=["ok", "bad"])
    assert [r.status for r in results] == [Status.OK, Status.ERROR]
    assert runner.breakers["svc"].state == "open"
    assert any(e["event"] == "breaker_listener_failed" for e in logs)


def test_on_change_callbacks(registry: intgkit.IntegrationRegistry) -> None:
    """board.on_change callbacks hear every transition; one that raises breaks nothing."""
    seen: list[tuple[object, str, str]] = []
    calls: list[str] = []
    failing(registry, calls)
    runner = intgkit.IntegrationRunner(registry, fail_max=1)
    runner.breakers.on_change(lambda key, old, new: seen.append((key, old, new)))
    runner.breakers.on_change(lambda *a: 1 / 0)
    assert runner.run(["flaky"], targets=["a"])[0].status is Status.ERROR
    assert seen == [(("flaky", None), "closed", "open")]


def test_on_change_can_unsubscribe(registry: intgkit.IntegrationRegistry) -> None:
    """on_change returns a function that unsubscribes the callback (twice is harmless)."""
    seen: list[str] = []
    calls: list[str] = []
    failing(registry, calls)
    runner = intgkit.IntegrationRunner(registry, fail_max=1)
    unsubscribe = runner.breakers.on_change(lambda key, old, new: seen.append(new))
    runner.run(["flaky"], targets=["a"])
    unsubscribe()
    unsubscribe()
    runner.breakers.reset()
    runner.run(["flaky"], targets=["a"])
    assert seen == ["open"]
    with pytest.raises(intgkit.UsageError, match="on_change takes a callable"):
        runner.breakers.on_change("print")  # type: ignore[arg-type]


def test_admit_returns_an_admission(clock: Clock) -> None:
    """Breaker.admit() answers with the public Admission enum: NORMAL, then REJECT, then PROBE."""
    board = intgkit.BreakerBoard(fail_max=1, reset_timeout=10, clock=clock)
    b = board.get(("svc", None))
    first = b.admit()
    assert first is intgkit.Admission.NORMAL
    b.failure(first, ConnectionError("down"))
    assert b.admit() is intgkit.Admission.REJECT
    clock.jump(11)
    assert b.admit(5.0) is intgkit.Admission.PROBE
    assert b.admit() is intgkit.Admission.REJECT  # one probe at a time
    assert [a.name for a in intgkit.Admission] == ["REJECT", "NORMAL", "PROBE"]


def test_breakers_read_pybreaker_through_its_public_api_only() -> None:
    """No attribute of pybreaker's objects that starts with an underscore is read or written."""
    import ast
    import inspect

    from intgkit import _breaker_storage, _breakers

    for module in (_breakers, _breaker_storage):
        tree = ast.parse(inspect.getsource(module))
        private = [
            ast.unparse(n)
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and n.attr.startswith("_")
            and not n.attr.startswith("__")
            and ast.unparse(n.value) in ("self.cb", "cb", "pybreaker", "b.cb", "breaker.cb", "self._storage")
        ]
        assert private == [], (module.__name__, private)

"""The runner: one result per call whatever the integration does, timeouts, order, concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

import intgkit
from intgkit import IntegrationResult, IntegrationSection, Status


def make_runner(registry: intgkit.IntegrationRegistry, **kw: object) -> intgkit.IntegrationRunner:
    kw.setdefault("timeout", 5)
    return intgkit.IntegrationRunner(registry, **kw)  # type: ignore[arg-type]


def test_status_values_are_strings() -> None:
    """The statuses are a string-valued enum."""
    assert [s.value for s in Status] == [
        "ok",
        "error",
        "timeout",
        "circuit_open",
        "not_configured",
        "cancelled",
    ]
    assert Status.OK == "ok" and isinstance(Status.TIMEOUT, str)


def test_readme_example_runs_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's example: a decorated async integration over two targets, sync door."""
    monkeypatch.setenv("WEATHER_TOKEN", "abc-123-secret")

    @intgkit.integration(name="weather", title="Weather API", settings=["WEATHER_TOKEN"])
    async def weather(target, settings):  # type: ignore[no-untyped-def]
        assert settings["WEATHER_TOKEN"] == "abc-123-secret"
        return {"forecast": [{"city": target, "temp_c": 21.5}]}

    runner = intgkit.IntegrationRunner(timeout=5, fail_max=3, reset_timeout=60, max_concurrency=32)
    results = runner.run(["weather"], targets=["Oslo", "Lima"])
    assert [(r.integration, r.target, r.status) for r in results] == [
        ("weather", "Oslo", Status.OK),
        ("weather", "Lima", Status.OK),
    ]
    assert results[0].sections[0].rows == ({"city": "Oslo", "temp_c": 21.5},)


def test_result_fields(registry: intgkit.IntegrationRegistry) -> None:
    """A result carries every documented field, started_at in UTC and a real duration."""

    @intgkit.integration(registry=registry)
    async def nap(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        return {"s": [{"a": 1}]}

    before = datetime.now(UTC)
    (r,) = make_runner(registry).run(["nap"], targets=["x"])
    assert r.integration == "nap" and r.target == "x" and r.status is Status.OK
    assert r.error_type is None and r.error is None
    assert r.started_at is not None and r.started_at.tzinfo is UTC and r.started_at >= before
    assert 0.04 < r.duration_s < 2
    assert r.breaker_state == "closed"
    assert r.section("s").n_rows == 1


def test_plain_def_and_no_target(registry: intgkit.IntegrationRegistry) -> None:
    """A plain function works, and no targets means one call with target None."""
    seen: list[object] = []

    @intgkit.integration(registry=registry)
    def plain(target):  # type: ignore[no-untyped-def]
        seen.append((target, threading.current_thread().name))
        return {"rows": [{"n": 1}]}

    (r,) = make_runner(registry).run(["plain"])
    assert r.status is Status.OK and r.target is None
    assert seen[0][0] is None and str(seen[0][1]).startswith("intgkit-worker")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ({"s": [{"a": 1}]}, "mapping of rows"),
        ({"s": {"a": 1}}, "mapping of one row"),
        (IntegrationSection("s", ({"a": 1},)), "section"),
        ([IntegrationSection("s", ({"a": 1},)), IntegrationSection("t", ())], "list of sections"),
    ],
)
def test_accepted_return_shapes(registry: intgkit.IntegrationRegistry, value: object, kind: str) -> None:
    """Each documented return shape becomes sections."""

    @intgkit.integration(name="shape", registry=registry)
    async def shape(target):  # type: ignore[no-untyped-def]
        return value

    (r,) = make_runner(registry).run(["shape"], targets=["t"])
    assert r.status is Status.OK, (kind, r.error)
    assert r.sections[0].name == "s" and r.sections[0].n_rows == 1


def test_dataframe_section(registry: intgkit.IntegrationRegistry) -> None:
    """A mapping of section name to a DataFrame is accepted as is."""
    import pandas as pd

    @intgkit.integration(registry=registry)
    async def frame(target):  # type: ignore[no-untyped-def]
        return {"f": pd.DataFrame({"a": [1, 2]})}

    (r,) = make_runner(registry).run(["frame"], targets=["t"])
    assert r.status is Status.OK and r.sections[0].n_rows == 2


def _gen():  # type: ignore[no-untyped-def]
    yield {"a": 1}


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (None, "returned None"),
        ("text", "returned a str"),
        ({"s": [1, 2]}, "row 0 is a int"),
        ({"s": _gen()}, "generator"),
        ([{"a": 1}], "returned a list"),
        ({"": []}, "non-empty strings"),
    ],
)
def test_malformed_returns_are_error_results(
    registry: intgkit.IntegrationRegistry, value: object, needle: str
) -> None:
    """Malformed return values become error results that say what was expected."""

    @intgkit.integration(name="bad", registry=registry)
    async def bad(target):  # type: ignore[no-untyped-def]
        return value

    (r,) = make_runner(registry).run(["bad"], targets=["t"])
    assert r.status is Status.ERROR and r.error_type == "MalformedResult"
    assert needle in (r.error or ""), r.error


class WeirdError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot render")


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("v"),
        KeyError("k"),
        OSError(5, "io"),
        WeirdError(),
        asyncio.CancelledError(),
        TimeoutError("own timeout"),
        RuntimeError(""),
    ],
)
def test_any_exception_becomes_an_error_result(
    registry: intgkit.IntegrationRegistry, exc: BaseException
) -> None:
    """Whatever an integration raises (an Exception, or CancelledError on its own), one error result."""

    @intgkit.integration(name="raiser", registry=registry)
    async def raiser(target):  # type: ignore[no-untyped-def]
        raise exc

    (r,) = make_runner(registry).run(["raiser"], targets=["t"])
    assert r.status is Status.ERROR
    assert r.error_type == type(exc).__name__
    assert r.error


def test_timeout_result_says_the_limit(registry: intgkit.IntegrationRegistry) -> None:
    """A hung coroutine is a timeout result whose error names the limit."""

    @intgkit.integration(registry=registry)
    async def hang(target):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()

    start = time.perf_counter()
    (r,) = make_runner(registry, timeout=0.2).run(["hang"], targets=["t"])
    assert time.perf_counter() - start < 2
    assert r.status is Status.TIMEOUT and "0.2 s" in (r.error or "")


def test_blocking_plain_function_does_not_hold_the_run(registry: intgkit.IntegrationRegistry) -> None:
    """A plain function that blocks times out; the run returns within timeout + margin."""
    release = threading.Event()

    @intgkit.integration(registry=registry)
    def block(target):  # type: ignore[no-untyped-def]
        release.wait(10)
        return {"s": []}

    start = time.perf_counter()
    results = make_runner(registry, timeout=0.3).run(["block"], targets=["a", "b"])
    elapsed = time.perf_counter() - start
    release.set()
    assert [r.status for r in results] == [Status.TIMEOUT, Status.TIMEOUT]
    assert elapsed < 0.3 + 1.0


def test_default_and_override_timeouts(registry: intgkit.IntegrationRegistry) -> None:
    """The default timeout is 30 s; an integration's own timeout wins over the runner's."""
    assert intgkit.IntegrationRunner(registry).timeout == 30.0

    @intgkit.integration(registry=registry, timeout=0.1)
    async def quick(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(1)

    (r,) = make_runner(registry, timeout=20).run(["quick"], targets=["t"])
    assert r.status is Status.TIMEOUT and "0.1 s" in (r.error or "")
    (r,) = make_runner(registry, timeout=20).run(["quick"], targets=["t"], timeout=0.05)
    assert "0.05 s" in (r.error or "")


def test_timeout_none_means_no_limit(registry: intgkit.IntegrationRegistry) -> None:
    """timeout=None runs a call to completion however long it takes."""

    @intgkit.integration(registry=registry)
    async def slowish(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.2)
        return {"s": []}

    (r,) = make_runner(registry, timeout=None).run(["slowish"], targets=["t"])
    assert r.status is Status.OK


def test_unconfigured_is_never_called(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unconfigured integration gets not_configured results naming the missing setting."""
    monkeypatch.setenv("EMPTY_TOKEN", "")  # an empty variable counts as missing
    calls: list[str] = []

    @intgkit.integration(registry=registry, settings=["EMPTY_TOKEN"])
    async def needs(target):  # type: ignore[no-untyped-def]
        calls.append(target)
        return {}

    results = make_runner(registry).run(["needs"], targets=["a", "b"])
    assert [r.status for r in results] == [Status.NOT_CONFIGURED] * 2
    assert "EMPTY_TOKEN" in (results[0].error or "") and calls == []


def test_full_result_keeps_its_status_and_counts_on_the_breaker(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """An integration returning a full IntegrationResult keeps its status; errors count."""

    @intgkit.integration(registry=registry)
    async def own(target):  # type: ignore[no-untyped-def]
        return IntegrationResult("own", target, Status.ERROR, error_type="Upstream", error="503 from API")

    runner = make_runner(registry, fail_max=2)
    results = runner.run(["own"], targets=["a"])
    assert results[0].status is Status.ERROR and results[0].error == "503 from API"
    runner.run(["own"], targets=["a"])
    assert runner.breakers["own"].state == "open"
    assert runner.run(["own"], targets=["a"])[0].status is Status.CIRCUIT_OPEN


def test_results_in_selection_order(registry: intgkit.IntegrationRegistry) -> None:
    """run() returns results in selection order (integrations, then targets), not completion order."""

    @intgkit.integration(registry=registry)
    async def b_int(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.1 if target == "x" else 0)
        return {}

    @intgkit.integration(registry=registry)
    async def a_int(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        return {}

    results = make_runner(registry).run(["b_int", "a_int"], targets=["x", "y"])
    assert [(r.integration, r.target) for r in results] == [
        ("b_int", "x"),
        ("b_int", "y"),
        ("a_int", "x"),
        ("a_int", "y"),
    ]


async def test_stream_yields_in_completion_order(registry: intgkit.IntegrationRegistry) -> None:
    """stream() yields each result as it completes."""

    @intgkit.integration(registry=registry)
    async def delay(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(float(target))
        return {}

    runner = make_runner(registry)
    order = [r.target async for r in runner.stream(["delay"], targets=["0.3", "0.1", "0.2"])]
    assert order == ["0.1", "0.2", "0.3"]


async def test_breaking_out_of_stream_cancels_the_rest(registry: intgkit.IntegrationRegistry) -> None:
    """Leaving a stream early cancels pending calls and leaves no task behind."""

    @intgkit.integration(registry=registry)
    async def delay(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(float(target))
        return {}

    runner = make_runner(registry)
    agen = runner.stream(["delay"], targets=["0.01", "5", "6"])
    async for _ in agen:
        break
    await agen.aclose()
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_concurrency_200_sleepers_well_under_a_second(registry: intgkit.IntegrationRegistry) -> None:
    """200 integrations that each sleep 0.2 s finish together, in well under 1 s."""
    for i in range(200):

        async def nap(target):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.2)
            return {}

        intgkit.integration(nap, registry=registry, name=f"nap_{i}")  # type: ignore[call-overload]
    start = time.perf_counter()
    results = await make_runner(registry, max_concurrency=200).arun(registry.names())
    assert len(results) == 200 and all(r.ok for r in results)
    assert time.perf_counter() - start < 1.0


async def test_max_concurrency_is_respected(registry: intgkit.IntegrationRegistry) -> None:
    """No more than max_concurrency calls are in flight at once."""
    in_flight = peak = 0

    @intgkit.integration(registry=registry)
    async def counted(target):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return {}

    results = await make_runner(registry, max_concurrency=3).arun(
        ["counted"], targets=[str(i) for i in range(20)]
    )
    assert len(results) == 20 and peak == 3


async def test_progress_callback_gets_every_result(registry: intgkit.IntegrationRegistry) -> None:
    """on_result receives each result as it completes; a failing callback loses nothing."""
    got: list[str | None] = []

    @intgkit.integration(registry=registry)
    async def delay(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(float(target))
        return {}

    def callback(r: IntegrationResult) -> None:
        got.append(r.target)
        raise RuntimeError("callback bug")

    results = await make_runner(registry).arun(["delay"], targets=["0.1", "0.0"], on_result=callback)
    assert got == ["0.0", "0.1"] and len(results) == 2 and all(r.ok for r in results)


async def test_cancelling_a_run_keeps_finished_results(registry: intgkit.IntegrationRegistry) -> None:
    """Cancelling a run: finished results kept in last_results, pending ones marked cancelled."""

    @intgkit.integration(registry=registry)
    async def delay(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(float(target))
        return {}

    runner = make_runner(registry, fail_max=1)
    task = asyncio.ensure_future(runner.arun(["delay"], targets=["0.01", "10", "11"]))
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    last = runner.last_results
    assert last is not None and len(last) == 3
    assert last[0].status is Status.OK
    assert [r.status for r in last[1:]] == [Status.CANCELLED, Status.CANCELLED]
    assert [r.error_type for r in last[1:]] == ["CancelledError", "CancelledError"]
    assert all("cancelled" in (r.error or "") for r in last[1:])
    # both had started (a worker each): they say when, and how long they ran before the cancel
    assert all(r.started_at is not None and 0.2 < r.duration_s < 5 for r in last[1:])
    # cancellation is not a failure: with fail_max=1 the breaker would otherwise be open
    assert runner.breakers["delay"].state == "closed" and runner.breakers["delay"].fail_counter == 0
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert (await runner.arun(["delay"], targets=["0.01"]))[0].ok  # the next run works


def test_interrupting_sync_run_in_a_script(registry: intgkit.IntegrationRegistry) -> None:
    """KeyboardInterrupt in a script's run() cancels pending calls and keeps finished ones."""
    import os
    import signal

    @intgkit.integration(registry=registry)
    async def delay(target):  # type: ignore[no-untyped-def]
        await asyncio.sleep(float(target))
        return {}

    runner = make_runner(registry)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))  # a real Ctrl-C
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        runner.run(["delay"], targets=["0.01", "20"])
    assert time.perf_counter() - start < 5
    assert runner.last_results is not None
    assert [r.status for r in runner.last_results] == [Status.OK, Status.CANCELLED]
    assert runner.last_results[1].started_at is not None


async def test_sync_run_inside_a_running_loop(registry: intgkit.IntegrationRegistry) -> None:
    """run() works while an event loop is running (as in a Jupyter cell), on a private loop."""

    @intgkit.integration(registry=registry)
    async def where(target):  # type: ignore[no-untyped-def]
        return {"s": [{"thread": threading.current_thread().name}]}

    results = make_runner(registry).run(["where"], targets=["t"])
    assert results[0].ok and results[0].sections[0].rows[0]["thread"] == "intgkit-loop"
    await asyncio.sleep(0)
    assert not [t for t in threading.enumerate() if t.name == "intgkit-loop"]


def test_worker_threads_end_after_the_run(registry: intgkit.IntegrationRegistry) -> None:
    """The threads that ran plain integrations are gone shortly after the run."""

    @intgkit.integration(registry=registry)
    def plain(target):  # type: ignore[no-untyped-def]
        time.sleep(0.01)
        return {}

    before = set(threading.enumerate())  # e.g. a local test server another test left running

    def made_by_the_run() -> list[str]:
        return [t.name for t in threading.enumerate() if t not in before and t.name.startswith("intgkit-")]

    make_runner(registry).run(["plain"], targets=[str(i) for i in range(10)])
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and made_by_the_run():
        time.sleep(0.01)
    assert not made_by_the_run()


def test_secrets_are_redacted_from_errors(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An integration's own exception that contains its token is redacted in the result."""
    token = "tok-PLANTED-SECRET-9f8e7d"
    monkeypatch.setenv("SVC_API_TOKEN", token)

    @intgkit.integration(registry=registry, settings=["SVC_API_TOKEN"])
    async def leaky(target, settings):  # type: ignore[no-untyped-def]
        raise PermissionError(f"401 for token {settings['SVC_API_TOKEN']}")

    (r,) = make_runner(registry).run(["leaky"], targets=["t"])
    assert token not in (r.error or "") and "***" in (r.error or "")
    assert token not in repr(r) and token not in r._repr_html_()


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"timeout": 0}, "positive"),
        ({"timeout": -1}, "positive"),
        ({"timeout": float("nan")}, "positive"),
        ({"timeout": float("inf")}, "finite"),
        ({"timeout": "5"}, "str"),
        ({"timeout": True}, "bool"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"fail_max": 0}, "fail_max"),
        ({"reset_timeout": -5}, "reset_timeout"),
    ],
)
def test_bad_runner_arguments(
    registry: intgkit.IntegrationRegistry, kwargs: dict[str, object], needle: str
) -> None:
    """Bad constructor arguments are refused with a message naming what is wrong."""
    with pytest.raises(intgkit.UsageError, match=needle):
        intgkit.IntegrationRunner(registry, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        ({"integrations": ["wether"]}, "Did you mean 'weather'"),
        ({"integrations": ["weather"], "targets": [1]}, "target 0 is int"),
        ({"integrations": ["weather"], "targets": ["ok", "a\nb"]}, "control character"),
        ({"integrations": ["weather"], "targets": [""]}, "empty"),
        ({"integrations": ["weather"], "targets": ["a", "a"]}, "twice"),
        ({"integrations": ["weather", "weather"]}, "selected twice"),
        ({"integrations": ["weather"], "timeout": -1}, "positive"),
        ({"integrations": ["weather"], "targets": []}, "empty"),
        ({"integrations": [42]}, "by name"),
    ],
)
def test_caller_mistakes_fail_before_any_work(
    registry: intgkit.IntegrationRegistry, call: dict[str, object], needle: str
) -> None:
    """Unknown names, bad targets and timeouts raise before any integration is called."""
    calls: list[object] = []

    @intgkit.integration(registry=registry)
    async def weather(target):  # type: ignore[no-untyped-def]
        calls.append(target)
        return {}

    with pytest.raises(intgkit.UsageError, match=needle):
        make_runner(registry).run(**call)  # type: ignore[arg-type]
    assert calls == []


def test_unknown_name_lists_a_bounded_number_of_names(registry: intgkit.IntegrationRegistry) -> None:
    """The unknown-name error lists at most 20 registered names."""
    for i in range(50):
        intgkit.integration(dict, registry=registry, name=f"n{i:02d}")  # type: ignore[call-overload]
    with pytest.raises(intgkit.UnknownIntegrationError) as info:
        make_runner(registry).run(["zzz"])
    assert "(30 more)" in str(info.value)


def test_sync_run_plans_once(registry: intgkit.IntegrationRegistry) -> None:
    """run() validates and plans in the caller's thread once, not again on its private loop."""
    checks: list[str] = []

    class Counted:
        name = "counted"
        title = "Counted"
        settings = ()

        def is_configured(self) -> bool:
            checks.append(threading.current_thread().name)
            return True

        async def fetch(self, target: str | None) -> dict[str, list[dict[str, object]]]:
            return {}

    registry.register(Counted())
    assert make_runner(registry).run(["counted"], targets=["a", "b"])[0].ok
    assert checks == [threading.current_thread().name]


def test_plan_describes_the_calls_with_public_types(registry: intgkit.IntegrationRegistry) -> None:
    """plan() returns a Plan of PlannedCall: effective timeouts, configuration, breaker labels."""

    @intgkit.integration(registry=registry, name="quick", timeout=2.5, breaker_per_target=True)
    async def quick(target):  # type: ignore[no-untyped-def]
        return {}

    @intgkit.integration(registry=registry, name="keyed", settings=["INTGKIT_TEST_NEVER_SET_TOKEN"])
    async def keyed(target):  # type: ignore[no-untyped-def]
        return {}

    plan = make_runner(registry, timeout=7).plan(["quick", "keyed"], ["a", "b"])
    assert isinstance(plan, intgkit.Plan) and len(plan) == 4
    assert list(plan) == [
        intgkit.PlannedCall("quick", "a", 2.5, True, "quick@a"),
        intgkit.PlannedCall("quick", "b", 2.5, True, "quick@b"),
        intgkit.PlannedCall("keyed", "a", 7.0, False, "keyed"),
        intgkit.PlannedCall("keyed", "b", 7.0, False, "keyed"),
    ]
    assert plan[-1].integration == "keyed" and [p.target for p in plan[1:3]] == ["b", "a"]
    assert make_runner(registry).plan("quick", ["a"], timeout=None)[0].timeout is None


def test_default_timeout_sentinel_reads_default_in_help() -> None:
    """help(intgkit.integration) shows timeout=<default>, not an object address."""
    import inspect

    for func in (intgkit.integration, intgkit.IntegrationRunner.arun, intgkit.IntegrationRunner.run):
        text = str(inspect.signature(func))
        assert "timeout: 'float | None' = <default>" in text, text
        assert "object at 0x" not in text

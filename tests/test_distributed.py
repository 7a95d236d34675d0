"""Distributed runs on a real dask.distributed LocalCluster with worker processes.

One cluster of two single-thread worker processes is shared by the module (start-up costs about
a second on two cores); tests that break a cluster (a worker without intgkit, a dead scheduler)
make their own small one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

import intgkit
from intgkit import _distributed
from intgkit.testing import LocalSite, Route

distributed = pytest.importorskip("distributed") if not os.environ.get("CI") else __import__("distributed")

SECRET = "dask-secret-4f9a1c7e"
#: what the integration compares with: the secret itself in its globals would be pickled with it
SECRET_DIGEST = hashlib.sha256(SECRET.encode()).hexdigest()


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two worker processes, one thread each, no dashboard."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _worker_pids(client: Any) -> dict[str, int]:
    return dict(client.run(os.getpid))


def _getenv(name: str) -> str | None:
    # not client.run(os.environ.get, ...): that pickles this process's os.environ along
    return os.environ.get(name)


def _targets(n: int) -> list[str]:
    return [f"host{i}.example" for i in range(n)]


def test_example_as_written(client: Any) -> None:
    """The issue's example: one result per (integration, target), from the workers, same frame."""

    @intgkit.integration(name="where")
    async def where(target: str) -> dict[str, list[dict[str, object]]]:
        await asyncio.sleep(0.01)
        return {"where": [{"target": target, "pid": os.getpid()}]}

    @intgkit.integration(name="length")
    def length(target: str) -> dict[str, list[dict[str, object]]]:
        return {"length": [{"n": len(target)}]}

    seen: list[intgkit.IntegrationResult] = []
    runner = intgkit.IntegrationRunner(timeout=30, max_concurrency=64)
    domains = _targets(300)
    results = runner.run(["where", "length"], targets=domains, client=client, on_result=seen.append)
    local = intgkit.IntegrationRunner().run(["where", "length"], targets=domains)
    assert [(r.integration, r.target) for r in results] == [(r.integration, r.target) for r in local]
    assert {r.status for r in results} == {intgkit.Status.OK}
    assert Counter((r.integration, r.target) for r in seen) == Counter(
        (r.integration, r.target) for r in results
    )
    frame, local_frame = results.to_frame(), local.to_frame()
    assert list(frame.columns) == list(local_frame.columns)
    assert (frame.dtypes == local_frame.dtypes).all()
    pids = {row["pid"] for r in results if r.integration == "where" for row in r.sections[0].rows}
    assert pids == set(_worker_pids(client).values())  # both workers ran some, none ran here
    assert runner.last_results is results


async def test_stream_yields_as_partitions_finish(client: Any) -> None:
    """stream(client=) yields every result once; a fast partition's results come before a slow one's."""

    @intgkit.integration(name="slow_first")
    async def slow_first(target: str) -> dict[str, list[dict[str, object]]]:
        await asyncio.sleep(1.0 if target == "host0.example" else 0.0)
        return {"r": [{"t": target}]}

    runner = intgkit.IntegrationRunner(max_concurrency=8)
    order = [r.target async for r in runner.stream("slow_first", targets=_targets(40), client=client)]
    assert sorted(order) == sorted(_targets(40))
    assert order.index("host0.example") >= 20  # its partition came back after the other workers'


async def test_builtin_by_name_with_settings_from_the_client(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """http_headers is looked up by name on the workers; the client's settings reach them."""
    routes = {"/": Route.page(headers={"X-Frame-Options": "DENY"}, body="<p>hi</p>")}
    async with LocalSite(routes) as site:
        for name, value in site.env().items():
            monkeypatch.setenv(name, value)
        assert _distributed._by_name(intgkit.default_registry().get("http_headers"))  # not pickled
        runner = intgkit.IntegrationRunner(timeout=30)
        (result,) = await runner.arun("http_headers", [site.target], client=client)
    assert result.status is intgkit.Status.OK, result.error
    assert {s.name for s in result.sections} >= {"findings"}


def test_settings_never_in_clear_text_in_dask(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The secret is in no task, plugin, future, log or worker environment; it still reaches the calls."""
    monkeypatch.setenv("SPY_TOKEN", SECRET)

    @intgkit.integration(name="spy", settings=["SPY_TOKEN"])
    async def spy(target: str, settings: Any) -> dict[str, list[dict[str, object]]]:
        await asyncio.sleep(0.05)
        return {
            "r": [{"token_ok": hashlib.sha256(settings["SPY_TOKEN"].encode()).hexdigest() == SECRET_DIGEST}]
        }

    stored: list[bytes] = []

    def inspect(dask_scheduler: Any) -> bytes:
        parts = []
        for key, ts in dask_scheduler.tasks.items():
            if str(key).startswith("intgkit-"):
                parts.append(cloudpickle.dumps(ts.run_spec) + repr(ts.run_spec).encode() + repr(ts).encode())
        parts += [cloudpickle.dumps(p) for p in dask_scheduler.worker_plugins.values()]
        return b"".join(parts)

    def on_result(_r: intgkit.IntegrationResult) -> None:
        if not stored:  # while the other partitions are in flight
            stored.append(client.run_on_scheduler(inspect))
            stored.append(repr(client.futures).encode() + repr(list(client.futures.values())).encode())

    runner = intgkit.IntegrationRunner(max_concurrency=4)
    results = runner.run("spy", targets=_targets(64), client=client, on_result=on_result)
    assert all(r.sections[0].rows[0]["token_ok"] for r in results)
    assert b"intgkit-" in stored[0]  # the inspection saw the run's tasks
    for blob in stored:
        assert SECRET.encode() not in blob
    logs = repr(client.get_worker_logs()) + repr(client.get_scheduler_logs())
    assert SECRET not in logs
    # the workers' environments are as before the run (the run's plugin put them back)
    assert set(client.run(_getenv, "SPY_TOKEN").values()) == {None}


def test_integration_defined_in_a_function_is_shipped_by_value(client: Any) -> None:
    """An integration that only exists in the client (a closure, as a notebook cell's) runs on workers."""
    prefix = "made-here:"

    @intgkit.integration(name="closure")
    def closure(target: str) -> dict[str, list[dict[str, object]]]:
        return {"r": [{"v": prefix + target, "pid": os.getpid()}]}

    results = intgkit.IntegrationRunner().run("closure", targets=_targets(3), client=client)
    assert [r.sections[0].rows[0]["v"] for r in results] == [prefix + t for t in _targets(3)]
    assert all(r.sections[0].rows[0]["pid"] != os.getpid() for r in results)


def test_unpicklable_integration_is_refused_before_work(client: Any) -> None:
    """An integration holding a lock cannot be shipped: UsageError naming it, nothing submitted."""
    lock = threading.Lock()

    @intgkit.integration(name="holds_lock")
    def holds_lock(target: str) -> dict[str, list[dict[str, object]]]:
        with lock:
            return {"r": [{"t": target}]}

    with pytest.raises(intgkit.UsageError, match=r"'holds_lock' cannot be sent to the Dask workers.*lock"):
        intgkit.IntegrationRunner().run("holds_lock", targets=_targets(2), client=client)
    assert not [k for k in client.futures if str(k).startswith("intgkit-")]


def test_bad_clients_are_refused(client: Any) -> None:
    """Not a Client, a closed one: UsageError before any work."""

    @intgkit.integration(name="never")
    def never(target: str) -> dict[str, list[dict[str, object]]]:
        raise AssertionError("must not run")

    runner = intgkit.IntegrationRunner()
    with pytest.raises(intgkit.UsageError, match=r"client must be a dask\.distributed Client"):
        runner.run("never", targets=["a"], client="tcp://127.0.0.1:8786")
    closed = distributed.Client(client.scheduler.address)
    closed.close()
    with pytest.raises(intgkit.UsageError, match="not running"):
        runner.run("never", targets=["a"], client=closed)


def test_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without dask installed, client= says which extra to install."""
    monkeypatch.setitem(sys.modules, "distributed", None)

    @intgkit.integration(name="any")
    def anything(target: str) -> dict[str, list[dict[str, object]]]:
        return {}

    with pytest.raises(intgkit.MissingExtraError, match=r'pip install "intgkit\[dask\]"'):
        intgkit.IntegrationRunner().run("any", targets=["a"], client=object())


def test_scheduler_gone_and_worker_without_intgkit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A worker that cannot import intgkit is named before work starts; a dead scheduler never hangs."""

    @intgkit.integration(name="noop")
    def noop(target: str) -> dict[str, list[dict[str, object]]]:
        return {}

    cluster = distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0")
    c = distributed.Client(cluster)
    try:
        with pytest.raises(intgkit.UsageError, match="has no workers"):
            intgkit.IntegrationRunner().run("noop", targets=["a"], client=c)
        code = (
            "import sys; sys.modules['intgkit'] = None; "
            f"sys.argv = ['dask-worker', {cluster.scheduler_address!r}, '--no-nanny', '--nthreads', '1', "
            "'--no-dashboard']; from distributed.cli.dask_worker import main; main()"
        )
        worker = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
        try:
            c.wait_for_workers(1, timeout=30)
            with pytest.raises(intgkit.UsageError, match=r"cannot import intgkit.*install intgkit"):
                intgkit.IntegrationRunner().run("noop", targets=["a"], client=c)
        finally:
            worker.kill()
            worker.wait()
        monkeypatch.setattr(_distributed, "CHECK_TIMEOUT_S", 3.0)
        cluster.close()
        t0 = time.monotonic()
        with pytest.raises(intgkit.UsageError):
            intgkit.IntegrationRunner().run("noop", targets=["a"], client=c)
        assert time.monotonic() - t0 < 20
    finally:
        c.close()
        cluster.close()


def test_rate_limit_is_shared_out_between_workers(client: Any) -> None:
    """Each worker's runner gets limit / workers of an integration's rate limit."""

    @intgkit.integration(name="paced", rate_limit=intgkit.RateLimit(8, per=1.0))
    def paced(target: str) -> dict[str, list[dict[str, object]]]:
        return {}

    runner = intgkit.IntegrationRunner()
    runner.run("paced", targets=_targets(8), client=client)
    assert _workers_rate_limits(client, runner, "paced") == {(4.0, 4.0)}


def _workers_rate_limits(
    client: Any, runner: intgkit.IntegrationRunner, name: str
) -> set[tuple[float, float]]:
    """(rate, burst) of ``name``'s rate limit in the runner each worker holds for ``runner``
    (workers that hold none left out); the probe is a closure, so it is shipped by value."""
    ident = _distributed.runner_identity(runner)

    def limits(ident: str = ident, name: str = name) -> tuple[float, float] | None:
        from intgkit import _distributed as d

        held = d._RUNNERS.get(ident)
        if held is None:
            return None
        rl = held[1].rate_limits[name]
        return (rl.rate, rl.burst) if rl is not None else None

    return {v for v in client.run(limits).values() if v is not None}


def test_rate_limit_shared_through_redis(client: Any, redis_url: str) -> None:
    """rate_limit_storage='redis://...': each worker has the full limit, from one shared bucket,
    and the two workers together keep to it."""

    @intgkit.integration(name="paced_shared", rate_limit=intgkit.RateLimit(10, per=1.0, burst=1))
    def paced_shared(target: str) -> dict[str, list[dict[str, object]]]:
        return {"calls": [{"at": time.time(), "pid": os.getpid()}]}

    namespace = f"dask-limits-{os.getpid()}-{time.monotonic_ns()}"
    runner = intgkit.IntegrationRunner(rate_limit_storage=redis_url, breaker_namespace=namespace)
    results = runner.run("paced_shared", targets=_targets(24), client=client)
    assert {r.status for r in results} == {intgkit.Status.OK}
    rows = [row for r in results for row in r.sections[0].rows]
    assert len({row["pid"] for row in rows}) == 2  # both workers took tokens
    assert _workers_rate_limits(client, runner, "paced_shared") == {(10.0, 1.0)}
    times = sorted(float(row["at"]) for row in rows)
    # (24 - 1) tokens at 10 per second: 2.3 s, whatever the workers; with one bucket per
    # worker at the full limit it would be half that
    assert times[-1] - times[0] >= 2.3 * 0.8
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= 1 + 10 * (times[j] - times[i]) + 1


async def test_cancel_cancels_the_remaining_partitions(client: Any) -> None:
    """task.cancel(): unfinished partitions are cancelled on the cluster; last_results keeps the rest."""

    @intgkit.integration(name="sleepy")
    async def sleepy(target: str) -> dict[str, list[dict[str, object]]]:
        await asyncio.sleep(0.3)
        return {}

    runner = intgkit.IntegrationRunner(max_concurrency=2)
    first = asyncio.Event()
    task = asyncio.ensure_future(
        runner.arun("sleepy", targets=_targets(80), client=client, on_result=lambda _r: first.set())
    )
    await asyncio.wait_for(first.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert runner.last_results is not None
    statuses = Counter(r.status for r in runner.last_results)
    assert statuses[intgkit.Status.OK] >= 1
    assert statuses[intgkit.Status.CANCELLED] >= 40
    assert sum(statuses.values()) == 80

    def intgkit_tasks(dask_scheduler: Any) -> list[str]:
        return [str(k) for k in dask_scheduler.tasks if str(k).startswith("intgkit-")]

    deadline = time.monotonic() + 10
    while client.run_on_scheduler(intgkit_tasks) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert client.run_on_scheduler(intgkit_tasks) == []


def test_history_records_a_distributed_run_once(client: Any, history_path: Path) -> None:
    """The client process records the run once, like a local run; the workers record nothing."""

    @intgkit.integration(name="kept")
    def kept(target: str) -> dict[str, list[dict[str, object]]]:
        return {"r": [{"t": target}]}

    runner = intgkit.IntegrationRunner()
    results = runner.run("kept", targets=_targets(20), client=client)
    store = intgkit.History(history_path)
    runs = store.runs()
    assert len(runs) == 1
    assert len(store.load(runs["run_id"].iloc[0])) == len(results) == 20


def test_killed_worker_reruns_its_partitions(client: Any) -> None:
    """SIGKILL of a busy worker mid-run: its partitions rerun elsewhere, no result lost or doubled."""

    @intgkit.integration(name="steady")
    async def steady(target: str) -> dict[str, list[dict[str, object]]]:
        await asyncio.sleep(0.1)
        return {"r": [{"pid": os.getpid()}]}

    before = _worker_pids(client)
    killed: list[int] = []
    seen: list[intgkit.IntegrationResult] = []

    def on_result(r: intgkit.IntegrationResult) -> None:
        seen.append(r)
        if not killed:
            busy = [w for w, tasks in client.processing().items() if tasks]
            pid = before[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    runner = intgkit.IntegrationRunner(max_concurrency=4)
    results = runner.run("steady", targets=_targets(160), client=client, on_result=on_result)
    assert len(killed) == 1
    assert [r.target for r in results] == _targets(160)
    assert {r.status for r in results} == {intgkit.Status.OK}
    assert Counter(r.target for r in seen) == Counter(_targets(160))  # each delivered once
    client.wait_for_workers(2, timeout=30)
    assert killed[0] not in _worker_pids(client).values()  # it really died (the nanny replaced it)


def _always_failing() -> None:
    @intgkit.integration(name="down")
    def down(target: str) -> dict[str, list[dict[str, object]]]:
        raise ConnectionError("service down")


def test_breakers_are_per_worker_by_default(client: Any) -> None:
    """Without shared storage each worker's breaker opens after its own fail_max failures."""
    _always_failing()
    runner = intgkit.IntegrationRunner(fail_max=3, max_concurrency=1)
    results = runner.run("down", targets=_targets(40), client=client)
    statuses = Counter(r.status for r in results)
    assert statuses[intgkit.Status.ERROR] == 3 * 2  # three per worker
    assert statuses[intgkit.Status.CIRCUIT_OPEN] == 40 - 6


def test_breakers_shared_through_redis(client: Any, redis_url: str) -> None:
    """breaker_storage='redis://...': every worker counts on one breaker, which opens once for all."""
    import redis

    _always_failing()
    namespace = f"dask-test-{os.getpid()}-{time.monotonic_ns()}"
    runner = intgkit.IntegrationRunner(
        fail_max=3,
        reset_timeout=30,
        max_concurrency=1,
        breaker_storage=redis_url,
        breaker_namespace=namespace,
    )
    results = runner.run("down", targets=_targets(40), client=client)
    statuses = Counter(r.status for r in results)
    # 3 failures open it for both workers (one call per worker may have been in flight)
    assert 3 <= statuses[intgkit.Status.ERROR] <= 4
    assert statuses[intgkit.Status.CIRCUIT_OPEN] == 40 - statuses[intgkit.Status.ERROR]
    store = redis.Redis.from_url(redis_url)
    states = {key: store.get(key) for key in store.keys(f"{namespace}:*state")}
    assert states and set(states.values()) == {b"open"}


async def test_cli_scheduler_and_workers(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`intgkit run ... --scheduler ADDR` and `--workers 1` audit a local site on Dask workers."""
    import io
    import json

    from intgkit.cli import main

    routes = {"/": Route.page(headers={"X-Frame-Options": "DENY"}, body="<p>hi</p>")}
    async with LocalSite(routes) as site:
        for name, value in site.env().items():
            monkeypatch.setenv(name, value)
        for where in (["--scheduler", client.scheduler.address], ["--workers", "1"]):
            out = io.StringIO()
            argv = ["run", "http_headers", "-t", site.target, "--format", "json", "--no-progress", *where]
            code = await asyncio.to_thread(main, argv, stdout=out)
            rows = json.loads(out.getvalue())
            assert code == 0, out.getvalue()
            assert {(r["integration"], r["target"], r["status"]) for r in rows} == {
                ("http_headers", site.target, "ok")
            }
    out = io.StringIO()
    bad = ["run", "http_headers", "-t", "a.example", "--scheduler", "not an address"]
    assert main(bad, stdout=out) == 2


async def test_panel_counts_results_from_the_cluster_and_cancels_it(client: Any) -> None:
    """IntegrationPanel(client=): progress counts arriving results; Cancel cancels the cluster's rest."""
    pytest.importorskip("ipywidgets")
    from intgkit.widgets import IntegrationPanel

    @intgkit.integration(name="drip")
    async def drip(target: str) -> dict[str, list[dict[str, object]]]:
        await asyncio.sleep(0.3)
        return {}

    runner = intgkit.IntegrationRunner(max_concurrency=2)
    panel = IntegrationPanel(runner, _targets(80), client=client)
    panel.run_button.click()
    task = panel.run_task
    assert task is not None
    deadline = time.monotonic() + 30
    while panel.progress.value < 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert panel.progress.value >= 1  # a partition's results were counted as they arrived
    panel.cancel_button.click()
    results = await task
    assert results is runner.last_results is not None
    statuses = Counter(r.status for r in results)
    assert statuses[intgkit.Status.OK] >= 1
    assert statuses[intgkit.Status.CANCELLED] >= 40

    def intgkit_tasks(dask_scheduler: Any) -> list[str]:
        return [str(k) for k in dask_scheduler.tasks if str(k).startswith("intgkit-")]

    deadline = time.monotonic() + 10
    while client.run_on_scheduler(intgkit_tasks) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert client.run_on_scheduler(intgkit_tasks) == []
    with pytest.raises(intgkit.UsageError, match="client must be"):
        IntegrationPanel(runner, client="tcp://127.0.0.1:8786")

"""Breakers shared between processes through pybreaker's CircuitRedisStorage, against a real
redis-server (the ``redis_url`` fixture). Facts checked: the counter and the state are shared by
every runner on the same server and namespace, each breaker has its own keys, a probe after
reset_timeout closes it for everyone, and a dead or wrong server is handled as documented."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid

import pytest

import intgkit
from intgkit import Status

#: A child process: a runner on the shared Redis whose "api" integration fails N times.
CHILD = """
import sys, intgkit
url, namespace, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
reg = intgkit.IntegrationRegistry(None)

@intgkit.integration(registry=reg, name="api")
async def api(target):
    raise ConnectionError("down")

runner = intgkit.IntegrationRunner(reg, fail_max=3, reset_timeout=30, max_concurrency=1,
                                   breaker_storage=url, breaker_namespace=namespace)
results = runner.run("api", [f"t{i}" for i in range(n)])
print(",".join(r.status.value for r in results), runner.breakers["api"].state)
"""


def _namespace() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def _child(url: str, namespace: str, n: int) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), url, namespace, str(n)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return out.stdout.strip()


def _registry(calls: list[str]) -> intgkit.IntegrationRegistry:
    reg = intgkit.IntegrationRegistry(None)

    @intgkit.integration(registry=reg, name="api")
    async def api(target):  # type: ignore[no-untyped-def]
        calls.append(target)
        return {}

    @intgkit.integration(registry=reg, name="other")
    async def other(target):  # type: ignore[no-untyped-def]
        calls.append(f"other:{target}")
        return {}

    return reg


def test_processes_share_one_breaker(redis_url: str) -> None:
    """Two processes fail 2 and 1 times (fail_max=3): the shared breaker is open, and a third
    runner refuses the call without making it; another breaker on the same server is untouched."""
    ns = _namespace()
    assert _child(redis_url, ns, 2) == "error,error closed"
    assert _child(redis_url, ns, 1) == "error open"  # the third failure, counted across processes
    calls: list[str] = []
    runner = intgkit.IntegrationRunner(
        _registry(calls), fail_max=3, reset_timeout=30, breaker_storage=redis_url, breaker_namespace=ns
    )
    results = runner.run(["api", "other"], ["x"])
    assert [r.status for r in results] == [Status.CIRCUIT_OPEN, Status.OK]
    assert calls == ["other:x"]  # api was not called: its breaker is open in another process's run
    assert "open after 3 consecutive failures" in (results[0].error or "")
    board = runner.breakers.to_frame().set_index("key")
    assert board.loc["api", "state"] == "open" and board.loc["other", "state"] == "closed"
    # opened_at comes from Redis (whole seconds): the probe is about reset_timeout away
    assert 10 < runner.breakers["api"].seconds_until_probe() <= 31  # (child processes start slowly)
    assert "redis 127.0.0.1:" in repr(intgkit.BreakerBoard(storage=redis_url, namespace=ns))


def test_a_namespace_per_breaker_and_per_runner_group(redis_url: str) -> None:
    """Tripping one breaker opens neither another breaker nor the same name in another namespace."""
    ns = _namespace()
    assert _child(redis_url, ns, 3) == "error,error,error open"
    calls: list[str] = []
    elsewhere = intgkit.IntegrationRunner(
        _registry(calls), breaker_storage=redis_url, breaker_namespace=_namespace()
    )
    assert elsewhere.run("api", ["x"])[0].status is Status.OK
    import redis

    keys = {k.decode() for k in redis.Redis.from_url(redis_url).keys(f"{ns}:*")}
    # pybreaker's keys under this breaker's own namespace (1.1+ adds a success_counter)
    assert {f"{ns}:api:pybreaker:{k}" for k in ("fail_counter", "opened_at", "state")} <= keys
    assert all(k.startswith(f"{ns}:api:pybreaker:") for k in keys)


def test_a_probe_after_reset_timeout_closes_it_for_everyone(redis_url: str) -> None:
    """reset_timeout=2 (Redis keeps opened_at in whole seconds): refused at first, one probe
    once it is due, and its success closes the breaker for another runner too."""
    ns = _namespace()
    calls: list[str] = []
    reg = _registry(calls)

    @intgkit.integration(registry=reg, name="flaky")
    async def flaky(target):  # type: ignore[no-untyped-def]
        calls.append(f"flaky:{target}")
        if target.startswith("fail"):
            raise ConnectionError("down")
        return {}

    def runner() -> intgkit.IntegrationRunner:
        return intgkit.IntegrationRunner(
            reg,
            fail_max=2,
            reset_timeout=2,
            max_concurrency=1,
            breaker_storage=redis_url,
            breaker_namespace=ns,
        )

    a, b = runner(), runner()
    assert [r.status for r in a.run("flaky", ["fail1", "fail2"])] == [Status.ERROR, Status.ERROR]
    assert b.run("flaky", ["ok1"])[0].status is Status.CIRCUIT_OPEN
    time.sleep(3.1)  # past reset_timeout even with opened_at rounded down to the second
    assert b.run("flaky", ["ok2"])[0].status is Status.OK
    assert b.breakers["flaky"].state == "closed"
    assert a.breakers["flaky"].state == "closed" and a.run("flaky", ["ok3"])[0].status is Status.OK
    assert calls == ["flaky:fail1", "flaky:fail2", "flaky:ok2", "flaky:ok3"]


def test_redis_down_mid_run_fails_open_and_never_raises() -> None:
    """pybreaker's documented behaviour: with Redis gone, state reads fall back to closed and
    calls are made; the runner neither raises nor stalls (the client fails fast)."""
    from _redis import redis_server

    calls: list[str] = []
    with redis_server() as url:
        runner = intgkit.IntegrationRunner(
            _registry(calls), fail_max=1, breaker_storage=url, breaker_namespace=_namespace()
        )
        assert runner.run("api", ["before"])[0].ok
    start = time.perf_counter()
    results = runner.run(["api", "other"], ["a", "b"])  # the server is stopped now
    assert time.perf_counter() - start < 5
    assert [r.status for r in results] == [Status.OK] * 4 and len(calls) == 5


def test_bad_storage_is_a_clear_error_before_any_run(redis_url: str) -> None:
    """A wrong scheme, an unreachable server or a wrong type: UsageError naming what is right,
    and never the password of the URL."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(intgkit.UsageError, match="'memory', a Redis URL") as info:
        intgkit.IntegrationRunner(breaker_storage="http://user:hunter2secret@host/")
    assert "hunter2secret" not in str(info.value)
    with pytest.raises(intgkit.UsageError, match=r"cannot reach Redis at 127\.0\.0\.1:1/0") as info:
        intgkit.IntegrationRunner(breaker_storage="redis://:hunter2secret@127.0.0.1:1/0")
    assert "hunter2secret" not in str(info.value)
    with pytest.raises(intgkit.UsageError, match=r"redis\.Redis client"):
        intgkit.IntegrationRunner(breaker_storage=42)
    with pytest.raises(intgkit.UsageError, match="breaker_namespace"):
        intgkit.IntegrationRunner(breaker_storage=redis_url, breaker_namespace="")
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)  # a client of the user's own is taken as it is
    assert intgkit.IntegrationRunner(breaker_storage=client).breakers.storage.startswith("redis 127.0.0.1:")

"""Rate limits shared through a real redis-server (``rate_limit_storage``): one bucket for all."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import intgkit

#: the limit both processes share: 10 calls per second, 1 at once
RATE, BURST, CALLS_EACH = 10.0, 1.0, 10

_CHILD = textwrap.dedent(
    """
    import sys, time
    import redis
    import intgkit

    url, namespace, barrier = sys.argv[1], sys.argv[2], sys.argv[3]

    @intgkit.integration(name="shared_paced", rate_limit=intgkit.RateLimit({rate}, per=1.0, burst={burst}))
    def shared_paced(target: str) -> dict:
        return {{"calls": [{{"at": time.time()}}]}}

    runner = intgkit.IntegrationRunner(
        rate_limit_storage=url, breaker_namespace=namespace, history=None, max_concurrency=4
    )
    store = redis.Redis.from_url(url)
    store.incr(barrier)
    deadline = time.monotonic() + 60
    while int(store.get(barrier)) < 2 and time.monotonic() < deadline:  # start together
        time.sleep(0.01)
    results = runner.run("shared_paced", [f"t{{i}}.example" for i in range({n})])
    for r in results:
        print(r.status.value, r.sections[0].rows[0]["at"] if r.sections else r.error)
    """
).format(rate=RATE, burst=BURST, n=CALLS_EACH)


def _namespace() -> str:
    return f"limits-test-{os.getpid()}-{time.monotonic_ns()}"


def _within_limit(times: list[float], rate: float, burst: float) -> None:
    """No window of the calls holds more than the bucket allows (one token of slack for jitter)."""
    times = sorted(times)
    for i in range(len(times)):
        for j in range(i, len(times)):
            allowed = burst + rate * (times[j] - times[i]) + 1.0
            assert j - i + 1 <= allowed, (
                f"{j - i + 1} calls in {times[j] - times[i]:.3f} s, more than {allowed:.1f} allowed"
            )


def test_two_processes_share_one_bucket(redis_url: str, tmp_path: Path) -> None:
    """Two processes, each with its own runner and client, are held together to one limit."""
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    namespace = _namespace()
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), redis_url, namespace, f"{namespace}:barrier"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    per_process: list[list[float]] = []
    for (out, err), p in zip(outs, procs, strict=True):
        assert p.returncode == 0, err
        rows = [line.split(" ", 1) for line in out.splitlines()]
        assert [status for status, _ in rows] == ["ok"] * CALLS_EACH, out
        per_process.append([float(at) for _, at in rows])
    # they ran at the same time (else the test proves nothing) ...
    assert max(min(t) for t in per_process) < min(max(t) for t in per_process)
    times = [t for ts in per_process for t in ts]
    # ... and together took what one bucket allows: (20 - 1) tokens at 10 per second = 1.9 s
    assert max(times) - min(times) >= (2 * CALLS_EACH - BURST) / RATE * 0.8
    _within_limit(times, RATE, BURST)
    import redis

    assert redis.Redis.from_url(redis_url).exists(f"{namespace}:ratelimit:shared_paced:")


def test_unreachable_redis_is_refused_when_the_runner_is_built() -> None:
    from _redis import _free_port

    with pytest.raises(
        intgkit.UsageError, match=r"rate_limit_storage: cannot reach Redis at 127\.0\.0\.1:\d+/0"
    ):
        intgkit.IntegrationRunner(rate_limit_storage=f"redis://127.0.0.1:{_free_port()}/0", history=None)
    with pytest.raises(intgkit.UsageError, match="rate_limit_storage must be 'memory', a Redis URL"):
        intgkit.IntegrationRunner(rate_limit_storage="http://localhost:6379", history=None)


def test_redis_gone_during_a_run_ends_each_call_with_a_clear_error() -> None:
    """No hang, no call made without a token: an error result naming the store."""
    from _redis import redis_server

    made: list[str] = []

    @intgkit.integration(name="limited_gone", rate_limit=intgkit.RateLimit(100, per=1.0))
    def limited_gone(target: str) -> dict[str, list[dict[str, object]]]:
        made.append(target)
        return {}

    with redis_server() as url:
        runner = intgkit.IntegrationRunner(
            rate_limit_storage=url, breaker_namespace=_namespace(), history=None
        )
        assert [r.status for r in runner.run("limited_gone", ["a.example"])] == [intgkit.Status.OK]
        where = url.split("://", 1)[1]
    t = time.monotonic()
    results = runner.run("limited_gone", ["b.example", "c.example"])
    assert time.monotonic() - t < 10
    assert made == ["a.example"]
    for r in results:
        assert r.status is intgkit.Status.ERROR
        assert r.error_type == "RateLimitStorageError"
        assert r.error is not None and f"Redis at {where}" in r.error and "not made" in r.error


def test_shared_bucket_state_is_in_redis(redis_url: str) -> None:
    """Two runners with the same storage and namespace take from the bucket kept in Redis."""
    import redis

    namespace = _namespace()

    @intgkit.integration(name="limited_state", rate_limit=intgkit.RateLimit(5, per=60.0))
    def limited_state(target: str) -> dict[str, list[dict[str, object]]]:
        return {}

    runner = intgkit.IntegrationRunner(
        rate_limit_storage=redis_url, breaker_namespace=namespace, history=None
    )
    runner.run("limited_state", ["x.example", "y.example"])
    other = intgkit.IntegrationRunner(rate_limit_storage=redis_url, breaker_namespace=namespace, history=None)
    other.run("limited_state", ["z.example"])
    # 5 tokens, 3 taken; a token comes back every 12 s
    level = redis.Redis.from_url(redis_url).hget(f"{namespace}:ratelimit:limited_state:", "level")
    assert level is not None and 1.9 <= float(level) <= 2.1
    rows = other.rate_limit_state
    shown = rows[rows["scope"] == "limited_state"].iloc[-1]
    assert 1.9 <= shown["tokens"] <= 2.1

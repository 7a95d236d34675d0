"""The sync door inside a real Jupyter kernel: Run All with queued cells, interrupts, top-level await."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.kernel

SETUP = """
import asyncio, time, intgkit
reg = intgkit.IntegrationRegistry(None)

@intgkit.integration(registry=reg)
async def nap(target):
    await asyncio.sleep(float(target))
    return {"naps": [{"slept": float(target)}]}

@intgkit.integration(registry=reg)
def blocking(target):
    time.sleep(float(target))
    return {"naps": [{"slept": float(target)}]}

runner = intgkit.IntegrationRunner(reg, timeout=60)
"""


@pytest.fixture(scope="module")
def kernel() -> Iterator[tuple[Any, Any]]:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def collect(kc: Any, msg_ids: list[str], timeout: float = 30) -> dict[str, dict[str, Any]]:
    """Wait for every reply and gather each request's stdout, result and error."""
    out: dict[str, dict[str, Any]] = {m: {"stdout": "", "status": None} for m in msg_ids}
    deadline = time.monotonic() + timeout
    pending = set(msg_ids)
    while pending:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no reply for {len(pending)} queued requests: the kernel is wedged"
        try:
            reply = kc.get_shell_msg(timeout=remaining)
        except Exception:  # queue.Empty
            continue
        parent = reply["parent_header"].get("msg_id")
        if parent in pending:
            out[parent]["status"] = reply["content"]["status"]
            out[parent]["ename"] = reply["content"].get("ename")
            pending.discard(parent)
    # drain iopub for the streams
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except Exception:
            break
        parent = msg["parent_header"].get("msg_id")
        if parent in out and msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out[parent]["stdout"] += msg["content"]["text"]
    return out


def test_run_all_with_queued_cells(kernel: tuple[Any, Any]) -> None:
    """Several execute requests queued at once (Run All) all reply; run() works between them."""
    _, kc = kernel
    ids = [
        kc.execute(SETUP),
        kc.execute("r1 = runner.run(['nap', 'blocking'], targets=['0.3', '0.2'])"),
        kc.execute("print('first', r1.counts()['ok'])"),
        kc.execute("r2 = runner.run(['nap'], targets=['0.1'])"),
        kc.execute("print('second', len(r2), r2[0].status.value)"),
        kc.execute("r3 = await runner.arun(['nap'], targets=['0.1', '0.2'])\nprint('third', len(r3))"),
    ]
    out = collect(kc, ids)
    assert [out[i]["status"] for i in ids] == ["ok"] * 6, out
    assert out[ids[2]]["stdout"] == "first 4\n"
    assert out[ids[4]]["stdout"] == "second 1 ok\n"
    assert out[ids[5]]["stdout"] == "third 2\n"


def test_interrupt_cancels_the_run_promptly(kernel: tuple[Any, Any]) -> None:
    """A kernel interrupt during run() cancels it within seconds; finished results are kept."""
    km, kc = kernel
    collect(kc, [kc.execute(SETUP)])
    started = time.monotonic()
    run_id = kc.execute("runner.run(['nap'], targets=['0.05', '30', '31'])")
    time.sleep(1.5)
    km.interrupt_kernel()
    out = collect(kc, [run_id], timeout=20)
    assert out[run_id]["status"] == "error" and out[run_id]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - started < 10
    check = kc.execute(
        "c = runner.last_results.counts(); print(c['ok'], c['cancelled'], "
        "[r.error_type for r in runner.last_results], [r.started_at is None for r in runner.last_results])\n"
        "print('after', runner.run(['nap'], targets=['0.01'])[0].status.value)"
    )
    out = collect(kc, [check])
    assert out[check]["status"] == "ok"
    assert (
        out[check]["stdout"]
        == "1 2 [None, 'CancelledError', 'CancelledError'] [False, False, False]\nafter ok\n"
    )


def test_nested_opt_in_runs_on_the_running_loop() -> None:
    """run(nested=True) runs on the caller's own loop through nest-asyncio2 (in a subprocess,
    since its patch is process-wide)."""
    import subprocess
    import sys

    code = (
        "import asyncio, threading, intgkit\n"
        "reg = intgkit.IntegrationRegistry(None)\n"
        "@intgkit.integration(registry=reg)\n"
        "async def where(target):\n"
        "    return {'s': [{'thread': threading.current_thread().name}]}\n"
        "async def main():\n"
        "    r = intgkit.IntegrationRunner(reg).run(['where'], nested=True)\n"
        "    print(r[0].status.value, r[0].sections[0].rows[0]['thread'])\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok MainThread"

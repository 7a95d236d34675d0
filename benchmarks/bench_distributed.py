"""Issue 13: distributed runs on a dask LocalCluster against a local server with a fixed latency.

The servers (two processes sharing one port) answer each request line after exactly 5 ms; the integration
opens a connection, sends a line, reads the answer: an I/O-bound call, as real audits are. The
runner's concurrency per worker (16) keeps one worker latency-bound rather than CPU-bound on
this 2-core machine, where the server and the client process share the cores with the workers.

Baselines, measured in the same run, over the same timed region (``runner.run`` to its return,
clusters started before):
- 2 workers vs 1 worker: the same distributed run on a LocalCluster of 1 worker process;
- the distributed path with 1 worker vs a plain local ``runner.run`` of the same calls with the
  same concurrency in this process (what a user without Dask runs).
Partition size: informational rows, 2 workers, calls per partition from 250 to 10,000.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from typing import Any

from ._common import Row, row

LATENCY_S = 0.005
CONCURRENCY = 16
SERVERS = 2
#: calls per partition tried in a full run (informational rows)
SWEEP = (500, 2000, 10000)

_SERVER = """
import asyncio, sys
class Slow(asyncio.Protocol):
    def connection_made(self, transport):
        self.t = transport
    def data_received(self, data):
        asyncio.get_running_loop().call_later(float(sys.argv[2]), self.answer)
    def answer(self):
        self.t.write(b"ok\\n")
        self.t.close()
async def main():
    port = int(sys.argv[1])
    server = await asyncio.get_running_loop().create_server(
        Slow, "127.0.0.1", port, backlog=1024, reuse_port=True)
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

#: set in every process (the workers read it from the sealed settings)
PORT_SETTING = "BENCH_LATENCY_PORT"


async def latency_call(target: str, settings: Any) -> dict[str, list[dict[str, object]]]:
    """One request to the local 5 ms server (module-level: the workers import it by name)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(settings[PORT_SETTING]))
    try:
        writer.write(b"hi\n")
        answer = await reader.readline()
    finally:
        writer.close()
    return {"r": [{"answer": answer.decode().strip()}]}


def _integration() -> Any:
    import intgkit

    return intgkit.FunctionIntegration(latency_call, name="latency", settings=[PORT_SETTING], timeout=10)


def run(quick: bool) -> list[Row]:
    import os

    import distributed

    import intgkit
    from intgkit import _distributed

    n = 4_000 if quick else 100_000
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # two server processes on one port (SO_REUSEPORT): the server is not what limits 2 workers
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(port), str(LATENCY_S)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(SERVERS)
    ]
    for server in servers:
        assert server.stdout is not None
        server.stdout.readline()
    os.environ[PORT_SETTING] = str(port)
    integ = _integration()
    targets = [f"t{i}.example" for i in range(n)]
    rows: list[Row] = []

    def timed(client: Any | None, calls: int = n) -> float:
        runner = intgkit.IntegrationRunner(max_concurrency=CONCURRENCY, history=None)
        t0 = time.perf_counter()
        results = runner.run(integ, targets[:calls], client=client)
        seconds = time.perf_counter() - t0
        print(
            f"  distributed: {calls:,} calls, {'local' if client is None else 'dask'}: {seconds:.2f} s",
            file=sys.stderr,
            flush=True,
        )
        bad = [r for r in results if r.status is not intgkit.Status.OK]
        if bad:
            raise RuntimeError(f"{len(bad)} calls failed, e.g. {bad[0].error_type}: {bad[0].error}")
        return seconds

    def cluster(workers: int) -> tuple[Any, Any]:
        c = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        return c, distributed.Client(c)

    try:
        local = timed(None)
        c1, client1 = cluster(1)
        timed(client1, 1000)  # warm-up: imports on the worker
        one = timed(client1)
        client1.close()
        c1.close()
        c2, client2 = cluster(2)
        timed(client2, 1000)
        two = timed(client2)
        note = f"{n:,} calls, 5 ms server, {CONCURRENCY} calls in flight per worker"
        rows.append(row("13 dask: 2 workers vs 1 (time; 1/throughput)", two, one, 1 / 1.7, note=note))
        rows.append(row("13 dask: 1 worker vs plain local run", one, local, 1.3, note=note))
        if not quick:
            default = _distributed.CALLS_PER_PARTITION
            try:
                for size in SWEEP:
                    _distributed.CALLS_PER_PARTITION = size
                    seconds = timed(client2)
                    rows.append(
                        row(
                            f"13 dask: partition {size} calls, 2 workers",
                            seconds,
                            two,
                            None,
                            note=f"vs the default ({default}); {n / seconds:,.0f} calls/s",
                        )
                    )
            finally:
                _distributed.CALLS_PER_PARTITION = default
        client2.close()
        c2.close()
    finally:
        for server in servers:
            server.kill()
            server.wait()
    return rows

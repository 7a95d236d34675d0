"""Issue 14's TLS audit time: tls_certificate vs sslyze 6.3.1 over the same 20 local servers.

Each server is Debian's ``openssl s_server`` (TLS 1.0-1.3, OpenSSL's DEFAULT suites at security
level 0, so there are legacy versions and many suites to find), with a leaf from one trustme CA.
intgkit: the full tls_certificate audit (certificate and chain, SSL 3.0-TLS 1.3, every accepted
suite, OCSP stapling, the Mozilla verdicts) of every server through ``IntegrationRunner.arun``.
Baseline: sslyze's equivalent scan commands (CERTIFICATE_INFO, which includes OCSP, and the
cipher-suite scans SSL 3.0 to TLS 1.3) queued for all servers in one ``Scanner`` with its
default concurrency, as its documentation shows; it runs in its own venv (``.venv-sslyze``,
made by .ci/setup), and its time is the scan's own, measured inside that process (interpreter
start and imports excluded). ``python -m benchmarks --only tls``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ._common import Row, interleaved, row

ROOT = Path(__file__).resolve().parent.parent
SSLYZE_PYTHON = ROOT / ".venv-sslyze" / "bin" / "python"
SSLYZE_SCRIPT = ROOT / "tests" / "sslyze_scan.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _servers(n: int) -> Iterator[tuple[list[int], str]]:
    """``n`` openssl s_server processes; yields (ports, CA file)."""
    import trustme

    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is missing: .ci/setup installs it")
    ca = trustme.CA()
    with tempfile.TemporaryDirectory(prefix="intgkit-bench-tls-") as tmp:
        d = Path(tmp)
        ca.cert_pem.write_to_path(str(d / "ca.pem"))
        procs: list[subprocess.Popen[bytes]] = []
        ports: list[int] = []
        try:
            for i in range(n):
                leaf = ca.issue_cert("site.test")
                leaf.private_key_pem.write_to_path(str(d / f"{i}.key"))
                leaf.cert_chain_pems[0].write_to_path(str(d / f"{i}.pem"))
                port = _free_port()
                procs.append(
                    subprocess.Popen(
                        [
                            openssl,
                            "s_server",
                            "-accept",
                            f"127.0.0.1:{port}",
                            "-cert",
                            str(d / f"{i}.pem"),
                            "-key",
                            str(d / f"{i}.key"),
                            "-min_protocol",
                            "TLSv1",
                            "-cipher",
                            "DEFAULT:@SECLEVEL=0",
                            "-www",
                            "-quiet",
                        ],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                ports.append(port)
            deadline = time.monotonic() + 15
            for port in ports:
                while True:
                    with socket.socket() as s:
                        if s.connect_ex(("127.0.0.1", port)) == 0:
                            break
                    if time.monotonic() > deadline:
                        raise RuntimeError("openssl s_server did not start")
                    time.sleep(0.05)
            yield ports, str(d / "ca.pem")
        finally:
            for p in procs:
                p.kill()
                p.wait()


def _intgkit_sampler(ports: list[int], ca_file: str) -> float:
    import intgkit
    from intgkit.integrations.tls_certificate import TlsCertificate

    check = TlsCertificate(ca_bundle=ca_file, resolve=",".join(f"site.test:{p}:127.0.0.1" for p in ports))
    registry = intgkit.IntegrationRegistry(None)
    registry.register(check)
    runner = intgkit.IntegrationRunner(registry, timeout=60)

    async def main() -> float:
        start = time.perf_counter()
        results = await runner.arun([check.name], targets=[f"site.test:{p}" for p in ports])
        elapsed = time.perf_counter() - start
        assert all(r.ok for r in results), [(r.target, r.error) for r in results if not r.ok]
        suites = results.to_frame("cipher_suites")
        assert len(suites) >= 10 * len(ports), len(suites)  # a real scan happened
        return elapsed

    return asyncio.run(main())


def _sslyze_sampler(ports: list[int], ca_file: str) -> float:
    specs = [{"name": str(p), "hostname": "site.test", "port": p, "ca_file": ca_file} for p in ports]
    proc = subprocess.run(
        [str(SSLYZE_PYTHON), str(SSLYZE_SCRIPT)],
        input=json.dumps(specs),
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert all("error" not in s for s in out["servers"]), out["servers"]
    return float(out["seconds"])


def run(quick: bool) -> list[Row]:
    """tls_certificate's full audit vs sslyze's scan commands, same servers, same run."""
    n = 4 if quick else 20
    if not SSLYZE_PYTHON.exists():
        raise RuntimeError(f"sslyze's venv is missing ({SSLYZE_PYTHON}): run `bash .ci/setup`")
    with _servers(n) as (ports, ca_file):
        medians = interleaved(
            {
                "intgkit": lambda: _intgkit_sampler(ports, ca_file),
                "sslyze": lambda: _sslyze_sampler(ports, ca_file),
            },
            repeats=1 if quick else 3,
            warmup=0 if quick else 1,
        )
    note = (
        f"{n} openssl s_server (TLS 1.0-1.3, DEFAULT suites): tls_certificate {medians['intgkit']:.2f} s "
        f"through the runner vs sslyze 6.3.1's CERTIFICATE_INFO + cipher-suite scans "
        f"{medians['sslyze']:.2f} s"
    )
    return [
        row(
            f"tls: full audit of {n} local TLS servers vs sslyze",
            medians["intgkit"],
            medians["sslyze"],
            0.5,
            note=note,
        )
    ]


if __name__ == "__main__":
    for r in run(quick=False):
        print(r)

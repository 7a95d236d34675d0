"""Issue 15's DNS audit throughput: dns_email vs checkdmarc 6.0.4 on the same 1,000 local domains.

One DNS server in a child process (so it does not share the clients' interpreter) answers for
``d0000.bench.test`` ... : SPF through an include and an MX, DMARC with a report address, an
MX host, half of them a CAA record. It is a small asyncio server over UDP and TCP answering
from a dnspython zone with each answer built once (``serve()`` below): intgkit.testing's
DnsZoneServer answers about 600 queries a second, which would time the server, not the
clients. Both tools audit every
domain's SPF, DMARC, MX, MTA-STS, TLS-RPT, BIMI and DNSSEC records against it (no SMTP):

- intgkit: the ``dns_email`` integration through the runner (max_concurrency 32); the lookups
  of one domain run concurrently.
- baseline (a): ``checkdmarc.check_domains(domains, nameservers=...)``, checkdmarc's own way
  to audit a list (one domain after the other).
- baseline (b): ``check_domains([domain])`` in a ThreadPoolExecutor(32), what a user who
  knows checkdmarc is synchronous would write for a thousand domains.

checkdmarc's process-wide DNS cache is cleared before each of its samples. Needs checkdmarc
(the ``test`` extra). ``python -m benchmarks --only dns_email``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ._common import Row, interleaved, row

CONCURRENCY = 32
POLICIES = ("reject", "quarantine", "none")


def serve() -> None:
    """Answer for the zone text read from stdin on 127.0.0.1 (UDP and TCP); print the port."""
    import dns.flags
    import dns.message
    import dns.rcode
    import dns.rdataclass
    import dns.rdatatype
    import dns.zone

    zone = dns.zone.from_text(sys.stdin.read(), relativize=False)
    names = set()
    for name in zone.nodes:
        while len(name) > 1:
            names.add(name)
            name = name.parent()
    soa = zone.find_rrset(zone.origin, dns.rdatatype.SOA)
    cache: dict[bytes, bytes] = {}

    def answer(wire: bytes) -> bytes:
        # everything after the id (flags, question, EDNS) decides the answer: parse it once
        key = wire[2:]
        cached = cache.get(key)
        if cached is None:
            query = dns.message.from_wire(wire)
            q = query.question[0]
            resp = dns.message.make_response(query)
            resp.flags |= dns.flags.AA
            node = zone.get_node(q.name)
            rdataset = node.get_rdataset(dns.rdataclass.IN, q.rdtype) if node is not None else None
            if rdataset is not None:
                resp.answer.append(zone.find_rrset(q.name, q.rdtype))
            else:
                if q.name not in names:
                    resp.set_rcode(dns.rcode.NXDOMAIN)
                resp.authority.append(soa)
            cached = cache[key] = resp.to_wire()[2:]
        return wire[:2] + cached

    class Udp(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.transport.sendto(answer(data), addr)

    async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                out = answer(await reader.readexactly(size))
                writer.write(len(out).to_bytes(2, "big") + out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(20):
            transport, _p = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", 0))
            port = transport.get_extra_info("sockname")[1]
            try:
                server = await asyncio.start_server(tcp, "127.0.0.1", port)
            except OSError:
                transport.close()
                continue
            break
        print(port, flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _zone(n: int) -> str:
    lines = [
        "$ORIGIN bench.test.",
        "$TTL 3600",
        "@ SOA ns1 hostmaster 1 3600 600 86400 60",
        "@ NS ns1",
        "ns1 A 192.0.2.53",
        '_spf TXT "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ~all"',
    ]
    for i in range(n):
        d = f"d{i:04d}"
        lines += [
            f'{d} TXT "v=spf1 include:_spf.bench.test mx a:mx.{d}.bench.test -all"',
            f'{d} TXT "site-verification={i}"',
            f"{d} MX 10 mx.{d}.bench.test.",
            f"mx.{d} A 192.0.2.{i % 250 + 1}",
            f'_dmarc.{d} TXT "v=DMARC1; p={POLICIES[i % 3]}; rua=mailto:d@{d}.bench.test"',
        ]
        if i % 2:
            lines.append(f'{d} CAA 0 issue "ca.example"')
    return "\n".join(lines) + "\n"


class _Server:
    """:func:`serve` in a child process, killed on exit."""

    def __init__(self, zone: str) -> None:
        self.zone = zone
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> _Server:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_dns_email", "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(self.zone)
        self._proc.stdin.close()
        self.port = int(self._proc.stdout.readline())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)


def _domains(n: int) -> list[str]:
    return [f"d{i:04d}.bench.test" for i in range(n)]


def _intgkit_sampler(port: int, domains: list[str]) -> float:
    import intgkit
    from intgkit.integrations.dns_email import DnsEmail

    async def main() -> float:
        registry = intgkit.IntegrationRegistry(None)
        registry.register(DnsEmail(nameserver=f"127.0.0.1:{port}", smtp=False, lifetime=10))
        runner = intgkit.IntegrationRunner(registry, timeout=60, max_concurrency=CONCURRENCY, history=None)
        start = time.perf_counter()
        results = await runner.arun(["dns_email"], targets=domains)
        elapsed = time.perf_counter() - start
        assert all(r.ok for r in results), results.counts()
        return elapsed

    return asyncio.run(main())


def _nameservers(port: int) -> list[Any]:
    import dns.nameserver

    return [dns.nameserver.Do53Nameserver("127.0.0.1", port)]


def _sequential_sampler(port: int, domains: list[str]) -> float:
    from checkdmarc import check_domains
    from checkdmarc.utils import DNS_CACHE

    DNS_CACHE.clear()
    start = time.perf_counter()
    out = check_domains(domains, nameservers=_nameservers(port), timeout=10.0)
    elapsed = time.perf_counter() - start
    assert len(out if isinstance(out, list) else [out]) == len(domains)
    return elapsed


def _threads_sampler(port: int, domains: list[str]) -> float:
    from checkdmarc import check_domains
    from checkdmarc.utils import DNS_CACHE

    DNS_CACHE.clear()
    ns = _nameservers(port)
    start = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        out = list(pool.map(lambda d: check_domains([d], nameservers=ns, timeout=10.0), domains))
    elapsed = time.perf_counter() - start
    assert len(out) == len(domains)
    return elapsed


def run(quick: bool) -> list[Row]:
    """dns_email through the runner vs checkdmarc (sequential, and in 32 threads)."""
    try:
        import checkdmarc  # noqa: F401 - the reference tool
    except ImportError:
        print("bench_dns_email: checkdmarc is not installed (pip install -e '.[test]'); skipped")
        return []
    n = 50 if quick else 1000
    domains = _domains(n)
    with _Server(_zone(n)) as server:
        medians = interleaved(
            {
                "intgkit": lambda: _intgkit_sampler(server.port, domains),
                "sequential": lambda: _sequential_sampler(server.port, domains),
                "threads": lambda: _threads_sampler(server.port, domains),
            },
            repeats=1 if quick else 3,
        )
    note = (
        f"{n / medians['intgkit']:,.0f} domains/s with dns_email (max_concurrency={CONCURRENCY}), "
        f"{n / medians['sequential']:,.0f} with checkdmarc.check_domains, "
        f"{n / medians['threads']:,.0f} with checkdmarc in ThreadPoolExecutor({CONCURRENCY})"
    )
    return [
        row(
            f"dns_email: {n:,} domains vs checkdmarc.check_domains (a)",
            medians["intgkit"],
            medians["sequential"],
            0.5,
            note=note,
        ),
        row(
            f"dns_email: {n:,} domains vs checkdmarc in {CONCURRENCY} threads (b)",
            medians["intgkit"],
            medians["threads"],
            0.5,
        ),
    ]


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
        sys.exit(0)
    for r in run(quick=False):
        print(r)

"""A small DNS client: one UDP socket per domain's audit, queries matched to answers by id.

dnspython's async resolver opens a socket, builds a resolution plan and a query message for
every question; an audit asks a dozen questions per domain, a thousand domains at once, and
that bookkeeping was most of its time. Here one datagram endpoint carries all the questions of
one audit, each query's bytes are written directly (header, name, type, the EDNS OPT record with
DO set), and answers are parsed with dnspython (``dns.message.from_wire``) and matched to their
query by id and question. A query without answer is sent again after ``retry_after`` seconds
until ``lifetime`` is spent, to the next nameserver if several are configured; a truncated
answer is asked again over TCP (``dns.asyncquery.tcp``).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dns.message

__all__ = ["DnsClient", "DnsFailure", "Nameserver"]

_EDNS_PAYLOAD = 1232
_DO = 0x8000


@dataclass(frozen=True, slots=True)
class Nameserver:
    """Where queries go."""

    address: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


class DnsFailure(Exception):
    """No usable answer: ``status`` is TIMEOUT, SERVFAIL or ERROR, ``message`` says why."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def query_wire(qid: int, name: str, rdtype: int) -> bytes:
    """A query with RD set and an EDNS OPT record asking for DNSSEC records (DO)."""
    labels = [label.encode("idna") if not label.isascii() else label.encode() for label in name.split(".")]
    if any(not 0 < len(label) < 64 for label in labels):
        raise ValueError(f"{name!r} is not a valid DNS name")
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    if len(qname) > 255:
        raise ValueError(f"{name!r} is longer than 255 bytes")
    header = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01"
    opt = (
        b"\x00\x00\x29"
        + _EDNS_PAYLOAD.to_bytes(2, "big")
        + b"\x00\x00"
        + _DO.to_bytes(2, "big")
        + b"\x00\x00"
    )
    return header + qname + rdtype.to_bytes(2, "big") + b"\x00\x01" + opt


def header(data: bytes) -> tuple[int, int, int]:
    """(rcode, flags, number of answer records) from an answer's 12-byte header."""
    flags = int.from_bytes(data[2:4], "big")
    return flags & 0x000F, flags, int.from_bytes(data[6:8], "big")


def parse_answer_section(data: bytes) -> dns.message.Message:
    """The message with its question and answer sections only (authority and EDNS skipped)."""
    import dns.message

    return dns.message.from_wire(data[:8] + b"\x00\x00\x00\x00" + data[12:])


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: DnsClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.client._received(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.: the retry decides
        pass


class DnsClient:
    """Queries to ``nameservers`` over one UDP socket; :meth:`close` when done."""

    def __init__(self, nameservers: list[Nameserver], *, lifetime: float, retry_after: float) -> None:
        if not nameservers:
            raise ValueError("no nameserver to ask")
        self.nameservers = nameservers
        self.lifetime = lifetime
        self.retry_after = retry_after
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._waiting: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}
        self._opening = asyncio.Lock()

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        transport = self._transports.get(family)
        if transport is not None:
            return transport
        async with self._opening:  # the first queries arrive together: open one socket, not several
            transport = self._transports.get(family)
            if transport is not None:
                return transport
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)  # noqa: S104 - a client's own port
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=local, family=family
            )
            self._transports[family] = transport
        return transport

    def _received(self, data: bytes) -> None:
        if len(data) < 12:
            return
        qid = int.from_bytes(data[:2], "big")
        waiting = self._waiting.get(qid)
        if waiting is None:
            return
        question, future = waiting
        # the question section must be ours (RFC 5452 §9.1), compared case-insensitively; a
        # truncated answer may come without it (it is asked again over TCP anyway)
        ours = data[12 : 12 + len(question)].lower() == question.lower()
        truncated_bare = bool(data[2] & 0x02) and data[4:6] == b"\x00\x00"
        if (ours or truncated_bare) and not future.done():
            future.set_result(data)

    async def query(self, name: str, rdtype: int) -> bytes:
        """The answer's bytes for (name, rdtype), NOERROR or NXDOMAIN; :class:`DnsFailure` if none.

        The bytes are not parsed here: an audit's answers are mostly empty (NXDOMAIN, NODATA),
        which the header says (:func:`header`) without dnspython's parser.
        """
        import dns.asyncquery
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode

        deadline = time.monotonic() + self.lifetime
        loop = asyncio.get_running_loop()
        attempt = 0
        last = "no answer"
        while True:
            server = self.nameservers[attempt % len(self.nameservers)]
            attempt += 1
            qid = secrets.randbelow(65536)
            while qid in self._waiting:
                qid = secrets.randbelow(65536)
            wire = query_wire(qid, name.rstrip("."), rdtype)
            future: asyncio.Future[bytes] = loop.create_future()
            self._waiting[qid] = (wire[12:-11], future)
            try:
                family = socket.AF_INET6 if ":" in server.address else socket.AF_INET
                (await self._transport(family)).sendto(wire, (server.address, server.port))
                left = deadline - time.monotonic()
                data = await asyncio.wait_for(future, max(0.0, min(self.retry_after, left)))
            except TimeoutError:
                if time.monotonic() >= deadline:
                    raise DnsFailure(
                        "TIMEOUT", f"DNS server {server} did not answer within {self.lifetime:g} s"
                    ) from None
                continue
            except OSError as exc:
                last = f"DNS server {server}: {exc}"
                if time.monotonic() >= deadline or attempt >= 3 * len(self.nameservers):
                    raise DnsFailure("ERROR", last) from None
                continue
            finally:
                self._waiting.pop(qid, None)
            if header(data)[1] & dns.flags.TC:
                query = dns.message.from_wire(wire)
                try:
                    response = await dns.asyncquery.tcp(
                        query, server.address, timeout=max(0.1, deadline - time.monotonic()), port=server.port
                    )
                except (dns.exception.DNSException, OSError) as exc:
                    raise DnsFailure("ERROR", f"DNS server {server} over TCP: {exc}") from None
                data = response.to_wire()
            rcode = header(data)[0]
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return data
            last = f"DNS server {server} answered {dns.rcode.to_text(dns.rcode.Rcode.make(rcode))}"
            if attempt >= len(self.nameservers):
                raise DnsFailure("SERVFAIL" if rcode == dns.rcode.SERVFAIL else "ERROR", last)

    def close(self) -> None:
        """Close the sockets (idempotent); queries still waiting end with a timeout."""
        transports, self._transports = self._transports, {}
        for transport in transports.values():
            transport.close()

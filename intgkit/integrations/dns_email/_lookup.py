"""The DNS lookups of one dns_email fetch: each (name, type) asked once, every answer recorded.

The checks of one domain run concurrently and often need the same names (the apex TXT for SPF
and DNSSEC, MX hosts for SPF, MTA-STS and SMTP), so a lookup in flight is shared: the second
asker awaits the first one's query instead of sending another. Answers are plain values
(:class:`Answer`) so the parsers and evaluators can be tested with hand-made ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._findings import clip
from ._client import DnsClient, DnsFailure, header, parse_answer_section

if TYPE_CHECKING:
    import dns.message

__all__ = ["Answer", "AnswerCache", "Lookup", "Lookups", "parse_nameserver"]

_OK = ("NOERROR", "NODATA")


@dataclass(slots=True)
class Answer:
    """One query's outcome; ``status`` is NOERROR, NODATA, NXDOMAIN, SERVFAIL, TIMEOUT or ERROR.

    ``texts`` are the records as text (a TXT record's strings joined, as receivers read them),
    ``rdata`` dnspython's rdata objects, ``ad`` the AD bit, ``error`` why a failed query failed
    (for the ``-unknown`` findings), ``response`` the whole DNS message (for RRSIGs).
    """

    status: str
    texts: list[str] = field(default_factory=list)
    rdata: list[Any] = field(default_factory=list)
    ad: bool = False
    error: str | None = None
    response: dns.message.Message | None = None

    @property
    def ok(self) -> bool:
        """The server answered: records or none of that type (NODATA)."""
        return self.status in _OK

    @property
    def void(self) -> bool:
        """No records: the name does not exist or has none of this type (RFC 7208 §4.6.4)."""
        return self.status in ("NXDOMAIN", "NODATA")

    @property
    def failed(self) -> bool:
        """The lookup itself failed (SERVFAIL, timeout, ...): the answer is unknown."""
        return not self.ok and not self.void

    def why(self, name: str, rdtype: str) -> str:
        """One line naming the failed lookup, for ``-unknown`` findings."""
        return f"the {rdtype} lookup of {name} failed: {self.error or self.status}"


#: What the evaluators get to ask DNS with: ``await lookup(name, rdtype)``.
Lookup = Callable[[str, str], Awaitable[Answer]]


def parse_nameserver(text: str) -> tuple[str, int]:
    """``address[:port]`` (IPv6 as ``[addr]:port`` or bare) -> (address, port); ValueError if not."""
    raw = text.strip()
    address, port = raw, 53
    if raw.startswith("["):
        address, _, tail = raw[1:].partition("]")
        if tail:
            if not tail.startswith(":") or not tail[1:].isdigit():
                raise ValueError(f"INTGKIT_DNS_NAMESERVER {text!r} is not address[:port]")
            port = int(tail[1:])
    elif raw.count(":") == 1:
        address, _, port_s = raw.partition(":")
        if not port_s.isdigit():
            raise ValueError(f"INTGKIT_DNS_NAMESERVER {text!r}: the port must be a number")
        port = int(port_s)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(
            f"INTGKIT_DNS_NAMESERVER {text!r} must be an IP address with an optional port, "
            f"e.g. 127.0.0.1:5353 or [::1]:53"
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"INTGKIT_DNS_NAMESERVER {text!r}: port out of range")
    return address, port


def rdata_text(rdata: Any) -> str:
    """A record as text; a TXT record's character-strings joined, as receivers read them."""
    strings = getattr(rdata, "strings", None)
    if strings is not None:
        return b"".join(strings).decode("utf-8", errors="replace")
    return str(rdata.to_text())


class AnswerCache:
    """Answers kept for the next fetches of the same integration, as a caching resolver does.

    Auditing many domains asks the same parents again and again (``com`` CAA, a shared SPF
    include, the organisation's ``_dmarc``); an answer is reused for at most ``max_age``
    seconds, or its records' TTL if shorter. Failed lookups are never kept.
    """

    def __init__(self, max_age: float = 30.0, max_entries: int = 20_000) -> None:
        self.max_age = max_age
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], tuple[float, Answer, int | None]] = {}
        self._lock = threading.Lock()  # runs in other threads' loops may share the integration

    def get(self, key: tuple[str, str]) -> tuple[Answer, int | None] | None:
        """The kept answer and its TTL, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                self._entries.pop(key, None)
                return None
            return entry[1], entry[2]

    def put(self, key: tuple[str, str], answer: Answer, ttl: int | None) -> None:
        """Keep a successful answer (NOERROR, NODATA, NXDOMAIN)."""
        if answer.failed or self.max_age <= 0:
            return
        now = time.monotonic()
        age = self.max_age if ttl is None else min(self.max_age, float(ttl))
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for k in [k for k, e in self._entries.items() if e[0] <= now]:
                    self._entries.pop(k, None)
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[key] = (now + age, answer, ttl)

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._entries.clear()


class Lookups:
    """The queries of one fetch: cached per (name, type), shared while in flight, recorded.

    Args:
        domain: the target, repeated in every ``dns_records`` row.
        client: the DNS client (closed by :meth:`close`).
        limit: queries in flight at most, shared by the fetches of one integration (a burst of
            hundreds of UDP queries overflows a server's socket buffer, and each lost one costs
            a retry).
    """

    def __init__(
        self,
        domain: str,
        client: DnsClient,
        limit: asyncio.Semaphore | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        self.domain = domain
        self.cache = cache
        self.client = client
        self.server = ", ".join(str(ns) for ns in client.nameservers)
        self.limit = limit
        self.records: list[dict[str, Any]] = []
        self._pending: dict[tuple[str, str], asyncio.Future[Answer]] = {}

    def bind(self, purpose: str) -> Lookup:
        """A :data:`Lookup` whose queries are recorded with ``purpose`` (spf, dmarc, ...)."""

        async def lookup(name: str, rdtype: str) -> Answer:
            return await self.query(name, rdtype, purpose)

        return lookup

    async def query(self, name: str, rdtype: str, purpose: str) -> Answer:
        """Ask once per (name, type); concurrent askers share the query in flight."""
        key = (name.lower().rstrip("."), rdtype)
        future = self._pending.get(key)
        if future is None:
            future = asyncio.ensure_future(self._ask(key, purpose))
            self._pending[key] = future
        return await future

    def close(self) -> None:
        """Close the client's sockets."""
        self.client.close()

    async def _ask(self, key: tuple[str, str], purpose: str) -> Answer:
        name, rdtype = key
        ttl: int | None = None
        kept = self.cache.get(key) if self.cache is not None else None
        if kept is not None:
            out, ttl = kept
        else:
            try:
                if self.limit is None:
                    out, ttl = await self._resolve(name, rdtype)
                else:
                    async with self.limit:
                        out, ttl = await self._resolve(name, rdtype)
            except DnsFailure as exc:
                out = Answer(exc.status, error=clip(str(exc), 300))
            except ValueError as exc:  # a name that cannot be asked (too long, empty label)
                out = Answer("ERROR", error=clip(str(exc), 300))
            if self.cache is not None:
                self.cache.put(key, out, ttl)
        base = {
            "domain": self.domain,
            "purpose": purpose,
            "record_type": rdtype,
            "name_queried": name,
            "status": out.status,
        }
        if out.texts:
            for text in out.texts:
                self.records.append({**base, "raw_record": clip(text), "ttl": ttl, "error": None})
        else:
            self.records.append({**base, "raw_record": None, "ttl": None, "error": out.error})
        return out

    async def _resolve(self, name: str, rdtype: str) -> tuple[Answer, int | None]:
        import dns.exception
        import dns.flags
        import dns.message
        import dns.rcode
        import dns.rdatatype

        data = await self.client.query(name, dns.rdatatype.from_text(rdtype))
        rcode, flags, count = header(data)
        ad = bool(flags & dns.flags.AD)
        if count == 0:  # no records: the header says all there is to say
            if rcode == dns.rcode.NXDOMAIN:
                return Answer("NXDOMAIN", error="the name does not exist (NXDOMAIN)"), None
            return Answer("NODATA", ad=ad), None
        try:
            response = parse_answer_section(data)
            if not isinstance(response, dns.message.QueryMessage):  # pragma: no cover - a reply
                return Answer("ERROR", error="the answer is not a query response"), None
            chain = response.resolve_chaining()
        except dns.exception.DNSException as exc:
            return Answer("ERROR", error=clip(f"malformed answer: {type(exc).__name__}: {exc}", 300)), None
        rrset = chain.answer
        if rrset is None and rcode == dns.rcode.NXDOMAIN:
            return Answer("NXDOMAIN", error="the name does not exist (NXDOMAIN)", response=response), None
        rdata = list(rrset) if rrset is not None else []
        answer = Answer(
            "NOERROR" if rdata else "NODATA",
            texts=[rdata_text(r) for r in rdata],
            rdata=rdata,
            ad=ad,
            response=response,
        )
        return answer, (rrset.ttl if rrset is not None else None)

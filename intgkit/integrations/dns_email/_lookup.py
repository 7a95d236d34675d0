"""The DNS lookups of one dns_email fetch: each (name, type) asked once, every answer recorded.

The checks of one domain run concurrently and often need the same names (the apex TXT for SPF
and DNSSEC, MX hosts for SPF, MTA-STS and SMTP), so a lookup in flight is shared: the second
asker awaits the first one's query instead of sending another. Answers are plain values
(:class:`Answer`) so the parsers and evaluators can be tested with hand-made ones.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._findings import clip

if TYPE_CHECKING:
    import dns.asyncresolver
    import dns.message

__all__ = ["Answer", "Lookup", "Lookups", "parse_nameserver"]

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


class Lookups:
    """The queries of one fetch: cached per (name, type), shared while in flight, recorded.

    Args:
        domain: the target, repeated in every ``dns_records`` row.
        resolver: a configured ``dns.asyncresolver.Resolver``.
        server: the nameserver(s) as text, for error messages.
        lifetime: seconds one query may take (for the timeout message).
    """

    def __init__(
        self, domain: str, resolver: dns.asyncresolver.Resolver, server: str, lifetime: float
    ) -> None:
        self.domain = domain
        self.resolver = resolver
        self.server = server
        self.lifetime = lifetime
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

    async def _ask(self, key: tuple[str, str], purpose: str) -> Answer:
        import dns.exception
        import dns.flags
        import dns.resolver

        name, rdtype = key
        ttl: int | None = None
        try:
            ans = await self.resolver.resolve(name + ".", rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            out = Answer("NXDOMAIN", error="the name does not exist (NXDOMAIN)")
        except dns.exception.Timeout:
            out = Answer(
                "TIMEOUT", error=f"DNS server {self.server} did not answer within {self.lifetime:g} s"
            )
        except dns.resolver.NoNameservers as exc:
            status = "SERVFAIL" if "SERVFAIL" in str(exc) else "ERROR"
            out = Answer(status, error=clip(f"DNS server {self.server}: {exc}", 300))
        except dns.exception.DNSException as exc:
            out = Answer("ERROR", error=clip(f"{type(exc).__name__}: {exc}", 300))
        else:
            rdata = list(ans.rrset) if ans.rrset is not None else []
            out = Answer(
                "NOERROR" if rdata else "NODATA",
                texts=[rdata_text(r) for r in rdata],
                rdata=rdata,
                ad=bool(ans.response.flags & dns.flags.AD),
                response=ans.response,
            )
            ttl = ans.rrset.ttl if ans.rrset is not None else None
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

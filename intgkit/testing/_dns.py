"""Local DNS servers (and an MTA-STS policy host) on 127.0.0.1, for offline tests and demos.

Real servers, not mocks, so an integration's resolver code runs unchanged against them: point
``INTGKIT_DNS_NAMESERVER`` (or a ``nameserver=`` override) at :attr:`DnsZoneServer.nameserver`.

    with DnsZoneServer('''
        $ORIGIN example.test.
        @       TXT "v=spf1 -all"
        _dmarc  TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
    ''', ad=True) as dns:
        ...  # resolve against dns.nameserver ("127.0.0.1:<port>")

- :class:`DnsZoneServer` answers from zone text (dnslib's ``RR.fromZone``) over UDP and TCP on
  the same port: the RRsets of the name and type asked for, CNAMEs chased inside the zone,
  NODATA for names that exist (or have names below them) without that type, NXDOMAIN for every
  other name; RRSIG records in the zone text (a zone signed beforehand, e.g. with dnspython's
  ``dns.dnssec.sign_zone``, or :func:`signed_zone`) are added to the answers they cover.
  Options set the AD bit (what a validating resolver says about a signed zone) and answer
  SERVFAIL (for every name or for some names).
- :class:`SilentDnsServer` is a bound UDP socket that never answers, to test timeouts.
- :class:`MtaStsPolicyServer` serves ``/.well-known/mta-sts.txt`` over HTTPS with a throwaway
  trustme CA; :meth:`MtaStsPolicyServer.resolve_for` gives the ``INTGKIT_RESOLVE`` entry that
  sends ``https://mta-sts.<domain>/`` (port 443, fixed by RFC 8461) to it.

The DNS servers run in daemon threads, so they work from sync and async tests alike; use them
as context managers (``with`` or ``async with``) or call ``start()``/``stop()``.
"""

from __future__ import annotations

import errno
import shutil
import socket
import tempfile
import threading
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["DnsZoneServer", "MtaStsPolicyServer", "SilentDnsServer", "signed_zone"]

_MAX_CNAME_CHAIN = 8


class _ServerBase:
    """Start/stop and the context-manager protocols shared by the DNS servers."""

    host: str
    port: int

    def start(self) -> Self:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def nameserver(self) -> str:
        """``address:port``, the value for ``INTGKIT_DNS_NAMESERVER``."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class DnsZoneServer(_ServerBase):
    """A DNS server answering from zone text, over UDP and TCP on one ephemeral port.

    Args:
        zone: zone-file text (``$ORIGIN``, ``$TTL``, relative names work as in BIND).
        ad: set the AD bit on every answer, as a validating resolver does for a signed zone.
        servfail: True to answer SERVFAIL to every query, or the names (any case, trailing dot
            optional) that get SERVFAIL while the others are answered.
        host: the address to listen on.
        tcp: also serve TCP (on the same port number as UDP).
        max_udp: truncate UDP answers longer than this many bytes (TC set, as a server does
            for its clients' buffer size) so clients must ask again over TCP; 0 never truncates.

    Attributes:
        queries: every query received, as ``(name, type)`` (lowercase name without the trailing
            dot, type mnemonic), in arrival order; clear it between phases of a test.
    """

    def __init__(
        self,
        zone: str = "",
        *,
        ad: bool = False,
        servfail: bool | Collection[str] = False,
        host: str = "127.0.0.1",
        tcp: bool = True,
        max_udp: int = 0,
    ) -> None:
        self.host = host
        self.port = 0
        self.max_udp = max_udp
        self.ad = ad
        self.servfail = servfail
        self.tcp = tcp
        self.queries: list[tuple[str, str]] = []
        self._records: list[Any] = []
        self._index = _Index([])
        self._servers: list[Any] = []
        self._lock = threading.Lock()
        self.zone = zone

    @property
    def zone(self) -> str:
        """The zone text; assigning new text replaces every record (takes effect immediately)."""
        return self._zone

    @zone.setter
    def zone(self, text: str) -> None:
        from dnslib import RR

        records = list(RR.fromZone(text)) if text.strip() else []
        index = _Index(records)
        with self._lock:
            self._zone = text
            self._records = records
            self._index = index

    def start(self) -> Self:
        """Bind UDP (and TCP) on a free port and serve in background threads."""
        if self._servers:
            return self
        from dnslib.server import DNSHandler, DNSLogger, DNSServer

        handler = type("Handler", (DNSHandler,), {"udplen": self.max_udp})

        logger = DNSLogger("-request,-reply,-truncated,-error", prefix=False)
        resolver = _zone_resolver(self)
        for _attempt in range(20):
            udp = DNSServer(resolver, address=self.host, port=0, tcp=False, logger=logger, handler=handler)
            port = udp.server.server_address[1]
            if not self.tcp:
                self._servers = [udp]
                break
            try:
                tcp = DNSServer(resolver, address=self.host, port=port, tcp=True, logger=logger)
            except OSError as exc:  # the TCP port is taken: try another UDP port
                udp.server.server_close()
                if exc.errno != errno.EADDRINUSE:
                    raise
                continue
            self._servers = [udp, tcp]
            break
        else:  # pragma: no cover - twenty collisions in a row
            raise OSError(f"no port on {self.host} is free for both UDP and TCP")
        self.port = port
        for server in self._servers:
            # a short poll interval makes stop() quick (socketserver's default is 0.5 s)
            server.thread = threading.Thread(
                target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
            )
            server.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the sockets (idempotent)."""
        servers, self._servers = self._servers, []
        for server in servers:
            server.server.shutdown()
            server.server.server_close()
            server.thread.join(timeout=5)

    def __repr__(self) -> str:
        state = f"on {self.nameserver}" if self._servers else "stopped"
        return f"<DnsZoneServer {state}, {len(self._records)} records, ad={self.ad}>"

    # -- answering (runs in the server threads) ------------------------------------------------

    def _servfail_for(self, name: str) -> bool:
        sf = self.servfail
        if isinstance(sf, bool):
            return sf
        return name in {n.lower().rstrip(".") for n in sf}

    def _answer(self, request: Any) -> Any:
        from dnslib import QTYPE, RCODE, DNSLabel

        qname = request.q.qname
        qtype = request.q.qtype
        name = str(qname).lower().rstrip(".")
        with self._lock:
            self.queries.append((name, QTYPE.get(qtype, str(qtype))))
            index = self._index
        reply = request.reply()  # copies the id and RD, sets QR and RA
        reply.header.aa = 1
        if self.ad:
            reply.header.ad = 1
        if self._servfail_for(name):
            reply.header.rcode = RCODE.SERVFAIL
            reply.header.aa = 0
            reply.header.ad = 0
            return reply
        current = DNSLabel(qname)
        for _ in range(_MAX_CNAME_CHAIN):
            owned = index.owned(current)
            matching = [rr for rr in owned if rr.rtype == qtype or qtype == QTYPE.ANY]
            if matching:
                for rr in matching:
                    reply.add_answer(rr)
                # a signed zone's RRSIGs travel with the records they cover (RFC 4035 §3.1.1)
                for rr in owned:
                    if rr.rtype == QTYPE.RRSIG and rr.rdata.covered == qtype and qtype != QTYPE.RRSIG:
                        reply.add_answer(rr)
                return reply
            cnames = [rr for rr in owned if rr.rtype == QTYPE.CNAME]
            if not cnames:
                break
            reply.add_answer(cnames[0])
            current = DNSLabel(cnames[0].rdata.label)
        if reply.rr:  # a CNAME chain that ends in NODATA or leaves the zone
            return reply
        if not index.exists(current):
            reply.header.rcode = RCODE.NXDOMAIN
        soa = index.closest_soa(current)
        if soa is not None:
            reply.add_auth(soa)
        return reply


def signed_zone(
    zone: str, origin: str, *, ds: bool = True, valid_days: float = 1.0, expired: bool = False
) -> str:
    """``zone`` signed with a fresh ECDSA P-256 key (DNSSEC algorithm 13), as zone text.

    The signed text has the DNSKEY, an RRSIG for every RRset and the NSEC chain, and (with
    ``ds``) the DS record the parent would publish, at the apex name, so one
    :class:`DnsZoneServer` answers for both. ``expired`` dates the signatures in the past, as a
    zone whose re-signing stopped. Uses dnspython and cryptography.

    Args:
        zone: zone-file text; it needs an SOA at ``origin``.
        origin: the zone's apex (``example.test``).
        ds: append the matching DS record.
        valid_days: how long the signatures are valid from now.
        expired: sign with validity that ended an hour ago.
    """
    import time

    import dns.dnssec
    import dns.zone
    from cryptography.hazmat.primitives.asymmetric import ec
    from dns.dnssectypes import Algorithm

    apex = origin.rstrip(".") + "."
    parsed = dns.zone.from_text(zone, origin=apex, relativize=False)
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(), Algorithm.ECDSAP256SHA256, flags=257)
    now = time.time()
    inception, expiration = (now - 86400, now - 3600) if expired else (now - 3600, now + valid_days * 86400)
    with parsed.writer() as txn:
        dns.dnssec.sign_zone(
            parsed, txn=txn, keys=[(key, dnskey)], inception=inception, expiration=expiration
        )
    text = parsed.to_text(relativize=False)
    if ds:
        text += f"{apex} 300 IN DS {dns.dnssec.make_ds(apex, dnskey, 'SHA256')}\n"
    return str(text)


def _key(name: Any) -> str:
    return str(name).lower().rstrip(".")


class _Index:
    """The zone's records by owner name, so a query costs a dict lookup, not a scan."""

    def __init__(self, records: list[Any]) -> None:
        from dnslib import QTYPE

        self.by_name: dict[str, list[Any]] = {}
        self.names: set[str] = set()  # owners and the empty non-terminals above them
        self.soas: list[tuple[str, Any]] = []
        for rr in records:
            key = _key(rr.rname)
            self.by_name.setdefault(key, []).append(rr)
            labels = key.split(".")
            self.names.update(".".join(labels[i:]) for i in range(len(labels)))
            if rr.rtype == QTYPE.SOA:
                self.soas.append((key, rr))

    def owned(self, name: Any) -> list[Any]:
        """The records owned by ``name``."""
        return self.by_name.get(_key(name), [])

    def exists(self, name: Any) -> bool:
        """A name exists if it owns records or is an empty non-terminal above a name that does."""
        return _key(name) in self.names

    def closest_soa(self, name: Any) -> Any:
        """The SOA of the closest enclosing zone apex, or None."""
        text = _key(name)
        best: tuple[str, Any] | None = None
        for owner, rr in self.soas:
            if (text == owner or text.endswith("." + owner)) and (best is None or len(owner) > len(best[0])):
                best = (owner, rr)
        return best[1] if best else None


def _zone_resolver(owner: DnsZoneServer) -> Any:
    """A dnslib BaseResolver deferring to ``owner`` (defined here: dnslib is imported lazily)."""
    from dnslib.server import BaseResolver

    class ZoneResolver(BaseResolver):  # type: ignore[misc]  # dnslib is untyped
        def resolve(self, request: Any, handler: Any) -> Any:
            return owner._answer(request)

    return ZoneResolver()


class SilentDnsServer(_ServerBase):
    """A UDP socket bound on 127.0.0.1 that receives queries and never answers (for timeouts)."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._sock: socket.socket | None = None

    def start(self) -> Self:
        """Bind the socket (queries then queue up unanswered)."""
        if self._sock is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._sock.bind((self.host, 0))
            self.port = self._sock.getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the socket (idempotent)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __repr__(self) -> str:
        state = f"on {self.nameserver}" if self._sock is not None else "stopped"
        return f"<SilentDnsServer {state}>"


class MtaStsPolicyServer:
    """An HTTPS server for MTA-STS policies, with a throwaway CA, on 127.0.0.1.

    It answers ``GET /.well-known/mta-sts.txt`` for ``mta-sts.<domain>`` with the policy set
    for that domain (``text/plain``), and 404 for anything else. Its certificate covers
    ``mta-sts.<domain>`` for every domain given (and 127.0.0.1).

    Args:
        policies: domain -> policy text (``version: STSv1\\nmode: enforce\\n...``).
        ca: a ``trustme.CA`` to issue from (share one with other local servers), or None for a
            new one.
        status: the HTTP status to answer policy requests with (to test broken hosts).

    Attributes:
        port: the listening port (after start).
        ca_bundle: path of a PEM file with the CA, for ``INTGKIT_CA_BUNDLE`` (after start).
        requests: the Host headers of the policy requests received.
    """

    def __init__(
        self, policies: dict[str, str], *, ca: Any = None, status: int = 200, host: str = "127.0.0.1"
    ) -> None:
        self.policies = {d.lower().rstrip("."): text for d, text in policies.items()}
        self.status = status
        self.host = host
        self.port = 0
        self.requests: list[str] = []
        self._ca = ca
        self._tmp: Path | None = None
        self._runner: web.AppRunner | None = None

    @property
    def ca_bundle(self) -> str:
        """Path of the CA's PEM file (valid while the server runs)."""
        if self._tmp is None:
            raise RuntimeError("MtaStsPolicyServer is not started")
        return str(self._tmp / "ca.pem")

    def resolve_for(self, *domains: str) -> str:
        """``INTGKIT_RESOLVE`` entries sending ``mta-sts.<domain>:443`` to this server."""
        return ",".join(f"mta-sts.{d.lower().rstrip('.')}:443:{self.host}:{self.port}" for d in domains)

    async def start(self) -> Self:
        """Issue the certificate, write the CA file, and start serving."""
        if self._runner is not None:
            return self
        import ssl

        import trustme
        from aiohttp import web

        ca = self._ca if self._ca is not None else trustme.CA()
        names = [f"mta-sts.{d}" for d in self.policies] or ["mta-sts.invalid"]
        leaf = ca.issue_cert(*names, self.host)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(ctx)
        self._tmp = Path(tempfile.mkdtemp(prefix="intgkit-mta-sts-"))
        ca.cert_pem.write_to_path(str(self._tmp / "ca.pem"))

        app = web.Application()
        app.router.add_get("/.well-known/mta-sts.txt", self._policy)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, 0, ssl_context=ctx)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop serving and delete the CA file (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    async def _policy(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        host = (request.host or "").split(":")[0].lower()
        self.requests.append(host)
        domain = host.removeprefix("mta-sts.")
        text = self.policies.get(domain) if host.startswith("mta-sts.") else None
        if text is None:
            raise web.HTTPNotFound(text="no MTA-STS policy here")
        return web.Response(text=text, status=self.status, content_type="text/plain")

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = f"on https://{self.host}:{self.port}" if self._runner is not None else "stopped"
        return f"<MtaStsPolicyServer {state}, domains={sorted(self.policies)}>"

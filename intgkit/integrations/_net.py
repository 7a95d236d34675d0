"""Network plumbing shared by the built-in integrations: targets, trust roots, name overrides.

Trust roots and name resolution are settings, so the very same integrations run against
real hosts and against the local servers of the tests and the demo:

- ``INTGKIT_CA_BUNDLE``: a PEM file of trust roots (default: the system's).
- ``INTGKIT_RESOLVE``: ``host:port:address`` entries, comma separated, as curl's --resolve,
  pointing names at local addresses (``site.test:8443:127.0.0.1``); ``*`` as port matches any.
  An optional fourth field connects to another port, as curl's --connect-to
  (``mta-sts.example.test:443:127.0.0.1:8443``): URLs whose port is fixed by a standard
  (MTA-STS policies are always fetched from port 443) can then reach an ephemeral test server.
  With a connect port, write an IPv6 address in brackets (``[::1]:8443``).
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .._settings import Setting

if TYPE_CHECKING:
    import aiohttp

CA_BUNDLE = Setting(
    "INTGKIT_CA_BUNDLE",
    required=False,
    secret=False,
    description="PEM file of trust roots (default: the system's)",
)
RESOLVE = Setting(
    "INTGKIT_RESOLVE",
    required=False,
    secret=False,
    description="host:port:address[,...] overrides, as curl --resolve",
)

_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$)({_LABEL})(\.{_LABEL})*\.?$")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target: a host name or a URL (scheme, host, port, path)."""

    scheme: str
    host: str
    port: int
    path: str = "/"
    explicit_scheme: bool = False
    explicit_port: bool = False

    @property
    def url(self) -> str:
        """The URL, with the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"


def parse_target(target: str | None, default_scheme: str = "https") -> Target:
    """Parse ``host``, ``host:port`` or ``scheme://host[:port][/path]``; ValueError if neither."""
    if not target:
        raise ValueError("this integration needs a target: a host name or a URL")
    text = target.strip()
    explicit_scheme = "://" in text
    parts = urlsplit(text if explicit_scheme else f"{default_scheme}://{text}")
    scheme = (parts.scheme or default_scheme).lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"target {target!r}: scheme must be http or https, got {scheme!r}")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host or not (_HOST.match(host) or is_ip(host)):
        raise ValueError(f"target {target!r} is not a host name or a URL with a host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"target {target!r} has an invalid port") from exc
    return Target(
        scheme=scheme,
        host=host,
        port=port or DEFAULT_PORTS[scheme],
        path=parts.path or "/",
        explicit_scheme=explicit_scheme,
        explicit_port=port is not None,
    )


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, 127.0.0.0/8, ::1), decided without DNS.

    For rules such as "credentials only over https, except to loopback test servers".
    """
    h = host.strip("[]").rstrip(".").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def parse_endpoints(text: str | None) -> dict[tuple[str, int | None], tuple[str, int | None]]:
    """``host:port:address[:connect_port],...`` -> {(host, port or None): (address, connect port)}.

    The connect port is None when the entry has no fourth field (connect to the URL's port).
    """
    out: dict[tuple[str, int | None], tuple[str, int | None]] = {}
    for entry in (text or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        host, sep, rest = entry.partition(":")
        port_s, sep2, address = rest.partition(":")
        if not sep or not sep2 or not host or not address:
            raise ValueError(f"INTGKIT_RESOLVE entry {entry!r} is not host:port:address")
        port = None if port_s == "*" else int(port_s)
        connect: int | None = None
        if address.startswith("["):  # [v6] or [v6]:port
            inner, _, tail = address[1:].partition("]")
            address = inner
            if tail:
                if not tail.startswith(":") or not tail[1:].isdigit():
                    raise ValueError(f"INTGKIT_RESOLVE entry {entry!r}: expected [address]:port")
                connect = int(tail[1:])
        elif address.count(":") == 1:  # v4 or name, then a connect port (a bare v6 has several)
            address, _, connect_s = address.partition(":")
            if not connect_s.isdigit():
                raise ValueError(f"INTGKIT_RESOLVE entry {entry!r}: the connect port must be a number")
            connect = int(connect_s)
        out[(host.lower(), port)] = (address, connect)
    return out


def resolve_endpoint(
    endpoints: Mapping[tuple[str, int | None], tuple[str, int | None]], host: str, port: int
) -> tuple[str, int]:
    """Where to connect for (host, port): (address, port) from :func:`parse_endpoints`, or as given.

    For clients that open their own sockets (raw TLS, SMTP) rather than an aiohttp session.
    """
    address, connect = endpoints.get((host, port)) or endpoints.get((host, None)) or (host, None)
    return address, connect or port


def ssl_context(cafile: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """A client context trusting ``cafile`` (or the system roots); unverified when asked."""
    ctx = ssl.create_default_context(cafile=cafile)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def client_session(
    *, cafile: str | None = None, resolve: str | None = None, verify: bool = True, **kwargs: Any
) -> aiohttp.ClientSession:
    """An aiohttp session honouring the trust roots and the resolve overrides (lazy import)."""
    import aiohttp

    overrides = parse_endpoints(resolve)
    connector = aiohttp.TCPConnector(
        ssl=ssl_context(cafile, verify=verify),
        resolver=_OverrideResolver(overrides) if overrides else None,
        use_dns_cache=False,
    )
    return aiohttp.ClientSession(connector=connector, **kwargs)


def override_resolver(resolve: str | None) -> Any:
    """The aiohttp resolver for ``INTGKIT_RESOLVE``-style overrides, or None when there are none.

    For clients that build their own connector (e.g. to share an SSL context) but want the
    same name overrides as :func:`client_session`.
    """
    overrides = parse_endpoints(resolve)
    return _OverrideResolver(overrides) if overrides else None


class _OverrideResolver:
    """An aiohttp resolver that answers from the overrides and defers the rest."""

    def __new__(cls, overrides: Mapping[tuple[str, int | None], tuple[str, int | None]]) -> Any:
        import socket

        import aiohttp
        import aiohttp.abc

        class Resolver(aiohttp.abc.AbstractResolver):
            def __init__(self) -> None:
                self._fallback = aiohttp.ThreadedResolver()

            async def resolve(
                self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
            ) -> list[Any]:
                found = overrides.get((host.lower(), port)) or overrides.get((host.lower(), None))
                if found is None:
                    return await self._fallback.resolve(host, port, family)
                address, connect = found
                fam = socket.AF_INET6 if ":" in address else socket.AF_INET
                # aiohttp connects to the port given here; the URL (Host header, SNI) is unchanged
                return [
                    {
                        "hostname": host,
                        "host": address,
                        "port": connect or port,
                        "family": fam,
                        "proto": 0,
                        "flags": socket.AI_NUMERICHOST,
                    }
                ]

            async def close(self) -> None:
                await self._fallback.close()

        return Resolver()

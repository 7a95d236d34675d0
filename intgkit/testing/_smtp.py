"""An SMTP server on 127.0.0.1 (aiosmtpd), offering STARTTLS or not, for MX checks.

    async with SmtpServer(["mx.example.test"]) as smtp:
        DnsEmail(nameserver=..., ca_bundle=smtp.ca_bundle, resolve=smtp.resolve_for("mx.example.test"))

MX hosts are always reached on port 25; :meth:`SmtpServer.resolve_for` gives the
``INTGKIT_RESOLVE`` entries that send ``<host>:25`` to the local port. The server accepts and
discards mail (the count is kept in :attr:`SmtpServer.messages`).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    import trustme

__all__ = ["SmtpServer"]


class _Sink:
    """An aiosmtpd handler that accepts every message and counts it."""

    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    # aiosmtpd calls its hooks by these names
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.owner.messages += 1
        return "250 OK"


class SmtpServer:
    """An SMTP server for MX checks; use ``async with`` or :meth:`start` / :meth:`stop`.

    Args:
        names: the host names its certificate covers (the MX hosts it stands in for); the
            first is the name in its greeting.
        starttls: offer STARTTLS (with a certificate from :attr:`ca`) or not.
        ca: the trustme CA that issues the certificate; a fresh one by default.
        not_after: the certificate's end of validity (default: trustme's); a past date makes
            it expired.
        host: the loopback address to listen on.
    """

    def __init__(
        self,
        names: Sequence[str] = ("mx.site.test",),
        *,
        starttls: bool = True,
        ca: trustme.CA | None = None,
        not_after: datetime | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.names = tuple(names)
        self.starttls = starttls
        self.host = host
        self.port = 0
        self.messages = 0
        self._ca = ca
        self._not_after = not_after
        self._server: asyncio.Server | None = None
        self._tmp: Path | None = None

    @property
    def ca_bundle(self) -> str:
        """Path of the CA's PEM file (valid while the server runs)."""
        if self._tmp is None:
            raise RuntimeError("SmtpServer is not started")
        return str(self._tmp / "ca.pem")

    def resolve_for(self, *hosts: str) -> str:
        """``INTGKIT_RESOLVE`` entries sending ``<host>:25`` to this server (default: ``names``)."""
        return ",".join(f"{h.lower().rstrip('.')}:25:{self.host}:{self.port}" for h in hosts or self.names)

    async def start(self) -> Self:
        """Issue the certificate (with STARTTLS) and start serving."""
        if self._server is not None:
            return self
        import trustme
        from aiosmtpd.smtp import SMTP

        ca = self._ca if self._ca is not None else trustme.CA()
        self._ca = ca
        self._tmp = Path(tempfile.mkdtemp(prefix="intgkit-smtp-"))
        ca.cert_pem.write_to_path(str(self._tmp / "ca.pem"))
        context: ssl.SSLContext | None = None
        if self.starttls:
            kwargs: dict[str, Any] = {}
            if self._not_after is not None:
                kwargs["not_after"] = self._not_after
            leaf = ca.issue_cert(*self.names, **kwargs)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            leaf.configure_cert(context)
        handler = _Sink(self)
        hostname = self.names[0] if self.names else "localhost"

        def protocol() -> asyncio.BaseProtocol:
            return SMTP(handler, hostname=hostname, tls_context=context, ident="intgkit test SMTP")

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(protocol, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop serving and delete the CA file (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        state = f"on {self.host}:{self.port}" if self._server is not None else "stopped"
        return f"<SmtpServer {state}, starttls={self.starttls}, names={list(self.names)}>"

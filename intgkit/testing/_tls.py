"""A TLS server on 127.0.0.1 whose certificate and protocol versions are chosen by the test.

It completes handshakes and nothing more, which is all a certificate or protocol check needs,
so a test (or ``intgkit demo``) can present any certificate a real site might have: valid,
expiring, expired, issued for other names, from an untrusted CA, with a weak RSA key or an
overlong lifespan, and accept or refuse legacy TLS versions.

    async with TlsServer(not_after=now + timedelta(days=10)) as server:
        check = TlsCertificate(ca_bundle=server.ca_bundle, resolve=server.resolve)
        await check.fetch(server.target)

Clients reach it by name through a resolve override (:attr:`TlsServer.resolve`, the
``INTGKIT_RESOLVE`` form), so SNI and hostname checks see real names such as ``site.test``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import tempfile
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ..integrations._net import is_ip

if TYPE_CHECKING:
    import trustme

__all__ = ["TlsServer"]

KeyType = Literal["ecdsa", "rsa"]
ClientCert = Literal["none", "optional", "required"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TlsServer:
    """A handshake-only TLS server; use ``async with`` or :meth:`start` / :meth:`stop`.

    Args:
        names: the leaf's subjectAltNames (host names or IP addresses); the first is
            :attr:`target`'s host.
        ca: the trustme CA that issues the leaf; a fresh one by default. Pass another
            server's CA to share trust roots, or trust a different CA to get "unknown issuer".
        not_before: start of validity (default: one day ago).
        not_after: end of validity (default: 90 days from now, a Let's Encrypt-like lifespan;
            pass a past date for an expired certificate).
        key_type: ``"ecdsa"`` (P-256, the default) or ``"rsa"``.
        key_bits: RSA modulus size (default 2048; 1024 and other sizes are allowed, the
            server then lowers its OpenSSL security level so it can use the key at all).
        common_name: the subject CN (default: none, as trustme; modern clients read SANs).
        organization: the leaf's subject O (default: trustme's, or "intgkit testing" for RSA
            sizes trustme cannot make). The issuer O is the CA's: pass
            ``ca=trustme.CA(organization_name=...)`` to set it.
        min_version, max_version: the protocol versions the server accepts. A minimum below
            TLS 1.2 also sets ``ALL:@SECLEVEL=0`` so the legacy handshakes can succeed.
        ciphers: an OpenSSL cipher string for TLS 1.2 and below (``"ECDHE+AESGCM"``, or a weak
            ``"DEFAULT:ECDHE-ECDSA-DES-CBC3-SHA:@SECLEVEL=0"``); TLS 1.3 suites keep
            OpenSSL's defaults (the ``ssl`` module cannot set them).
        client_cert: ``"none"`` (default), ``"optional"`` or ``"required"``: whether the
            server asks for a client certificate issued by :attr:`ca` (mutual TLS).
        host: the loopback address to listen on.
    """

    def __init__(
        self,
        names: Sequence[str] = ("site.test", "localhost", "127.0.0.1"),
        *,
        ca: trustme.CA | None = None,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        key_type: KeyType = "ecdsa",
        key_bits: int = 2048,
        common_name: str | None = None,
        organization: str | None = None,
        min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        max_version: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
        ciphers: str | None = None,
        client_cert: ClientCert = "none",
        host: str = "127.0.0.1",
    ) -> None:
        if not names:
            raise ValueError("TlsServer needs at least one name for the certificate")
        if key_type not in ("ecdsa", "rsa"):
            raise ValueError(f"key_type must be 'ecdsa' or 'rsa', got {key_type!r}")
        if client_cert not in ("none", "optional", "required"):
            raise ValueError(f"client_cert must be 'none', 'optional' or 'required', got {client_cert!r}")
        self.names = tuple(names)
        now = _utcnow()
        self.not_before = not_before if not_before is not None else now - timedelta(days=1)
        self.not_after = not_after if not_after is not None else now + timedelta(days=90)
        self.key_type = key_type
        self.key_bits = key_bits
        self.common_name = common_name
        self.organization = organization
        self.min_version = min_version
        self.max_version = max_version
        self.ciphers = ciphers
        self.client_cert = client_cert
        self.host = host
        self._ca = ca
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tmpdir: str | None = None
        self._port = 0
        self._ctx: ssl.SSLContext | None = None
        #: completed handshakes, and the errors of failed ones (e.g. a refused TLS 1.0 probe)
        self.handshakes = 0
        self.failed_handshakes: list[str] = []

    # -- addresses -------------------------------------------------------------------------------
    @property
    def ca(self) -> trustme.CA:
        """The CA that issued the leaf (created on first use)."""
        if self._ca is None:
            import trustme

            self._ca = trustme.CA()
        return self._ca

    @property
    def port(self) -> int:
        """The ephemeral port it listens on (after start; still readable after stop)."""
        if not self._port:
            raise RuntimeError("TlsServer is not started")
        return self._port

    @property
    def ca_bundle(self) -> str:
        """Path of a PEM file holding the issuing CA, for ``INTGKIT_CA_BUNDLE`` (after start)."""
        if self._tmpdir is None:
            raise RuntimeError("TlsServer is not started")
        return str(Path(self._tmpdir) / "ca.pem")

    @property
    def target(self) -> str:
        """``<first name>:<port>``, a target for TLS checks."""
        return f"{self.names[0]}:{self.port}"

    @property
    def resolve(self) -> str:
        """``INTGKIT_RESOLVE`` entries pointing every DNS name of the leaf at this server."""
        return self.resolve_for(*(n for n in self.names if not is_ip(n)))

    def resolve_for(self, *names: str) -> str:
        """``INTGKIT_RESOLVE`` entries pointing ``names`` (any, e.g. a name not in the leaf) here."""
        return ",".join(f"{n}:{self.port}:{self.host}" for n in names)

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> TlsServer:
        """Issue the leaf, build the server context and listen on an ephemeral port."""
        if self._server is not None:
            raise RuntimeError("TlsServer is already started")
        tmpdir = tempfile.mkdtemp(prefix="intgkit-tls-")
        try:
            self.ca.cert_pem.write_to_path(str(Path(tmpdir) / "ca.pem"))
            self._ctx = self._context(tmpdir)
            # TLS is started per connection, not by create_server: failed handshakes (the point
            # of many tests) are then recorded here instead of logged by asyncio as server errors
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(lambda: _Connection(self), self.host, 0)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        self._tmpdir = tmpdir
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening, close open connections and delete the CA file."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            for conn in list(self._connections):
                if conn.task is not None:
                    conn.task.cancel()
                if conn.transport is not None:
                    conn.transport.abort()  # type: ignore[attr-defined]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def __aenter__(self) -> TlsServer:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._server is not None else "not started"
        return f"<TlsServer {', '.join(self.names)} {self.key_type} at {where}>"

    # -- internals -------------------------------------------------------------------------------
    def _context(self, tmpdir: str) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        legacy = self.min_version < ssl.TLSVersion.TLSv1_2  # MINIMUM_SUPPORTED is -2: legacy too
        weak_key = self.key_type == "rsa" and self.key_bits < 2048
        if legacy or weak_key:
            # TLS 1.0/1.1 (SHA-1 handshake signatures) and small keys need security level 0
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        if self.ciphers is not None:
            ctx.set_ciphers(self.ciphers)
        if self.client_cert != "none":
            ctx.verify_mode = ssl.CERT_REQUIRED if self.client_cert == "required" else ssl.CERT_OPTIONAL
            ctx.load_verify_locations(str(Path(tmpdir) / "ca.pem"))
        with warnings.catch_warnings():  # ssl deprecates the TLSv1/TLSv1_1 members themselves
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = self.min_version
            ctx.maximum_version = self.max_version
        key_pem, chain_pem = self._leaf()
        path = Path(tmpdir) / "leaf.pem"
        path.write_bytes(key_pem + chain_pem)
        try:
            ctx.load_cert_chain(str(path))
        finally:
            path.unlink()  # the private key stays on disk only while OpenSSL reads it
        return ctx

    def _leaf(self) -> tuple[bytes, bytes]:
        """(private key PEM, certificate chain PEM) of a leaf issued by :attr:`ca`."""
        import trustme

        if self.key_type == "ecdsa" or self.key_bits == 2048:
            leaf = self.ca.issue_cert(
                *self.names,
                common_name=self.common_name,
                organization_name=self.organization,
                not_before=self.not_before,
                not_after=self.not_after,
                key_type=trustme.KeyType.ECDSA if self.key_type == "ecdsa" else trustme.KeyType.RSA,
            )
            return leaf.private_key_pem.bytes(), b"".join(b.bytes() for b in leaf.cert_chain_pems)
        return _custom_rsa_leaf(self.ca, self)

    async def _secure(self, raw: asyncio.Transport, conn: _Connection) -> None:
        """Run the server side of the handshake on a fresh connection and record its outcome."""
        assert self._ctx is not None
        loop = asyncio.get_running_loop()
        try:
            tls = await loop.start_tls(raw, conn, self._ctx, server_side=True, ssl_handshake_timeout=10)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            self.failed_handshakes.append(type(exc).__name__ + (f": {exc}" if str(exc) else ""))
            raw.abort()
            return
        if tls is None:  # the connection was closed during the handshake
            return
        self.handshakes += 1
        conn.transport = tls
        if self._server is None:  # stopped meanwhile
            tls.abort()


class _Connection(asyncio.Protocol):
    """One client connection: TLS is started on it by the server, data is discarded.

    A protocol of our own rather than a StreamReaderProtocol: its ``eof_received`` returns
    None, so a client that sends close_notify right after the handshake gets a clean close.
    """

    def __init__(self, server: TlsServer) -> None:
        self.server = server
        self.transport: asyncio.BaseTransport | None = None
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None:  # called again by start_tls for the TLS transport
            return
        self.transport = transport
        self.server._connections.add(self)
        assert isinstance(transport, asyncio.Transport)
        self.task = asyncio.get_running_loop().create_task(self.server._secure(transport, self))

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)


def _custom_rsa_leaf(ca: trustme.CA, spec: TlsServer) -> tuple[bytes, bytes]:
    """A leaf with an RSA key size trustme will not make (it always uses 2048 bits)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key: Any = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=spec.key_bits)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, spec.organization or "intgkit testing")]
    if spec.common_name:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name))
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if is_ip(n) else x509.DNSName(n) for n in spec.names
    ]
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)

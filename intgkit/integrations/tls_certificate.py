"""TLS certificate and protocols of one endpoint, checked with the stdlib ``ssl`` module.

Rules: intgkit's security-check notes §2. Severities are testssl.sh's (testssl/testssl.sh
@9fdf802, ``testssl.sh``: ``certificate_info()``, ``run_protocols()``; thresholds read there:
``DAYS2WARN1=60``, ``DAYS2WARN2=30``, halved for Let's Encrypt); the Mozilla *intermediate*
profile breaches are sslyze's (nabla-c0d3/sslyze @ef91317, ``sslyze/mozilla_tls_profile/``
``mozilla_config_checker.py`` against ``5.7.json``: TLS versions, ``rsa_key_size`` 2048,
``maximum_certificate_lifespan`` 366 compared in whole days):

=============================  ===============================================================
chain_of_trust                 verification by a default client fails: critical
hostname                       no SAN (or CN without SANs) matches the target host: high;
                               matched through a wildcard: low
expiration                     expired critical; < 30 days left high; < 60 days medium
lifespan                       >= 10 years high; >= 5 years medium; > 398 days (issued after
                               2020-09-01) medium
key_size                       RSA/DSA <= 512 critical, <= 768 high, <= 1024 medium;
                               EC <= 110 critical, <= 123 high, <= 163 medium
signature_algorithm            MD2/MD4/MD5 critical; SHA-1 medium
protocol_tls1_0, _tls1_1       offered: low (deprecated)
protocol_tls1_2                not offered: medium
protocol_tls1_3                not offered: low
mozilla_intermediate_*         TLS < 1.2 offered, RSA < 2048 bits, lifespan > 366 days: medium
=============================  ===============================================================

How: one handshake as a default client would make it (``ssl.create_default_context``, the
``INTGKIT_CA_BUNDLE`` roots, hostname checked); OpenSSL's ``verify_code``/``verify_message``
say why it failed (10 expired, 62 hostname mismatch, 18/19 self-signed, 20 unknown issuer).
OpenSSL stops at the first error and checks the name before the dates, so after a mismatch
(62) a second handshake without the name check judges the chain alone; after any other
failure the name is matched here against the certificate's SANs. When verification fails the
certificate is fetched again unverified, so its facts are still reported. Protocols: one
handshake per version with ``minimum_version = maximum_version`` and ``ALL:@SECLEVEL=0``.
A version this machine's OpenSSL cannot speak (detected by a handshake with itself, in memory)
is reported as ``unknown``, never as "not offered". SSLv2/SSLv3, cipher suites, OCSP
stapling, Heartbleed, ROBOT and the like are beyond the stdlib and not reported.

Target: a host name, ``host:port`` or an ``https://`` URL (port 443 by default); the address
comes from ``INTGKIT_RESOLVE`` when it names the host, and SNI and the name check use the host.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import ssl
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._findings import Findings, clip
from ._net import (
    CA_BUNDLE,
    RESOLVE,
    is_ip,
    parse_endpoints,
    parse_target,
    resolve_endpoint,
    ssl_context,
)

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["TlsCertificate", "integration", "local_protocol_support", "match_hostname"]

NAME = "tls_certificate"
DAY = 86400.0
LEGACY_CIPHERS = "ALL:@SECLEVEL=0"  # old suites, SHA-1 handshake signatures and small keys allowed

#: (column / check suffix, label, version); attribute access does not warn, only setting does
PROTOCOLS: tuple[tuple[str, str, ssl.TLSVersion], ...] = (
    ("tls1_0", "TLS 1.0", ssl.TLSVersion.TLSv1),
    ("tls1_1", "TLS 1.1", ssl.TLSVersion.TLSv1_1),
    ("tls1_2", "TLS 1.2", ssl.TLSVersion.TLSv1_2),
    ("tls1_3", "TLS 1.3", ssl.TLSVersion.TLSv1_3),
)
OFFERED, NOT_OFFERED, UNKNOWN = "offered", "not offered", "unknown"

# OpenSSL's names (as testssl.sh prints and matches them) and the hash each signature uses
_SIGNATURES: dict[str, tuple[str, str | None]] = {
    "1.2.840.113549.1.1.2": ("md2WithRSAEncryption", "md2"),
    "1.2.840.113549.1.1.3": ("md4WithRSAEncryption", "md4"),
    "1.2.840.113549.1.1.4": ("md5WithRSAEncryption", "md5"),
    "1.2.840.113549.1.1.5": ("sha1WithRSAEncryption", "sha1"),
    "1.3.14.3.2.29": ("sha1WithRSA", "sha1"),
    "1.2.840.113549.1.1.14": ("sha224WithRSAEncryption", "sha224"),
    "1.2.840.113549.1.1.11": ("sha256WithRSAEncryption", "sha256"),
    "1.2.840.113549.1.1.12": ("sha384WithRSAEncryption", "sha384"),
    "1.2.840.113549.1.1.13": ("sha512WithRSAEncryption", "sha512"),
    "1.2.840.113549.1.1.10": ("rsassaPss", None),  # hash from the parameters
    "1.2.840.10045.4.1": ("ecdsa-with-SHA1", "sha1"),
    "1.2.840.10045.4.3.1": ("ecdsa-with-SHA224", "sha224"),
    "1.2.840.10045.4.3.2": ("ecdsa-with-SHA256", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa-with-SHA384", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa-with-SHA512", "sha512"),
    "1.2.840.10040.4.3": ("dsaWithSHA1", "sha1"),
    "2.16.840.1.101.3.4.3.1": ("dsa_with_SHA224", "sha224"),
    "2.16.840.1.101.3.4.3.2": ("dsa_with_SHA256", "sha256"),
    "1.3.101.112": ("Ed25519", "eddsa"),
    "1.3.101.113": ("Ed448", "eddsa"),
}
_LETS_ENCRYPT = re.compile(r"^Let.s Encrypt")  # testssl.sh's test on the issuer O
_CABF_398_DAYS_FROM = datetime(2020, 9, 1, tzinfo=UTC)  # testssl.sh: 1598918400


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- contexts ------------------------------------------------------------------------------------


def _set_versions(ctx: ssl.SSLContext, low: ssl.TLSVersion, high: ssl.TLSVersion) -> None:
    with warnings.catch_warnings():  # ssl deprecates the TLSv1/TLSv1_1 members when set
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = low
        ctx.maximum_version = high


def _probe_context(version: ssl.TLSVersion) -> ssl.SSLContext:
    """A client that speaks only ``version``, accepting any suite and any certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(LEGACY_CIPHERS)  # SECLEVEL also governs TLS 1.3 (key sizes), so always
    _set_versions(ctx, version, version)
    return ctx


def _unverified_context() -> ssl.SSLContext:
    """A client that completes a handshake with almost anything, to read the certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers(LEGACY_CIPHERS)
    _set_versions(ctx, ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED)
    return ctx


def _verified_context(cafile: str | None, *, legacy: bool, check_hostname: bool = True) -> ssl.SSLContext:
    """A default client; ``legacy`` also speaks TLS < 1.2 and security level 0."""
    ctx = ssl_context(cafile)
    ctx.check_hostname = check_hostname
    if legacy:
        ctx.set_ciphers(LEGACY_CIPHERS)
        _set_versions(ctx, ssl.TLSVersion.MINIMUM_SUPPORTED, ssl.TLSVersion.MAXIMUM_SUPPORTED)
    return ctx


@functools.cache
def local_protocol_support() -> dict[str, str | None]:
    """Per protocol column: None when this machine's OpenSSL can speak it, else why not.

    Decided by a handshake of the probe client with a server of the same library, in memory:
    build flags alone miss what the configuration (security level, crypto policies) forbids.
    """
    out: dict[str, str | None] = {}
    with tempfile.TemporaryDirectory(prefix="intgkit-tls-") as tmp:
        certfile = _self_signed(Path(tmp))
        for key, label, version in PROTOCOLS:
            if not getattr(ssl, f"HAS_{version.name}", False):
                out[key] = f"{ssl.OPENSSL_VERSION} was built without {label}"
                continue
            try:
                client = _probe_context(version)
                server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                server.set_ciphers(LEGACY_CIPHERS)
                _set_versions(server, version, version)
                server.load_cert_chain(certfile)
            except (ValueError, ssl.SSLError) as exc:
                out[key] = f"{ssl.OPENSSL_VERSION} cannot enable {label}: {exc}"
                continue
            why = _memory_handshake(client, server)
            out[key] = None if why is None else f"{ssl.OPENSSL_VERSION} cannot speak {label}: {why}"
    return out


def _self_signed(directory: Path) -> str:
    """A throwaway P-256 key and certificate in one PEM file, for the loopback handshake."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intgkit loopback")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now.replace(year=now.year - 1))
        .not_valid_after(now.replace(year=now.year + 1))
        .sign(key, hashes.SHA256())
    )
    path = directory / "loopback.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return str(path)


def _memory_handshake(client_ctx: ssl.SSLContext, server_ctx: ssl.SSLContext) -> str | None:
    """Run a client/server handshake over memory BIOs; None on success, else the error."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="loopback.invalid")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    sides = [(client, c_out, s_in), (server, s_out, c_in)]
    done = [False, False]
    for _ in range(20):
        for i, (obj, out, peer_in) in enumerate(sides):
            if not done[i]:
                try:
                    obj.do_handshake()
                    done[i] = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    return str(exc.reason or exc)
            data = out.read()
            if data:
                peer_in.write(data)
        if all(done):
            return None
    return "the handshake did not complete"


# -- handshakes ----------------------------------------------------------------------------------


class _ConnectFailed(ConnectionError):
    """No TCP connection: nothing about TLS can be said."""


@dataclass(frozen=True, slots=True)
class _Handshake:
    """One handshake's outcome: ok, cert (verification failed), tls (failed), timeout."""

    kind: str
    version: str | None = None
    cipher: str | None = None
    bits: int | None = None
    der: bytes | None = None
    verify_code: int | None = None
    verify_message: str | None = None
    error: str | None = None


async def _handshake(
    address: str, port: int, server_hostname: str, ctx: ssl.SSLContext, timeout: float
) -> _Handshake:
    """Connect, then handshake; TCP failures raise, TLS outcomes are returned."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        raise _ConnectFailed(f"no TCP connection within {timeout:g} s") from None
    except OSError as exc:
        raise _ConnectFailed(exc.strerror or str(exc) or type(exc).__name__) from None
    secured = False
    try:
        try:
            # wait_for, not only ssl_handshake_timeout: that one surfaces as a reset connection,
            # which would read as "refused" rather than "no answer"
            await asyncio.wait_for(
                writer.start_tls(ctx, server_hostname=server_hostname, ssl_handshake_timeout=timeout * 2),
                timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            return _Handshake(
                "cert",
                verify_code=exc.verify_code,
                verify_message=clip(exc.verify_message),
                error=clip(str(exc)),
            )
        except TimeoutError:
            return _Handshake("timeout", error=f"no TLS handshake within {timeout:g} s")
        except (ssl.SSLError, OSError, EOFError) as exc:
            return _Handshake("tls", error=clip(_describe(exc)))
        secured = True
        sslobj = writer.get_extra_info("ssl_object")
        cipher = sslobj.cipher() if sslobj is not None else None
        return _Handshake(
            "ok",
            version=sslobj.version() if sslobj is not None else None,
            cipher=clip(cipher[0]) if cipher else None,
            bits=cipher[2] if cipher else None,
            der=sslobj.getpeercert(binary_form=True) if sslobj is not None else None,
        )
    finally:
        if secured:  # close_notify, briefly awaited
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1)
            except TimeoutError:
                writer.transport.abort()
            except (OSError, EOFError):  # a reset on close
                pass
        else:  # a failed start_tls closed the socket without telling the stream: nothing to await
            writer.transport.abort()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return f"{exc.reason or exc}".lower().replace("_", " ") if exc.reason else str(exc)
    if isinstance(exc, ConnectionResetError):
        return "the server closed the connection during the handshake"
    return str(exc) or type(exc).__name__


# -- the certificate -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cert:
    subject: str
    subject_cn: str | None
    issuer: str
    issuer_o: str | None
    issuer_cn: str | None
    serial: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    key_type: str | None
    key_bits: int | None
    sig_alg: str
    sig_hash: str | None


def _parse_certificate(der: bytes) -> _Cert:
    """The facts the checks need, from a DER certificate (the peer's, unverified or not)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)

    def first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
        attrs = name.get_attributes_for_oid(oid)
        if not attrs:
            return None
        value = attrs[0].value
        return clip(value if isinstance(value, str) else value.decode("utf-8", "replace"))

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns_names, ips = (), ()

    key_type: str | None
    key_bits: int | None
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        key_type, key_bits = None, None
    else:
        if isinstance(key, rsa.RSAPublicKey):
            key_type, key_bits = "RSA", key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key_type, key_bits = "EC", key.key_size
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key_type, key_bits = "Ed25519", 253  # sizes as testssl.sh reports them
        elif isinstance(key, ed448.Ed448PublicKey):
            key_type, key_bits = "Ed448", 456
        elif isinstance(key, dsa.DSAPublicKey):
            key_type, key_bits = "DSA", key.key_size
        else:
            key_type, key_bits = type(key).__name__, None

    oid = cert.signature_algorithm_oid.dotted_string
    sig_alg, sig_hash = _SIGNATURES.get(oid, (oid, None))
    if sig_alg == "rsassaPss":
        try:
            algo = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            algo = None
        sig_hash = algo.name if algo is not None else None
        sig_alg = f"rsassaPss with {sig_hash or 'unknown hash'}"

    return _Cert(
        subject=clip(cert.subject.rfc4514_string()) or "",
        subject_cn=first(cert.subject, NameOID.COMMON_NAME),
        issuer=clip(cert.issuer.rfc4514_string()) or "",
        issuer_o=first(cert.issuer, NameOID.ORGANIZATION_NAME),
        issuer_cn=first(cert.issuer, NameOID.COMMON_NAME),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=dns_names,
        ip_addresses=ips,
        key_type=key_type,
        key_bits=key_bits,
        sig_alg=sig_alg,
        sig_hash=sig_hash,
    )


def match_hostname(
    host: str, dns_names: Sequence[str], ip_addresses: Sequence[str] = (), common_name: str | None = None
) -> str | None:
    """The certificate name that matches ``host`` (RFC 6125, as OpenSSL with Python's flags), or None.

    A wildcard is a whole leftmost label (``*.example.com``) covering exactly one label and needs
    two labels after it; an IP address matches IP SANs only; the CN counts only without DNS SANs.
    """
    host = host.lower().rstrip(".")
    if is_ip(host):
        want = ipaddress.ip_address(host)
        return next((ip for ip in ip_addresses if ipaddress.ip_address(ip) == want), None)
    names = list(dns_names) if dns_names else ([common_name] if common_name else [])
    for name in names:
        pattern = name.lower().rstrip(".")
        if pattern == host:
            return name
        if pattern.startswith("*.") and pattern.count(".") >= 2:
            label, _, rest = host.partition(".")
            if label and rest == pattern[2:]:
                return name
    return None


# -- the integration -----------------------------------------------------------------------------


class TlsCertificate:
    """TLS certificate (chain, name, dates, key, signature) and protocol versions of one endpoint.

    Args:
        ca_bundle: PEM file of trust roots; default: ``INTGKIT_CA_BUNDLE``, else the system's.
        resolve: ``host:port:address`` overrides; default: ``INTGKIT_RESOLVE``.
        handshake_timeout: seconds for each connection and each handshake (several run).
    """

    name = NAME
    title = "TLS certificate and protocols"
    description = (
        "Certificate chain, host name, expiry, lifespan, key and signature, and which of TLS 1.0-1.3 "
        "are offered, rated as testssl.sh and Mozilla's intermediate profile do."
    )
    settings = (CA_BUNDLE, RESOLVE)
    breaker_per_target = True

    def __init__(
        self, *, ca_bundle: str | None = None, resolve: str | None = None, handshake_timeout: float = 10.0
    ) -> None:
        self._ca_bundle = ca_bundle
        self._resolve = resolve
        self.handshake_timeout = handshake_timeout

    def is_configured(self) -> bool:
        """Always: every setting is optional."""
        return True

    def __repr__(self) -> str:
        return f"<integration {self.name!r} (TlsCertificate)>"

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
        """Check the endpoint; raises only when no TCP connection or no handshake at all is possible."""
        t = parse_target(target)
        if t.explicit_scheme and t.scheme != "https":
            raise ValueError(
                f"target {target!r}: an http:// URL has no TLS; give host, host:port or https://"
            )
        cafile = self._ca_bundle if self._ca_bundle is not None else CA_BUNDLE.value()
        resolve = self._resolve if self._resolve is not None else RESOLVE.value()
        address, port = resolve_endpoint(parse_endpoints(resolve), t.host, t.port)
        where = f"{t.host}:{t.port}" + (
            f" (at {address}:{port})" if (address, port) != (t.host, t.port) else ""
        )
        timeout = self.handshake_timeout
        support = local_protocol_support()

        async def shake(ctx: ssl.SSLContext) -> _Handshake:
            return await _handshake(address, port, t.host, ctx, timeout)

        try:
            verified = await shake(_verified_context(cafile, legacy=False))
            legacy_note = ""
            if verified.kind in ("tls", "timeout"):
                # no handshake a default client accepts (e.g. TLS 1.0 only, or a tiny key):
                # judge the certificate with a client that also speaks the legacy protocols
                retry = await shake(_verified_context(cafile, legacy=True))
                if retry.kind not in ("ok", "cert"):
                    raise ConnectionError(f"no TLS handshake with {where}: {verified.error}")
                legacy_note = (
                    f"; a default client cannot connect ({verified.error}), so this was judged by a "
                    f"client that also speaks TLS < 1.2 at OpenSSL security level 0"
                )
                verified = retry
            legacy = bool(legacy_note)
            follow_ups: list[asyncio.Task[_Handshake]] = []
            chain_only = unverified = None
            if verified.kind == "cert":
                if verified.verify_code == 62:
                    chain_only = asyncio.ensure_future(
                        shake(_verified_context(cafile, legacy=legacy, check_hostname=False))
                    )
                    follow_ups.append(chain_only)
                unverified = asyncio.ensure_future(shake(_unverified_context()))
                follow_ups.append(unverified)
            probes = {
                key: asyncio.ensure_future(self._probe(shake, version, support[key]))
                for key, _, version in PROTOCOLS
            }
            pending: list[asyncio.Future[Any]] = [*follow_ups, *probes.values()]
            try:
                await asyncio.gather(*pending)
            finally:  # on failure or cancellation, let the other handshakes close their sockets
                for fut in pending:
                    fut.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        except _ConnectFailed as exc:
            raise ConnectionError(f"cannot connect to {where}: {exc}") from None

        peer = verified if verified.kind == "ok" else unverified.result() if unverified else None
        if peer is None or peer.kind != "ok" or not peer.der:
            why = peer.error if peer is not None else "no certificate received"
            raise ConnectionError(f"could not read the certificate of {where}: {why}")
        try:
            cert = _parse_certificate(peer.der)
        except ValueError as exc:
            raise ValueError(f"the certificate of {where} could not be parsed: {exc}") from None
        protocols = {key: fut.result() for key, fut in probes.items()}
        return _Report(
            target,
            t.host,
            t.port,
            address,
            cert,
            verified,
            chain_only.result() if chain_only else None,
            peer,
            protocols,
            legacy_note,
        ).sections()

    @staticmethod
    async def _probe(shake: Any, version: ssl.TLSVersion, unsupported: str | None) -> tuple[str, str]:
        """(offered | not offered | unknown, why) for one protocol version."""
        if unsupported is not None:
            return UNKNOWN, unsupported
        try:
            outcome: _Handshake = await shake(_probe_context(version))
        except _ConnectFailed as exc:
            return UNKNOWN, f"no connection for this probe: {exc}"
        if outcome.kind == "ok":
            return OFFERED, f"negotiated {outcome.cipher}"
        if outcome.kind == "timeout":
            return UNKNOWN, outcome.error or "timeout"
        return NOT_OFFERED, outcome.error or "handshake refused"


class _Report:
    """Turns the handshakes into the findings rows and the certificate facts row."""

    def __init__(
        self,
        target: str | None,
        host: str,
        port: int,
        address: str,
        cert: _Cert,
        verified: _Handshake,
        chain_only: _Handshake | None,
        peer: _Handshake,
        protocols: dict[str, tuple[str, str]],
        legacy_note: str,
    ) -> None:
        self.target, self.host, self.port, self.address = target, host, port, address
        self.cert, self.verified, self.chain_only, self.peer = cert, verified, chain_only, peer
        self.protocols, self.legacy_note = protocols, legacy_note
        self.now = datetime.now(UTC)
        self.findings = Findings(NAME, target)

    def add(
        self,
        check: str,
        outcome: str,
        passed: bool,
        severity: str,
        observed: Any = None,
        expected: Any = None,
        detail: str = "",
    ) -> None:
        """One finding whose result id is ``<check>-<outcome>``."""
        self.findings.add(
            check, f"{check.replace('_', '-')}-{outcome}", passed, severity, observed, expected, detail
        )

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        chain_valid, chain = self._chain()
        san_match = self._hostname()
        days_left = self._expiration()
        lifespan = self._lifespan()
        self._key_size()
        self._signature()
        self._protocols()
        self._mozilla(lifespan)
        c = self.cert
        row: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "sni": None if is_ip(self.host) else self.host,
            "tls_version": self.peer.version,
            "cipher": self.peer.cipher,
            "bits": self.peer.bits,
            "subject": c.subject,
            "subject_cn": c.subject_cn,
            "san": clip(", ".join([*c.dns_names, *c.ip_addresses])),
            "san_match": san_match,
            "issuer": c.issuer,
            "issuer_o": c.issuer_o,
            "issuer_cn": c.issuer_cn,
            "serial": c.serial,
            "not_before": _iso(c.not_before),
            "not_after": _iso(c.not_after),
            "days_left": round(days_left, 2),
            "lifespan_days": round(lifespan / DAY, 2),
            "chain_valid": chain_valid,
            "verify_code": self.verified.verify_code,
            "verify_message": self.verified.verify_message,
            "verify_error": chain,
            "key_type": c.key_type,
            "key_bits": c.key_bits,
            "sig_alg": c.sig_alg,
        }
        for key, (state, _) in self.protocols.items():
            row[key] = state
        return {"findings": self.findings.rows, "certificate": [row]}

    # -- checks ----------------------------------------------------------------------------------
    def _chain(self) -> tuple[bool | None, str | None]:
        """chain_of_trust; returns (chain_valid, the chain's verification error)."""
        judged = self.verified
        if judged.kind == "cert" and judged.verify_code == 62:
            judged = self.chain_only or _Handshake("timeout", error="not evaluated")
        note = self.legacy_note
        if judged.kind == "ok":
            self.add("chain_of_trust", "ok", True, "info", "trusted", "trusted", "the chain verifies" + note)
            return True, None
        if judged.kind != "cert":
            self.add(
                "chain_of_trust",
                "unknown",
                False,
                "info",
                None,
                "trusted",
                f"could not be evaluated apart from the host name: {judged.error}",
            )
            return None, None
        code, message = judged.verify_code, judged.verify_message
        outcome = {
            10: "expired",
            9: "not-yet-valid",
            18: "self-signed",
            19: "self-signed",
            20: "unknown-issuer",
            2: "unknown-issuer",
            21: "unknown-issuer",
        }.get(code or 0, "failed")
        self.add(
            "chain_of_trust",
            outcome,
            False,
            "critical",
            f"{code} {message}",
            "trusted",
            f"verification failed: {message} (OpenSSL verify code {code})" + note,
        )
        return False, f"{code} {message}"

    def _hostname(self) -> bool:
        c = self.cert
        matched = match_hostname(self.host, c.dns_names, c.ip_addresses, c.subject_cn)
        if self.verified.kind == "ok":
            ok = True  # OpenSSL's own verdict; ours only tells a wildcard apart
        elif self.verified.kind == "cert" and self.verified.verify_code == 62:
            ok = False
        else:
            ok = matched is not None
        names = [*c.dns_names, *c.ip_addresses] or ([c.subject_cn] if c.subject_cn else [])
        if not ok:
            self.add(
                "hostname",
                "mismatch",
                False,
                "high",
                names,
                self.host,
                f"the certificate is not valid for {self.host}",
            )
        elif matched is not None and matched.startswith("*."):
            self.add(
                "hostname",
                "match-wildcard",
                True,
                "low",
                matched,
                self.host,
                "matched through a wildcard certificate (testssl.sh rates wildcards low)",
            )
        else:
            self.add("hostname", "match", True, "info", matched or names, self.host)
        return ok

    def _expiration(self) -> float:
        c = self.cert
        left = (c.not_after - self.now).total_seconds()
        warn1, warn2 = 60, 30
        detail = ""
        if c.issuer_o and _LETS_ENCRYPT.match(c.issuer_o):
            warn1, warn2 = warn1 // 2, warn2 // 2
            detail = "; thresholds halved for Let's Encrypt, as testssl.sh does"
        observed = f"{left / DAY:.1f} days left (not after {_iso(c.not_after)})"
        expected = f">= {warn1} days left"
        if left < 1:  # openssl x509 -checkend 1
            self.add(
                "expiration",
                "expired",
                False,
                "critical",
                observed,
                expected,
                "the certificate has expired" + detail,
            )
        elif left < warn2 * DAY:
            self.add(
                "expiration",
                f"under-{warn2}-days",
                False,
                "high",
                observed,
                expected,
                f"expires in less than {warn2} days" + detail,
            )
        elif left < warn1 * DAY:
            self.add(
                "expiration",
                f"under-{warn1}-days",
                False,
                "medium",
                observed,
                expected,
                f"expires in less than {warn1} days" + detail,
            )
        else:
            self.add("expiration", "ok", True, "info", observed, expected, detail.lstrip("; "))
        return left / DAY

    def _lifespan(self) -> float:
        c = self.cert
        span = (c.not_after - c.not_before).total_seconds()
        days = int(span // DAY)
        observed, expected = f"{days} days", "<= 398 days"
        if span >= 3650 * DAY:
            self.add(
                "lifespan",
                "10-years-or-more",
                False,
                "high",
                observed,
                expected,
                ">= 10 years is way too long",
            )
        elif span >= 1825 * DAY:
            self.add(
                "lifespan", "5-years-or-more", False, "medium", observed, expected, ">= 5 years is too long"
            )
        elif span >= 398 * DAY + 1:
            if c.not_before >= _CABF_398_DAYS_FROM:
                self.add(
                    "lifespan",
                    "over-398-days",
                    False,
                    "medium",
                    observed,
                    expected,
                    "> 398 days for a certificate issued after 2020-09-01 is too long",
                )
            else:
                self.add(
                    "lifespan",
                    "over-398-days-issued-before-2020-09",
                    True,
                    "info",
                    observed,
                    expected,
                    "> 398 days, but issued before the 2020-09-01 limit",
                )
        else:
            self.add("lifespan", "ok", True, "info", observed, expected)
        return span

    def _key_size(self) -> None:
        kind, bits = self.cert.key_type, self.cert.key_bits
        observed = f"{kind} {bits} bits" if kind and bits else kind
        if kind is None or bits is None:
            self.add("key_size", "unknown", False, "info", observed, None, "key type not recognised")
            return
        if kind in ("Ed25519", "Ed448"):
            self.add("key_size", "ok", True, "info", observed)
            return
        # testssl.sh's ladders: (upper bound, outcome, passed, severity)
        ladder = (
            ((110, "critical"), (123, "high"), (163, "medium"), (224, "info"), (533, "ok"))
            if kind == "EC"
            else ((512, "critical"), (768, "high"), (1024, "medium"), (2048, "info"), (4096, "ok"))
        )
        for limit, level in ladder:
            if bits <= limit:
                if level == "ok":
                    self.add("key_size", "ok", True, "info", observed)
                elif level == "info":
                    self.add("key_size", f"{limit}-or-less", True, "info", observed)
                else:
                    self.add(
                        "key_size",
                        f"{limit}-or-less",
                        False,
                        level,
                        observed,
                        f"> {ladder[2][0]} bits",
                        f"{kind} key of {bits} bits: too small",
                    )
                return
        self.add(
            "key_size",
            "unusual",
            True,
            "info",
            observed,
            None,
            "unusually large key; may cause compatibility problems",
        )

    def _signature(self) -> None:
        alg, digest = self.cert.sig_alg, self.cert.sig_hash
        if digest in ("md2", "md4", "md5"):
            self.add(
                "signature_algorithm",
                digest,
                False,
                "critical",
                alg,
                "SHA-256 or better",
                f"{digest.upper()} signatures can be forged",
            )
        elif digest == "sha1":
            self.add(
                "signature_algorithm",
                "sha1",
                False,
                "medium",
                alg,
                "SHA-256 or better",
                "SHA-1 signatures are deprecated; browsers warn",
            )
        elif digest == "sha224":
            self.add("signature_algorithm", "sha224", True, "info", alg, "SHA-256 or better")
        elif digest in ("sha256", "sha384", "sha512", "eddsa"):
            self.add("signature_algorithm", "ok", True, "info", alg, "SHA-256 or better")
        else:
            self.add(
                "signature_algorithm",
                "unknown",
                False,
                "info",
                alg,
                "SHA-256 or better",
                "signature algorithm not recognised",
            )

    def _protocols(self) -> None:
        for key, label, _ in PROTOCOLS:
            state, why = self.protocols[key]
            check = f"protocol_{key}"
            if state == UNKNOWN:
                self.add(check, "unknown", False, "info", state, None, f"{label} could not be tested: {why}")
            elif key in ("tls1_0", "tls1_1"):
                if state == OFFERED:
                    self.add(check, "offered", False, "low", state, NOT_OFFERED, f"{label} is deprecated")
                else:
                    self.add(check, "not-offered", True, "info", state, NOT_OFFERED)
            elif state == OFFERED:
                self.add(check, "offered", True, "info", state, OFFERED)
            elif key == "tls1_2":
                self.add(check, "not-offered", False, "medium", state, OFFERED, f"{label} not offered: {why}")
            else:
                self.add(check, "not-offered", False, "low", state, OFFERED, f"{label} not offered: {why}")

    def _mozilla(self, lifespan: float) -> None:
        legacy = {k: self.protocols[k][0] for k in ("tls1_0", "tls1_1")}
        offered = [k for k, s in legacy.items() if s == OFFERED]
        if offered:
            self.add(
                "mozilla_intermediate_protocols",
                "legacy-offered",
                False,
                "medium",
                [k.replace("_", ".").replace("tls", "TLS ") for k in offered],
                "TLS 1.2 and 1.3 only",
                "the intermediate profile allows TLS 1.2 and 1.3 only",
            )
        elif UNKNOWN in legacy.values():
            self.add(
                "mozilla_intermediate_protocols",
                "unknown",
                False,
                "info",
                None,
                "TLS 1.2 and 1.3 only",
                "TLS 1.0/1.1 could not be tested on this machine",
            )
        else:
            self.add("mozilla_intermediate_protocols", "ok", True, "info", None, "TLS 1.2 and 1.3 only")
        kind, bits = self.cert.key_type, self.cert.key_bits
        if kind == "RSA" and bits is not None and bits < 2048:
            self.add(
                "mozilla_intermediate_key_size",
                "rsa-under-2048",
                False,
                "medium",
                f"RSA {bits} bits",
                "RSA >= 2048 bits",
                "the intermediate profile needs RSA keys >= 2048 bits",
            )
        else:
            self.add(
                "mozilla_intermediate_key_size",
                "ok",
                True,
                "info",
                f"{kind} {bits} bits",
                "RSA >= 2048 bits or ECDSA",
            )
        days = int(lifespan // DAY)
        if days > 366:  # sslyze compares timedelta.days, i.e. whole days
            self.add(
                "mozilla_intermediate_lifespan",
                "over-366-days",
                False,
                "medium",
                f"{days} days",
                "<= 366 days",
                "the intermediate profile allows certificate lifespans up to 366 days",
            )
        else:
            self.add("mozilla_intermediate_lifespan", "ok", True, "info", f"{days} days", "<= 366 days")


integration = TlsCertificate()

"""The tls_certificate integration: runs the handshakes and the scan, then every check family."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from .._findings import clip
from .._net import CA_BUNDLE, RESOLVE, is_ip, parse_endpoints, parse_target, resolve_endpoint
from . import _chain, _mozilla, _ocsp, _protocols
from ._connection import Handshake, handshake, unverified_context, verified_context
from ._parse import CertFacts, parse_certificate
from ._report import DAY, NAME, Report, iso
from ._scan import OFFERED, UNKNOWN, VERSIONS, ConnectFailed, ScanResult, scan

#: OpenSSL's version names, as Mozilla's guidelines write them
_OPENSSL_VERSIONS = {
    "ssl3_0": "SSLv3",
    "tls1_0": "TLSv1",
    "tls1_1": "TLSv1.1",
    "tls1_2": "TLSv1.2",
    "tls1_3": "TLSv1.3",
}


class TlsCertificate:
    """TLS certificate, served chain, protocols, cipher suites and OCSP stapling of one endpoint.

    Args:
        ca_bundle: PEM file of trust roots; default: ``INTGKIT_CA_BUNDLE``, else the system's.
        resolve: ``host:port:address`` overrides; default: ``INTGKIT_RESOLVE``.
        handshake_timeout: seconds for each connection and each handshake (several run).
        scan_timeout: the protocol and cipher-suite scan's own budget, in seconds: what it has
            not decided by then is reported as unknown. Keep it below the runner's timeout
            (30 s by default) so the call ends with a result, not a timeout.
    """

    name = NAME
    title = "TLS certificate, protocols and cipher suites"
    description = (
        "Certificate chain, host name, expiry, lifespan, key and signatures, OCSP stapling, client "
        "certificates, the protocol versions and cipher suites accepted, and Mozilla's TLS profiles, "
        "rated as testssl.sh and sslyze do."
    )
    settings = (CA_BUNDLE, RESOLVE)
    breaker_per_target = True
    needs_target = True  # a host or domain; fetch(None) cannot work

    def __init__(
        self,
        *,
        ca_bundle: str | None = None,
        resolve: str | None = None,
        handshake_timeout: float = 10.0,
        scan_timeout: float = 15.0,
    ) -> None:
        for label, value in (("handshake_timeout", handshake_timeout), ("scan_timeout", scan_timeout)):
            if not value > 0:
                raise ValueError(f"{label} must be a positive number of seconds, got {value!r}")
        self._ca_bundle = ca_bundle
        self._resolve = resolve
        self.handshake_timeout = handshake_timeout
        self.scan_timeout = scan_timeout

    def is_configured(self) -> bool:
        """Always: every setting is optional."""
        return True

    def __repr__(self) -> str:
        return f"<integration {self.name!r} (TlsCertificate)>"

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
        """Check the endpoint; raises only when no TCP connection or no TLS answer at all is possible."""
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

        async def shake(ctx: ssl.SSLContext) -> Handshake:
            return await handshake(address, port, t.host, ctx, timeout)

        scanning = asyncio.ensure_future(
            scan(address, port, None if is_ip(t.host) else t.host, timeout=timeout, budget=self.scan_timeout)
        )
        pending: list[asyncio.Future[Any]] = [scanning]
        try:
            verified = await shake(verified_context(cafile, legacy=False))
            legacy_note = ""
            if verified.kind in ("tls", "timeout") and not verified.client_cert_required:
                flight = (await scanning).best_flight()
                if flight is None or not flight.client_cert_requested:
                    # no handshake a default client accepts (e.g. TLS 1.0 only, or a tiny key):
                    # judge the certificate with a client that also speaks the legacy protocols
                    retry = await shake(verified_context(cafile, legacy=True))
                    if retry.kind in ("ok", "cert"):
                        legacy_note = (
                            f"; a default client cannot connect ({verified.error}), so this was judged by "
                            f"a client that also speaks TLS < 1.2 at OpenSSL security level 0"
                        )
                        verified = retry
            chain_only = unverified = None
            if verified.kind == "cert":
                if verified.verify_code == 62:
                    chain_only = asyncio.ensure_future(
                        shake(verified_context(cafile, legacy=bool(legacy_note), check_hostname=False))
                    )
                    pending.append(chain_only)
                unverified = asyncio.ensure_future(shake(unverified_context()))
                pending.append(unverified)
            await asyncio.gather(*pending)
        except ConnectFailed as exc:
            raise ConnectionError(f"cannot connect to {where}: {exc}") from None
        finally:  # on failure or cancellation, let the other connections close their sockets
            for fut in pending:
                fut.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

        result = scanning.result()
        flight = result.best_flight()
        peer = verified if verified.kind == "ok" else unverified.result() if unverified else None
        ders = peer.chain if peer is not None and peer.kind == "ok" and peer.chain else ()
        if not ders and flight is not None:
            ders = tuple(flight.certificates)
        if not ders:
            offered = [label for key, label, _ in VERSIONS if result.versions[key].state == OFFERED]
            why = verified.error or "no certificate received"
            if offered:
                why += f" (the server accepts {', '.join(offered)} but its certificate could not be read)"
            raise ConnectionError(f"no TLS handshake with {where}: {why}")
        try:
            chain = tuple(parse_certificate(der) for der in ders)
        except ValueError as exc:
            raise ValueError(f"the certificate chain of {where} could not be parsed: {exc}") from None
        client_cert_required = verified.client_cert_required or bool(
            flight is not None
            and flight.client_cert_requested
            and (verified.kind in ("tls", "timeout") or verified.closed_early)
        )
        return _sections(
            target,
            t.host,
            t.port,
            address,
            _chain.ChainInput(
                t.host,
                chain,
                verified,
                chain_only.result() if chain_only else None,
                legacy_note,
                client_cert_required,
            ),
            peer if peer is not None and peer.kind == "ok" else None,
            result,
            _issuer(chain[0], ders, cafile),
        )


def _issuer(leaf: CertFacts, ders: tuple[bytes, ...], cafile: str | None) -> bytes | None:
    """The leaf's issuer (DER): from the served chain, else from the configured trust roots."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    candidates = list(ders[1:])
    if cafile:
        try:
            with open(cafile, "rb") as f:
                pem = f.read()
            candidates += [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]
        except (OSError, ValueError):
            pass
    for der in candidates:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        if cert.subject.rfc4514_string() == leaf.issuer or clip(cert.subject.rfc4514_string()) == leaf.issuer:
            return der
    return None


def _sections(
    target: str | None,
    host: str,
    port: int,
    address: str,
    c: _chain.ChainInput,
    peer: Handshake | None,
    result: ScanResult,
    issuer: bytes | None,
) -> dict[str, list[dict[str, Any]]]:
    """Every check family's findings, the certificate facts row and the accepted suites."""
    r = Report(target)
    leaf: CertFacts = c.leaf
    chain_valid, verify_error = _chain.chain_of_trust(r, c)
    san_match = _chain.hostname(r, c)
    days_left = _chain.expiration(r, leaf)
    span = _chain.lifespan(r, leaf)
    _chain.key_size(r, leaf)
    _chain.signature(r, leaf)
    sha1 = _chain.chain_sha1(r, c.chain)
    order_ok = _chain.chain_order(r, c.chain)
    root_sent = _chain.chain_root(r, c.chain)
    flight = result.best_flight()
    below_13 = [k for k, _, _ in VERSIONS if k != "tls1_3" and result.versions[k].state == OFFERED]
    requested = flight.client_cert_requested if flight is not None else (None if not below_13 else False)
    client_cert = _chain.client_certificate(r, c.client_cert_required, requested)
    ocsp = _ocsp.ocsp_stapling(
        r,
        flight.ocsp_response if flight else None,
        leaf,
        readable=flight is not None,
        issuer=issuer,
    )
    _protocols.protocols(r, result)
    _protocols.cipher_suites(r, result)
    accepted = [(k, a) for k, _, _ in VERSIONS for a in result.versions[k].accepted]
    ecdh = [a.ephemeral[2] for _, a in accepted if a.ephemeral and a.ephemeral[0] == "ECDH"]
    dh = [a.ephemeral[2] for _, a in accepted if a.ephemeral and a.ephemeral[0] == "DH"]
    key_type = {"RSA": "rsa", "EC": "ecdsa"}.get(leaf.key_type or "", leaf.key_type)
    incomplete = tuple(
        label
        for k, label, _ in VERSIONS
        if result.versions[k].state == UNKNOWN or not result.versions[k].complete
    )
    facts = _mozilla.ServerFacts(
        versions=frozenset(
            _OPENSSL_VERSIONS[k] for k, _, _ in VERSIONS if result.versions[k].state == OFFERED
        ),
        suites=frozenset(a.suite.name for k, a in accepted if k != "tls1_3"),
        tls13_suites=frozenset(a.suite.name for k, a in accepted if k == "tls1_3"),
        key_type=key_type,
        curve=leaf.curve,
        rsa_bits=leaf.key_bits if key_type == "rsa" else None,
        sig_alg=leaf.sig_alg,
        lifespan_days=int(span // DAY),
        smallest_dh=min(dh, default=None),
        smallest_ecdh=min(ecdh, default=None),
        chain_valid=chain_valid,
        hostname_ok=san_match,
        incomplete=incomplete,
    )
    profile = _mozilla.verdicts(r, facts)
    suites = _protocols.suite_rows(result)
    row: dict[str, Any] = {
        "host": host,
        "port": port,
        "address": address,
        "sni": None if is_ip(host) else host,
        "tls_version": peer.version if peer else None,
        "cipher": peer.cipher if peer else None,
        "bits": peer.bits if peer else None,
        "subject": leaf.subject,
        "subject_cn": leaf.subject_cn,
        "san": clip(", ".join([*leaf.dns_names, *leaf.ip_addresses])),
        "san_match": san_match,
        "issuer": leaf.issuer,
        "issuer_o": leaf.issuer_o,
        "issuer_cn": leaf.issuer_cn,
        "serial": leaf.serial,
        "not_before": iso(leaf.not_before),
        "not_after": iso(leaf.not_after),
        "days_left": round(days_left, 2),
        "lifespan_days": round(span / DAY, 2),
        "chain_valid": chain_valid,
        "verify_code": c.verified.verify_code,
        "verify_message": c.verified.verify_message,
        "verify_error": verify_error,
        "key_type": leaf.key_type,
        "key_bits": leaf.key_bits,
        "sig_alg": leaf.sig_alg,
        "chain_length": len(c.chain),
        "chain_sha1": sha1,
        "chain_order_valid": order_ok,
        "root_sent": root_sent,
        "client_certificate": client_cert,
        "ocsp_stapling": ocsp,
        "accepted_suites": len(suites),
        "weak_suites": sum(1 for s in suites if s["weaknesses"]),
        "mozilla_profile": profile,
        "scan_connections": result.connections,
    }
    for key, _, _ in VERSIONS:
        row[key] = result.versions[key].state
    return {"findings": r.rows, "certificate": [row], "cipher_suites": suites}

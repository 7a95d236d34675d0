"""OCSP stapling: the response a server sends with its certificate (RFC 6066 §8), judged.

The staple is read from the TLS <= 1.2 flight (CertificateStatus, in clear); under TLS 1.3 it
travels encrypted, so a TLS 1.3-only server's stapling is reported as unknown. Severities:
testssl.sh rates "OCSP stapling not offered" low; a staple saying "revoked" is critical, and
one past its nextUpdate medium (clients ignore it and may fall back to asking the CA), and so
is one not signed by the certificate's issuer (or a responder the issuer delegated to, RFC 6960
§4.2.2.2): the signature is checked against the issuer found in the served chain or the
configured trust roots, as sslyze's ``ocsp_response_is_trusted`` checks it against its stores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._parse import CertFacts
from ._report import Report, iso


@dataclass(frozen=True, slots=True)
class Staple:
    """A parsed stapled OCSP response."""

    response_status: str  # successful, malformed_request, ...
    cert_status: str | None  # good, revoked, unknown
    this_update: datetime | None
    next_update: datetime | None
    serial: str | None  # of the certificate the response is about, hex


def parse_staple(der: bytes) -> Staple:
    """The facts of a DER OCSP response; ValueError when it is not one."""
    from cryptography.x509 import ocsp

    resp = ocsp.load_der_ocsp_response(der)
    status = resp.response_status.name.lower()
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Staple(status, None, None, None, None)
    return Staple(
        status,
        resp.certificate_status.name.lower(),
        resp.this_update_utc,
        resp.next_update_utc,
        format(resp.serial_number, "X"),
    )


def signed_by(der: bytes, issuer_der: bytes) -> bool:
    """Whether the OCSP response ``der`` is signed by ``issuer_der`` or a responder it certified."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import ExtendedKeyUsageOID

    resp = ocsp.load_der_ocsp_response(der)
    issuer = x509.load_der_x509_certificate(issuer_der)
    signer = issuer
    for cert in resp.certificates:  # a delegated responder: issued by the issuer for OCSP signing
        try:
            cert.verify_directly_issued_by(issuer)
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm, x509.ExtensionNotFound):
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING in eku:
            signer = cert
            break
    key = signer.public_key()
    digest = resp.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and digest is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey) and digest is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(digest))
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(resp.signature, resp.tbs_response_bytes)
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True


def ocsp_stapling(
    r: Report, der: bytes | None, leaf: CertFacts, *, readable: bool, issuer: bytes | None = None
) -> str:
    """ocsp_stapling; returns the fact: stapled (good/revoked/...), not stapled, unknown."""
    expected = "a current 'good' response stapled"
    if not readable:
        r.add(
            "ocsp_stapling",
            "unknown",
            False,
            "info",
            None,
            expected,
            "only TLS 1.3 answered, where the staple is encrypted: it could not be read",
        )
        return "unknown"
    if der is None:
        r.add(
            "ocsp_stapling",
            "not-stapled",
            False,
            "low",
            "not stapled",
            expected,
            "the server sends no OCSP response with its certificate",
        )
        return "not stapled"
    try:
        staple = parse_staple(der)
    except ValueError as exc:
        r.add(
            "ocsp_stapling",
            "invalid",
            False,
            "medium",
            "unparseable",
            expected,
            f"the staple is not OCSP: {exc}",
        )
        return "invalid"
    if staple.response_status != "successful":
        r.add(
            "ocsp_stapling",
            "error-response",
            False,
            "medium",
            staple.response_status,
            expected,
            f"the stapled response is an error ({staple.response_status})",
        )
        return f"stapled ({staple.response_status})"
    observed = {
        "status": staple.cert_status,
        "this_update": iso(staple.this_update) if staple.this_update else None,
        "next_update": iso(staple.next_update) if staple.next_update else None,
    }
    if staple.serial != leaf.serial:
        r.add(
            "ocsp_stapling",
            "wrong-certificate",
            False,
            "medium",
            observed,
            expected,
            f"the staple is about certificate {staple.serial}, not the leaf ({leaf.serial})",
        )
    elif staple.cert_status == "revoked":
        r.add(
            "ocsp_stapling",
            "revoked",
            False,
            "critical",
            observed,
            expected,
            "the CA says this certificate is revoked",
        )
    elif staple.next_update is not None and staple.next_update < r.now:
        r.add(
            "ocsp_stapling",
            "stale",
            False,
            "medium",
            observed,
            expected,
            "the stapled response is past its nextUpdate: clients ignore it",
        )
    elif issuer is not None and not signed_by(der, issuer):
        r.add(
            "ocsp_stapling",
            "untrusted",
            False,
            "medium",
            observed,
            expected,
            "the staple is not signed by the certificate's issuer: clients ignore it",
        )
    elif staple.cert_status != "good":
        r.add(
            "ocsp_stapling",
            "status-unknown",
            False,
            "low",
            observed,
            expected,
            "the CA does not know this certificate",
        )
    else:
        note = "" if issuer is not None else "the issuer was not at hand, so the signature was not checked"
        r.add("ocsp_stapling", "ok", True, "info", observed, expected, note)
    return f"stapled ({staple.cert_status})"

"""Certificate facts from DER, and host-name matching: pure functions the tests call directly.

Signature names are OpenSSL's (as testssl.sh prints and matches them, and as Mozilla's TLS
guidelines list them). Host names are matched as browsers match them (RFC 6125 and the CA/B
Forum Baseline Requirements §7.1.4.2.1: the subjectAltName decides; the subject CN is never
used, so a certificate without subjectAltName matches no name at all).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .._findings import clip
from .._net import is_ip

# OpenSSL's names (as testssl.sh prints and matches them) and the hash each signature uses
SIGNATURES: dict[str, tuple[str, str | None]] = {
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

#: cryptography's (SECG) curve names -> OpenSSL's, which Mozilla's guidelines use
_OPENSSL_CURVES = {"secp256r1": "prime256v1", "secp192r1": "prime192v1"}


@dataclass(frozen=True, slots=True)
class CertFacts:
    """The facts of one certificate that the checks read."""

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
    #: whether the certificate has a subjectAltName extension at all
    has_san: bool = True
    #: the EC curve in OpenSSL's name (prime256v1, secp384r1), None for other keys
    curve: str | None = None
    #: subject == issuer (a root or a self-signed leaf)
    self_issued: bool = False
    #: basicConstraints cA
    is_ca: bool = False
    sha256: str = ""


def parse_certificate(der: bytes) -> CertFacts:
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
        has_san = True
    except x509.ExtensionNotFound:
        dns_names, ips, has_san = (), (), False
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False

    key_type: str | None
    key_bits: int | None
    curve: str | None = None
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        key_type, key_bits = None, None
    else:
        if isinstance(key, rsa.RSAPublicKey):
            key_type, key_bits = "RSA", key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key_type, key_bits = "EC", key.key_size
            curve = _OPENSSL_CURVES.get(key.curve.name, key.curve.name)
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key_type, key_bits = "Ed25519", 253  # sizes as testssl.sh reports them
        elif isinstance(key, ed448.Ed448PublicKey):
            key_type, key_bits = "Ed448", 456
        elif isinstance(key, dsa.DSAPublicKey):
            key_type, key_bits = "DSA", key.key_size
        else:
            key_type, key_bits = type(key).__name__, None

    oid = cert.signature_algorithm_oid.dotted_string
    sig_alg, sig_hash = SIGNATURES.get(oid, (oid, None))
    if sig_alg == "rsassaPss":
        try:
            algo = cert.signature_hash_algorithm
        except UnsupportedAlgorithm:
            algo = None
        sig_hash = algo.name if algo is not None else None
        sig_alg = f"rsassaPss with {sig_hash or 'unknown hash'}"

    return CertFacts(
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
        has_san=has_san,
        curve=curve,
        self_issued=cert.subject == cert.issuer,
        is_ca=is_ca,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def match_hostname(host: str, dns_names: Sequence[str], ip_addresses: Sequence[str] = ()) -> str | None:
    """The subjectAltName entry that matches ``host`` (RFC 6125, as browsers match), or None.

    A wildcard is a whole leftmost label (``*.example.com``) covering exactly one label and
    needs two labels after it; an IP address matches IP entries only. The subject CN is not
    consulted: browsers stopped doing so (Chrome 58, 2017), and OpenSSL's fallback to it is
    what let a CN-only certificate pass before.
    """
    host = host.lower().rstrip(".")
    if is_ip(host):
        want = ipaddress.ip_address(host)
        return next((ip for ip in ip_addresses if ipaddress.ip_address(ip) == want), None)
    for name in dns_names:
        pattern = name.lower().rstrip(".")
        if pattern == host:
            return name
        if pattern.startswith("*.") and pattern.count(".") >= 2:
            label, _, rest = host.partition(".")
            if label and rest == pattern[2:]:
                return name
    return None

"""Certificates made with cryptography, and ``openssl s_server`` for what the ssl module cannot serve.

The stdlib server (intgkit.testing.TlsServer) cannot staple OCSP responses, choose TLS 1.3
suites or serve a chain of our making, so those cases run Debian's ``openssl s_server`` (the
notes' recipe: OpenSSL 3.0, ``-www``, single-threaded, fine for one scanner at a time).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.now(UTC)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _name(cn: str | None, org: str = "intgkit tests") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if cn:
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key(kind: str, bits: int) -> Any:
    return ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, bits)


def make_ca(
    cn: str = "intgkit test root",
    *,
    issuer: Issued | None = None,
    digest: hashes.HashAlgorithm | None = None,
    kind: str = "ec",
) -> Issued:
    """A root (self-signed) or, with ``issuer``, an intermediate CA signed with ``digest``.

    cryptography no longer signs with SHA-1, so a SHA-1 intermediate is signed by ``openssl x509``.
    """
    key = _key(kind, 2048)
    if isinstance(digest, hashes.SHA1):
        assert issuer is not None
        return Issued(_openssl_sha1_ca(cn, key, issuer), key)
    subject = _name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    signer = issuer.key if issuer else key
    return Issued(builder.sign(signer, digest or hashes.SHA256()), key)


def _openssl_sha1_ca(cn: str, key: Any, issuer: Issued) -> x509.Certificate:
    import tempfile

    csr = x509.CertificateSigningRequestBuilder().subject_name(_name(cn)).sign(key, hashes.SHA256())
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "csr.pem").write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        (d / "ca.pem").write_bytes(issuer.pem)
        (d / "ca.key").write_bytes(issuer.key_pem)
        (d / "ext.cnf").write_text(
            "[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
            "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
        )
        subprocess.run(
            [openssl_binary(), "x509", "-req", "-in", str(d / "csr.pem"), "-CA", str(d / "ca.pem"),
             "-CAkey", str(d / "ca.key"), "-sha1", "-days", "3650", "-set_serial", "4242",
             "-extfile", str(d / "ext.cnf"), "-extensions", "v3", "-out", str(d / "out.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        return x509.load_pem_x509_certificate((d / "out.pem").read_bytes())


def make_leaf(
    issuer: Issued | None,
    names: Sequence[str] = ("site.test",),
    *,
    san: bool = True,
    cn: str | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    kind: str = "ec",
    bits: int = 2048,
    digest: hashes.HashAlgorithm | None = None,
) -> Issued:
    """A server leaf issued by ``issuer`` (self-signed when None); SAN non-critical (WebPKI)."""
    key = _key(kind, bits)
    subject = _name(cn)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=1))
        .not_valid_after(not_after or NOW + timedelta(days=89))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if san:
        entries: list[x509.GeneralName] = []
        for n in names:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                entries.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    return Issued(builder.sign(issuer.key if issuer else key, digest or hashes.SHA256()), key)


def ocsp_response(leaf: Issued, issuer: Issued, status: str = "good", signer: Issued | None = None) -> bytes:
    """A DER OCSP response about ``leaf``, signed by its issuer (the notes' recipe) or ``signer``."""
    signer = signer or issuer
    cert_status = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED}[status]
    revoked = NOW - timedelta(days=1) if status == "revoked" else None
    reason = x509.ReasonFlags.key_compromise if status == "revoked" else None
    resp = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf.cert,
            issuer=issuer.cert,
            algorithm=hashes.SHA1(),
            cert_status=cert_status,
            this_update=NOW - timedelta(hours=1),
            next_update=NOW + timedelta(days=3),
            revocation_time=revoked,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        .sign(signer.key, hashes.SHA256())
    )
    return resp.public_bytes(serialization.Encoding.DER)


def openssl_binary() -> str:
    """Debian's openssl; a missing one fails under CI (installed by .ci/setup), else skips."""
    found = shutil.which("openssl")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is missing: .ci/setup installs it")
        pytest.skip("openssl is not installed")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def s_server(
    tmp: Path,
    leaf: Issued,
    chain: Sequence[Issued] = (),
    *,
    min_protocol: str = "TLSv1.2",
    max_protocol: str = "TLSv1.3",
    cipher: str | None = None,
    ciphersuites: str | None = None,
    ocsp_der: bytes | None = None,
    verify_client: Issued | None = None,
) -> Iterator[int]:
    """``openssl s_server`` on 127.0.0.1 serving ``leaf`` + ``chain``; yields its port."""
    openssl = openssl_binary()
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "leaf.pem").write_bytes(leaf.pem)
    (tmp / "leaf.key").write_bytes(leaf.key_pem)
    port = free_port()
    cmd = [
        openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(tmp / "leaf.pem"),
        "-key", str(tmp / "leaf.key"), "-min_protocol", min_protocol, "-max_protocol", max_protocol,
        "-www", "-quiet", "-no_dhe",
    ]  # fmt: skip
    if chain:
        (tmp / "chain.pem").write_bytes(b"".join(c.pem for c in chain))
        cmd += ["-cert_chain", str(tmp / "chain.pem")]
    cmd += ["-cipher", cipher or "DEFAULT:@SECLEVEL=0"]
    if ciphersuites is not None:
        cmd += ["-ciphersuites", ciphersuites]
    if ocsp_der is not None:
        (tmp / "ocsp.der").write_bytes(ocsp_der)
        cmd += ["-status_file", str(tmp / "ocsp.der")]
    if verify_client is not None:
        (tmp / "client-ca.pem").write_bytes(verify_client.pem)
        cmd += ["-Verify", "1", "-CAfile", str(tmp / "client-ca.pem")]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"openssl s_server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("openssl s_server did not start within 10 s")
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()

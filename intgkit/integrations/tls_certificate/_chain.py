"""Checks on the certificate and the served chain: trust, name, dates, key, signatures, order.

Severities are testssl.sh's (testssl/testssl.sh @9fdf802, ``certificate_info()``: expiry
``DAYS2WARN1=60``/``DAYS2WARN2=30``, halved for Let's Encrypt; lifespan; key-size ladders;
signature table). Trust is OpenSSL's verdict with the configured roots (browser-like), with
three corrections where OpenSSL's answer is not the browsers':

- OpenSSL reports only its first error, and checks the name before the dates, so the dates are
  judged here from the certificate itself (a not-yet-valid self-signed leaf is reported as both).
- OpenSSL falls back to the subject CN when there is no subjectAltName; browsers do not, and
  testssl.sh rates a missing SAN high. The name is matched here, SAN only.
- A server that demands a client certificate aborts the handshake after the client has
  verified the server's chain (a client sends its certificate only after that), so that abort
  says the chain verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ._connection import Handshake
from ._parse import CertFacts, match_hostname
from ._report import DAY, Report, iso

_LETS_ENCRYPT = re.compile(r"^Let.s Encrypt")  # testssl.sh's test on the issuer O
_CABF_398_DAYS_FROM = datetime(2020, 9, 1, tzinfo=UTC)  # testssl.sh: 1598918400

#: OpenSSL verify codes -> result outcome
_VERIFY_OUTCOMES = {
    10: "expired",
    9: "not-yet-valid",
    18: "self-signed",
    19: "self-signed",
    20: "unknown-issuer",
    2: "unknown-issuer",
    21: "unknown-issuer",
}


@dataclass(frozen=True, slots=True)
class ChainInput:
    """What the chain checks read."""

    host: str
    chain: tuple[CertFacts, ...]  # as served, leaf first
    verified: Handshake  # the default client's handshake (or the legacy retry)
    chain_only: Handshake | None  # after a name mismatch (62): the chain judged without the name
    legacy_note: str
    client_cert_required: bool

    @property
    def leaf(self) -> CertFacts:
        return self.chain[0]


def chain_of_trust(r: Report, c: ChainInput) -> tuple[bool | None, str | None]:
    """chain_of_trust; returns (chain_valid, the chain's verification error)."""
    judged = c.verified
    if judged.kind == "cert" and judged.verify_code == 62:
        judged = c.chain_only or Handshake("timeout", error="not evaluated")
    note = c.legacy_note
    if judged.kind == "ok":
        r.add("chain_of_trust", "ok", True, "info", "trusted", "trusted", "the chain verifies" + note)
        return True, None
    if judged.kind == "tls" and c.client_cert_required:
        r.add(
            "chain_of_trust",
            "ok",
            True,
            "info",
            "trusted",
            "trusted",
            "the chain verified before the server asked for a client certificate" + note,
        )
        return True, None
    if judged.kind != "cert":
        r.add(
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
    r.add(
        "chain_of_trust",
        _VERIFY_OUTCOMES.get(code or 0, "failed"),
        False,
        "critical",
        f"{code} {message}",
        "trusted",
        f"verification failed: {message} (OpenSSL verify code {code})" + note,
    )
    return False, f"{code} {message}"


def hostname(r: Report, c: ChainInput) -> bool:
    """hostname: the SAN (never the CN) must match; wildcards low, as testssl.sh rates them."""
    leaf = c.leaf
    names = [*leaf.dns_names, *leaf.ip_addresses]
    if not leaf.has_san:
        cn = f"; its subject CN ({leaf.subject_cn}) is ignored by browsers" if leaf.subject_cn else ""
        r.add(
            "hostname",
            "no-san",
            False,
            "high",
            {"subjectAltName": None, "CN": leaf.subject_cn},
            c.host,
            f"the certificate has no subjectAltName, so it is valid for no host name{cn}",
        )
        return False
    matched = match_hostname(c.host, leaf.dns_names, leaf.ip_addresses)
    if matched is None or (c.verified.kind == "cert" and c.verified.verify_code == 62):
        r.add(
            "hostname", "mismatch", False, "high", names, c.host, f"the certificate is not valid for {c.host}"
        )
        return False
    if matched.startswith("*."):
        r.add(
            "hostname",
            "match-wildcard",
            True,
            "low",
            matched,
            c.host,
            "matched through a wildcard certificate (testssl.sh rates wildcards low)",
        )
    else:
        r.add("hostname", "match", True, "info", matched, c.host)
    return True


def expiration(r: Report, leaf: CertFacts) -> float:
    """expiration, from the certificate's own dates (not OpenSSL's first error); days left."""
    left = (leaf.not_after - r.now).total_seconds()
    warn1, warn2 = 60, 30
    detail = ""
    if leaf.issuer_o and _LETS_ENCRYPT.match(leaf.issuer_o):
        warn1, warn2 = warn1 // 2, warn2 // 2
        detail = "; thresholds halved for Let's Encrypt, as testssl.sh does"
    observed = f"{left / DAY:.1f} days left (not after {iso(leaf.not_after)})"
    expected = f">= {warn1} days left"
    if leaf.not_before > r.now:
        r.add(
            "expiration",
            "not-yet-valid",
            False,
            "critical",
            f"not valid before {iso(leaf.not_before)}",
            f"valid now ({iso(r.now)})",
            "the certificate is not valid yet; browsers reject it until then",
        )
    elif left < 1:  # openssl x509 -checkend 1
        r.add(
            "expiration",
            "expired",
            False,
            "critical",
            observed,
            expected,
            "the certificate has expired" + detail,
        )
    elif left < warn2 * DAY:
        r.add(
            "expiration",
            f"under-{warn2}-days",
            False,
            "high",
            observed,
            expected,
            f"expires in less than {warn2} days" + detail,
        )
    elif left < warn1 * DAY:
        r.add(
            "expiration",
            f"under-{warn1}-days",
            False,
            "medium",
            observed,
            expected,
            f"expires in less than {warn1} days" + detail,
        )
    else:
        r.add("expiration", "ok", True, "info", observed, expected, detail.lstrip("; "))
    return left / DAY


def lifespan(r: Report, leaf: CertFacts) -> float:
    """lifespan; returns it in seconds."""
    span = (leaf.not_after - leaf.not_before).total_seconds()
    days = int(span // DAY)
    observed, expected = f"{days} days", "<= 398 days"
    if span >= 3650 * DAY:
        r.add(
            "lifespan", "10-years-or-more", False, "high", observed, expected, ">= 10 years is way too long"
        )
    elif span >= 1825 * DAY:
        r.add("lifespan", "5-years-or-more", False, "medium", observed, expected, ">= 5 years is too long")
    elif span >= 398 * DAY + 1:
        if leaf.not_before >= _CABF_398_DAYS_FROM:
            r.add(
                "lifespan",
                "over-398-days",
                False,
                "medium",
                observed,
                expected,
                "> 398 days for a certificate issued after 2020-09-01 is too long",
            )
        else:
            r.add(
                "lifespan",
                "over-398-days-issued-before-2020-09",
                True,
                "info",
                observed,
                expected,
                "> 398 days, but issued before the 2020-09-01 limit",
            )
    else:
        r.add("lifespan", "ok", True, "info", observed, expected)
    return span


def key_size(r: Report, leaf: CertFacts) -> None:
    """key_size, on testssl.sh's ladders."""
    kind, bits = leaf.key_type, leaf.key_bits
    observed = f"{kind} {bits} bits" if kind and bits else kind
    if kind is None or bits is None:
        r.add("key_size", "unknown", False, "info", observed, None, "key type not recognised")
        return
    if kind in ("Ed25519", "Ed448"):
        r.add("key_size", "ok", True, "info", observed)
        return
    ladder = (
        ((110, "critical"), (123, "high"), (163, "medium"), (224, "info"), (533, "ok"))
        if kind == "EC"
        else ((512, "critical"), (768, "high"), (1024, "medium"), (2048, "info"), (4096, "ok"))
    )
    for limit, level in ladder:
        if bits <= limit:
            if level == "ok":
                r.add("key_size", "ok", True, "info", observed)
            elif level == "info":
                r.add("key_size", f"{limit}-or-less", True, "info", observed)
            else:
                r.add(
                    "key_size",
                    f"{limit}-or-less",
                    False,
                    level,
                    observed,
                    f"> {ladder[2][0]} bits",
                    f"{kind} key of {bits} bits: too small",
                )
            return
    r.add(
        "key_size",
        "unusual",
        True,
        "info",
        observed,
        None,
        "unusually large key; may cause compatibility problems",
    )


def signature(r: Report, leaf: CertFacts) -> None:
    """signature_algorithm of the leaf, on testssl.sh's table."""
    alg, digest = leaf.sig_alg, leaf.sig_hash
    expected = "SHA-256 or better"
    if digest in ("md2", "md4", "md5"):
        r.add(
            "signature_algorithm",
            digest,
            False,
            "critical",
            alg,
            expected,
            f"{digest.upper()} signatures can be forged",
        )
    elif digest == "sha1":
        r.add(
            "signature_algorithm",
            "sha1",
            False,
            "medium",
            alg,
            expected,
            "SHA-1 signatures are deprecated; browsers warn",
        )
    elif digest == "sha224":
        r.add("signature_algorithm", "sha224", True, "info", alg, expected)
    elif digest in ("sha256", "sha384", "sha512", "eddsa"):
        r.add("signature_algorithm", "ok", True, "info", alg, expected)
    else:
        r.add(
            "signature_algorithm",
            "unknown",
            False,
            "info",
            alg,
            expected,
            "signature algorithm not recognised",
        )


def chain_sha1(r: Report, chain: tuple[CertFacts, ...]) -> bool:
    """chain_sha1: a SHA-1 (or weaker) signature on any served certificate but a root's own.

    A root's self-signature is never checked by clients (the root is trusted as such), so it
    does not count, as in sslyze's ``verified_chain_has_sha1_signature``.
    """
    weak = [c for c in chain if not c.self_issued and c.sig_hash in ("sha1", "md5", "md4", "md2")]
    if weak:
        r.add(
            "chain_sha1",
            "found",
            False,
            "medium",
            [f"{c.subject}: {c.sig_alg}" for c in weak],
            "SHA-256 or better throughout",
            f"{len(weak)} certificate(s) of the served chain are signed with SHA-1 or weaker",
        )
        return True
    r.add(
        "chain_sha1",
        "none",
        True,
        "info",
        f"{len(chain)} certificate(s) checked",
        "SHA-256 or better throughout",
    )
    return False


def chain_order(r: Report, chain: tuple[CertFacts, ...]) -> bool:
    """chain_order: each certificate is issued by the next one (RFC 8446 §4.4.2; sslyze's test)."""
    bad = [i for i in range(len(chain) - 1) if chain[i].issuer != chain[i + 1].subject]
    if bad:
        i = bad[0]
        r.add(
            "chain_order",
            "invalid",
            False,
            "low",
            [c.subject for c in chain],
            "each certificate followed by its issuer",
            f"certificate {i + 1} ({chain[i].subject}) is not followed by its issuer",
        )
        return False
    r.add("chain_order", "ok", True, "info", len(chain), "each certificate followed by its issuer")
    return True


def chain_root(r: Report, chain: tuple[CertFacts, ...]) -> bool:
    """chain_root: whether a self-issued CA certificate (a root) is sent beside the leaf."""
    sent = any(c.self_issued for c in chain[1:])
    if sent:
        r.add(
            "chain_root",
            "sent",
            True,
            "info",
            chain[-1].subject,
            "root not sent",
            "the root is sent; harmless but useless, as clients must already have it",
        )
    else:
        r.add("chain_root", "not-sent", True, "info", None, "root not sent")
    return sent


def client_certificate(r: Report, required: bool, requested: bool | None) -> str:
    """client_certificate: required / optional / not requested (unknown if nothing could tell)."""
    if required:
        r.add(
            "client_certificate",
            "required",
            True,
            "info",
            "required",
            None,
            "the server requires a client certificate (mutual TLS): clients without one cannot connect",
        )
        return "required"
    if requested:
        r.add(
            "client_certificate",
            "optional",
            True,
            "info",
            "optional",
            None,
            "the server asks for a client certificate but accepts clients without one",
        )
        return "optional"
    if requested is None:
        r.add(
            "client_certificate",
            "unknown",
            True,
            "info",
            None,
            None,
            "only TLS 1.3 is offered, where a certificate request is encrypted; none was enforced",
        )
        return "unknown"
    r.add("client_certificate", "not-requested", True, "info", "not requested")
    return "not requested"

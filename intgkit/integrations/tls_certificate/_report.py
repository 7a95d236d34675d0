"""The findings of one endpoint: stable ids, severities and a plain-language line per check.

Every finding's ``result_id`` is ``<check>-<outcome>`` with underscores as hyphens
(``chain-of-trust-expired``); ids are stable across releases, so notebooks and alerting can
match on them. ``explanation`` says in one line why the check matters, for a reader who is not
a specialist; ``detail`` says what was seen on this target.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .._findings import Findings

NAME = "tls_certificate"
DAY = 86400.0

#: check -> why it matters, in one plain-language line
EXPLANATIONS: dict[str, str] = {
    "chain_of_trust": "Browsers only trust a certificate that chains up to a root they know; "
    "otherwise visitors see a full-page warning.",
    "hostname": "The certificate must name the site's host in its subjectAltName, or browsers "
    "refuse the connection as a possible impersonation.",
    "expiration": "An expired (or not yet valid) certificate makes browsers block the site.",
    "lifespan": "Long-lived certificates stay usable long after a key may have leaked; browsers "
    "reject those valid for more than 398 days.",
    "key_size": "A small key can be broken, letting an attacker impersonate the server.",
    "signature_algorithm": "A certificate signed with a broken hash (MD5, SHA-1) can be forged.",
    "chain_sha1": "Any certificate in the served chain signed with SHA-1 can be forged, whoever issued it.",
    "chain_order": "Certificates sent out of order (or with unrelated ones) break some clients.",
    "chain_root": "Sending the root wastes bytes on every connection: clients must have it already.",
    "client_certificate": "A server that demands a client certificate (mutual TLS) only talks to "
    "clients holding a key it trusts; browsers of ordinary visitors cannot connect.",
    "ocsp_stapling": "With a stapled OCSP response the server proves its certificate is not "
    "revoked, sparing each visitor a slow, privacy-leaking query to the CA.",
    "protocol_ssl3_0": "SSL 3.0 is broken (POODLE); no current client needs it.",
    "protocol_tls1_0": "TLS 1.0 is deprecated (RFC 8996): old, weak algorithms only.",
    "protocol_tls1_1": "TLS 1.1 is deprecated (RFC 8996): old, weak algorithms only.",
    "protocol_tls1_2": "TLS 1.2 is what most clients speak; without it many cannot connect.",
    "protocol_tls1_3": "TLS 1.3 is the fastest and safest version; every current browser speaks it.",
    "mozilla_modern": "Mozilla's 'modern' profile: TLS 1.3 only, for services whose clients are all recent.",
    "mozilla_intermediate": "Mozilla's 'intermediate' profile is the recommended configuration "
    "for general-purpose servers.",
    "mozilla_old": "Mozilla's 'old' profile is the most permissive configuration it still "
    "considers acceptable; failing it means seriously outdated settings.",
}


class Report:
    """Collects one endpoint's findings rows."""

    def __init__(self, target: str | None) -> None:
        self.findings = Findings(NAME, target)
        self.now = datetime.now(UTC)

    def add(
        self,
        check: str,
        outcome: str,
        passed: bool,
        severity: str,
        observed: Any = None,
        expected: Any = None,
        detail: str = "",
        *,
        explanation: str | None = None,
    ) -> None:
        """One finding whose result id is ``<check>-<outcome>``."""
        self.findings.add(
            check,
            f"{check.replace('_', '-')}-{outcome}",
            passed,
            severity,
            observed,
            expected,
            detail,
            explanation=explanation if explanation is not None else EXPLANATIONS.get(check, ""),
        )

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.findings.rows


def iso(when: datetime) -> str:
    """UTC, to the second, with a Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

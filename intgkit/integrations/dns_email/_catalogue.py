"""Every finding dns_email can report: its stable id, check, verdict, severity and explanation.

One table, so a result id always means the same thing: the same check, the same severity and
the same plain-language line, whatever the target. The run-history diff matches findings by
(integration, target, check, result_id); changing an id here is a breaking change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._findings import Findings

__all__ = ["CATALOGUE", "Kind", "Report"]


@dataclass(frozen=True, slots=True)
class Kind:
    """What one result id means."""

    check: str
    passed: bool
    severity: str
    explanation: str


def _k(check: str, passed: bool, severity: str, explanation: str) -> Kind:
    return Kind(check, passed, severity, explanation)


_UNKNOWN = "could not be checked because a DNS lookup failed; the detail names it"

CATALOGUE: dict[str, Kind] = {
    # the target itself
    "domain-nxdomain": _k(
        "domain", False, "high", "The domain does not exist (NXDOMAIN): a typo or a lapsed domain."
    ),
    # SPF (RFC 7208)
    "spf-valid": _k("spf_record", True, "info", "The SPF record is valid, so receivers can evaluate it."),
    "spf-not-found": _k(
        "spf_record", False, "medium", "No SPF record: receivers cannot tell which hosts may send mail."
    ),
    "spf-multiple-records": _k(
        "spf_record", False, "high", "Several SPF records make SPF fail for every message (permerror)."
    ),
    "spf-syntax-error": _k(
        "spf_record", False, "high", "A syntax error anywhere in the record makes SPF fail (permerror)."
    ),
    "spf-include-invalid": _k(
        "spf_record",
        False,
        "high",
        "An include or redirect points at a missing or broken SPF record, so SPF fails (permerror).",
    ),
    "spf-permerror": _k(
        "spf_record",
        False,
        "high",
        "The record needs too many DNS lookups or loops, so receivers stop with a permerror.",
    ),
    "spf-unknown": _k("spf_record", False, "info", "SPF " + _UNKNOWN + " (a receiver gets temperror)."),
    "spf-size-ok": _k("spf_size", True, "info", "The SPF answer fits a plain UDP DNS reply."),
    "spf-too-large": _k(
        "spf_size",
        False,
        "low",
        "The TXT answer is over 450 bytes, so some receivers may fail to fetch it over UDP.",
    ),
    "spf-lookups-ok": _k("spf_lookups", True, "info", "SPF needs at most 10 DNS lookups, the limit."),
    "spf-too-many-lookups": _k(
        "spf_lookups", False, "high", "SPF needs more than 10 DNS lookups, so it fails (permerror)."
    ),
    "spf-void-lookups-ok": _k(
        "spf_void_lookups", True, "info", "At most two SPF lookups come back empty, the limit."
    ),
    "spf-too-many-void-lookups": _k(
        "spf_void_lookups",
        False,
        "high",
        "More than two SPF lookups come back empty, so SPF fails (permerror).",
    ),
    "spf-no-loop": _k("spf_loops", True, "info", "No include or redirect leads back to itself."),
    "spf-loop": _k("spf_loops", False, "high", "An include or redirect loops back, so SPF fails."),
    "spf-all-fail": _k("spf_all", True, "info", "Mail from hosts not listed fails SPF (-all)."),
    "spf-all-softfail": _k(
        "spf_all", True, "info", "Mail from hosts not listed soft-fails SPF (~all); fine with DMARC."
    ),
    "spf-all-neutral": _k(
        "spf_all", False, "medium", "?all says nothing about hosts not listed: anyone can pretend."
    ),
    "spf-all-pass": _k(
        "spf_all", False, "high", "+all lets every host on the internet pass SPF for this domain."
    ),
    "spf-all-missing": _k(
        "spf_all", False, "medium", "No all mechanism: hosts not listed get neutral, as with ?all."
    ),
    "spf-all-redirect-invalid": _k(
        "spf_all",
        False,
        "high",
        "The redirect= target has no usable SPF record, so the result is permerror, not neutral.",
    ),
    "spf-no-ptr": _k("spf_ptr", True, "info", "The record does not use the slow, deprecated ptr."),
    "spf-ptr-used": _k("spf_ptr", False, "low", "ptr is slow and unreliable; RFC 7208 says not to use it."),
    # DMARC (RFC 7489, RFC 9989)
    "dmarc-valid": _k("dmarc_record", True, "info", "A valid DMARC record applies to this domain."),
    "dmarc-not-found": _k(
        "dmarc_record",
        False,
        "medium",
        "No DMARC record: receivers apply no policy to mail that fails SPF and DKIM.",
    ),
    "dmarc-multiple-records": _k(
        "dmarc_record", False, "high", "Several DMARC records are all discarded, disabling DMARC."
    ),
    "dmarc-invalid": _k("dmarc_record", False, "high", "The DMARC record has errors, so it is ignored."),
    "dmarc-at-apex": _k(
        "dmarc_record",
        False,
        "medium",
        "The DMARC record is at the domain itself; it only works at _dmarc.<domain>.",
    ),
    "dmarc-spf-at-dmarc": _k(
        "dmarc_record",
        False,
        "medium",
        "An SPF record sits where the DMARC record belongs (_dmarc); there is no DMARC policy.",
    ),
    "dmarc-leading-whitespace": _k(
        "dmarc_record",
        False,
        "medium",
        "The DMARC record starts with a space, so receivers do not recognise it.",
    ),
    "dmarc-version-case": _k(
        "dmarc_record",
        False,
        "medium",
        "The record must start with exactly v=DMARC1 (this case); receivers ignore it otherwise.",
    ),
    "dmarc-unknown": _k("dmarc_record", False, "info", "DMARC " + _UNKNOWN + "."),
    "dmarc-size-ok": _k("dmarc_size", True, "info", "The DMARC answer fits a plain UDP DNS reply."),
    "dmarc-too-large": _k(
        "dmarc_size",
        False,
        "low",
        "The DMARC answer is over 450 bytes, so some receivers may fail to fetch it over UDP.",
    ),
    "dmarc-policy-reject": _k("dmarc_policy", True, "info", "Mail failing DMARC is rejected."),
    "dmarc-policy-quarantine": _k(
        "dmarc_policy", False, "low", "Mail failing DMARC goes to spam instead of being rejected."
    ),
    "dmarc-policy-none": _k(
        "dmarc_policy", False, "medium", "p=none only monitors: forged mail is still delivered."
    ),
    "dmarc-policy-missing": _k(
        "dmarc_policy", False, "medium", "Without a p tag the policy is none: nothing is enforced."
    ),
    "dmarc-rua-present": _k(
        "dmarc_rua", True, "info", "Aggregate reports go to an address that accepts them."
    ),
    "dmarc-rua-missing": _k(
        "dmarc_rua", False, "low", "No rua address: no reports arrive, so failures go unseen."
    ),
    "dmarc-rua-unauthorized": _k(
        "dmarc_rua",
        False,
        "low",
        "Reports go to another organisation that has not agreed to take them, so none arrive.",
    ),
    "dmarc-rua-unknown": _k("dmarc_rua", False, "info", "The report address " + _UNKNOWN + "."),
    # MTA-STS (RFC 8461) and TLS-RPT (RFC 8460)
    "mta-sts-enforce": _k(
        "mta_sts", True, "info", "MTA-STS makes senders refuse unauthenticated TLS to the MX hosts."
    ),
    "mta-sts-mode-testing": _k(
        "mta_sts", False, "low", "MTA-STS is in testing mode: failures are reported, not refused."
    ),
    "mta-sts-mode-none": _k("mta_sts", False, "low", "The MTA-STS policy is withdrawn (mode: none)."),
    "mta-sts-not-found": _k(
        "mta_sts", False, "info", "No MTA-STS: mail to this domain can be downgraded to plain text."
    ),
    "mta-sts-invalid-record": _k(
        "mta_sts", False, "medium", "The _mta-sts TXT record is malformed, so senders ignore it."
    ),
    "mta-sts-policy-unavailable": _k(
        "mta_sts", False, "medium", "The MTA-STS policy the TXT record announces cannot be fetched."
    ),
    "mta-sts-invalid-policy": _k(
        "mta_sts", False, "medium", "The MTA-STS policy file is malformed, so senders ignore it."
    ),
    "mta-sts-unknown": _k("mta_sts", False, "info", "MTA-STS " + _UNKNOWN + "."),
    "mta-sts-mx-covered": _k("mta_sts_mx", True, "info", "Every MX host is named by the MTA-STS policy."),
    "mta-sts-mx-mismatch": _k(
        "mta_sts_mx",
        False,
        "medium",
        "Some MX hosts are not in the MTA-STS policy: senders refuse to deliver to them.",
    ),
    "mta-sts-mx-unknown": _k("mta_sts_mx", False, "info", "MX coverage " + _UNKNOWN + "."),
    "tls-rpt-present": _k("tls_rpt", True, "info", "TLS delivery failures are reported to you."),
    "tls-rpt-not-found": _k(
        "tls_rpt", False, "info", "No TLS-RPT record: TLS delivery failures go unreported."
    ),
    "tls-rpt-invalid": _k("tls_rpt", False, "low", "The TLS-RPT record is malformed, so no reports arrive."),
    "tls-rpt-unknown": _k("tls_rpt", False, "info", "TLS-RPT " + _UNKNOWN + "."),
    # CAA (RFC 8659)
    "caa-present": _k("caa", True, "info", "Only the listed certificate authorities may issue."),
    "caa-not-found": _k(
        "caa", False, "low", "No CAA record: any certificate authority may issue for this domain."
    ),
    "caa-invalid": _k("caa", False, "medium", "A CAA record is malformed; CAs may refuse to issue at all."),
    "caa-unknown": _k("caa", False, "info", "CAA " + _UNKNOWN + "."),
    # BIMI (draft-brand-indicators-for-message-identification)
    "bimi-present": _k("bimi", True, "info", "A valid BIMI record names the brand logo to show."),
    "bimi-not-found": _k("bimi", False, "info", "No BIMI record: mail clients show no brand logo."),
    "bimi-declined": _k("bimi", True, "info", "The BIMI record declines to show a logo (l= empty)."),
    "bimi-invalid": _k("bimi", False, "low", "The BIMI record is malformed, so no logo is shown."),
    "bimi-unknown": _k("bimi", False, "info", "BIMI " + _UNKNOWN + "."),
    # DNSSEC (RFC 4033-4035), validated here
    "dnssec-valid": _k(
        "dnssec", True, "info", "The zone is signed and its signatures verify, so answers are authentic."
    ),
    "dnssec-unsigned": _k(
        "dnssec", False, "low", "The zone is not signed: DNS answers for it can be forged."
    ),
    "dnssec-invalid": _k(
        "dnssec",
        False,
        "high",
        "A DNSSEC signature does not verify or has expired: validating resolvers refuse the domain.",
    ),
    "dnssec-no-ds": _k(
        "dnssec",
        False,
        "medium",
        "The zone is signed but its parent has no matching DS record, so nobody validates it.",
    ),
    "dnssec-unknown": _k("dnssec", False, "info", "DNSSEC " + _UNKNOWN + "."),
    # mail servers (RFC 3207 STARTTLS)
    "mx-starttls-ok": _k("mx_starttls", True, "info", "Every MX host offers STARTTLS encryption."),
    "mx-starttls-missing": _k(
        "mx_starttls",
        False,
        "medium",
        "Some MX hosts do not offer STARTTLS, so mail to them travels unencrypted.",
    ),
    "mx-none": _k("mx_starttls", True, "info", "No MX host to test: no MX records, or a null MX."),
    "mx-starttls-unknown": _k(
        "mx_starttls", False, "info", "An MX host could not be reached; the detail says which and why."
    ),
    "mx-certificate-valid": _k(
        "mx_certificate", True, "info", "Every MX host's certificate is trusted and names the host."
    ),
    "mx-certificate-invalid": _k(
        "mx_certificate",
        False,
        "medium",
        "An MX host's certificate is untrusted, expired or for another name: MTA-STS senders refuse it.",
    ),
}


class Report:
    """One check's findings, looked up in :data:`CATALOGUE` by result id."""

    def __init__(self, domain: str) -> None:
        self.findings = Findings("dns_email", domain)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The findings rows added so far."""
        return self.findings.rows

    def add(self, result_id: str, observed: Any = None, expected: Any = None, detail: str = "") -> None:
        """Append the finding ``result_id`` with what was seen on this target."""
        kind = CATALOGUE[result_id]
        self.findings.add(
            kind.check,
            result_id,
            kind.passed,
            kind.severity,
            observed=observed,
            expected=expected,
            detail=detail,
            explanation=kind.explanation,
        )

    def unknown(self, result_id: str, status: str, why: str) -> None:
        """Append an ``-unknown`` finding; ``why`` names the lookup that failed."""
        self.add(result_id, observed=status, detail=f"could not be evaluated: {why}")

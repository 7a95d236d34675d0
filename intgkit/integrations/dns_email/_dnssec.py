"""DNSSEC, validated here (RFC 4033-4035) rather than taken from a resolver's AD bit.

The zone apex is the closest name at or above the domain with an SOA record. Its DNSKEY set
must be signed by one of its own keys, its SOA (and the domain's TXT records, if any) by the
zone's keys, with signatures in their validity period (``dns.dnssec.validate``, which uses
``cryptography``); the parent must publish a DS record matching one of the keys, or nobody can
validate the zone (an "island of security"). The chain above the parent is not followed: the
root's trust anchor is for a validating resolver, and the AD bit it sets is reported beside.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .._findings import clip
from ._catalogue import Report
from ._lookup import Answer, Lookup

__all__ = ["DnssecResult", "dnssec_findings", "validate_dnssec"]


@dataclass
class DnssecResult:
    """What :func:`validate_dnssec` found; ``verdict`` is a dnssec-* result id."""

    verdict: str
    zone: str | None = None
    detail: str = ""
    observed: Any = None
    checked: list[str] = field(default_factory=list)


def _rrsig(answer: Answer, name: str, rdtype: str) -> Any:
    """The RRSIG set covering ``rdtype`` at ``name`` in the answer's message, or None."""
    import dns.name
    import dns.rdataclass
    import dns.rdatatype

    if answer.response is None:
        return None
    try:
        return answer.response.find_rrset(
            answer.response.answer,
            dns.name.from_text(name),
            dns.rdataclass.IN,
            dns.rdatatype.RRSIG,
            dns.rdatatype.from_text(rdtype),
        )
    except KeyError:
        return None


def _rrset(answer: Answer, name: str, rdtype: str) -> Any:
    import dns.name
    import dns.rdataclass
    import dns.rdatatype

    assert answer.response is not None
    return answer.response.find_rrset(
        answer.response.answer, dns.name.from_text(name), dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)
    )


async def validate_dnssec(domain: str, apex_txt: Answer, lookup: Lookup) -> DnssecResult:
    """Find the zone's keys and check the signatures and the parent's DS record."""
    import dns.dnssec
    import dns.exception
    import dns.name

    labels = domain.split(".")
    names = [".".join(labels[i:]) for i in range(len(labels))]
    # the zone apex is the closest name with an SOA: a signed parent (com) says nothing about an
    # unsigned child zone (example.com), whose records are simply not signed
    soas = await asyncio.gather(*(lookup(n, "SOA") for n in names))
    zone: str | None = None
    soa: Answer | None = None
    for name, answer in zip(names, soas, strict=True):
        if answer.failed:
            return DnssecResult("dnssec-unknown", detail=answer.why(name, "SOA"), observed=answer.status)
        if answer.rdata:
            zone, soa = name, answer
            break
    if zone is None or soa is None:
        return DnssecResult(
            "dnssec-unsigned", observed="no zone", detail=f"no SOA (zone apex) at {', '.join(names)}"
        )
    key_answer, ds = await asyncio.gather(lookup(zone, "DNSKEY"), lookup(zone, "DS"))
    if key_answer.failed:
        return DnssecResult("dnssec-unknown", zone, key_answer.why(zone, "DNSKEY"), key_answer.status)
    if not key_answer.rdata:
        return DnssecResult("dnssec-unsigned", zone, f"the zone {zone} has no DNSKEY", "no DNSKEY")
    zname = dns.name.from_text(zone)
    keyset = _rrset(key_answer, zone, "DNSKEY")
    keymap = {zname: keyset}
    checks: list[tuple[str, str, Answer]] = [(zone, "DNSKEY", key_answer), (zone, "SOA", soa)]
    if apex_txt.rdata:
        checks.append((domain, "TXT", apex_txt))
    checked: list[str] = []
    for name, rdtype, answer in checks:
        if answer.failed:
            return DnssecResult("dnssec-unknown", zone, answer.why(name, rdtype), answer.status)
        if not answer.rdata:
            continue
        sigs = _rrsig(answer, name, rdtype)
        if sigs is None:
            return DnssecResult(
                "dnssec-invalid", zone, f"the {rdtype} records of {name} are not signed", "no RRSIG"
            )
        now = time.time()
        if all(sig.expiration < now for sig in sigs):
            ended = datetime.fromtimestamp(max(sig.expiration for sig in sigs), UTC)
            return DnssecResult(
                "dnssec-invalid",
                zone,
                f"the signatures of the {rdtype} records of {name} expired on {ended:%Y-%m-%d %H:%M} UTC",
                "expired RRSIG",
            )
        try:
            dns.dnssec.validate(_rrset(answer, name, rdtype), sigs, keymap)
        except dns.exception.ValidationFailure as exc:
            return DnssecResult(
                "dnssec-invalid",
                zone,
                clip(f"the signature of the {rdtype} records of {name} does not verify: {exc}", 300) or "",
                "bad RRSIG",
            )
        checked.append(f"{name} {rdtype}")
    if ds.failed:
        return DnssecResult("dnssec-unknown", zone, ds.why(zone, "DS"), ds.status, checked)
    matching = []
    for rd in ds.rdata:
        for key in keyset:
            try:
                if dns.dnssec.make_ds(zname, key, rd.digest_type) == rd:
                    matching.append(f"DS {rd.key_tag}")
            except (dns.exception.UnsupportedAlgorithm, ValueError):
                continue
    if not matching:
        why = "no DS record" if not ds.rdata else "no DS record matches a DNSKEY"
        return DnssecResult("dnssec-no-ds", zone, f"{why} for {zone} at its parent", why, checked)
    return DnssecResult(
        "dnssec-valid", zone, f"zone {zone}: verified {', '.join(checked)}", matching, checked
    )


def dnssec_findings(report: Report, result: DnssecResult, ad: bool) -> None:
    """The DNSSEC finding; the resolver's AD bit is noted in the detail."""
    note = f"the resolver {'set' if ad else 'did not set'} the AD bit"
    if result.verdict == "dnssec-unknown":
        report.unknown("dnssec-unknown", str(result.observed), result.detail)
        return
    detail = f"{result.detail}; {note}" if result.detail else note
    report.add(result.verdict, result.observed, "signed zone, valid signatures, DS at the parent", detail)

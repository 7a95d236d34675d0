"""One domain's audit: every check started at once, findings collected in a fixed order.

The checks share one :class:`~._lookup.Lookups`, so a name two checks need is asked once; the
findings of each check go to its own :class:`~._catalogue.Report` and are joined in the
order of :data:`ORDER`, so the output does not depend on which answer arrived first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from ._bimi import bimi_findings
from ._caa import caa_findings, caa_names, relevant_caa
from ._catalogue import Report
from ._dmarc import check_report_authorisation, discover_dmarc, dmarc_findings, parse_dmarc, report_uris
from ._dnssec import dnssec_findings, validate_dnssec
from ._lookup import Answer, Lookups
from ._mta_sts import mta_sts_findings, tls_rpt_findings
from ._smtp import MAX_MX_PROBED, probe_mx, smtp_findings
from ._spf import evaluate_spf, parse_spf, spf_findings, spf_records

__all__ = ["ORDER", "Options", "audit"]

ORDER = ("domain", "spf", "dmarc", "mta_sts", "tls_rpt", "caa", "bimi", "dnssec", "smtp")
_PURPOSES = ("spf", "dmarc", "mx", "mta_sts", "tls_rpt", "caa", "bimi", "dnssec", "smtp")


class DnsTimeoutError(TimeoutError):
    """The nameserver did not answer the domain's first query: nothing could be checked."""


@dataclass(frozen=True, slots=True)
class Options:
    """What the audit needs beyond DNS: the policy host's trust and reachability, SMTP."""

    ca_bundle: str | None
    resolve: str | None
    http_timeout: float
    smtp: bool
    smtp_timeout: float


async def audit(domain: str, lookups: Lookups, options: Options) -> dict[str, list[dict[str, Any]]]:
    """Run every check for ``domain``; the sections of one result."""
    reports = {name: Report(domain) for name in ORDER}
    facts: dict[str, list[dict[str, Any]]] = {"spf": [], "dmarc": [], "mta_sts": [], "caa": [], "mx": []}
    apex = await lookups.query(domain, "TXT", "spf")
    if apex.status == "TIMEOUT":
        raise DnsTimeoutError(f"{apex.error} (query {domain} TXT); no check could run")
    if apex.status == "NXDOMAIN":
        reports["domain"].add(
            "domain-nxdomain",
            "NXDOMAIN",
            "an existing domain",
            f"{domain} does not exist (NXDOMAIN from {lookups.server}); no other check applies",
        )
        return _sections(reports, lookups, facts)
    mx = asyncio.ensure_future(_mx_hosts(domain, lookups))
    jobs: list[Awaitable[None]] = [
        _spf(domain, apex, lookups, reports["spf"], facts),
        _dmarc(domain, apex, lookups, reports["dmarc"], facts),
        _mta_sts(domain, mx, lookups, reports["mta_sts"], facts, options),
        _tls_rpt(domain, lookups, reports["tls_rpt"]),
        _caa(domain, lookups, reports["caa"], facts),
        _bimi(domain, lookups, reports["bimi"]),
        _dnssec(domain, apex, lookups, reports["dnssec"]),
    ]
    if options.smtp:
        jobs.append(_smtp(domain, mx, lookups, reports["smtp"], facts, options))
    await asyncio.gather(mx, *jobs)
    return _sections(reports, lookups, facts)


def _sections(
    reports: dict[str, Report], lookups: Lookups, facts: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    findings = [row for name in ORDER for row in reports[name].rows]
    rank = {p: i for i, p in enumerate(_PURPOSES)}
    records = sorted(lookups.records, key=lambda r: rank.get(r["purpose"], len(rank)))
    domain = lookups.domain
    return {
        "findings": findings,
        "dns_records": records,
        **{name: [{"domain": domain, **row} for row in rows] for name, rows in facts.items()},
    }


async def _mx_hosts(domain: str, lookups: Lookups) -> tuple[list[str] | None, str]:
    """The MX hosts by preference (none for a null MX), or (None, why the lookup failed)."""
    answer = await lookups.query(domain, "MX", "mx")
    if answer.failed:
        return None, answer.why(domain, "MX")
    ranked = sorted(answer.rdata, key=lambda r: (r.preference, str(r.exchange)))
    hosts = [r.exchange.to_text(omit_final_dot=True).lower() for r in ranked]
    return [h for h in hosts if h not in ("", ".")], ""


async def _spf(
    domain: str, apex: Answer, lookups: Lookups, report: Report, facts: dict[str, list[dict[str, Any]]]
) -> None:
    records = spf_records(apex.texts) if apex.ok else []
    record = tree = None
    if len(records) == 1:
        record = parse_spf(records[0])
        if not record.errors:
            tree = await evaluate_spf(domain, record, lookups.bind("spf"))
            facts["spf"] = tree.rows
    spf_findings(report, domain, apex, tree, record)


async def _dmarc(
    domain: str, apex: Answer, lookups: Lookups, report: Report, facts: dict[str, list[dict[str, Any]]]
) -> None:
    lookup = lookups.bind("dmarc")
    found = await discover_dmarc(domain, lookup, apex)
    authorisation = None
    if found.failed is None and len(found.records) == 1:
        tags, _, _ = parse_dmarc(found.records[0])
        rua = report_uris(tags.get("rua", ""))
        if rua:
            authorisation = await check_report_authorisation(found.location, rua, lookup)
    facts["dmarc"] = dmarc_findings(report, domain, found, authorisation)


async def _mta_sts(
    domain: str,
    mx: asyncio.Future[tuple[list[str] | None, str]],
    lookups: Lookups,
    report: Report,
    facts: dict[str, list[dict[str, Any]]],
    options: Options,
) -> None:
    answer = await lookups.query(f"_mta-sts.{domain}", "TXT", "mta_sts")
    hosts, why = await mx
    facts["mta_sts"] = await mta_sts_findings(
        report,
        domain,
        answer,
        hosts,
        why,
        ca_bundle=options.ca_bundle,
        resolve=options.resolve,
        timeout=options.http_timeout,
    )


async def _tls_rpt(domain: str, lookups: Lookups, report: Report) -> None:
    tls_rpt_findings(report, domain, await lookups.query(f"_smtp._tls.{domain}", "TXT", "tls_rpt"))


async def _caa(domain: str, lookups: Lookups, report: Report, facts: dict[str, list[dict[str, Any]]]) -> None:
    names = caa_names(domain)
    answers = await asyncio.gather(*(lookups.query(n, "CAA", "caa") for n in names))
    facts["caa"] = caa_findings(report, domain, relevant_caa(list(zip(names, answers, strict=True))))


async def _bimi(domain: str, lookups: Lookups, report: Report) -> None:
    bimi_findings(report, domain, await lookups.query(f"default._bimi.{domain}", "TXT", "bimi"))


async def _dnssec(domain: str, apex: Answer, lookups: Lookups, report: Report) -> None:
    result = await validate_dnssec(domain, apex, lookups.bind("dnssec"))
    dnssec_findings(report, result, apex.ad)


async def _smtp(
    domain: str,
    mx: asyncio.Future[tuple[list[str] | None, str]],
    lookups: Lookups,
    report: Report,
    facts: dict[str, list[dict[str, Any]]],
    options: Options,
) -> None:
    hosts, why = await mx
    rows: list[dict[str, Any]] = []
    if hosts:
        lookup = lookups.bind("smtp")
        rows = list(
            await asyncio.gather(
                *(
                    probe_mx(
                        h,
                        lookup,
                        resolve=options.resolve,
                        ca_bundle=options.ca_bundle,
                        timeout=options.smtp_timeout,
                    )
                    for h in hosts[:MAX_MX_PROBED]
                )
            )
        )
    facts["mx"] = rows
    smtp_findings(report, hosts, why, rows)

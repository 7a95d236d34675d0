"""DMARC (RFC 7489, RFC 9989): the record grammar, policy discovery, report authorisation.

- :func:`parse_dmarc` is pure: RFC 9989 tags and values.
- :func:`discover_dmarc` finds the record that applies by the RFC 9989 §4.10 DNS tree walk
  (``_dmarc.<name>`` from the domain up to the top-level label, at most 8 queries, stopping at a
  ``psd=n`` or ``psd=y`` record), and notices records at the wrong place (the apex, an SPF
  record at ``_dmarc``, a leading space, ``v=dmarc1``) so a typo is named, not just "missing".
- :func:`organizational_domain` is the Public Suffix List's registrable domain
  (``publicsuffixlist``, offline): what decides whether a report address is "external".
- :func:`external_report_domains`: RFC 7489 §7.1, a ``rua`` at another organisation needs
  ``<policy domain>._report._dmarc.<rua domain>`` to say ``v=DMARC1``, or no report arrives.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._findings import clip
from ._catalogue import Report
from ._lookup import Answer, Lookup
from ._spf import MAX_ANSWER_BYTES

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

__all__ = [
    "Dmarc",
    "discover_dmarc",
    "dmarc_findings",
    "external_report_domains",
    "organizational_domain",
    "parse_dmarc",
]

#: RFC 7489 §6.3 / RFC 9989: the record starts with exactly "v=DMARC1" (case included).
DMARC_RECORD = re.compile(r"^v[ \t]*=[ \t]*DMARC1[ \t]*(?:;|$)")
_LOOSE_RECORD = re.compile(r"^[ \t]*v[ \t]*=[ \t]*dmarc1[ \t]*(?:;|$)", re.I)
_TAGS = ("v", "p", "sp", "np", "psd", "t", "adkim", "aspf", "fo", "rua", "ruf")
_REMOVED = ("pct", "rf", "ri")
_POLICIES = ("none", "quarantine", "reject")
_URI = re.compile(r"^[a-z][a-z0-9+.\-]*:\S+$", re.I)
_MAX_WALK = 8  # RFC 9989 §4.10: at most 8 queries


@functools.cache
def _psl() -> PublicSuffixList:
    try:
        from publicsuffixlist import PublicSuffixList
    except ImportError:  # pragma: no cover - a dependency of intgkit
        raise ImportError(
            'dns_email needs publicsuffixlist: pip install "intgkit" (or pip install publicsuffixlist)'
        ) from None
    return PublicSuffixList()


def organizational_domain(domain: str) -> str:
    """The registrable domain by the Public Suffix List (``shop.example.co.uk`` -> ``example.co.uk``).

    A name that is itself a public suffix (or unknown to the list with one label) is returned as is.
    """
    name = domain.lower().rstrip(".")
    return _psl().privatesuffix(name) or name


def parse_dmarc(record: str) -> tuple[dict[str, str], list[str], list[str]]:
    """RFC 9989 tags of a record that starts with ``v=DMARC1``: (tags, errors, warnings)."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    warnings: list[str] = []
    for i, part in enumerate(p.strip() for p in record.split(";")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not re.fullmatch(r"[a-z]+", key) or not value:
            errors.append(f"{clip(part, 80)!r} is not a tag=value pair")
            continue
        if i == 0:
            continue  # v=DMARC1, already matched
        if key not in _TAGS and key not in _REMOVED:
            warnings.append(f"unknown tag {key!r} ignored")
            continue
        if key in tags or key == "v":
            errors.append(f"duplicate {key} tag")
            continue
        if key in _REMOVED:
            warnings.append(f"the {key} tag was removed in RFC 9989")
            tags[key] = value
            continue
        tags[key] = value if key in ("rua", "ruf") else value.lower()
    for key in ("p", "sp", "np"):
        if key in tags and tags[key] not in _POLICIES:
            errors.append(f"{key}={tags[key]} is not none, quarantine or reject")
    for key in ("adkim", "aspf"):
        if key in tags and tags[key] not in ("r", "s"):
            warnings.append(f"{key}={tags[key]} is invalid; the default r applies")
            del tags[key]
    if "fo" in tags and any(o not in ("0", "1", "d", "s") for o in tags["fo"].split(":")):
        errors.append(f"fo={tags['fo']} has options other than 0, 1, d, s")
    if "t" in tags and tags["t"] not in ("y", "n"):
        errors.append(f"t={tags['t']} is not y or n")
    if "psd" in tags and tags["psd"] not in ("y", "n", "u"):
        errors.append(f"psd={tags['psd']} is not y, n or u")
    for key in ("rua", "ruf"):
        uris = report_uris(tags.get(key, ""))
        errors += [f"{key} URI {clip(u, 80)!r} is not a valid URI" for u in uris if not _URI.match(u)]
        if len(uris) > 2:
            warnings.append(f"some reporters send to at most two {key} URIs")
    if "p" not in tags:
        warnings.append("no p tag: p=none applies (RFC 9989)")
    if tags.get("sp") == "none":
        warnings.append("sp=none leaves subdomains unenforced")
    return tags, errors, warnings


def report_uris(value: str) -> list[str]:
    """The URIs of a rua/ruf value (comma separated; a ``!size`` suffix is dropped)."""
    return [u.strip().split("!")[0] for u in value.split(",") if u.strip()]


def _psd_value(record: str) -> str | None:
    m = re.search(r";[ \t]*psd[ \t]*=[ \t]*([a-z])[ \t]*(?:;|$)", record, re.I)
    return m.group(1).lower() if m else None


@dataclass
class Dmarc:
    """What policy discovery found for a domain."""

    name: str  # the _dmarc name the applying record is at (or the first one asked)
    location: str  # the domain that published it
    records: list[str] = field(default_factory=list)  # v=DMARC1 records at that name
    others: list[str] = field(default_factory=list)  # other TXT records there
    failed: tuple[Answer, str] | None = None  # a lookup that failed (answer, name)
    misplaced: list[tuple[str, str]] = field(default_factory=list)  # (result id, what was seen)
    walked: list[str] = field(default_factory=list)  # the names asked, in order
    warnings: list[str] = field(default_factory=list)


async def discover_dmarc(domain: str, lookup: Lookup, apex: Answer) -> Dmarc:
    """Find the DMARC record that applies to ``domain`` (RFC 9989 §4.10 tree walk).

    ``apex`` is the domain's own TXT answer (asked anyway for SPF): a DMARC record there is a
    placement mistake worth naming.
    """
    labels = domain.split(".")
    first = f"_dmarc.{domain}"
    answer = await lookup(first, "TXT")
    out = Dmarc(first, domain, walked=[first])
    if answer.failed:
        out.failed = (answer, first)
        return out
    out.records = [t for t in answer.texts if DMARC_RECORD.match(t)]
    out.others = [t for t in answer.texts if not DMARC_RECORD.match(t)]
    _misplaced(out, answer, apex, domain)
    if out.records:
        return out
    walked: list[tuple[int, str, list[str], list[str]]] = []
    start = 1 if len(labels) <= _MAX_WALK else len(labels) - (_MAX_WALK - 1)
    for i in range(start, len(labels)):
        parent = ".".join(labels[i:])
        name = f"_dmarc.{parent}"
        out.walked.append(name)
        ans = await lookup(name, "TXT")
        if ans.failed:
            out.failed = (ans, name)
            return out
        found = [t for t in ans.texts if DMARC_RECORD.match(t)]
        if not found:
            continue
        walked.append((i, parent, found, [t for t in ans.texts if not DMARC_RECORD.match(t)]))
        if len(found) == 1 and _psd_value(found[0]) in ("n", "y"):
            break
    if not walked:
        return out
    index, location, records, others = walked[-1]
    if len(records) == 1 and _psd_value(records[0]) == "y":
        org = ".".join(labels[index - 1 :])
        if len(walked) > 1 and walked[-2][0] == index - 1:
            index, location, records, others = walked[-2]
        elif org != domain:
            out.warnings.append(
                f"the organisational domain is {org} (below the psd=y record at {location}), "
                f"which has no DMARC record, so the public suffix's record applies"
            )
    out.name, out.location, out.records, out.others = f"_dmarc.{location}", location, records, others
    return out


def _misplaced(out: Dmarc, answer: Answer, apex: Answer, domain: str) -> None:
    for text in answer.texts:
        if DMARC_RECORD.match(text):
            continue
        if text.lower().startswith("v=spf1"):
            out.misplaced.append(("dmarc-spf-at-dmarc", text))
        elif _LOOSE_RECORD.match(text) and text[:1] in (" ", "\t"):
            out.misplaced.append(("dmarc-leading-whitespace", text))
        elif _LOOSE_RECORD.match(text):
            out.misplaced.append(("dmarc-version-case", text))
    apex_dmarc = [t for t in apex.texts if _LOOSE_RECORD.match(t)]
    if apex_dmarc:
        if out.records:
            out.warnings.append(f"a DMARC record at {domain} itself has no effect")
        else:
            out.misplaced.append(("dmarc-at-apex", apex_dmarc[0]))


def external_report_domains(policy_domain: str, uris: list[str]) -> list[str]:
    """The mailto: report domains at another organisation than ``policy_domain`` (RFC 7489 §7.1)."""
    org = organizational_domain(policy_domain)
    out: list[str] = []
    for uri in uris:
        if not uri.lower().startswith("mailto:"):
            continue
        host = uri.partition("@")[2].strip().rstrip(".").lower()
        if host and organizational_domain(host) != org and host not in out:
            out.append(host)
    return out


async def check_report_authorisation(
    policy_domain: str, rua: list[str], lookup: Lookup
) -> tuple[list[str], list[str], list[tuple[Answer, str]]]:
    """(authorised hosts, unauthorised hosts, failed lookups) for the external rua domains."""
    ok: list[str] = []
    missing: list[str] = []
    failed: list[tuple[Answer, str]] = []
    for host in external_report_domains(policy_domain, rua):
        name = f"{policy_domain}._report._dmarc.{host}"
        answer = await lookup(name, "TXT")
        if answer.failed:
            failed.append((answer, name))
        elif any(t.startswith("v=DMARC1") for t in answer.texts):
            ok.append(host)
        else:
            missing.append(host)
    return ok, missing, failed


def dmarc_findings(
    report: Report,
    domain: str,
    found: Dmarc,
    authorisation: tuple[list[str], list[str], list[tuple[Answer, str]]] | None,
) -> list[dict[str, Any]]:
    """The DMARC findings; returns the ``dmarc`` facts rows."""
    if found.failed is not None:
        answer, name = found.failed
        report.unknown("dmarc-unknown", answer.status, answer.why(name, "TXT"))
        return []
    expected = f"a v=DMARC1 TXT record at _dmarc.{domain}"
    if not found.records:
        if found.misplaced:
            rid, seen = found.misplaced[0]
            where = domain if rid == "dmarc-at-apex" else f"_dmarc.{domain}"
            report.add(rid, seen, expected, f"found at {where}: {clip(seen, 200)!r}")
        else:
            report.add(
                "dmarc-not-found",
                None,
                expected,
                f"asked {', '.join(found.walked)}: no DMARC record on the domain or above it",
            )
        return []
    if len(found.records) > 1:
        report.add(
            "dmarc-multiple-records",
            found.records,
            "exactly one DMARC record",
            f"{found.name} has several; receivers discard all of them (RFC 9989 §4.10)",
        )
        return []
    record = found.records[0]
    tags, errors, warnings = parse_dmarc(record)
    warnings = [*found.warnings, *warnings]
    if found.others:
        warnings.append(f"unrelated TXT records at {found.name} are discarded")
    inherited = found.location != domain
    p = tags.get("p", "none")
    sp = tags.get("sp", p)
    np_ = tags.get("np", sp)
    # mail from a subdomain that found a parent's record gets sp (which defaults to p)
    applied_tag = "sp" if inherited and "sp" in tags else "p"
    applied = tags.get(applied_tag, "none")
    facts = [
        {
            "name_queried": found.name,
            "location": found.location,
            "walked": ", ".join(found.walked),
            "raw_record": clip(record),
            "p": p,
            "sp": sp,
            "np": np_,
            "psd": tags.get("psd", "u"),
            "adkim": tags.get("adkim", "r"),
            "aspf": tags.get("aspf", "r"),
            "fo": tags.get("fo", "0"),
            "rua": clip(tags.get("rua")),
            "ruf": clip(tags.get("ruf")),
            "applied_policy": applied,
            "errors": clip("; ".join(errors)),
            "warnings": clip("; ".join(warnings)),
        }
    ]
    where = f" (found at {found.location})" if inherited else ""
    if errors:
        report.add("dmarc-invalid", errors, "a valid DMARC record", f"{found.name}: {clip(record, 300)!r}")
        return facts
    report.add("dmarc-valid", record, "one valid DMARC record", ("; ".join(warnings) + where).lstrip("; "))
    size = len(found.name) + 1 + sum(len(t.encode()) for t in [*found.records, *found.others])
    if size > MAX_ANSWER_BYTES:
        report.add("dmarc-too-large", f"{size} bytes", f"at most {MAX_ANSWER_BYTES} bytes")
    else:
        report.add("dmarc-size-ok", f"{size} bytes", f"at most {MAX_ANSWER_BYTES} bytes")
    observed = f"{applied_tag}={applied}"
    if applied == "reject":
        report.add("dmarc-policy-reject", observed, "p=reject", "failing mail is rejected" + where)
    elif applied == "quarantine":
        report.add("dmarc-policy-quarantine", observed, "p=reject", "failing mail goes to spam" + where)
    elif applied_tag not in tags:
        report.add("dmarc-policy-missing", "no p tag", "p=reject", "p=none applies (RFC 9989)" + where)
    else:
        report.add("dmarc-policy-none", observed, "p=reject", "DMARC is not enforced" + where)
    rua = report_uris(tags.get("rua", ""))
    if not rua:
        report.add("dmarc-rua-missing", None, "a rua reporting address")
    elif authorisation is not None and authorisation[2]:
        answer, name = authorisation[2][0]
        report.unknown("dmarc-rua-unknown", answer.status, answer.why(name, "TXT"))
    elif authorisation is not None and authorisation[1]:
        names = [f"{found.location}._report._dmarc.{h}" for h in authorisation[1]]
        report.add(
            "dmarc-rua-unauthorized",
            authorisation[1],
            f"a v=DMARC1 TXT record at {', '.join(names)}",
            "RFC 7489 §7.1: the report receiver must publish this record, else reports are not sent",
        )
    else:
        report.add("dmarc-rua-present", tags["rua"], "a rua reporting address")
    return facts

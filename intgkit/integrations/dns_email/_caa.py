"""CAA (RFC 8659): which certificate authorities may issue, found by climbing to the parents.

:func:`relevant_caa` picks the relevant record set (§3: the first non-empty one from the
domain up, the root excluded) and :func:`caa_problems` checks each property (§4): the flags,
the ``issue``/``issuewild`` value syntax (an issuer domain name, then ``; key=value``
parameters) and the ``iodef`` URL; an unknown tag marked critical forbids issuance.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .._findings import clip
from ._catalogue import Report
from ._lookup import Answer

__all__ = ["caa_findings", "caa_names", "caa_problems", "relevant_caa"]

_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_ISSUER = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I)
_PARAM = re.compile(r"^[a-z0-9]+=[\x21-\x3a\x3c-\x7e]*$", re.I)
_KNOWN = ("issue", "issuewild", "iodef", "issuemail", "issuevmc", "contactemail", "contactphone")


def caa_names(domain: str) -> list[str]:
    """The names whose CAA records may apply, the domain first (RFC 8659 §3, root excluded)."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


def relevant_caa(answers: Sequence[tuple[str, Answer]]) -> tuple[str, Answer] | None:
    """The first (name, answer) with CAA records, in the order given; None if there is none.

    A failed lookup before the first records makes the answer unknown: it is returned as is.
    """
    for name, answer in answers:
        if answer.failed or answer.rdata:
            return name, answer
    return None


def caa_problems(properties: Sequence[tuple[int, str, str]]) -> list[str]:
    """RFC 8659 §4 problems of (flags, tag, value) properties."""
    problems: list[str] = []
    for flags, tag, value in properties:
        t = tag.lower()
        if t in ("issue", "issuewild"):
            issuer, _, params = value.partition(";")
            issuer = issuer.strip()
            if issuer and not _ISSUER.match(issuer):
                problems.append(f"{tag} {clip(value, 80)!r}: {issuer!r} is not a domain name")
            for param in (p.strip() for p in params.split(";")):
                if param and not _PARAM.match(param):
                    problems.append(f"{tag} {clip(value, 80)!r}: {clip(param, 40)!r} is not key=value")
        elif t == "iodef":
            if not re.match(r"^(mailto:\S+@\S+|https?://\S+)$", value, re.I):
                problems.append(f"iodef {clip(value, 80)!r} is not a mailto:, http: or https: URL")
        elif t not in _KNOWN and flags & 128:
            problems.append(f"unknown critical tag {tag!r}: no CA may issue (RFC 8659 §4.1)")
    return problems


def caa_findings(report: Report, domain: str, found: tuple[str, Answer] | None) -> list[dict[str, Any]]:
    """The CAA finding; returns the ``caa`` facts rows."""
    expected = "CAA issue/issuewild records"
    if found is None:
        report.add("caa-not-found", None, expected, "no CAA record on the domain or any parent")
        return []
    name, answer = found
    if answer.failed:
        report.unknown("caa-unknown", answer.status, answer.why(name, "CAA"))
        return []
    props = [
        (
            int(r.flags),
            r.tag.decode("ascii", errors="replace"),
            r.value.decode("utf-8", errors="replace"),
        )
        for r in answer.rdata
    ]
    rows = [{"name_queried": name, "flags": f, "tag": t, "value": clip(v)} for f, t, v in props]
    relevant = [f"{t} {v}" for _, t, v in props if t in ("issue", "issuewild", "iodef")]
    inherited = f" (inherited from {name})" if name != domain else ""
    problems = caa_problems(props)
    if problems:
        report.add("caa-invalid", problems, "well-formed CAA records (RFC 8659 §4)", f"at {name}")
    else:
        report.add(
            "caa-present",
            relevant or answer.texts,
            expected,
            "only the listed CAs may issue certificates" + inherited,
        )
    return rows

"""SPF (RFC 7208): the record grammar, the lookup-counting evaluation, and its findings.

:func:`parse_spf` is pure: the §12 ABNF, macros (§7.1) included, so a syntax error anywhere is
the permerror §4.6 says it is. :func:`evaluate_spf` walks the include/redirect tree through a
:data:`~._lookup.Lookup` (the terms of one record are looked up concurrently) and counts what
§4.6.4 limits; :func:`spf_findings` turns the outcome into findings.

Counting, as RFC 7208 §4.6.4 says: one lookup per include, a, mx, ptr, exists and redirect term
reached before the first ``all`` (terms after it are never evaluated, §4.6.2), through includes
and redirects; ``redirect`` is ignored when the record has an ``all`` (§6.1). Void lookups are
a, mx and exists terms that find no records, and include/redirect targets that do not exist or
have no SPF record. ``ptr`` is counted, never resolved (it needs the sender's address). Any
failed lookup (SERVFAIL, timeout) is a temperror (§5.2): the counts are then lower bounds.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._findings import clip
from ._catalogue import Report
from ._lookup import Answer, Lookup

__all__ = [
    "MAX_LOOKUPS",
    "MAX_VOID_LOOKUPS",
    "SpfRecord",
    "SpfTree",
    "Term",
    "evaluate_spf",
    "parse_spf",
    "spf_findings",
    "spf_records",
]

MAX_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
#: RFC 7208 §3.4: a DNS name plus its TXT records under 450 octets fit a UDP answer.
MAX_ANSWER_BYTES = 450
_MAX_WALK = 50  # terms looked up at most: past the limit the verdict is known, stop asking
_MAX_DEPTH = 12
_MX_HOSTS = 10  # §4.6.4: an mx term with more than 10 MX records is a permerror

_LOOKUP_TERMS = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_TERM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9_.\-]*)(.*)$", re.I | re.S)
_NAME = re.compile(r"^[a-z][a-z0-9_.\-]*$", re.I)
_DUAL_CIDR = re.compile(r"^(?:/(0|[1-9]\d?))?(?://(0|[1-9]\d{0,2}))?$")
_IP4_CIDR = re.compile(r"^/(0|[1-9]\d?)$")
_IP6_CIDR = re.compile(r"^/(0|[1-9]\d{0,2})$")
_MACRO = re.compile(r"%(?:\{([a-z])(\d*)(r?)([.\-+,/_=]*)\}|[%_\-])", re.I)
_MACRO_LETTERS = "slodiphv"  # §7.1; c, r and t are for explanation text only (§7.2)
_EXP_LETTERS = _MACRO_LETTERS + "crt"
_TOPLABEL = re.compile(r"^(?=.*[a-z])[a-z0-9]+$|^[a-z0-9]+-[a-z0-9\-]*[a-z0-9]$", re.I)
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


@dataclass(frozen=True, slots=True)
class Term:
    """One term: a mechanism (``qualifier`` set) or a modifier (``qualifier`` empty)."""

    kind: str
    qualifier: str
    value: str
    text: str

    @property
    def is_mechanism(self) -> bool:
        return bool(self.qualifier)


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed record: its terms in order, the syntax errors (any is a permerror), warnings."""

    text: str
    terms: tuple[Term, ...]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def all_qualifier(self) -> str | None:
        """The first ``all`` mechanism's qualifier (``+ - ~ ?``), None without one."""
        return next((t.qualifier for t in self.terms if t.kind == "all"), None)

    @property
    def redirect(self) -> str | None:
        """The redirect target, None without one or when an ``all`` overrides it (§6.1)."""
        if self.all_qualifier is not None:
            return None
        return next((t.value for t in self.terms if t.kind == "redirect"), None)

    def evaluated(self) -> list[Term]:
        """The mechanisms an evaluation reaches (up to the first all), then the redirect."""
        out: list[Term] = []
        for term in self.terms:
            if term.is_mechanism:
                out.append(term)
                if term.kind == "all":
                    return out
        redirect = self.redirect
        if redirect is not None:
            out.append(Term("redirect", "", redirect, f"redirect={redirect}"))
        return out


def spf_records(texts: Sequence[str]) -> list[str]:
    """RFC 7208 §4.5: the TXT records whose version section is ``v=spf1`` (any case, §12)."""
    return [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def _macro_errors(value: str, what: str, letters: str) -> list[str]:
    """§7.1: every ``%`` starts a valid macro-expand with a known letter."""
    errors: list[str] = []
    pos = 0
    while True:
        pos = value.find("%", pos)
        if pos < 0:
            return errors
        m = _MACRO.match(value, pos)
        if m is None:
            errors.append(f"{what}: {clip(value[pos:], 20)!r} is not a valid macro (RFC 7208 §7.1)")
            return errors
        letter = m.group(1)
        if letter is not None and letter.lower() not in letters:
            errors.append(f"{what}: %{{{letter}}} is not a macro letter here (RFC 7208 §7.1)")
        elif m.group(2) and int(m.group(2)) == 0:
            errors.append(f"{what}: {m.group(0)!r}: the number of parts must not be zero (RFC 7208 §7.3)")
        pos = m.end()


def _domain_spec(value: str, what: str, *, letters: str = _MACRO_LETTERS) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a domain-spec: macro syntax errors; a warning if no valid end."""
    errors = _macro_errors(value, what, letters)
    if any(not (0x21 <= ord(c) <= 0x7E) for c in value):
        errors.append(f"{what}: the domain contains spaces or non-ASCII characters")
    warnings: list[str] = []
    if not errors and not value.endswith("}") and not value.endswith(("%%", "%_", "%-")):
        labels = value.rstrip(".").split(".")
        if len(labels) < 2 or not _TOPLABEL.match(labels[-1]):
            # §4.8 leaves an invalid domain to the receiver (often a no-match): a warning
            warnings.append(f"{what}: {clip(value, 80)!r} is not a fully qualified domain name")
    return errors, warnings


def parse_spf(text: str) -> SpfRecord:
    """Parse one SPF record (it starts with ``v=spf1``) by the RFC 7208 §12 grammar."""
    errors: list[str] = []
    warnings: list[str] = []
    terms: list[Term] = []
    words = text.split(" ")
    if words[0].lower() != "v=spf1":
        errors.append("the record does not start with v=spf1")
    seen_all = False
    modifiers: set[str] = set()
    for word in words[1:]:
        if not word:
            continue  # several spaces between terms are allowed (*SP)
        what = clip(word, 80) or ""
        m = _TERM.match(word)
        if m is None:
            errors.append(f"{what!r} is not a valid SPF term")
            continue
        qualifier, name, rest = m.group(1), m.group(2).lower(), m.group(3)
        if rest.startswith("=") and not qualifier:  # a modifier
            value = rest[1:]
            if not _NAME.match(name):
                errors.append(f"{what!r}: not a valid modifier name")
            elif name in ("redirect", "exp"):
                if name in modifiers:
                    errors.append(f"{name}= appears more than once (RFC 7208 §6)")
                modifiers.add(name)
                if not value:
                    errors.append(f"{what!r}: {name}= needs a domain")
                else:
                    e, w = _domain_spec(
                        value, name, letters=_EXP_LETTERS if name == "exp" else _MACRO_LETTERS
                    )
                    errors += e
                    warnings += w
            else:
                errors += _macro_errors(value, name, _EXP_LETTERS)
            terms.append(Term(name, "", value, word))
            continue
        if name not in _MECHANISMS:
            errors.append(f"{what!r} is not a known SPF mechanism")
            continue
        if seen_all:
            warnings.append(f"{what!r} comes after all and is never evaluated")
        value, cidr = rest, ""
        if name in ("a", "mx"):
            slash = rest.find("/")
            if slash >= 0:
                value, cidr = rest[:slash], rest[slash:]
                if not _DUAL_CIDR.match(cidr) or _cidr_too_long(cidr):
                    errors.append(f"{what!r}: {cidr!r} is not a valid prefix length")
        if name in ("ip4", "ip6"):
            errors += _network_errors(name, rest, what)
            value = rest[1:]
        elif name == "all":
            if rest:
                errors.append(f"{what!r}: all takes no argument")
            seen_all = True
        elif value and not value.startswith(":"):
            errors.append(f"{what!r} is not a known SPF mechanism")
            continue
        elif name in ("include", "exists") and len(value) < 2:
            errors.append(f"{what!r}: {name} needs a domain")
        elif value:
            value = value[1:]
            if not value:
                errors.append(f"{what!r}: the domain after ':' is empty")
            else:
                e, w = _domain_spec(value, name)
                errors += e
                warnings += w
        terms.append(Term(name, qualifier or "+", value, word))
    alls = sum(1 for t in terms if t.kind == "all")
    if alls > 1:
        warnings.append("all appears more than once; only the first one is evaluated")
    if any(t.kind == "redirect" for t in terms) and alls:
        warnings.append("redirect= is ignored because the record has an all mechanism (RFC 7208 §6.1)")
    return SpfRecord(text, tuple(terms), tuple(errors), tuple(warnings))


def _cidr_too_long(cidr: str) -> bool:
    m = _DUAL_CIDR.match(cidr)
    if m is None:
        return True
    v4, v6 = m.group(1), m.group(2)
    return (v4 is not None and int(v4) > 32) or (v6 is not None and int(v6) > 128)


def _network_errors(kind: str, rest: str, what: str) -> list[str]:
    if not rest.startswith(":") or len(rest) < 2:
        return [f"{what!r}: {kind} needs an address"]
    address, slash, prefix = rest[1:].partition("/")
    pattern = _IP4_CIDR if kind == "ip4" else _IP6_CIDR
    if slash and (not pattern.match("/" + prefix) or int(prefix) > (32 if kind == "ip4" else 128)):
        return [f"{what!r}: /{prefix} is not a valid prefix length"]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return [f"{what!r}: not a valid {kind} address"]
    if ip.version != int(kind[-1]):
        return [f"{what!r}: not an IPv{kind[-1]} address"]
    return []


# -- evaluation ------------------------------------------------------------------------------


@dataclass
class SpfTree:
    """What evaluating a record and everything it includes found."""

    lookups: int = 0
    void: int = 0
    loops: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # permerrors in the include/redirect tree
    temperrors: list[str] = field(default_factory=list)  # failed lookups (§5.2)
    warnings: list[str] = field(default_factory=list)
    ptr: list[str] = field(default_factory=list)
    mx_over: list[str] = field(default_factory=list)
    stopped: bool = False
    redirect_error: str | None = None
    all_qualifier: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: SpfTree) -> None:
        """Add a sub-tree's counts and messages (in the order the terms appear)."""
        self.lookups += other.lookups
        self.void += other.void
        self.stopped = self.stopped or other.stopped
        for name in ("loops", "errors", "temperrors", "warnings", "ptr", "mx_over", "rows"):
            getattr(self, name).extend(getattr(other, name))

    @property
    def permerrors(self) -> list[str]:
        """Every reason evaluation ends in permerror, beyond syntax (§4.6.4, §5.2, §6.1)."""
        out = list(self.errors)
        if self.lookups > MAX_LOOKUPS:
            out.append(f"{self.lookups} DNS lookups (at most {MAX_LOOKUPS})")
        if self.void > MAX_VOID_LOOKUPS:
            out.append(f"{self.void} void lookups (at most {MAX_VOID_LOOKUPS})")
        out += [f"loop: {loop}" for loop in self.loops]
        out += self.mx_over
        return out


class _Walk:
    """Shared by one evaluation: how many terms have been looked up (the runaway guard)."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.asked = 0


async def evaluate_spf(domain: str, record: SpfRecord, lookup: Lookup) -> SpfTree:
    """Walk ``record`` (published at ``domain``) and what it includes; count as RFC 7208 says."""
    walk = _Walk(lookup)
    return await _walk_record(walk, domain, record, (domain,), "", 0)


async def _walk_record(
    walk: _Walk, domain: str, record: SpfRecord, chain: tuple[str, ...], via: str, depth: int
) -> SpfTree:
    tree = SpfTree(warnings=[f"{domain}: {w}" for w in record.warnings] if depth else [])
    tree.all_qualifier = record.all_qualifier
    tree.rows.append(
        {
            "name_queried": domain,
            "via": via,
            "depth": depth,
            "raw_record": clip(record.text),
            "all": f"{record.all_qualifier}all" if record.all_qualifier else None,
            "redirect": record.redirect,
            "terms": len(record.terms),
        }
    )
    jobs = []
    for term in record.evaluated():
        if term.kind not in _LOOKUP_TERMS:
            continue
        tree.lookups += 1
        if walk.asked >= _MAX_WALK or depth >= _MAX_DEPTH:
            tree.stopped = True
            break
        walk.asked += 1
        jobs.append(_walk_term(walk, domain, term, chain, depth))
    parts = await asyncio.gather(*jobs)
    for term, part in zip([t for t in record.evaluated() if t.kind in _LOOKUP_TERMS], parts, strict=False):
        tree.merge(part)
        if term.kind == "redirect":
            tree.all_qualifier = part.all_qualifier
            tree.redirect_error = part.redirect_error
    return tree


async def _walk_term(walk: _Walk, domain: str, term: Term, chain: tuple[str, ...], depth: int) -> SpfTree:
    out = SpfTree()
    kind = term.kind
    target = (term.value or domain).lower().rstrip(".")
    label = f"{kind}:{target}" if kind != "redirect" else f"redirect={target}"
    if kind == "ptr":
        out.ptr.append(f"{domain}: {term.text}")
        return out
    if "%" in target:
        return out  # a macro: it needs the sender, so it is counted but not looked up
    if kind in ("a", "exists"):
        types = ("A",) if kind == "exists" else ("A", "AAAA")
        answers = await asyncio.gather(*(walk.lookup(target, t) for t in types))
        _void(out, answers, label, target, types)
        return out
    if kind == "mx":
        answer = await walk.lookup(target, "MX")
        _void(out, [answer], label, target, ("MX",))
        if len(answer.rdata) > _MX_HOSTS:
            out.mx_over.append(f"{label} has {len(answer.rdata)} MX hosts (more than {_MX_HOSTS})")
        return out
    # include or redirect
    if target in chain:
        out.loops.append(" -> ".join((*chain, target)))
        return out
    answer = await walk.lookup(target, "TXT")
    if answer.failed:
        out.temperrors.append(f"{label}: {answer.why(target, 'TXT')}")
        return out
    found = spf_records(answer.texts)
    if len(found) != 1:
        out.void += 1 if answer.void or not found else 0
        why = (
            "does not exist (NXDOMAIN)"
            if answer.status == "NXDOMAIN"
            else ("has no SPF record" if not found else "has more than one SPF record")
        )
        out.errors.append(f"{label} {why}")
        if kind == "redirect":
            out.redirect_error = f"{label} {why}"
        return out
    sub = parse_spf(found[0])
    if sub.errors:
        out.errors.append(f"{label}: " + "; ".join(sub.errors))
        if kind == "redirect":
            out.redirect_error = f"{label} has a syntax error"
        return out
    part = await _walk_record(walk, target, sub, (*chain, target), kind, depth + 1)
    out.merge(part)
    out.all_qualifier = part.all_qualifier
    out.redirect_error = part.redirect_error
    return out


def _void(out: SpfTree, answers: Sequence[Answer], label: str, target: str, types: Sequence[str]) -> None:
    failed = [(a, t) for a, t in zip(answers, types, strict=True) if a.failed]
    if failed:
        answer, rdtype = failed[0]
        out.temperrors.append(f"{label}: {answer.why(target, rdtype)}")
    elif all(a.void for a in answers):
        out.void += 1


# -- findings --------------------------------------------------------------------------------


def spf_findings(
    report: Report, domain: str, apex: Answer, tree: SpfTree | None, record: SpfRecord | None
) -> None:
    """The SPF findings for the apex TXT answer and the evaluation of its one SPF record."""
    if apex.failed:
        report.unknown("spf-unknown", apex.status, apex.why(domain, "TXT"))
        return
    records = spf_records(apex.texts)
    if not records:
        report.add("spf-not-found", None, "one TXT record starting with v=spf1")
        return
    size = len(domain) + 1 + sum(len(t.encode()) for t in apex.texts)
    if size > MAX_ANSWER_BYTES:
        report.add(
            "spf-too-large",
            f"{size} bytes",
            f"at most {MAX_ANSWER_BYTES} bytes (RFC 7208 §3.4)",
            f"the name and all TXT records of {domain} add up to {size} bytes",
        )
    else:
        report.add("spf-size-ok", f"{size} bytes", f"at most {MAX_ANSWER_BYTES} bytes (RFC 7208 §3.4)")
    if len(records) > 1:
        report.add(
            "spf-multiple-records",
            records,
            "exactly one v=spf1 record",
            "more than one SPF record is a permerror (RFC 7208 §4.5)",
        )
        return
    if record is None:  # pragma: no cover - the caller parses the one record
        return
    if record.errors or tree is None:
        report.add(
            "spf-syntax-error",
            list(record.errors),
            "a valid SPF record (RFC 7208 §12)",
            f"permerror in {clip(record.text, 300)!r} (RFC 7208 §4.6)",
        )
        return
    lower = (
        f"; {len(tree.temperrors)} lookups failed, so the counts are lower bounds" if tree.temperrors else ""
    )
    limits = [p for p in tree.permerrors if p not in tree.errors]
    if tree.errors:
        report.add(
            "spf-include-invalid",
            tree.errors,
            "every include and redirect target has exactly one valid SPF record",
            "a permerror in the include/redirect tree (RFC 7208 §5.2, §6.1)" + lower,
        )
    elif limits:
        report.add(
            "spf-permerror",
            limits,
            f"at most {MAX_LOOKUPS} lookups, {MAX_VOID_LOOKUPS} void lookups and no loop",
            "receivers stop with permerror (RFC 7208 §4.6.4)" + lower,
        )
    elif tree.temperrors:
        report.unknown("spf-unknown", "TEMPERROR", "; ".join(tree.temperrors[:3]))
    else:
        report.add(
            "spf-valid",
            record.text,
            "one valid v=spf1 record",
            "; ".join([*record.warnings, *tree.warnings]),
        )
    counted: Any = f"more than {_MAX_WALK} (evaluation stopped)" if tree.stopped else tree.lookups
    expected = f"at most {MAX_LOOKUPS} DNS-querying terms"
    if tree.lookups > MAX_LOOKUPS or tree.mx_over:
        report.add(
            "spf-too-many-lookups",
            counted,
            expected,
            "a permerror (RFC 7208 §4.6.4)"
            + ("; " + "; ".join(tree.mx_over) if tree.mx_over else "")
            + lower,
        )
    else:
        report.add("spf-lookups-ok", counted, expected, lower[2:])
    expected_void = f"at most {MAX_VOID_LOOKUPS} lookups without an answer"
    if tree.void > MAX_VOID_LOOKUPS:
        report.add("spf-too-many-void-lookups", tree.void, expected_void, "a permerror (RFC 7208 §4.6.4)")
    else:
        report.add("spf-void-lookups-ok", tree.void, expected_void)
    if tree.loops:
        report.add("spf-loop", tree.loops, "no include or redirect loop")
    else:
        report.add("spf-no-loop", None, "no include or redirect loop")
    if tree.redirect_error is not None:
        report.add(
            "spf-all-redirect-invalid",
            tree.redirect_error,
            "-all (or ~all)",
            "a redirect= whose target has no usable SPF record is a permerror (RFC 7208 §6.1)",
        )
    elif tree.all_qualifier is None:
        report.add("spf-all-missing", None, "-all (or ~all)", "unlisted senders get neutral (RFC 7208 §4.7)")
    else:
        rid = {"+": "spf-all-pass", "?": "spf-all-neutral", "~": "spf-all-softfail", "-": "spf-all-fail"}
        report.add(
            rid[tree.all_qualifier],
            f"{tree.all_qualifier}all",
            "-all (or ~all)",
            f"unlisted senders get {_QUALIFIERS[tree.all_qualifier]}",
        )
    if tree.ptr:
        report.add("spf-ptr-used", tree.ptr, "no ptr mechanism", "RFC 7208 §5.5: ptr SHOULD NOT be used")
    else:
        report.add("spf-no-ptr", None, "no ptr mechanism")

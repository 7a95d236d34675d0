"""DNS and email security of a domain: SPF, DMARC, MTA-STS, TLS-RPT, CAA and DNSSEC.

The rules are checkdmarc's (domainaware/checkdmarc @d4866ca: ``checkdmarc/spf.py``,
``dmarc.py``, ``mta_sts.py``, ``smtp_tls_reporting.py``), the RFCs it implements (7208 SPF,
9989 DMARC, 8461 MTA-STS, 8460 TLS-RPT) and RFC 8659 for CAA, with the severities of intgkit's
security-check notes §3. One findings row per check, plus facts: ``dns_records`` (every query
and its answer), ``spf`` (every record of the include/redirect tree), ``dmarc``, ``mta_sts`` and
``caa``.

Where this differs from checkdmarc, on purpose:

- SPF lookups are counted as RFC 7208 §4.6.4 says: one per include, a, mx, ptr, exists and
  redirect term, through includes and redirects. checkdmarc leaves ``ptr`` out and adds one per
  MX host address; here MX host addresses are not resolved, and an mx term with more than 10
  hosts is its own PermError, as in checkdmarc. Void lookups: a/mx/exists terms without
  records, and include/redirect targets that do not exist or have no SPF record (as
  checkdmarc counts them).
- DMARC falls back to the organisational domain as its last two labels, without the Public
  Suffix List: right for ``mail.example.com``, wrong for ``shop.example.co.uk`` (it would ask
  ``_dmarc.co.uk``).
- DNSSEC is the AD bit of the configured nameserver's answer to an EDNS query with DO set,
  i.e. the word of a validating resolver you trust, not checkdmarc's own RRSIG validation.

Failures: a nameserver that does not answer the first query (the domain's TXT) at all raises
:class:`DnsTimeoutError`, so the runner records an error naming the server; NXDOMAIN for the
domain gives one ``domain`` finding and no other checks; SERVFAIL, timeouts and other failures
of later queries make the affected checks ``<check>-unknown`` findings (severity info,
not passed) while the rest still report.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._settings import Setting
from ._findings import Findings, clip
from ._net import CA_BUNDLE, RESOLVE, client_session, parse_target

if TYPE_CHECKING:
    import dns.asyncresolver

__all__ = ["NAMESERVER", "DnsEmail", "DnsTimeoutError", "integration"]

NAMESERVER = Setting(
    "INTGKIT_DNS_NAMESERVER",
    required=False,
    secret=False,
    description="address[:port] of the DNS server to ask (default: the system resolver)",
)

MAX_SPF_LOOKUPS = 10
MAX_VOID_LOOKUPS = 2
MAX_SPF_WALK = 50  # terms evaluated at most: past the limit the answer is known, stop asking
MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 §3.3: senders may refuse larger policies
MAX_STS_MAX_AGE = 31_557_600

_SPF_LOOKUP_TERMS = ("include", "a", "mx", "ptr", "exists", "redirect")
_SPF_MECH = re.compile(
    r"^([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?::(.*?))?((?:/\d+)?(?://\d+)?)$", re.I
)
_SPF_MOD = re.compile(r"^([a-z][a-z0-9_.\-]*)=(.*)$", re.I)
_DMARC_RECORD = re.compile(r"^[vV][ \t]*=[ \t]*DMARC1[ \t]*(?:;|$)")
_DMARC_TAGS = ("v", "p", "sp", "np", "psd", "t", "adkim", "aspf", "fo", "rua", "ruf")
_DMARC_REMOVED = ("pct", "rf", "ri")
_POLICIES = ("none", "quarantine", "reject")
_URI = re.compile(r"^[a-z][a-z0-9+.\-]*:\S+$", re.I)
_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_ALL_SEVERITY = {
    "+": ("spf-all-pass", False, "high"),
    "?": ("spf-all-neutral", False, "medium"),
    "~": ("spf-all-softfail", True, "info"),
    "-": ("spf-all-fail", True, "info"),
}
_OK = ("NOERROR", "NODATA")


class DnsTimeoutError(TimeoutError):
    """The nameserver did not answer the domain's first query: nothing could be checked."""


@dataclass(slots=True)
class _Answer:
    """One query's outcome; ``status`` is NOERROR, NODATA, NXDOMAIN, SERVFAIL, TIMEOUT or ERROR."""

    status: str
    texts: list[str] = field(default_factory=list)
    rdata: list[Any] = field(default_factory=list)
    ad: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in _OK

    @property
    def void(self) -> bool:
        return self.status in ("NXDOMAIN", "NODATA")


def parse_nameserver(text: str) -> tuple[str, int]:
    """``address[:port]`` (IPv6 as ``[addr]:port`` or bare) -> (address, port); ValueError if not."""
    raw = text.strip()
    address, port = raw, 53
    if raw.startswith("["):
        address, _, tail = raw[1:].partition("]")
        if tail:
            if not tail.startswith(":") or not tail[1:].isdigit():
                raise ValueError(f"INTGKIT_DNS_NAMESERVER {text!r} is not address[:port]")
            port = int(tail[1:])
    elif raw.count(":") == 1:
        address, _, port_s = raw.partition(":")
        if not port_s.isdigit():
            raise ValueError(f"INTGKIT_DNS_NAMESERVER {text!r}: the port must be a number")
        port = int(port_s)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(
            f"INTGKIT_DNS_NAMESERVER {text!r} must be an IP address with an optional port, "
            f"e.g. 127.0.0.1:5353 or [::1]:53"
        ) from None
    if not 0 < port < 65536:
        raise ValueError(f"INTGKIT_DNS_NAMESERVER {text!r}: port out of range")
    return address, port


def organizational_domain(domain: str) -> str:
    """The last two labels: a PSL-free approximation (wrong under multi-label suffixes)."""
    return ".".join(domain.split(".")[-2:])


def mx_pattern_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: exact match, or ``*.`` matching exactly one leftmost label."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return host == pattern


class DnsEmail:
    """SPF, DMARC, MTA-STS, TLS-RPT, CAA and DNSSEC for one domain per target.

    Args:
        nameserver: ``address[:port]`` to ask instead of ``INTGKIT_DNS_NAMESERVER``.
        ca_bundle: PEM trust roots for the MTA-STS policy host instead of ``INTGKIT_CA_BUNDLE``.
        resolve: ``INTGKIT_RESOLVE``-style overrides for the policy host.
        lifetime: seconds one DNS query may take, retries included.
        http_timeout: seconds the MTA-STS policy download may take.
    """

    name = "dns_email"
    title = "DNS and email security"
    description = (
        "SPF, DMARC, MTA-STS, TLS-RPT, CAA and DNSSEC of a domain, by checkdmarc's rules "
        "(target: a domain name)"
    )
    settings = (NAMESERVER, CA_BUNDLE, RESOLVE)
    breaker_per_target = True

    def __init__(
        self,
        *,
        nameserver: str | None = None,
        ca_bundle: str | None = None,
        resolve: str | None = None,
        lifetime: float = 5.0,
        http_timeout: float = 10.0,
    ) -> None:
        self._nameserver = nameserver
        self._ca_bundle = ca_bundle
        self._resolve = resolve
        self.lifetime = float(lifetime)
        self.http_timeout = float(http_timeout)

    def is_configured(self) -> bool:
        """Always: every setting is optional."""
        return True

    def __repr__(self) -> str:
        return f"<DnsEmail nameserver={self._nameserver or NAMESERVER.value() or 'system'}>"

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
        """Run every check for one domain."""
        domain = _domain(target)
        resolver, server = self._resolver()
        run = _Run(
            domain,
            resolver,
            server,
            self.lifetime,
            ca_bundle=self._ca_bundle if self._ca_bundle is not None else CA_BUNDLE.value(),
            resolve=self._resolve if self._resolve is not None else RESOLVE.value(),
            http_timeout=self.http_timeout,
        )
        return await run.execute()

    def _resolver(self) -> tuple[dns.asyncresolver.Resolver, str]:
        import dns.asyncresolver
        import dns.flags
        import dns.nameserver

        spec = self._nameserver if self._nameserver is not None else NAMESERVER.value()
        if spec:
            address, port = parse_nameserver(spec)
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(address, port)]
            server = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        else:
            resolver = dns.asyncresolver.Resolver()  # the system's (/etc/resolv.conf)
            server = ", ".join(str(ns) for ns in resolver.nameservers) or "(none configured)"
        resolver.timeout = self.lifetime
        resolver.lifetime = self.lifetime
        resolver.use_edns(0, dns.flags.DO, 1232)  # DO: ask a validating resolver for the AD bit
        return resolver, server


def _domain(target: str | None) -> str:
    host = parse_target(target).host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    raise ValueError(f"dns_email needs a domain name as target, got the IP address {host!r}")


@dataclass
class _Spf:
    """State of one SPF evaluation over the include/redirect tree."""

    lookups: int = 0
    void: int = 0
    loops: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ptr: list[str] = field(default_factory=list)
    mx_over: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    stopped: bool = False
    rows: list[dict[str, Any]] = field(default_factory=list)


class _Run:
    """One fetch: the queries made (cached), the facts and the findings."""

    def __init__(
        self,
        domain: str,
        resolver: dns.asyncresolver.Resolver,
        server: str,
        lifetime: float,
        *,
        ca_bundle: str | None,
        resolve: str | None,
        http_timeout: float,
    ) -> None:
        self.domain = domain
        self.resolver = resolver
        self.server = server
        self.lifetime = lifetime
        self.ca_bundle = ca_bundle
        self.resolve = resolve
        self.http_timeout = http_timeout
        self.cache: dict[tuple[str, str], _Answer] = {}
        self.findings = Findings("dns_email", domain)
        self.add = self.findings.add
        self.records: list[dict[str, Any]] = []
        self.facts: dict[str, list[dict[str, Any]]] = {"spf": [], "dmarc": [], "mta_sts": [], "caa": []}

    # -- plumbing -----------------------------------------------------------------------------

    def unknown(self, check: str, prefix: str, answer: _Answer, name: str, rdtype: str) -> None:
        self.add(
            check,
            f"{prefix}-unknown",
            False,
            "info",
            observed=answer.status,
            detail=f"could not be evaluated: {rdtype} query for {name} failed: {answer.error}",
        )

    async def query(self, name: str, rdtype: str, purpose: str) -> _Answer:
        """Ask once per (name, type); every answer also becomes ``dns_records`` rows."""
        import dns.exception
        import dns.flags
        import dns.resolver

        key = (name.lower().rstrip("."), rdtype)
        if key in self.cache:
            return self.cache[key]
        qname = key[0] + "."
        ttl: int | None = None
        try:
            ans = await self.resolver.resolve(qname, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            out = _Answer("NXDOMAIN", error="the name does not exist (NXDOMAIN)")
        except dns.exception.Timeout:
            out = _Answer(
                "TIMEOUT", error=f"DNS server {self.server} did not answer within {self.lifetime:g} s"
            )
        except dns.resolver.NoNameservers as exc:
            status = "SERVFAIL" if "SERVFAIL" in str(exc) else "ERROR"
            out = _Answer(status, error=clip(f"DNS server {self.server}: {exc}", 300))
        except dns.exception.DNSException as exc:
            out = _Answer("ERROR", error=clip(f"{type(exc).__name__}: {exc}", 300))
        else:
            rdata = list(ans.rrset) if ans.rrset is not None else []
            out = _Answer(
                "NOERROR" if rdata else "NODATA",
                texts=[_rdata_text(r) for r in rdata],
                rdata=rdata,
                ad=bool(ans.response.flags & dns.flags.AD),
            )
            ttl = ans.rrset.ttl if ans.rrset is not None else None
        self.cache[key] = out
        base = {
            "domain": self.domain,
            "purpose": purpose,
            "record_type": rdtype,
            "name_queried": key[0],
            "status": out.status,
        }
        if out.texts:
            for text in out.texts:
                self.records.append({**base, "raw_record": clip(text), "ttl": ttl, "error": None})
        else:
            self.records.append({**base, "raw_record": None, "ttl": None, "error": out.error})
        return out

    # -- the checks ---------------------------------------------------------------------------

    async def execute(self) -> dict[str, list[dict[str, Any]]]:
        first = await self.query(self.domain, "TXT", "spf")
        if first.status == "TIMEOUT":
            raise DnsTimeoutError(f"{first.error} (query {self.domain} TXT); no check could run")
        if first.status == "NXDOMAIN":
            self.add(
                "domain",
                "domain-nxdomain",
                False,
                "info",
                observed="NXDOMAIN",
                expected="an existing domain",
                detail=f"{self.domain} does not exist (NXDOMAIN from {self.server}); no other check applies",
            )
            return self.sections()
        await self.check_spf(first)
        await self.check_dmarc()
        mx_hosts = await self.mx_hosts()
        await self.check_mta_sts(mx_hosts)
        await self.check_tls_rpt()
        await self.check_caa()
        self.check_dnssec(first)
        return self.sections()

    def sections(self) -> dict[str, list[dict[str, Any]]]:
        return {"findings": self.findings.rows, "dns_records": self.records, **self.facts}

    # SPF ---------------------------------------------------------------------------------------

    async def check_spf(self, first: _Answer) -> None:
        if not first.ok:
            self.unknown("spf_record", "spf", first, self.domain, "TXT")
            return
        records = _spf_records(first.texts)
        if not records:
            self.add(
                "spf_record",
                "spf-not-found",
                False,
                "medium",
                observed=None,
                expected="one TXT record starting with v=spf1",
                detail="no SPF record: receivers cannot tell which hosts may send as this domain",
            )
            return
        if len(records) > 1:
            self.add(
                "spf_record",
                "spf-multiple-records",
                False,
                "high",
                observed=records,
                expected="exactly one v=spf1 record",
                detail="more than one SPF record is a PermError (RFC 7208 §4.5): SPF fails",
            )
            return
        state = _Spf()
        top_errors = _spf_syntax(records[0])
        if top_errors:
            self.add(
                "spf_record",
                "spf-syntax-error",
                False,
                "high",
                observed=top_errors,
                expected="a valid SPF record",
                detail=f"PermError in {records[0]!r}",
            )
            return
        qualifier = await self.walk_spf(state, self.domain, records[0], (self.domain,), "", 0)
        self.facts["spf"] = state.rows
        lower_bound = (
            f"; {len(state.unknown)} lookups could not be completed ({'; '.join(state.unknown[:3])}), "
            "so the counts are lower bounds"
            if state.unknown
            else ""
        )
        if state.errors:
            self.add(
                "spf_record",
                "spf-include-invalid",
                False,
                "high",
                observed=state.errors,
                expected="every include and redirect target has exactly one valid SPF record",
                detail="a PermError in the include/redirect tree makes SPF fail" + lower_bound,
            )
        else:
            self.add(
                "spf_record",
                "spf-valid",
                True,
                "info",
                observed=records[0],
                expected="one valid v=spf1 record",
                detail="; ".join(state.warnings),
            )
        counted = f"more than {MAX_SPF_WALK} (evaluation stopped)" if state.stopped else state.lookups
        if state.lookups > MAX_SPF_LOOKUPS or state.mx_over:
            mx_over = state.mx_over
            self.add(
                "spf_lookups",
                "spf-too-many-lookups",
                False,
                "high",
                observed=counted,
                expected=f"at most {MAX_SPF_LOOKUPS} DNS-querying terms",
                detail="too many DNS lookups is a PermError (RFC 7208 §4.6.4): SPF fails"
                + ("; " + "; ".join(mx_over) if mx_over else "")
                + lower_bound,
            )
        else:
            self.add(
                "spf_lookups",
                "spf-lookups-ok",
                True,
                "info",
                observed=counted,
                expected=f"at most {MAX_SPF_LOOKUPS} DNS-querying terms",
                detail=lower_bound[2:],
            )
        if state.void > MAX_VOID_LOOKUPS:
            self.add(
                "spf_void_lookups",
                "spf-too-many-void-lookups",
                False,
                "high",
                observed=state.void,
                expected=f"at most {MAX_VOID_LOOKUPS} lookups without an answer",
                detail="more than two void lookups is a PermError (RFC 7208 §4.6.4)",
            )
        else:
            self.add(
                "spf_void_lookups",
                "spf-void-lookups-ok",
                True,
                "info",
                observed=state.void,
                expected=f"at most {MAX_VOID_LOOKUPS} lookups without an answer",
            )
        if state.loops:
            self.add(
                "spf_loops",
                "spf-loop",
                False,
                "high",
                observed=state.loops,
                expected="no include or redirect loop",
                detail="an include/redirect loop never ends: a PermError",
            )
        else:
            self.add("spf_loops", "spf-no-loop", True, "info", expected="no include or redirect loop")
        if qualifier is None:
            self.add(
                "spf_all",
                "spf-all-missing",
                False,
                "medium",
                observed=None,
                expected="-all (or ~all)",
                detail="no all mechanism (nor redirect to a record with one): unmatched senders "
                "get neutral, as with ?all",
            )
        else:
            rid, passed, severity = _ALL_SEVERITY[qualifier]
            self.add(
                "spf_all",
                rid,
                passed,
                severity,
                observed=f"{qualifier}all",
                expected="-all (or ~all)",
                detail={
                    "+": "+all lets every host on the internet pass SPF",
                    "?": "?all says nothing about unlisted senders",
                    "~": "~all soft-fails unlisted senders (fine with an enforced DMARC policy)",
                    "-": "unlisted senders fail SPF",
                }[qualifier],
            )
        if state.ptr:
            self.add(
                "spf_ptr",
                "spf-ptr-used",
                False,
                "low",
                observed=state.ptr,
                expected="no ptr mechanism",
                detail="ptr is slow and unreliable and should not be used (RFC 7208 §5.5)",
            )
        else:
            self.add("spf_ptr", "spf-no-ptr", True, "info", expected="no ptr mechanism")

    async def walk_spf(
        self, st: _Spf, domain: str, record: str, chain: tuple[str, ...], via: str, depth: int
    ) -> str | None:
        """Evaluate one record's lookups (recursively); return its effective all qualifier."""
        terms, after_all = _spf_terms(record)
        if after_all:
            st.warnings.append(f"{domain}: text after the all mechanism is ignored")
        all_q = next((q for kind, q, _ in terms if kind == "all"), None)
        redirect = next((v for kind, _, v in terms if kind == "redirect"), None)
        st.rows.append(
            {
                "domain": self.domain,
                "name_queried": domain,
                "via": via,
                "depth": depth,
                "raw_record": clip(record),
                "all": f"{all_q}all" if all_q else None,
                "redirect": redirect,
                "terms": len(terms),
            }
        )
        for kind, _, value in terms:
            if kind not in _SPF_LOOKUP_TERMS or (kind == "redirect" and all_q is not None):
                continue
            if st.lookups >= MAX_SPF_WALK:
                st.stopped = True
                return all_q
            st.lookups += 1
            target = (value or domain).lower().rstrip(".")
            if kind == "ptr":
                st.ptr.append(f"{domain}: ptr" + (f":{value}" if value else ""))
            elif "%{" in target:
                continue  # a macro: needs the sender, counted but not resolved
            elif kind in ("a", "exists"):
                answers = [
                    await self.query(target, t, "spf")
                    for t in (("A",) if kind == "exists" else ("A", "AAAA"))
                ]
                await self._spf_void(st, answers, f"{kind}:{target}")
            elif kind == "mx":
                answer = await self.query(target, "MX", "spf")
                await self._spf_void(st, [answer], f"mx:{target}")
                if len(answer.rdata) > 10:
                    st.mx_over.append(f"mx:{target} has {len(answer.rdata)} MX hosts (more than 10)")
            else:  # include or redirect
                if target in chain:
                    st.loops.append(" -> ".join((*chain, target)))
                    continue
                answer = await self.query(target, "TXT", "spf")
                if not answer.ok and not answer.void:
                    st.unknown.append(f"{kind}:{target} {answer.status}")
                    continue
                found = _spf_records(answer.texts)
                if len(found) != 1:
                    st.void += 1 if not found else 0
                    why = (
                        "does not exist"
                        if answer.status == "NXDOMAIN"
                        else ("has no SPF record" if not found else "has more than one SPF record")
                    )
                    st.errors.append(f"{kind}:{target} {why}")
                    continue
                problems = _spf_syntax(found[0])
                if problems:
                    st.errors.append(f"{kind}:{target}: " + "; ".join(problems))
                    continue
                sub = await self.walk_spf(st, target, found[0], (*chain, target), kind, depth + 1)
                if kind == "redirect":
                    all_q = sub
        return all_q

    async def _spf_void(self, st: _Spf, answers: Sequence[_Answer], term: str) -> None:
        if any(not a.ok and not a.void for a in answers):
            st.unknown.append(f"{term} {next(a.status for a in answers if not a.ok and not a.void)}")
        elif all(a.void for a in answers):
            st.void += 1

    # DMARC -------------------------------------------------------------------------------------

    async def check_dmarc(self) -> None:
        name = f"_dmarc.{self.domain}"
        answer = await self.query(name, "TXT", "dmarc")
        location = "domain"
        org = organizational_domain(self.domain)
        missing = answer.ok and not any(_DMARC_RECORD.match(t) for t in answer.texts)
        if org != self.domain and (answer.void or missing):  # RFC 7489 §6.6.3 fallback
            name, location = f"_dmarc.{org}", "organizational domain"
            answer = await self.query(name, "TXT", "dmarc")
        if not answer.ok and not answer.void:
            self.unknown("dmarc_record", "dmarc", answer, name, "TXT")
            return
        records = [t for t in answer.texts if _DMARC_RECORD.match(t)]
        if not records:
            self.add(
                "dmarc_record",
                "dmarc-not-found",
                False,
                "medium",
                observed=None,
                expected=f"a v=DMARC1 TXT record at _dmarc.{self.domain}",
                detail="no DMARC record (none at the organisational domain either): "
                "receivers apply no policy to mail failing SPF/DKIM alignment",
            )
            return
        if len(records) > 1:
            self.add(
                "dmarc_record",
                "dmarc-multiple-records",
                False,
                "high",
                observed=records,
                expected="exactly one DMARC record",
                detail=f"{name} has several DMARC records; receivers discard all of them "
                "(RFC 9989 §4.10), which disables DMARC",
            )
            return
        tags, errors, warnings = _parse_dmarc(records[0])
        others = [t for t in answer.texts if not _DMARC_RECORD.match(t)]
        if others:
            warnings.append(f"unrelated TXT records at {name}")
        p = tags.get("p", "none")
        sp = tags.get("sp", p)
        # mail from a subdomain that found the organisational record gets sp (which defaults to p)
        applied_tag = "sp" if location != "domain" and "sp" in tags else "p"
        applied = tags.get(applied_tag, "none")
        self.facts["dmarc"] = [
            {
                "domain": self.domain,
                "name_queried": name,
                "location": location,
                "raw_record": clip(records[0]),
                "p": p,
                "sp": sp,
                "np": tags.get("np", sp),
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
        where = f" (found at the organisational domain {org})" if location != "domain" else ""
        if errors:
            self.add(
                "dmarc_record",
                "dmarc-invalid",
                False,
                "high",
                observed=errors,
                expected="a valid DMARC record",
                detail=f"{name}: {records[0]!r}",
            )
            return
        self.add(
            "dmarc_record",
            "dmarc-valid",
            True,
            "info",
            observed=records[0],
            expected="one valid DMARC record",
            detail=("; ".join(warnings) + where).lstrip("; "),
        )
        if applied == "reject":
            self.add(
                "dmarc_policy",
                "dmarc-policy-reject",
                True,
                "info",
                observed=f"{applied_tag}=reject",
                expected="p=reject",
                detail="failing mail is rejected" + where,
            )
        elif applied == "quarantine":
            self.add(
                "dmarc_policy",
                "dmarc-policy-quarantine",
                False,
                "low",
                observed=f"{applied_tag}=quarantine",
                expected="p=reject",
                detail="failing mail is sent to spam, not rejected" + where,
            )
        elif applied_tag not in tags:
            self.add(
                "dmarc_policy",
                "dmarc-policy-missing",
                False,
                "medium",
                observed="no p tag",
                expected="p=reject",
                detail="a missing p tag means p=none (RFC 9989): DMARC is not enforced" + where,
            )
        else:
            self.add(
                "dmarc_policy",
                "dmarc-policy-none",
                False,
                "medium",
                observed=f"{applied_tag}=none",
                expected="p=reject",
                detail="p=none only monitors: DMARC is not enforced" + where,
            )
        if tags.get("rua"):
            self.add(
                "dmarc_rua",
                "dmarc-rua-present",
                True,
                "info",
                observed=tags["rua"],
                expected="a rua reporting address",
            )
        else:
            self.add(
                "dmarc_rua",
                "dmarc-rua-missing",
                False,
                "low",
                observed=None,
                expected="a rua reporting address",
                detail="without rua no aggregate reports arrive, so failures go unseen",
            )

    # MTA-STS -----------------------------------------------------------------------------------

    async def mx_hosts(self) -> list[str] | None:
        """The domain's MX hosts (the domain itself when it has none, RFC 5321 §5.1); None if unknown."""
        answer = await self.query(self.domain, "MX", "mx")
        if not answer.ok:
            return None
        if not answer.rdata:
            return [self.domain]
        hosts = [r.exchange.to_text(omit_final_dot=True).lower() for r in answer.rdata]
        return [h for h in hosts if h not in ("", ".")]  # a null MX ("0 .") accepts no mail

    async def check_mta_sts(self, mx_hosts: list[str] | None) -> None:
        name = f"_mta-sts.{self.domain}"
        answer = await self.query(name, "TXT", "mta_sts")
        if not answer.ok and not answer.void:
            self.unknown("mta_sts", "mta-sts", answer, name, "TXT")
            return
        records = [t for t in answer.texts if t.startswith("v=STSv1")]
        if not records:
            self.add(
                "mta_sts",
                "mta-sts-not-found",
                False,
                "info",
                observed=None,
                expected=f"v=STSv1; id=... at {name}",
                detail="no MTA-STS: sending servers may deliver over unauthenticated TLS",
            )
            return
        fact: dict[str, Any] = {
            "domain": self.domain,
            "txt_record": clip(records[0]),
            "id": None,
            "policy_url": f"https://mta-sts.{self.domain}/.well-known/mta-sts.txt",
            "http_status": None,
            "version": None,
            "mode": None,
            "max_age": None,
            "mx": None,
            "mx_hosts": None,
            "uncovered": None,
            "error": None,
        }
        self.facts["mta_sts"] = [fact]
        problems = []
        if len(records) > 1:
            problems.append("more than one v=STSv1 record")
        tags = {
            k.strip().lower(): v.strip()
            for k, _, v in (p.partition("=") for p in records[0].split(";") if p.strip())
        }
        fact["id"] = clip(tags.get("id"), 64)
        if not _STS_ID.match(tags.get("id", "")):
            problems.append("the id tag must be 1 to 32 letters or digits")
        if problems:
            fact["error"] = "; ".join(problems)
            self.add(
                "mta_sts",
                "mta-sts-invalid-record",
                False,
                "medium",
                observed=records,
                expected="one v=STSv1; id=<1-32 alphanumerics> record",
                detail="; ".join(problems),
            )
            return
        text, error = await self.fetch_policy(fact)
        if text is None:
            fact["error"] = error
            self.add(
                "mta_sts",
                "mta-sts-policy-unavailable",
                False,
                "medium",
                observed=error,
                expected=f"HTTP 200 text/plain from {fact['policy_url']}",
                detail="the TXT record announces a policy that cannot be fetched",
            )
            return
        policy, perrors = _parse_sts_policy(text)
        fact.update(
            version=policy.get("version"),
            mode=policy.get("mode"),
            max_age=policy.get("max_age"),
            mx=clip(json.dumps(policy.get("mx", []))),
        )
        if perrors:
            fact["error"] = clip("; ".join(perrors))
            self.add(
                "mta_sts",
                "mta-sts-invalid-policy",
                False,
                "medium",
                observed=perrors,
                expected="version: STSv1, mode, max_age and mx lines (RFC 8461 §3.2)",
            )
            return
        mode = policy["mode"]
        if mode == "enforce":
            self.add(
                "mta_sts", "mta-sts-enforce", True, "info", observed="mode: enforce", expected="mode: enforce"
            )
        else:
            self.add(
                "mta_sts",
                f"mta-sts-mode-{mode}",
                False,
                "low",
                observed=f"mode: {mode}",
                expected="mode: enforce",
                detail="the policy does not make senders refuse unauthenticated TLS",
            )
        if mode == "none":
            return
        if mx_hosts is None:
            self.add(
                "mta_sts_mx",
                "mta-sts-mx-unknown",
                False,
                "info",
                detail="the domain's MX records could not be read",
            )
            return
        uncovered = [h for h in mx_hosts if not any(mx_pattern_matches(p, h) for p in policy["mx"])]
        fact.update(mx_hosts=json.dumps(mx_hosts), uncovered=json.dumps(uncovered))
        if uncovered:
            self.add(
                "mta_sts_mx",
                "mta-sts-mx-mismatch",
                False,
                "medium",
                observed=uncovered,
                expected=f"every MX host matches one of {policy['mx']}",
                detail="senders honouring the policy will refuse to deliver to these MX hosts",
            )
        else:
            self.add(
                "mta_sts_mx",
                "mta-sts-mx-covered",
                True,
                "info",
                observed=mx_hosts,
                expected=f"every MX host matches one of {policy['mx']}",
            )

    async def fetch_policy(self, fact: dict[str, Any]) -> tuple[str | None, str | None]:
        """GET the policy (no redirects, RFC 8461 §3.3); (text, None) or (None, why not)."""
        import aiohttp

        url = fact["policy_url"]
        try:
            async with (
                client_session(
                    cafile=self.ca_bundle,
                    resolve=self.resolve,
                    timeout=aiohttp.ClientTimeout(total=self.http_timeout),
                ) as session,
                session.get(url, allow_redirects=False) as resp,
            ):
                fact["http_status"] = resp.status
                if resp.status != 200:
                    return None, f"HTTP {resp.status} from {url}"
                body = await resp.content.read(MAX_POLICY_BYTES + 1)
                if len(body) > MAX_POLICY_BYTES:
                    return None, f"the policy is larger than {MAX_POLICY_BYTES} bytes"
                if resp.content_type != "text/plain":
                    fact["error"] = f"Content-Type should be text/plain, not {clip(resp.content_type, 100)}"
                return body.decode("utf-8", errors="replace"), None
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            message = str(exc) or type(exc).__name__
            return None, clip(f"{type(exc).__name__}: {message}", 300)

    # TLS-RPT, CAA, DNSSEC ------------------------------------------------------------------------

    async def check_tls_rpt(self) -> None:
        name = f"_smtp._tls.{self.domain}"
        answer = await self.query(name, "TXT", "tls_rpt")
        if not answer.ok and not answer.void:
            self.unknown("tls_rpt", "tls-rpt", answer, name, "TXT")
            return
        records = [t for t in answer.texts if re.match(r"^v=TLSRPTv1[ \t]*(;|$)", t)]
        expected = "v=TLSRPTv1; rua=mailto:... or https://..."
        if not records:
            self.add(
                "tls_rpt",
                "tls-rpt-not-found",
                False,
                "info",
                observed=None,
                expected=expected,
                detail="no SMTP TLS reporting: TLS delivery failures go unreported",
            )
            return
        problems = []
        if len(records) > 1:
            problems.append("more than one v=TLSRPTv1 record")
        tags = {
            k.strip().lower(): v.strip()
            for k, _, v in (p.partition("=") for p in records[0].split(";") if p.strip())
        }
        uris = [u.strip() for u in tags.get("rua", "").split(",") if u.strip()]
        if not uris:
            problems.append("no rua tag")
        problems += [
            f"rua URI {u!r} is not mailto: or https:"
            for u in uris
            if not re.match(r"^(mailto:\S+@\S+|https://\S+)$", u, re.I)
        ]
        if problems:
            self.add(
                "tls_rpt",
                "tls-rpt-invalid",
                False,
                "low",
                observed=records,
                expected=expected,
                detail="; ".join(problems),
            )
        else:
            self.add("tls_rpt", "tls-rpt-present", True, "info", observed=records[0], expected=expected)

    async def check_caa(self) -> None:
        labels = self.domain.split(".")
        for i in range(len(labels)):  # RFC 8659 §3: climb up to, not including, the root
            name = ".".join(labels[i:])
            answer = await self.query(name, "CAA", "caa")
            if not answer.ok and not answer.void:
                self.unknown("caa", "caa", answer, name, "CAA")
                return
            if answer.rdata:
                rows = [
                    {
                        "domain": self.domain,
                        "name_queried": name,
                        "flags": r.flags,
                        "tag": r.tag.decode("ascii", errors="replace"),
                        "value": clip(r.value.decode("utf-8", errors="replace")),
                    }
                    for r in answer.rdata
                ]
                self.facts["caa"] = rows
                relevant = [
                    f"{r['tag']} {r['value']}" for r in rows if r["tag"] in ("issue", "issuewild", "iodef")
                ]
                inherited = f" (inherited from {name})" if name != self.domain else ""
                self.add(
                    "caa",
                    "caa-present",
                    True,
                    "info",
                    observed=relevant or answer.texts,
                    expected="CAA issue/issuewild records",
                    detail="only the listed CAs may issue certificates" + inherited,
                )
                return
        self.add(
            "caa",
            "caa-not-found",
            False,
            "low",
            observed=None,
            expected="CAA issue/issuewild records",
            detail="no CAA record on the domain or any parent: every CA may issue for it",
        )

    def check_dnssec(self, first: _Answer) -> None:
        if not first.ok:
            self.unknown("dnssec", "dnssec", first, self.domain, "TXT")
        elif first.ad:
            self.add(
                "dnssec",
                "dnssec-validated",
                True,
                "info",
                observed="AD=1",
                expected="AD=1",
                detail=f"{self.server} validated the answer (DNSSEC signed and valid)",
            )
        else:
            self.add(
                "dnssec",
                "dnssec-not-validated",
                False,
                "low",
                observed="AD=0",
                expected="AD=1",
                detail=f"{self.server} did not mark the answer authenticated: the zone is unsigned, "
                "or the server does not validate DNSSEC",
            )


# -- record parsing (pure functions) -----------------------------------------------------------


def _rdata_text(rdata: Any) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT: the character-strings joined, as receivers read them
        return b"".join(strings).decode("utf-8", errors="replace")
    return str(rdata.to_text())


def _spf_records(texts: Sequence[str]) -> list[str]:
    """RFC 7208 §4.5: records whose version section is exactly ``v=spf1``."""
    return [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


def _spf_terms(record: str) -> tuple[list[tuple[str, str, str]], bool]:
    """(kind, qualifier, value) for the terms up to and including the first all; text after it?"""
    out: list[tuple[str, str, str]] = []
    words = record.split()[1:]
    for i, word in enumerate(words):
        mech = _SPF_MECH.match(word)
        if mech:
            out.append((mech.group(2).lower(), mech.group(1) or "+", mech.group(3) or ""))
            if mech.group(2).lower() == "all":
                return out, i < len(words) - 1
            continue
        mod = _SPF_MOD.match(word)
        if mod:
            out.append((mod.group(1).lower(), "", mod.group(2)))
    return out, False


def _spf_syntax(record: str) -> list[str]:
    """The PermErrors of one record's syntax (unknown mechanisms, bad addresses, duplicates)."""
    errors: list[str] = []
    seen_mods: set[str] = set()
    alls = 0
    for word in record.split()[1:]:
        mech = _SPF_MECH.match(word)
        if mech:
            kind, value = mech.group(2).lower(), mech.group(3) or ""
            if kind == "all":
                alls += 1
                if mech.group(3) is not None or mech.group(4):
                    errors.append(f"{word!r}: all takes no argument")
            elif kind in ("include", "exists") and not value:
                errors.append(f"{word!r}: {kind} needs a domain")
            elif kind in ("ip4", "ip6"):
                try:
                    net = ipaddress.ip_network(value + (mech.group(4) or ""), strict=False)
                except ValueError:
                    errors.append(f"{word!r}: not a valid {kind} network")
                else:
                    if net.version != int(kind[-1]):
                        errors.append(f"{word!r}: not an IPv{kind[-1]} network")
            continue
        mod = _SPF_MOD.match(word)
        if mod:
            name = mod.group(1).lower()
            if name in ("redirect", "exp"):
                if name in seen_mods:
                    errors.append(f"{name}= appears twice")
                if not mod.group(2):
                    errors.append(f"{word!r}: {name}= needs a domain")
                seen_mods.add(name)
            continue
        errors.append(f"{clip(word, 80)!r} is not a valid SPF term")
    if alls > 1:
        errors.append("all appears more than once")
    return errors


def _parse_dmarc(record: str) -> tuple[dict[str, str], list[str], list[str]]:
    """RFC 9989 tags as checkdmarc reads them: (tags, errors, warnings)."""
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
        if key not in _DMARC_TAGS and key not in _DMARC_REMOVED:
            warnings.append(f"unknown tag {key!r} ignored")
            continue
        if key in tags or (key == "v"):
            errors.append(f"duplicate {key} tag")
            continue
        if key in _DMARC_REMOVED:
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
        uris = [u.strip() for u in tags.get(key, "").split(",") if u.strip()]
        errors += [f"{key} URI {clip(u, 80)!r} is not a valid URI" for u in uris if not _URI.match(u)]
        if len(uris) > 2:
            warnings.append(f"some reporters send to at most two {key} URIs")
    if "p" not in tags:
        warnings.append("no p tag: p=none applies (RFC 9989)")
    if tags.get("sp") == "none":
        warnings.append("sp=none leaves subdomains unenforced")
    return tags, errors, warnings


def _parse_sts_policy(text: str) -> tuple[dict[str, Any], list[str]]:
    """RFC 8461 §3.2 ``key: value`` lines: (policy, errors)."""
    policy: dict[str, Any] = {"mx": []}
    errors: list[str] = []
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep:
            errors.append(f"line {n}: not a key: value pair")
        elif key == "mx":
            policy["mx"].append(value.lower())
        elif key in ("version", "mode", "max_age"):
            if key in policy:
                errors.append(f"line {n}: duplicate {key}")
            policy[key] = value
        # other keys are extensions (RFC 8461 §3.2): ignored
    if policy.get("version") != "STSv1":
        errors.append("version must be STSv1")
    if policy.get("mode") not in ("enforce", "testing", "none"):
        errors.append("mode must be enforce, testing or none")
    age = policy.get("max_age")
    if not (isinstance(age, str) and age.isdigit() and int(age) <= MAX_STS_MAX_AGE):
        errors.append(f"max_age must be an integer from 0 to {MAX_STS_MAX_AGE}")
    else:
        policy["max_age"] = int(age)
    if policy.get("mode") in ("enforce", "testing") and not policy["mx"]:
        errors.append("no mx line")
    return policy, [clip(e, 200) or "" for e in errors]


integration = DnsEmail()

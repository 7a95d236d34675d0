"""DNS and email security of a domain: SPF, DMARC, MTA-STS, TLS-RPT, CAA, BIMI, DNSSEC, STARTTLS.

The rules are the RFCs': 7208 (SPF), 7489 and 9989 (DMARC, DMARCbis), 8461 (MTA-STS), 8460
(TLS-RPT), 8659 (CAA), 4033-4035 (DNSSEC), 3207 (STARTTLS) and the BIMI draft, with
checkdmarc 6.0.4 as the reference tool (a parity test runs both on one local DNS server; where
they disagree the test names the RFC section that decides). Each record type has a module of
pure parsers and evaluators (``_spf``, ``_dmarc``, ``_mta_sts``, ``_caa``, ``_bimi``,
``_dnssec``, ``_smtp``), the DNS lookups are apart (``_lookup``: each name asked once, shared
while in flight), and ``_audit`` runs all checks of one domain concurrently.

Sections: ``findings`` (one row per check), and facts: ``dns_records`` (every query and its
answer), ``spf`` (every record of the include/redirect tree), ``dmarc``, ``mta_sts``, ``caa``
and ``mx`` (each MX host's SMTP conversation).

Stable keys. A finding is identified by (integration, target, check, result_id): the
integration is ``dns_email``, the target the domain as given, and each result id belongs to
exactly one check, with a fixed verdict and severity (``_catalogue.CATALOGUE``, which also holds
each one's one-line explanation). The run-history diff matches findings by this key.

- ``domain``: domain-nxdomain (high; the domain does not exist, no other check runs)
- ``spf_record``: spf-valid, spf-not-found, spf-multiple-records, spf-syntax-error,
  spf-include-invalid, spf-permerror, spf-unknown
- ``spf_size``: spf-size-ok, spf-too-large
- ``spf_lookups``: spf-lookups-ok, spf-too-many-lookups
- ``spf_void_lookups``: spf-void-lookups-ok, spf-too-many-void-lookups
- ``spf_loops``: spf-no-loop, spf-loop
- ``spf_all``: spf-all-fail, spf-all-softfail, spf-all-neutral, spf-all-pass, spf-all-missing,
  spf-all-redirect-invalid
- ``spf_ptr``: spf-no-ptr, spf-ptr-used
- ``dmarc_record``: dmarc-valid, dmarc-not-found, dmarc-multiple-records, dmarc-invalid,
  dmarc-at-apex, dmarc-spf-at-dmarc, dmarc-leading-whitespace, dmarc-version-case, dmarc-unknown
- ``dmarc_size``: dmarc-size-ok, dmarc-too-large
- ``dmarc_policy``: dmarc-policy-reject, dmarc-policy-quarantine, dmarc-policy-none,
  dmarc-policy-missing
- ``dmarc_rua``: dmarc-rua-present, dmarc-rua-missing, dmarc-rua-unauthorized, dmarc-rua-unknown
- ``mta_sts``: mta-sts-enforce, mta-sts-mode-testing, mta-sts-mode-none, mta-sts-not-found,
  mta-sts-invalid-record, mta-sts-policy-unavailable, mta-sts-invalid-policy, mta-sts-unknown
- ``mta_sts_mx``: mta-sts-mx-covered, mta-sts-mx-mismatch, mta-sts-mx-unknown
- ``tls_rpt``: tls-rpt-present, tls-rpt-not-found, tls-rpt-invalid, tls-rpt-unknown
- ``caa``: caa-present, caa-not-found, caa-invalid, caa-unknown
- ``bimi``: bimi-present, bimi-not-found, bimi-declined, bimi-invalid, bimi-unknown
- ``dnssec``: dnssec-valid, dnssec-unsigned, dnssec-invalid, dnssec-no-ds, dnssec-unknown
- ``mx_starttls``: mx-starttls-ok, mx-starttls-missing, mx-none, mx-starttls-unknown
- ``mx_certificate``: mx-certificate-valid, mx-certificate-invalid

Where this differs from checkdmarc, on purpose (the RFC decides): ``V=SPF1`` is a valid SPF
record (RFC 7208 §12 and RFC 5234 §2.3: ABNF strings are case-insensitive); ``exists`` terms
without an A record are void lookups (§4.6.4 counts every term); ``ptr`` is counted as one
lookup and never resolved (§5.5: it needs the sender's address); TXT records at ``_dmarc`` that
do not start with exactly ``v=DMARC1`` are discarded (RFC 7489 §6.3), and named as a placement
mistake when they look like one. DNSSEC is validated here (DNSKEY, RRSIG, DS at the parent),
not read from a resolver's AD bit.

Failures: a nameserver that does not answer the first query (the domain's TXT) at all raises
:class:`DnsTimeoutError`, so the runner records an error naming the server; NXDOMAIN for the
domain is a high ``domain-nxdomain`` finding and no other check; SERVFAIL, timeouts and other
failures of later queries make the affected checks ``<...>-unknown`` findings (severity info,
not passed) whose detail names the lookup that failed, while the rest still report. An SPF
include or redirect whose lookup fails is a temperror (RFC 7208 §5.2): ``spf-unknown``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import threading
import weakref
from typing import Any

from ..._settings import Setting
from .._net import CA_BUNDLE, RESOLVE, parse_endpoints, parse_target
from ._audit import DnsTimeoutError, Options, audit
from ._client import DnsClient, Nameserver
from ._dmarc import organizational_domain
from ._lookup import AnswerCache, Lookups, parse_nameserver
from ._mta_sts import mx_pattern_matches

__all__ = [
    "NAMESERVER",
    "DnsEmail",
    "DnsTimeoutError",
    "integration",
    "mx_pattern_matches",
    "organizational_domain",
    "parse_nameserver",
]

#: Seconds before a DNS query without answer is sent again (within the lifetime).
RETRY_AFTER = 1.0

NAMESERVER = Setting(
    "INTGKIT_DNS_NAMESERVER",
    required=False,
    secret=False,
    description="address[:port] of the DNS server to ask (default: the system resolver)",
)


class DnsEmail:
    """SPF, DMARC, MTA-STS, TLS-RPT, CAA, BIMI, DNSSEC and MX STARTTLS for one domain per target.

    Args:
        nameserver: ``address[:port]`` to ask instead of ``INTGKIT_DNS_NAMESERVER``.
        ca_bundle: PEM trust roots for the MTA-STS policy host and the MX hosts' certificates,
            instead of ``INTGKIT_CA_BUNDLE``.
        resolve: ``INTGKIT_RESOLVE``-style overrides for the policy host and the MX hosts
            (``mx.example.test:25:127.0.0.1:2525``).
        lifetime: seconds one DNS query may take, retries included.
        http_timeout: seconds the MTA-STS policy download may take.
        smtp: talk to the MX hosts (port 25) to see STARTTLS and their certificates; many
            networks block outgoing port 25, which makes the check ``mx-starttls-unknown``.
        smtp_timeout: seconds one MX host's SMTP conversation may take.
        max_queries: DNS queries in flight at most, over all the domains being audited at once.
        cache_seconds: how long an answer is reused by the next domains' audits (at most its
            TTL); 0 asks every time. Auditing many domains asks their shared parents often.
    """

    name = "dns_email"
    title = "DNS and email security"
    description = (
        "SPF, DMARC, MTA-STS, TLS-RPT, CAA, BIMI, DNSSEC and MX STARTTLS of a domain, by the RFCs "
        "(target: a domain name)"
    )
    settings = (NAMESERVER, CA_BUNDLE, RESOLVE)
    breaker_per_target = True
    needs_target = True  # a host or domain; fetch(None) cannot work

    def __init__(
        self,
        *,
        nameserver: str | None = None,
        ca_bundle: str | None = None,
        resolve: str | None = None,
        lifetime: float = 5.0,
        http_timeout: float = 10.0,
        smtp: bool = True,
        smtp_timeout: float = 10.0,
        max_queries: int = 64,
        cache_seconds: float = 30.0,
    ) -> None:
        self._cache = AnswerCache(max_age=float(cache_seconds))
        if max_queries < 1:
            raise ValueError(f"max_queries must be at least 1, got {max_queries!r}")
        self.max_queries = int(max_queries)
        self._limits_lock = threading.Lock()
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._nameserver = nameserver
        self._ca_bundle = ca_bundle
        self._resolve = resolve
        self.lifetime = float(lifetime)
        self.http_timeout = float(http_timeout)
        self.smtp = bool(smtp)
        self.smtp_timeout = float(smtp_timeout)

    def is_configured(self) -> bool:
        """Always: every setting is optional."""
        return True

    def __repr__(self) -> str:
        return f"<DnsEmail nameserver={self._nameserver or NAMESERVER.value() or 'system'}>"

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
        """Run every check for one domain."""
        domain = _domain(target)
        client = self._client()
        options = Options(
            ca_bundle=self._ca_bundle if self._ca_bundle is not None else CA_BUNDLE.value(),
            resolve=self._resolve if self._resolve is not None else RESOLVE.value(),
            http_timeout=self.http_timeout,
            smtp=self.smtp,
            smtp_timeout=self.smtp_timeout,
        )
        parse_endpoints(options.resolve)  # a malformed INTGKIT_RESOLVE fails here, before any query
        lookups = Lookups(domain, client, self._query_limit(), self._cache)
        try:
            return await audit(domain, lookups, options)
        finally:
            lookups.close()

    def _query_limit(self) -> asyncio.Semaphore:
        """The semaphore of the running loop (a run's private loop gets its own)."""
        loop = asyncio.get_running_loop()
        with self._limits_lock:
            limit = self._limits.get(loop)
            if limit is None:
                limit = self._limits[loop] = asyncio.Semaphore(self.max_queries)
        return limit

    def _client(self) -> DnsClient:
        spec = self._nameserver if self._nameserver is not None else NAMESERVER.value()
        if spec:
            address, port = parse_nameserver(spec)
            servers = [Nameserver(address, port)]
        else:
            servers = _system_nameservers()
        return DnsClient(servers, lifetime=self.lifetime, retry_after=min(self.lifetime, RETRY_AFTER))


def _system_nameservers() -> list[Nameserver]:
    """The system's nameservers (/etc/resolv.conf), as dnspython reads them."""
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver()
    except dns.resolver.NoResolverConfiguration as exc:
        raise ValueError(
            f"no system nameserver is configured ({exc}); set INTGKIT_DNS_NAMESERVER, "
            "e.g. 127.0.0.1:53 or 9.9.9.9"
        ) from None
    out = []
    for ns in resolver.nameservers:
        address = getattr(ns, "address", ns)
        port = getattr(ns, "port", resolver.port)
        if isinstance(address, str):
            out.append(Nameserver(address, int(port)))
    if not out:
        raise ValueError("no system nameserver speaks plain DNS; set INTGKIT_DNS_NAMESERVER")
    return out


def _domain(target: str | None) -> str:
    host = parse_target(target).host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.lower().rstrip(".")
    raise ValueError(f"dns_email needs a domain name as target, got the IP address {host!r}")


integration = DnsEmail()

"""Cloudflare zones: how each zone's edge is configured, read from the Cloudflare API v4.

Rules: intgkit's security-check notes §4, drawn from developers.cloudflare.com and the API types
of cloudflare/cloudflare-python (``src/cloudflare/types/zones/settings/*.py``, e.g.
``security_headers.py`` @dd427c9; pagination as ``src/cloudflare/pagination.py``). Per zone:

=========================  ==================================================================
ssl                        off critical; flexible high; full medium; strict pass
min_tls_version            1.0 / 1.1 medium (unless tls_1_2_only is on); 1.2+ pass
always_use_https           off medium
hsts (security_header)     disabled medium; max_age < 15 552 000 low (when enabled)
hsts_include_subdomains,   includeSubDomains off low; preload off info; preload without
hsts_preload               includeSubDomains or a one-year max-age low (hstspreload.org)
nosniff                    off low
security_level             off / essentially_off medium; under_attack info
tls_1_3, automatic_https_  off low
rewrites, browser_check
0rtt                       on low (early data can be replayed)
opportunistic_encryption   off info
ciphers                    3DES / RC4 medium; static RSA or CBC-SHA1 suites low
hostname_tls               a per-hostname override to TLS 1.0/1.1 medium, weak ciphers as above
zone paused                high
DNSSEC status not active   low
waf                        no enabled rule that blocks or challenges, no managed ruleset: info
waf_managed_cloudflare,    not deployed low; disabled or overridden to log as a whole medium;
waf_managed_owasp          some categories or rules off or logging low
universal_ssl              off with no other active certificate high
certificates               none active high; expired high; < 14 days left or a failed pack
                           medium
dns_proxied                A/AAAA/CNAME unproxied info (origin exposed); medium when the same
                           origin also serves proxied names (the proxy is bypassable)
spf_origin                 the apex SPF record's ip4:/ip6: covers a proxied origin medium
origin_pulls               Authenticated Origin Pulls off low; medium when the origin's
                           address is public (dns_proxied / spf_origin)
=========================  ==================================================================

Every finding has a stable ``result_id``, a ``severity`` and its check's one-line
``explanation`` (:mod:`._explanations`); an ``-unknown`` finding says why (the permission to
grant, when the API refused).

Layout: :mod:`._client` (the token's rules, envelope, pagination, the rate-limit retry loop),
:mod:`._read` (what one zone's audit reads), one ``_checks_*`` module per check family,
:mod:`._report` (``audit_zone(client, zone)``: one zone's sections) and this module (the
integration object: settings, target), :mod:`._zones` (which zones a target means).

Settings are read one by one (``/zones/{id}/settings/{setting}``), never through the
deprecated bulk endpoint. A check whose data cannot be read (the token lacks that endpoint's
permission: HTTP 401/403; or the plan lacks the feature) becomes an ``info`` finding
``<check>-unknown`` saying why and, for a refusal, which permission to grant; the other
checks still report. A token refused on ``GET /zones``, a rate limit that does not fit the
time budget or an unreachable API fails the whole call.

Target: a zone name (``example.com``), a host inside a zone (``www.example.com``) or a URL
(reduced to its host): the zone audited is the longest zone name the host ends with
(:mod:`._zones`); None audits every zone the token can see. Findings carry the zone in
``target`` and in ``zone``.

The token goes only to the configured API base, only over https (plain http only to loopback
test servers), never through a redirect, and never into rows, errors or logs.

Rate limits and retries (intgkit's policies, docs/architecture.md): every request takes a token
from the token's budget (``budget``, default at most 1,100 requests in any 300 s, inside
Cloudflare's documented 1,200; one bucket per token, keyed by a keyed digest of it, shared by
every call and run of the process); a 429 (after its Retry-After, at most ``max_retry_wait``),
a 5xx or a connection failure is retried while the retry fits before the fetch's deadline,
``timeout`` seconds after it began; otherwise the call fails, saying why ("rate limited" for
the budget or a 429).
Through the runner, target None *expands* into one call per zone (:meth:`Cloudflare.expand`),
each with its own result.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

from ..._policies import LIMITERS, RateLimit, Retry, keyed_digest
from ..._settings import Setting
from .._net import CA_BUNDLE, client_session, parse_target
from ._client import (
    BUDGET,
    DEFAULT_API_BASE,
    MAX_ATTEMPTS,
    NAME,
    Client,
    Policy,
    Retryable,
    Unreachable,
    api_base_url,
)
from ._errors import CloudflareAPIError, CloudflareRateLimited, ZoneNotFoundError
from ._read import gather_first_error
from ._report import audit_zone, merge
from ._zones import all_zones, zone_of

__all__ = [
    "Cloudflare",
    "CloudflareAPIError",
    "CloudflareRateLimited",
    "ZoneNotFoundError",
    "api_base_url",
    "audit_zone",
    "integration",
    "zone_from_target",
]

API_TOKEN = Setting(
    "CLOUDFLARE_API_TOKEN",
    required=True,
    secret=True,
    description=(
        "API token with Zone Read, Zone Settings Read, DNS Read, Zone WAF Read and SSL and Certificates Read"
    ),
)
API_BASE = Setting(
    "CLOUDFLARE_API_BASE",
    required=False,
    secret=False,
    default=DEFAULT_API_BASE,
    description="API base URL (https; http only for loopback test servers)",
)
ZONES_PER_PAGE = 50  # the API's maximum for /zones


class Cloudflare:
    """Audit Cloudflare zone settings, DNSSEC, WAF rules and DNS origin exposure.

    Args:
        token: the API token (default: ``CLOUDFLARE_API_TOKEN``); never shown by repr, and
            dropped when the object is pickled or copied (the copy reads the environment).
        api_base: the API base URL (default: ``CLOUDFLARE_API_BASE``, then Cloudflare's).
        ca_bundle: PEM trust roots (default: ``INTGKIT_CA_BUNDLE``, then the system's).
        timeout: the time budget of one fetch in seconds (rate-limit waits must fit in it);
            the runner applies it too, unless a run passes its own ``timeout=``.
        max_retry_wait: the longest Retry-After (seconds) worth waiting for.
        budget: the token's request budget, a token bucket shared by every call and run of
            the process with that token (default :data:`BUDGET`: at most 1,100 requests in any
            300 s, inside Cloudflare's documented 1,200, 550 of them at once; to use all of it,
            ``intgkit.RateLimit.at_most(1200, per=300, burst=600)``).
        concurrency: requests in flight at once.
        zones_per_page: page size for listing zones (the API allows 5..50).
    """

    name = NAME
    title = "Cloudflare zones"
    description = (
        "Zone settings (SSL mode, TLS versions and ciphers, HTTPS redirects, HSTS, security level), "
        "DNSSEC, WAF and managed rulesets, edge certificates, Authenticated Origin Pulls and origin "
        "exposure (unproxied records, SPF), through the Cloudflare API v4."
    )
    settings = (API_TOKEN, API_BASE, CA_BUNDLE)
    breaker_per_target = False  # one API: when it is down, it is down for every zone
    timeout: float | None = 60.0
    max_retry_wait = 30.0

    def __init__(
        self,
        *,
        token: str | None = None,
        api_base: str | None = None,
        ca_bundle: str | None = None,
        timeout: float | None = 60.0,
        max_retry_wait: float = 30.0,
        budget: RateLimit = BUDGET,
        concurrency: int = 8,
        zones_per_page: int = ZONES_PER_PAGE,
    ) -> None:
        self._token = token
        self._api_base = api_base
        self._ca_bundle = ca_bundle
        self.timeout = timeout
        self.max_retry_wait = max_retry_wait
        self.budget = budget
        #: 429s, 5xx answers and connection failures are retried, per request
        self.request_retry = Retry(
            attempts=MAX_ATTEMPTS,
            on=(Retryable, Unreachable),
            wait_initial=0.5,
            max_retry_after=max_retry_wait,
        )
        # zones seen by expand(), by (API base, token digest, name): the per-zone calls reuse them
        self._listed: dict[tuple[str, str, str], dict[str, Any]] = {}
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        self.concurrency = concurrency
        if not 5 <= zones_per_page <= ZONES_PER_PAGE:
            raise ValueError(f"zones_per_page must be 5..{ZONES_PER_PAGE}, got {zones_per_page!r}")
        self.zones_per_page = zones_per_page

    def __repr__(self) -> str:
        token = "***" if self._token else "from CLOUDFLARE_API_TOKEN"
        return f"Cloudflare(token={token}, api_base={self._api_base!r}, timeout={self.timeout!r})"

    def __getstate__(self) -> dict[str, Any]:  # never pickle the token along
        state = dict(self.__dict__)
        state["_token"] = None
        state["_listed"] = {}
        return state

    def is_configured(self) -> bool:
        """True when a token is given or ``CLOUDFLARE_API_TOKEN`` is set."""
        return bool(self._token or API_TOKEN.value())

    async def expand(self, target: str | None) -> list[str] | None:
        """Target None (every zone) becomes one call per zone the token can see, so one zone's
        failure, or the budget running out, never loses the other zones' results. A named
        target is audited as it is (None)."""
        if target is not None:
            return None
        async with self._session() as (client, base, digest):
            zones = await all_zones(client, self.zones_per_page)
        names = []
        for z in zones:
            name = str(z.get("name", "")).lower().rstrip(".")
            if name:
                self._listed[(base, digest, name)] = z
                names.append(name)
        return names

    async def fetch(self, target: str | None) -> dict[str, list[dict[str, Any]]]:
        """Audit one zone (by name) or, for target None, every zone the token can see."""
        host = zone_from_target(target)
        async with self._session() as (client, base, digest):
            if host is None:
                zones = await all_zones(client, self.zones_per_page)
            else:
                listed = self._listed.pop((base, digest, host), None)
                zones = [listed if listed is not None else await zone_of(client, host, self.zones_per_page)]
            parts = await gather_first_error([audit_zone(client, z) for z in zones])
        return merge(parts)

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[tuple[Client, str, str]]:
        """A client for one fetch: its session, the token's budget, the deadline."""
        import aiohttp

        token = self._token or API_TOKEN.value()
        if not token:
            raise ValueError("CLOUDFLARE_API_TOKEN is not set")
        base = api_base_url(self._api_base or API_BASE.value() or DEFAULT_API_BASE)
        digest = keyed_digest([base, token])
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=30)
        async with client_session(cafile=self._ca_bundle or CA_BUNDLE.value(), timeout=timeout) as session:
            policy = Policy(
                retry=self.request_retry,
                bucket=LIMITERS.get(NAME, self.budget, f"token {digest[:8]}"),
                deadline=deadline,
                budget=self.timeout,
            )
            yield Client(session, base, token, retry=policy, concurrency=self.concurrency), base, digest


def zone_from_target(target: str | None) -> str | None:
    """The host name of a target (a name or a URL) whose zone is audited; None stays None."""
    if target is None:
        return None
    parsed = parse_target(target)
    try:
        ipaddress.ip_address(parsed.host)
    except ValueError:
        return parsed.host
    raise ValueError(f"target {target!r}: the cloudflare integration takes a zone name, not an IP address")


integration = Cloudflare()

"""Reading one zone's data concurrently: settings one by one, records, DNSSEC, WAF phases,
Universal SSL, certificate packs, Authenticated Origin Pulls, per-hostname TLS settings.

Settings are read one by one (``/zones/{id}/settings/{setting}``), never through the
deprecated bulk endpoint. A part that cannot be read becomes :class:`Unavailable` (its check
then reports ``-unknown``): HTTP 401/403 on a per-zone endpoint means the token lacks that
endpoint's permission (a token Cloudflare refuses outright already failed ``GET /zones``), so
the reason names the permission to grant. A rate limit that does not fit or an unreachable API
fails the whole call.

Permission names are Cloudflare's API token permission groups
(developers.cloudflare.com/fundamentals/api/reference/permissions).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any, TypeVar

from ._client import Client
from ._data import Unavailable, ZoneData
from ._errors import CloudflareAPIError, CloudflareRateLimited

SETTING_IDS = (
    "ssl",
    "min_tls_version",
    "always_use_https",
    "security_header",
    "security_level",
    "tls_1_3",
    "automatic_https_rewrites",
    "browser_check",
    "0rtt",
    "opportunistic_encryption",
    "ciphers",
    "tls_1_2_only",
)
#: Per-hostname TLS settings (``/zones/{id}/hostnames/settings/{setting}``) that can weaken a host.
HOSTNAME_TLS_SETTINGS = ("min_tls_version", "ciphers")
WAF_PHASES = ("http_request_firewall_custom", "http_request_firewall_managed", "http_ratelimit")
#: The permission group each endpoint needs (what a refused request asks the user to grant).
ZONE_READ = "Zone Read"
ZONE_SETTINGS_READ = "Zone Settings Read"
DNS_READ = "DNS Read"
WAF_READ = "Zone WAF Read"
SSL_READ = "SSL and Certificates Read"
RECORDS_PER_PAGE = 100
PACKS_PER_PAGE = 50  # the API's default for /dns_records

_HOSTNAME_TLS_PLAN = ", or the zone lacks per-hostname TLS settings (Advanced Certificate Manager)"
_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")

T = TypeVar("T")


async def gather_first_error(aws: list[Awaitable[Any]]) -> list[Any]:
    """Await all concurrently; on the first failure cancel the rest and raise that failure itself.

    A TaskGroup would raise an ExceptionGroup, whose message says nothing useful in a result.
    """
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_await(aw)) for aw in aws]
    except BaseExceptionGroup as group:
        raise _first(group) from None
    return [t.result() for t in tasks]


async def _await(aw: Awaitable[T]) -> T:
    return await aw


def _first(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


async def _optional(aw: Awaitable[T], permission: str, also: str = "") -> T | Unavailable:
    """A zone detail, or why it could not be read; rate limits and network failures propagate.

    ``also`` names what else a refusal may mean (a feature the plan may lack).
    """
    try:
        return await aw
    except CloudflareRateLimited:
        raise
    except CloudflareAPIError as exc:
        if exc.status is None:
            raise
        if exc.is_denied:
            return Unavailable(
                f"the API token lacks the {permission!r} permission for this zone "
                f"(grant Zone > {permission.removesuffix(' Read')} > Read){also}: {exc}",
                permission,
            )
        return Unavailable(str(exc))


async def _entrypoint(client: Client, zone_id: str, phase: str) -> list[dict[str, Any]]:
    """The rules of a phase entrypoint; 404 means the phase has none."""
    try:
        env = await client.get(f"/zones/{zone_id}/rulesets/phases/{phase}/entrypoint")
    except CloudflareAPIError as exc:
        if exc.status == 404:
            return []
        raise
    result = env.get("result")
    rules = result.get("rules") if isinstance(result, dict) else None
    return [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []


async def read_zone(client: Client, zone: dict[str, Any]) -> ZoneData:
    """Everything the checks need about one zone (an object of ``GET /zones``)."""
    zid = zone.get("id")
    if not isinstance(zid, str) or not _ID.match(zid):
        raise CloudflareAPIError("GET /zones", 200, "GET /zones: a zone id is not an identifier")
    base = f"/zones/{zid}"
    settings = gather_first_error(
        [_optional(client.result(f"{base}/settings/{s}"), ZONE_SETTINGS_READ) for s in SETTING_IDS]
    )
    records = _optional(client.paginate(f"{base}/dns_records", {}, RECORDS_PER_PAGE), DNS_READ)
    dnssec = _optional(client.result(f"{base}/dnssec"), DNS_READ)
    rules = gather_first_error([_optional(_entrypoint(client, zid, p), WAF_READ) for p in WAF_PHASES])
    universal = _optional(client.result(f"{base}/ssl/universal/settings"), SSL_READ)
    packs = _optional(
        client.paginate(f"{base}/ssl/certificate_packs", {"status": "all"}, PACKS_PER_PAGE), SSL_READ
    )
    pulls = _optional(client.result(f"{base}/origin_tls_client_auth/settings"), SSL_READ)
    hostnames = gather_first_error(
        [
            _optional(_list(client, f"{base}/hostnames/settings/{h}"), SSL_READ, _HOSTNAME_TLS_PLAN)
            for h in HOSTNAME_TLS_SETTINGS
        ]
    )
    s, r, d, w, u, p, o, h = await gather_first_error(
        [settings, records, dnssec, rules, universal, packs, pulls, hostnames]
    )
    return ZoneData(
        zone=zone,
        settings=dict(zip(SETTING_IDS, s, strict=True)),
        records=r,
        dnssec=d,
        rules=dict(zip(WAF_PHASES, w, strict=True)),
        universal_ssl=u,
        certificate_packs=p,
        origin_pulls=o,
        hostname_tls=dict(zip(HOSTNAME_TLS_SETTINGS, h, strict=True)),
    )


async def _list(client: Client, path: str) -> list[dict[str, Any]]:
    """The ``result`` list of an unpaginated GET (an error if it is not a list)."""
    env = await client.get(path)
    result = env.get("result")
    if not isinstance(result, list):
        raise CloudflareAPIError(f"GET {path}", 200, f"GET {path}: result is not a list")
    return [r for r in result if isinstance(r, dict)]

"""Which zones a fetch audits: every zone the token can see, or the zone a host belongs to.

A target may be the zone apex (``example.com``), a name inside it (``www.example.com``) or a
URL (``https://www.example.com/x``): the zone is the longest zone name that the host equals or
ends with, as Cloudflare itself picks the zone of a hostname (a subdomain set up as a zone of
its own wins over its parent). Names are asked for one at a time, longest first, with the
API's exact ``name`` filter.
"""

from __future__ import annotations

from typing import Any

from ._client import Client
from ._errors import CloudflareAPIError, ZoneNotFoundError
from ._read import ZONE_READ


async def _zones(client: Client, params: dict[str, str], per_page: int) -> list[dict[str, Any]]:
    """``GET /zones``; a refused token fails here, with what to check."""
    try:
        return await client.paginate("/zones", params, per_page)
    except CloudflareAPIError as exc:
        if not exc.is_denied:
            raise
        raise CloudflareAPIError(
            exc.endpoint,
            exc.status,
            f"{exc}; the token was refused: check that CLOUDFLARE_API_TOKEN is an active API token "
            f"(not the Global API Key) allowed from this address, with the {ZONE_READ!r} "
            f"permission (Zone > Zone > Read)",
            exc.codes,
        ) from None


async def all_zones(client: Client, per_page: int) -> list[dict[str, Any]]:
    """Every zone the token can see."""
    return await _zones(client, {}, per_page)


def candidates(host: str) -> list[str]:
    """The zone names ``host`` may belong to, longest first (at least two labels each)."""
    labels = host.lower().rstrip(".").split(".")
    if len(labels) < 2:
        return [".".join(labels)]
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


async def zone_of(client: Client, host: str, per_page: int) -> dict[str, Any]:
    """The zone ``host`` belongs to (the longest matching zone name).

    Raises:
        ZoneNotFoundError: no candidate name is a zone the token can see.
    """
    names = candidates(host)
    for name in names:
        found = [z for z in await _zones(client, {"name": name}, per_page) if _name(z) == name]
        if found:
            return found[0]
    raise ZoneNotFoundError(
        f"no zone for {host!r} is visible to this token (GET /zones?name= found none of "
        f"{', '.join(repr(n) for n in names[:8])}); check the name and that the token has the "
        f"{ZONE_READ!r} permission on that zone"
    )


def _name(zone: dict[str, Any]) -> str:
    return str(zone.get("name", "")).lower().rstrip(".")

"""The zone-level checks: paused zones and DNSSEC.

zone paused high (a paused zone serves DNS only: no proxy, WAF or TLS settings apply);
DNSSEC status other than active low.
"""

from __future__ import annotations

from typing import Any

from ._data import Unavailable, ZoneFindings, cell


def check_paused(f: ZoneFindings, zone: dict[str, Any]) -> bool:
    """The paused check; returns whether the zone is paused."""
    paused = zone.get("paused") is True
    if paused:
        f.add(
            "zone_paused",
            "zone-paused",
            False,
            "high",
            True,
            False,
            "a paused zone serves DNS only: no proxy, WAF or TLS settings apply",
        )
    else:
        f.add("zone_paused", "zone-not-paused", True, "info", False, False)
    return paused


def check_dnssec(f: ZoneFindings, dnssec: dict[str, Any] | Unavailable) -> Any:
    """The DNSSEC check; returns the status read (None when unreadable)."""
    if isinstance(dnssec, Unavailable):
        f.unknown("dnssec", dnssec)
        return None
    status = cell(dnssec.get("status"))
    if status == "active":
        f.add("dnssec", "dnssec-active", True, "info", status, "active")
    else:
        f.add(
            "dnssec",
            "dnssec-not-active",
            False,
            "low",
            status,
            "active",
            "answers for this zone are not signed",
        )
    return status

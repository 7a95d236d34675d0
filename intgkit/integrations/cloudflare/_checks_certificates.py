"""The edge-certificate checks: Universal SSL and the zone's certificate packs.

=========================  ==================================================================
universal_ssl              disabled with no other active certificate pack high (visitors
                           cannot use HTTPS); disabled with another active pack: pass
certificates               no active pack high; a pack in a failed state (``expired``,
                           ``*_timed_out``) medium; an active pack's certificate expired high,
                           expiring within 14 days medium (Cloudflare renews its managed
                           certificates about 30 days ahead, so this means renewal is failing)
=========================  ==================================================================

Statuses and fields as the SDK's ``types/ssl/certificate_pack_list_response.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._data import Unavailable, ZoneFindings, cell

EXPIRY_WARNING_DAYS = 14
FAILED_STATUSES = frozenset(
    {
        "expired",
        "initializing_timed_out",
        "validation_timed_out",
        "issuance_timed_out",
        "deployment_timed_out",
        "deletion_timed_out",
    }
)


def _expiry(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _active(packs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in packs if p.get("status") == "active"]


def check_universal_ssl(
    f: ZoneFindings, universal: dict[str, Any] | Unavailable, packs: list[dict[str, Any]] | Unavailable
) -> None:
    """Universal SSL on, or another certificate in its place."""
    if isinstance(universal, Unavailable):
        f.unknown("universal_ssl", universal)
        return
    if universal.get("enabled") is not False:
        f.add("universal_ssl", "universal-ssl-enabled", True, "info", universal.get("enabled"), True)
        return
    others = (
        [] if isinstance(packs, Unavailable) else [p for p in _active(packs) if p.get("type") != "universal"]
    )
    if others:
        f.add(
            "universal_ssl",
            "universal-ssl-disabled-other-certificate",
            True,
            "info",
            {"enabled": False, "other_active_packs": sorted({str(p.get("type")) for p in others})},
            "enabled, or another active certificate",
        )
    else:
        f.add(
            "universal_ssl",
            "universal-ssl-disabled",
            False,
            "high",
            False,
            "enabled, or another active certificate",
            "Universal SSL is off and no other active edge certificate was found: HTTPS visits fail",
        )


def check_certificates(
    f: ZoneFindings, packs: list[dict[str, Any]] | Unavailable, now: datetime | None = None
) -> int | None:
    """Pack states and certificate expiry; returns days until the soonest active expiry."""
    if isinstance(packs, Unavailable):
        f.unknown("certificates", packs)
        return None
    now = now or datetime.now(UTC)
    bad = False
    soonest: float | None = None
    for pack in packs:
        label = f"{cell(str(pack.get('type')), 40)} pack {cell(str(pack.get('id')), 64)}"
        status = pack.get("status")
        if status in FAILED_STATUSES:
            bad = True
            f.add(
                "certificates",
                "certificate-pack-failed",
                False,
                "medium",
                f"{label}: {status}",
                "active",
                f"the certificate pack for {_hosts(pack)} is {status}",
            )
            continue
        if status != "active":
            continue
        certs = pack.get("certificates")
        for cert in certs if isinstance(certs, list) else []:
            expires = _expiry(cert.get("expires_on")) if isinstance(cert, dict) else None
            if expires is None:
                continue
            days = (expires - now).total_seconds() / 86400
            soonest = days if soonest is None else min(soonest, days)
            if days < 0:
                bad = True
                f.add(
                    "certificates",
                    "certificate-expired",
                    False,
                    "high",
                    f"{label}: expired {cert.get('expires_on')}",
                    "not expired",
                    f"the certificate for {_hosts(pack)} has expired: browsers refuse it",
                )
            elif days < EXPIRY_WARNING_DAYS:
                bad = True
                f.add(
                    "certificates",
                    "certificate-expiring",
                    False,
                    "medium",
                    f"{label}: expires {cert.get('expires_on')} (in {days:.0f} days)",
                    f">= {EXPIRY_WARNING_DAYS} days left",
                    f"the certificate for {_hosts(pack)} expires soon; managed certificates renew "
                    f"about 30 days ahead, so renewal is failing",
                )
    if not _active(packs):
        f.add(
            "certificates",
            "certificates-none-active",
            False,
            "high",
            f"{len(packs)} packs, none active",
            "an active certificate pack",
            "no active edge certificate: HTTPS visits fail",
        )
    elif not bad:
        left = "no expiry given" if soonest is None else f"soonest expiry in {soonest:.0f} days"
        f.add(
            "certificates",
            "certificates-valid",
            True,
            "info",
            f"{len(_active(packs))} active packs, {left}",
            f">= {EXPIRY_WARNING_DAYS} days left",
        )
    return None if soonest is None else int(soonest)


def _hosts(pack: dict[str, Any]) -> str:
    hosts = pack.get("hosts")
    names = [str(h) for h in hosts] if isinstance(hosts, list) else []
    return str(cell(", ".join(names[:5]) + (" ..." if len(names) > 5 else ""), 300)) or "this zone"

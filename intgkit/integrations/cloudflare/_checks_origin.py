"""The origin checks: Authenticated Origin Pulls, and per-hostname TLS overrides.

=========================  ==================================================================
origin_pulls               zone-level Authenticated Origin Pulls off: low; medium when the
                           zone's records publish a proxied origin's address (an unproxied
                           record on the same origin, or SPF): then anyone can reach the
                           origin directly and it cannot tell them from Cloudflare
hostname_tls               a per-hostname ``min_tls_version`` of 1.0 / 1.1 medium; a
                           per-hostname cipher list with weak suites as the zone's ``ciphers``
=========================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from ._checks_settings import weak_ciphers
from ._data import Unavailable, ZoneFindings, cell


def check_origin_pulls(f: ZoneFindings, pulls: dict[str, Any] | Unavailable, origin_public: bool) -> None:
    """Zone-level Authenticated Origin Pulls; worse when the origin's address is public."""
    if isinstance(pulls, Unavailable):
        f.unknown("origin_pulls", pulls)
    elif pulls.get("enabled") is True:
        f.add("origin_pulls", "origin-pulls-on", True, "info", True, True)
    elif origin_public:
        f.add(
            "origin_pulls",
            "origin-pulls-off-origin-public",
            False,
            "medium",
            pulls.get("enabled"),
            True,
            "the origin's address is public (see dns_proxied / spf_origin) and the origin cannot "
            "tell Cloudflare's requests from anyone else's: its protections can be bypassed",
        )
    else:
        f.add(
            "origin_pulls",
            "origin-pulls-off",
            False,
            "low",
            pulls.get("enabled"),
            True,
            "the origin cannot tell Cloudflare's requests from anyone else's",
        )


def check_hostname_tls(f: ZoneFindings, overrides: dict[str, list[dict[str, Any]] | Unavailable]) -> None:
    """Per-hostname TLS settings weaker than the zone-wide rules allow."""
    lists: dict[str, list[dict[str, Any]]] = {}
    for sid, rows in overrides.items():
        if isinstance(rows, Unavailable):
            f.unknown("hostname_tls", rows)
            return
        lists[sid] = rows
    count = 0
    weak = False
    for row in lists.get("min_tls_version", []):
        if isinstance(row, dict):
            count += 1
            if row.get("value") in ("1.0", "1.1"):
                weak = True
                f.add(
                    "hostname_tls",
                    "hostname-min-tls-version-below-1.2",
                    False,
                    "medium",
                    f"{cell(str(row.get('hostname')), 253)}: min_tls_version {row.get('value')}",
                    ">= 1.2",
                    "this hostname overrides the zone and accepts TLS 1.0/1.1 (deprecated, RFC 8996)",
                )
    for row in lists.get("ciphers", []):
        value = row.get("value") if isinstance(row, dict) else None
        if isinstance(value, list):
            count += 1
            severity, bad = weak_ciphers([c for c in value if isinstance(c, str)])
            if severity:
                weak = True
                f.add(
                    "hostname_tls",
                    "hostname-ciphers-weak",
                    False,
                    severity,
                    {"hostname": row.get("hostname"), "weak": bad},
                    "no weak suites",
                    "this hostname overrides the zone's cipher list with weak suites",
                )
    if not weak:
        f.add(
            "hostname_tls",
            "hostname-tls-no-weak-overrides",
            True,
            "info",
            f"{count} overrides",
            "none weaker",
        )

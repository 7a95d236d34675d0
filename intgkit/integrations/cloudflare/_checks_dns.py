"""The DNS check: origin records (A/AAAA/CNAME) that are not proxied expose the origin.

Unproxied: info (origin exposed); medium when the same origin also serves proxied names (then
the proxy, its WAF and its TLS settings can be bypassed).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ._data import ZoneFindings

_ORIGIN_TYPES = ("A", "AAAA", "CNAME")


def _ip_or_name(content: str) -> str:
    try:
        return str(ipaddress.ip_address(content))
    except ValueError:
        return content.lower().rstrip(".")


def check_records(f: ZoneFindings, records: list[dict[str, Any]]) -> None:
    origins = [r for r in records if r.get("type") in _ORIGIN_TYPES and isinstance(r.get("content"), str)]
    proxied = {_ip_or_name(r["content"]) for r in origins if r.get("proxied") is True}
    exposed = [r for r in origins if r.get("proxied") is not True]
    for r in exposed:
        what = f"{r.get('type')} {r.get('name')} -> {r['content']} (proxied=false)"
        if _ip_or_name(r["content"]) in proxied:
            f.add(
                "dns_proxied",
                "dns-unproxied-shared-origin",
                False,
                "medium",
                what,
                "proxied=true",
                "this origin also serves proxied names: its address is public, so Cloudflare can be bypassed",
            )
        else:
            f.add(
                "dns_proxied",
                "dns-unproxied-origin",
                False,
                "info",
                what,
                "proxied=true",
                "origin address exposed in public DNS",
            )
    if not exposed:
        f.add(
            "dns_proxied",
            "dns-origins-proxied",
            True,
            "info",
            f"{len(origins)} A/AAAA/CNAME records",
            "proxied=true",
        )

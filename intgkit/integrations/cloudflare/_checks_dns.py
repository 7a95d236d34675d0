"""The DNS checks: where the zone's own records publish the address of a proxied origin.

- ``dns_proxied``: an A/AAAA/CNAME record that is not proxied is info (origin exposed); medium
  when the same origin also serves proxied names (then the proxy, its WAF and its TLS settings
  can be bypassed).
- ``spf_origin``: the zone's SPF record (a TXT record at the apex starting ``v=spf1``, RFC 7208
  §4.5) authorising, through ``ip4:`` / ``ip6:`` (with or without a CIDR length), an address
  that a proxied A/AAAA record points to: medium, the same bypass. A ``-`` qualifier authorises
  nothing and is ignored.

Both return whether they found a proxied origin's address in public, which makes a missing
Authenticated Origin Pulls a real bypass (:mod:`._checks_origin`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from ._data import ZoneFindings

_ORIGIN_TYPES = ("A", "AAAA", "CNAME")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip_or_name(content: str) -> str:
    try:
        return str(ipaddress.ip_address(content))
    except ValueError:
        return content.lower().rstrip(".")


def check_records(f: ZoneFindings, records: list[dict[str, Any]]) -> bool:
    """The proxied-records check; True when a proxied origin's address is also served unproxied."""
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
    return any(_ip_or_name(r["content"]) in proxied for r in exposed)


def spf_networks(txt: str) -> list[tuple[str, IPNetwork]] | None:
    """The ``ip4:`` / ``ip6:`` networks an SPF record authorises (None if ``txt`` is no SPF record).

    TXT content may come quoted and split into strings (``"v=spf1 ..." "..."``): the quotes
    are dropped and the strings joined, as RFC 7208 §3.3 joins them.
    """
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', txt)) if txt.lstrip().startswith('"') else txt
    terms = text.split()
    if not terms or terms[0].lower() != "v=spf1":
        return None
    out: list[tuple[str, IPNetwork]] = []
    for term in terms[1:]:
        qualifier = term[0] if term[:1] in "+-~?" else "+"
        body = term[1:] if term[:1] in "+-~?" else term
        kind, _, value = body.partition(":")
        if kind.lower() not in ("ip4", "ip6") or qualifier == "-":
            continue
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            continue  # a syntax error is dns_email's business
        out.append((term, net))
    return out


def check_spf(f: ZoneFindings, zone: str, records: list[dict[str, Any]]) -> bool:
    """The SPF leak check; True when the SPF record publishes a proxied origin's address."""
    proxied: dict[IPAddress, str] = {}
    for r in records:
        if r.get("type") in ("A", "AAAA") and r.get("proxied") is True and isinstance(r.get("content"), str):
            try:
                proxied.setdefault(ipaddress.ip_address(r["content"]), str(r.get("name")))
            except ValueError:
                continue
    apex = zone.lower().rstrip(".")
    spf = [
        nets
        for r in records
        if r.get("type") == "TXT"
        and str(r.get("name", "")).lower().rstrip(".") == apex
        and isinstance(r.get("content"), str)
        and (nets := spf_networks(r["content"])) is not None
    ]
    leaks = [
        f"{term} covers {addr} ({name}, proxied)"
        for nets in spf
        for term, net in nets
        for addr, name in proxied.items()
        if addr.version == net.version and addr in net
    ]
    if leaks:
        f.add(
            "spf_origin",
            "spf-leaks-origin",
            False,
            "medium",
            leaks,
            "no proxied origin address in SPF",
            "the SPF record publishes the address of a proxied origin, so it can be reached "
            "directly, around Cloudflare (send mail from another address than the web origin)",
        )
        return True
    observed = "no SPF record" if not spf else f"{sum(len(n) for n in spf)} ip4/ip6 terms"
    f.add("spf_origin", "spf-no-origin-leak", True, "info", observed, "no proxied origin address in SPF")
    return False

"""One zone's audit as rows: its findings, its zone row, its settings and DNS records.

:func:`audit_zone` reads one zone and evaluates it; a run that covers many zones calls it
once per zone (concurrently), and :func:`merge` joins the sections.
"""

from __future__ import annotations

import json
from typing import Any

from ._checks_certificates import check_certificates, check_universal_ssl
from ._checks_dns import check_records, check_spf
from ._checks_origin import check_hostname_tls, check_origin_pulls
from ._checks_settings import check_settings
from ._checks_waf import MANAGED_RULESETS, check_waf
from ._checks_zone import check_dnssec, check_paused
from ._client import Client
from ._data import Unavailable, ZoneData, ZoneFindings, cell
from ._read import read_zone

Sections = dict[str, list[dict[str, Any]]]
SECTIONS = ("findings", "zones", "settings", "dns_records")


def _json(value: Any) -> str:
    return str(cell(json.dumps(value, sort_keys=True, default=str)))


def _flag(data: dict[str, Any] | Unavailable) -> bool | None:
    value = None if isinstance(data, Unavailable) else data.get("enabled")
    return value if isinstance(value, bool) else None


def _deployed(d: ZoneData) -> str | None:
    """The managed rulesets the managed phase executes (enabled rules), by name."""
    rules = d.rules.get("http_request_firewall_managed")
    if rules is None or isinstance(rules, Unavailable):
        return None
    ids = {
        params.get("id")
        for r in rules
        if r.get("action") == "execute"
        and r.get("enabled", True) is not False
        and isinstance(params := r.get("action_parameters"), dict)
    }
    return ", ".join(name for rid, name in MANAGED_RULESETS.values() if rid in ids)


def zone_report(d: ZoneData) -> Sections:
    """The sections of one zone's data: findings, zones (one row), settings, dns_records."""
    z = d.zone
    name = str(cell(str(z.get("name", ""))))
    f = ZoneFindings(name)
    values = {sid: (s if isinstance(s, Unavailable) else s.get("value")) for sid, s in d.settings.items()}
    check_settings(f, values)
    paused = check_paused(f, z)
    dnssec_status = check_dnssec(f, d.dnssec)
    counts = check_waf(f, d.rules)
    records: list[dict[str, Any]] = []
    origin_public = False
    if isinstance(d.records, Unavailable):
        f.unknown("dns_proxied", d.records)
        f.unknown("spf_origin", d.records)
    else:
        records = d.records
        shared = check_records(f, records)
        leaked = check_spf(f, name, records)
        origin_public = shared or leaked
    check_origin_pulls(f, d.origin_pulls, origin_public)
    check_universal_ssl(f, d.universal_ssl, d.certificate_packs)
    days_left = check_certificates(f, d.certificate_packs)
    check_hostname_tls(f, d.hostname_tls)

    ns = z.get("name_servers")
    plan = z.get("plan")
    zone_row = {
        "zone": name,
        "id": cell(z.get("id")),
        "status": cell(z.get("status")),
        "paused": paused,
        "type": cell(z.get("type")),
        "plan": cell(plan.get("name")) if isinstance(plan, dict) else None,
        "name_servers": cell(", ".join(str(n) for n in ns)) if isinstance(ns, list) else None,
        "dnssec_status": dnssec_status,
        "custom_rules": counts["http_request_firewall_custom"],
        "managed_rules": counts["http_request_firewall_managed"],
        "ratelimit_rules": counts["http_ratelimit"],
        "dns_records": None if isinstance(d.records, Unavailable) else len(records),
        "managed_rulesets": _deployed(d),
        "universal_ssl": _flag(d.universal_ssl),
        "certificate_packs": None
        if isinstance(d.certificate_packs, Unavailable)
        else len(d.certificate_packs),
        "certificate_days_left": days_left,
        "origin_pulls": _flag(d.origin_pulls),
    }
    setting_rows = [
        {
            "zone": name,
            "setting_id": sid,
            "value": _json(s.get("value")),
            "editable": s.get("editable") if isinstance(s.get("editable"), bool) else None,
            "modified_on": cell(s.get("modified_on")),
        }
        for sid, s in d.settings.items()
        if not isinstance(s, Unavailable)
    ]
    record_rows = [
        {
            "zone": name,
            "id": cell(r.get("id")),
            "type": cell(r.get("type")),
            "name": cell(r.get("name")),
            "content": cell(r.get("content")),
            "proxied": r.get("proxied") if isinstance(r.get("proxied"), bool) else None,
            "proxiable": r.get("proxiable") if isinstance(r.get("proxiable"), bool) else None,
            "ttl": r.get("ttl") if isinstance(r.get("ttl"), int) else None,
        }
        for r in records
    ]
    return {"findings": f.rows, "zones": [zone_row], "settings": setting_rows, "dns_records": record_rows}


async def audit_zone(client: Client, zone: dict[str, Any]) -> Sections:
    """Read and evaluate one zone (an object of ``GET /zones``): the sections of its audit."""
    return zone_report(await read_zone(client, zone))


def merge(parts: list[Sections]) -> Sections:
    """The sections of several zones' audits, in order."""
    out: Sections = {name: [] for name in SECTIONS}
    for part in parts:
        for name in SECTIONS:
            out[name] += part.get(name, [])
    return out

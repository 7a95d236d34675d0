"""One zone's audit as rows: its findings, its zone row, its settings and DNS records.

:func:`audit_zone` reads one zone and evaluates it; a run that covers many zones calls it
once per zone (concurrently), and :func:`merge` joins the sections.
"""

from __future__ import annotations

import json
from typing import Any

from ._checks_dns import check_records
from ._checks_settings import check_settings
from ._checks_waf import check_waf
from ._checks_zone import check_dnssec, check_paused
from ._client import Client
from ._data import Unavailable, ZoneData, ZoneFindings, cell
from ._read import read_zone

Sections = dict[str, list[dict[str, Any]]]
SECTIONS = ("findings", "zones", "settings", "dns_records")


def _json(value: Any) -> str:
    return str(cell(json.dumps(value, sort_keys=True, default=str)))


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
    if isinstance(d.records, Unavailable):
        f.unknown("dns_proxied", d.records)
    else:
        records = d.records
        check_records(f, records)

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

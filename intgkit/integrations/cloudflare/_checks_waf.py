"""The WAF check: are any firewall rules deployed in the custom or managed phase?

No enabled rule in ``http_request_firewall_custom`` or ``http_request_firewall_managed``: info.
Rules are read from the phase entrypoints (``/rulesets/phases/{phase}/entrypoint``; the
Firewall Rules and Filters APIs are gone since 2025-06-15).
"""

from __future__ import annotations

from typing import Any

from ._data import Unavailable, ZoneFindings
from ._read import WAF_PHASES


def _enabled(rules: list[dict[str, Any]]) -> int:
    return sum(1 for r in rules if r.get("enabled", True) is not False)


def check_waf(
    f: ZoneFindings, phases: dict[str, list[dict[str, Any]] | Unavailable]
) -> dict[str, int | None]:
    """The WAF check; returns the enabled rules per phase (None when unreadable)."""
    counts: dict[str, int | None] = {}
    for phase, rules in phases.items():
        counts[phase] = None if isinstance(rules, Unavailable) else _enabled(rules)
    waf = [counts["http_request_firewall_custom"], counts["http_request_firewall_managed"]]
    observed = {"custom": waf[0], "managed": waf[1]}
    if any(c for c in waf if c):
        f.add("waf", "waf-rules-present", True, "info", observed, "at least one enabled rule")
    elif unreadable := [r for p in WAF_PHASES[:2] if isinstance(r := phases[p], Unavailable)]:
        f.unknown("waf", unreadable[0])
    else:
        f.add(
            "waf",
            "waf-no-rules",
            False,
            "info",
            observed,
            "at least one enabled rule",
            "no custom or managed firewall rules are deployed",
        )
    return counts

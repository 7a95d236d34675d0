"""The WAF checks: protective firewall rules, and which managed rulesets are deployed, as what.

Rules are read from the phase entrypoints (``/rulesets/phases/{phase}/entrypoint``; the
Firewall Rules and Filters APIs are gone since 2025-06-15).

=========================  ==================================================================
waf                        no enabled rule that blocks or challenges (custom phase: block,
                           challenge, js_challenge, managed_challenge; managed phase: an
                           executed ruleset) info. A skip or log rule protects nothing.
waf_managed_cloudflare,    the Cloudflare Managed / OWASP Core ruleset (ids below, the same in
waf_managed_owasp          every account) not deployed low; deployed but disabled, or
                           overridden to ``enabled: false`` or ``action: log`` for the whole
                           ruleset medium (it only logs: nothing is blocked); some categories
                           or rules overridden off or to log low
=========================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from ._data import Unavailable, ZoneFindings
from ._read import WAF_PHASES

#: Managed ruleset ids (developers.cloudflare.com/waf/managed-rules/reference/), the same in
#: every account: check name -> (id, name).
MANAGED_RULESETS = {
    "waf_managed_cloudflare": ("efb7b8c949ac4650a09736fc376e9aee", "Cloudflare Managed Ruleset"),
    "waf_managed_owasp": ("4814384a9e5d4991b9815dcfc25d2f1f", "Cloudflare OWASP Core Ruleset"),
}
PROTECTIVE_ACTIONS = frozenset({"block", "challenge", "js_challenge", "managed_challenge"})


def _enabled(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules if r.get("enabled", True) is not False]


def _params(rule: dict[str, Any]) -> dict[str, Any]:
    params = rule.get("action_parameters")
    return params if isinstance(params, dict) else {}


def check_waf(
    f: ZoneFindings, phases: dict[str, list[dict[str, Any]] | Unavailable]
) -> dict[str, int | None]:
    """The WAF checks; returns the enabled rules per phase (None when unreadable)."""
    counts = {p: None if isinstance(r, Unavailable) else len(_enabled(r)) for p, r in phases.items()}
    custom = phases["http_request_firewall_custom"]
    managed = phases["http_request_firewall_managed"]
    protective = (
        None
        if isinstance(custom, Unavailable)
        else sum(1 for r in _enabled(custom) if r.get("action") in PROTECTIVE_ACTIONS)
    )
    executed = (
        None
        if isinstance(managed, Unavailable)
        else sum(1 for r in _enabled(managed) if r.get("action") == "execute")
    )
    observed = {"blocking_custom": protective, "managed_executed": executed}
    expected = "at least one enabled rule that blocks or challenges"
    if protective or executed:
        f.add("waf", "waf-rules-present", True, "info", observed, expected)
    elif unreadable := [r for p in WAF_PHASES[:2] if isinstance(r := phases[p], Unavailable)]:
        f.unknown("waf", unreadable[0])
    else:
        f.add(
            "waf",
            "waf-no-rules",
            False,
            "info",
            observed,
            expected,
            "no enabled custom rule blocks or challenges and no managed ruleset is deployed",
        )
    for check in MANAGED_RULESETS:
        if isinstance(managed, Unavailable):
            f.unknown(check, managed)
        else:
            _managed(f, check, managed)
    return counts


def _managed(f: ZoneFindings, check: str, rules: list[dict[str, Any]]) -> None:
    ruleset_id, name = MANAGED_RULESETS[check]
    slug = check.replace("_", "-")
    deploys = [r for r in rules if r.get("action") == "execute" and _params(r).get("id") == ruleset_id]
    active = _enabled(deploys)
    expected = "deployed, blocking"
    if not deploys:
        f.add(check, f"{slug}-not-deployed", False, "low", None, expected, f"the {name} is not deployed")
        return
    if not active:
        f.add(
            check,
            f"{slug}-disabled",
            False,
            "medium",
            "deployed, rule disabled",
            expected,
            f"the rule deploying the {name} is disabled",
        )
        return
    partial: list[str] = []
    for rule in active:
        overrides = _params(rule).get("overrides")
        overrides = overrides if isinstance(overrides, dict) else {}
        if overrides.get("enabled") is False:
            f.add(
                check,
                f"{slug}-disabled",
                False,
                "medium",
                {"overrides": overrides},
                expected,
                f"the {name} is deployed but an override turns all its rules off",
            )
            return
        if overrides.get("action") == "log":
            f.add(
                check,
                f"{slug}-log-only",
                False,
                "medium",
                {"overrides": overrides},
                expected,
                f"the {name} only logs: an override sets every rule's action to log, so nothing is blocked",
            )
            return
        for kind, key in (("categories", "category"), ("rules", "id")):
            items = overrides.get(kind)
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and (item.get("enabled") is False or item.get("action") == "log"):
                    how = "off" if item.get("enabled") is False else "log"
                    partial.append(f"{kind[:-1]} {item.get(key)}: {how}")
    if partial:
        f.add(
            check,
            f"{slug}-partly-disabled",
            False,
            "low",
            partial,
            expected,
            f"{len(partial)} override(s) turn part of the {name} off or to log",
        )
    else:
        f.add(check, f"{slug}-deployed", True, "info", "deployed", expected)

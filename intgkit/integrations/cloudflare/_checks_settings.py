"""The zone-setting checks: SSL mode, TLS versions and ciphers, HTTPS redirects, HSTS, security level.

=========================  ==================================================================
ssl                        off critical; flexible high; full medium; strict pass
min_tls_version            1.0 / 1.1 medium; 1.2+ pass
always_use_https           off medium
security_header (HSTS)     disabled medium; max_age < 15 552 000 low (when enabled);
                           include_subdomains false low; preload false info; preload
                           without include_subdomains or max_age >= 31 536 000 low
                           (hstspreload.org); nosniff false low
security_level             off / essentially_off medium; under_attack info
tls_1_3, automatic_https_  off low
rewrites, browser_check
0rtt                       on low (early data can be replayed)
opportunistic_encryption   off info
ciphers                    3DES / RC4 medium; static RSA or CBC-SHA1 suites low; [] (the
                           default list) pass
tls_1_2_only               on raises the effective minimum TLS version to 1.2
=========================  ==================================================================

Values and their meaning as the SDK's ``types/zones/*.py`` models (cloudflare-python 5.9.0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._data import Unavailable, ZoneFindings

HSTS_MIN_MAX_AGE = 15_552_000  # six months, as the Observatory's HSTS test
PRELOAD_MIN_MAX_AGE = 31_536_000  # one year, hstspreload.org's submission requirement


def _on_off(
    f: ZoneFindings, sid: str, value: Any, severity: str, why: str, on: tuple[str, ...] = ("on",)
) -> None:
    slug = sid.replace("_", "-")
    if value in on:
        f.add(sid, f"{slug}-on", True, "info", value, "on")
    elif value == "off":
        f.add(sid, f"{slug}-off", False, severity, value, "on", why)
    else:
        f.add(sid, f"{slug}-unrecognized", False, "info", value, "on", "value not recognised")


_SSL = {
    "off": ("ssl-off", False, "critical", "no HTTPS between visitors and Cloudflare"),
    "flexible": ("ssl-flexible", False, "high", "Cloudflare talks plain HTTP to the origin"),
    "full": ("ssl-full", False, "medium", "HTTPS to the origin, but its certificate is not verified"),
    "strict": ("ssl-strict", True, "info", "HTTPS to the origin with a verified certificate"),
}


def check_settings(f: ZoneFindings, values: Mapping[str, Any]) -> None:
    """The setting rules; ``values`` maps setting id -> value, or Unavailable."""
    v = values["ssl"]
    if isinstance(v, Unavailable):
        f.unknown("ssl", v)
    elif v in _SSL:
        rid, ok, sev, why = _SSL[v]
        f.add("ssl", rid, ok, sev, v, "strict", why)
    else:
        f.add("ssl", "ssl-unrecognized", False, "info", v, "strict", "SSL mode not recognised")

    v = values["min_tls_version"]
    only_12 = values.get("tls_1_2_only")
    if isinstance(v, Unavailable):
        f.unknown("min_tls_version", v)
    elif v in ("1.0", "1.1") and only_12 == "on":
        # the legacy tls_1_2_only setting ("Only allows TLS1.2") raises the effective minimum
        f.add("min_tls_version", "min-tls-version-ok", True, "info", f"{v} (tls_1_2_only on)", ">= 1.2")
    elif v in ("1.0", "1.1"):
        f.add(
            "min_tls_version",
            "min-tls-version-below-1.2",
            False,
            "medium",
            v,
            ">= 1.2",
            "TLS 1.0 and 1.1 are deprecated (RFC 8996)",
        )
    elif v in ("1.2", "1.3"):
        f.add("min_tls_version", "min-tls-version-ok", True, "info", v, ">= 1.2")
    else:
        f.add(
            "min_tls_version",
            "min-tls-version-unrecognized",
            False,
            "info",
            v,
            ">= 1.2",
            "value not recognised",
        )

    v = values["always_use_https"]
    if isinstance(v, Unavailable):
        f.unknown("always_use_https", v)
    else:
        _on_off(f, "always_use_https", v, "medium", "plain HTTP requests are served, not redirected")

    v = values["security_header"]
    if isinstance(v, Unavailable):
        for check in ("hsts", "hsts_include_subdomains", "hsts_preload", "nosniff"):
            f.unknown(check, v)
    else:
        sts = v.get("strict_transport_security") if isinstance(v, dict) else None
        sts = sts if isinstance(sts, dict) else {}
        max_age = sts.get("max_age")
        if sts.get("enabled") is not True:
            f.add(
                "hsts",
                "hsts-disabled",
                False,
                "medium",
                sts or v,
                "enabled",
                "browsers are not told to insist on HTTPS",
            )
        elif not isinstance(max_age, (int, float)) or isinstance(max_age, bool) or max_age < HSTS_MIN_MAX_AGE:
            f.add(
                "hsts",
                "hsts-max-age-too-short",
                False,
                "low",
                max_age,
                f">= {HSTS_MIN_MAX_AGE}",
                "HSTS max-age shorter than six months",
            )
        else:
            f.add("hsts", "hsts-enabled", True, "info", max_age, f">= {HSTS_MIN_MAX_AGE}")
        if sts.get("enabled") is True:
            _hsts_scope(f, sts)
        if sts.get("nosniff") is True:
            f.add("nosniff", "nosniff-enabled", True, "info", True, True)
        else:
            f.add(
                "nosniff",
                "nosniff-disabled",
                False,
                "low",
                sts.get("nosniff"),
                True,
                "X-Content-Type-Options: nosniff is not added",
            )

    v = values["security_level"]
    if isinstance(v, Unavailable):
        f.unknown("security_level", v)
    elif v in ("off", "essentially_off"):
        f.add(
            "security_level",
            f"security-level-{v.replace('_', '-')}",
            False,
            "medium",
            v,
            "low or higher",
            "threat-score challenges are off",
        )
    elif v == "under_attack":
        f.add(
            "security_level",
            "security-level-under-attack",
            True,
            "info",
            v,
            None,
            "every visitor is challenged (meant to be temporary)",
        )
    elif v in ("low", "medium", "high"):
        f.add("security_level", "security-level-ok", True, "info", v, "low or higher")
    else:
        f.add(
            "security_level",
            "security-level-unrecognized",
            False,
            "info",
            v,
            "low or higher",
            "value not recognised",
        )

    _tls_extras(f, values)

    for sid, on, why in (
        ("tls_1_3", ("on", "zrt"), "TLS 1.3 is not offered"),
        ("automatic_https_rewrites", ("on",), "http:// links in pages are not rewritten"),
        ("browser_check", ("on",), "the browser integrity check is off"),
    ):
        v = values[sid]
        if isinstance(v, Unavailable):
            f.unknown(sid, v)
        else:
            _on_off(f, sid, v, "low", why, on)


def _hsts_scope(f: ZoneFindings, sts: Mapping[str, Any]) -> None:
    """includeSubDomains and preload of an enabled HSTS policy (hstspreload.org's rules)."""
    subdomains = sts.get("include_subdomains") is True
    if subdomains:
        f.add("hsts_include_subdomains", "hsts-include-subdomains-on", True, "info", True, True)
    else:
        f.add(
            "hsts_include_subdomains",
            "hsts-include-subdomains-off",
            False,
            "low",
            sts.get("include_subdomains"),
            True,
            "subdomains can still be reached over plain HTTP",
        )
    max_age = sts.get("max_age")
    long_enough = (
        isinstance(max_age, (int, float)) and not isinstance(max_age, bool) and max_age >= PRELOAD_MIN_MAX_AGE
    )
    if sts.get("preload") is not True:
        f.add(
            "hsts_preload",
            "hsts-preload-off",
            False,
            "info",
            sts.get("preload"),
            True,
            "the first visit of a new browser is not protected",
        )
    elif not (subdomains and long_enough):
        f.add(
            "hsts_preload",
            "hsts-preload-ineligible",
            False,
            "low",
            {"preload": True, "include_subdomains": sts.get("include_subdomains"), "max_age": max_age},
            f"include_subdomains and max_age >= {PRELOAD_MIN_MAX_AGE}",
            "browsers' preload lists refuse (and drop) a policy without includeSubDomains and a "
            "max-age of at least one year",
        )
    else:
        f.add("hsts_preload", "hsts-preload-on", True, "info", True, True)


def weak_ciphers(ciphers: list[str]) -> tuple[str, list[str]]:
    """The severity (``""`` when none) and the weak suites of a BoringSSL cipher list.

    As Cloudflare's cipher recommendations (developers.cloudflare.com/ssl/edge-certificates/
    additional-options/cipher-suites/recommendations): 3DES (Sweet32) medium; suites outside
    the "Compatible" set (static RSA key exchange: no forward secrecy; CBC with SHA-1) low.
    """
    weak: list[str] = []
    severity = ""
    for name in ciphers:
        upper = name.upper()
        if "3DES" in upper or "DES-CBC3" in upper or "RC4" in upper:
            weak.append(name)
            severity = "medium"
        elif not upper.startswith("ECDHE") or upper.endswith("-SHA"):
            weak.append(name)
            severity = severity or "low"
    return severity, weak


def _tls_extras(f: ZoneFindings, values: Mapping[str, Any]) -> None:
    """0-RTT, opportunistic encryption and the cipher list."""
    v = values["0rtt"]
    if isinstance(v, Unavailable):
        f.unknown("0rtt", v)
    elif v == "off":
        f.add("0rtt", "0rtt-off", True, "info", v, "off")
    elif v == "on":
        f.add(
            "0rtt",
            "0rtt-on",
            False,
            "low",
            v,
            "off",
            "early data can be replayed: the origin must treat such GET requests as idempotent",
        )
    else:
        f.add("0rtt", "0rtt-unrecognized", False, "info", v, "off", "value not recognised")

    v = values["opportunistic_encryption"]
    if isinstance(v, Unavailable):
        f.unknown("opportunistic_encryption", v)
    else:
        _on_off(f, "opportunistic_encryption", v, "info", "http:// visits are never encrypted")

    v = values["ciphers"]
    if isinstance(v, Unavailable):
        f.unknown("ciphers", v)
    elif not isinstance(v, list) or not all(isinstance(c, str) for c in v):
        f.add(
            "ciphers",
            "ciphers-unrecognized",
            False,
            "info",
            v,
            "a list of cipher suites",
            "value not recognised",
        )
    elif not v:
        f.add("ciphers", "ciphers-default", True, "info", "[] (Cloudflare's default list)", "no weak suites")
    else:
        severity, weak = weak_ciphers(v)
        if severity:
            f.add(
                "ciphers",
                "ciphers-weak",
                False,
                severity,
                weak,
                "no weak suites",
                f"{len(weak)} of {len(v)} allowed cipher suites are weak",
            )
        else:
            f.add("ciphers", "ciphers-strong", True, "info", v, "no weak suites")

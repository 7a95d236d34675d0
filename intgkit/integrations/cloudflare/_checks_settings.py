"""The zone-setting checks: SSL mode, minimum TLS, HTTPS redirects, HSTS, security level.

=========================  ==================================================================
ssl                        off critical; flexible high; full medium; strict pass
min_tls_version            1.0 / 1.1 medium; 1.2+ pass
always_use_https           off medium
security_header (HSTS)     disabled medium; max_age < 15 552 000 low (when enabled);
                           nosniff false low
security_level             off / essentially_off medium; under_attack info
tls_1_3, automatic_https_  off low
rewrites, browser_check
=========================  ==================================================================

Values and their meaning as the SDK's ``types/zones/*.py`` models (cloudflare-python 5.9.0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._data import Unavailable, ZoneFindings

HSTS_MIN_MAX_AGE = 15_552_000  # six months, as the Observatory's HSTS test


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
    if isinstance(v, Unavailable):
        f.unknown("min_tls_version", v)
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
        f.unknown("hsts", v)
        f.unknown("nosniff", v)
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

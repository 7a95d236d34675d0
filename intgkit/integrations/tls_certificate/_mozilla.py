"""Verdicts against Mozilla's Server Side TLS profiles (modern, intermediate, old).

Reference data: ``mozilla_tls_guidelines_5.7.json``, Mozilla's published guidelines (version
and address inside the file), the same document sslyze's checker reads. The rules follow
sslyze's ``check_server_against_tls_configuration`` (nabla-c0d3/sslyze 6.3.1,
``sslyze/mozilla_tls_profile/tls_config_checker.py``), with the issue keys it uses, over what
this integration measures: protocol versions, cipher suites (TLS 1.3 and older apart), the
certificate's key type, curve, signature algorithm, RSA size and lifespan, the DH/ECDH sizes
of the key exchanges, path validation and the host name. Not covered (sslyze's scan has them):
the supported-curves list and the vulnerability tests (Heartbleed, ROBOT, renegotiation, ...).
One difference on purpose: curves are compared by OpenSSL's names on both sides (sslyze
compares cryptography's "secp256r1" with the guidelines' "prime256v1" and so flags every P-256
certificate).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._report import Report

PROFILES = ("modern", "intermediate", "old")
#: issues that only narrow which (old) clients can connect, not how safely: alone, info
_COMPATIBILITY = frozenset({"certificate_types", "certificate_signatures", "certificate_curves"})
#: profile -> severity when not met: intermediate is Mozilla's recommendation for most servers
_SEVERITY = {"modern": "info", "intermediate": "medium", "old": "high"}


@functools.cache
def guidelines() -> dict[str, Any]:
    """The guidelines document (``version``, ``href``, ``configurations``)."""
    path = Path(__file__).parent / "mozilla_tls_guidelines_5.7.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What a profile is checked against. Versions use OpenSSL's names (TLSv1, TLSv1.2, ...)."""

    versions: frozenset[str]
    suites: frozenset[str]  # IANA names, SSL 3.0 to TLS 1.2
    tls13_suites: frozenset[str]
    key_type: str | None  # "rsa", "ecdsa", or another name
    curve: str | None  # OpenSSL's name
    rsa_bits: int | None
    sig_alg: str
    lifespan_days: int
    smallest_dh: int | None = None
    smallest_ecdh: int | None = None
    chain_valid: bool | None = True
    hostname_ok: bool = True
    incomplete: tuple[str, ...] = field(default=())


def issues(profile: str, s: ServerFacts) -> dict[str, str]:
    """Every way the server departs from ``profile``, keyed as sslyze keys them (empty: compliant)."""
    cfg = guidelines()["configurations"][profile]
    out: dict[str, str] = {}
    extra = sorted(s.versions - set(cfg["tls_versions"]))
    if extra:
        out["tls_versions"] = (
            f"{', '.join(extra)} offered; the profile allows {', '.join(cfg['tls_versions'])}"
        )
    extra = sorted(s.tls13_suites - set(cfg["ciphersuites"]))
    if extra:
        out["ciphersuites"] = f"TLS 1.3 suites outside the profile: {', '.join(extra)}"
    extra = sorted(s.suites - set(cfg["ciphers"]))
    if extra:
        out["ciphers"] = f"cipher suites outside the profile: {', '.join(extra)}"
    if cfg["ecdh_param_size"] and s.smallest_ecdh is not None and s.smallest_ecdh < cfg["ecdh_param_size"]:
        out["ecdh_param_size"] = f"ECDH key of {s.smallest_ecdh} bits; at least {cfg['ecdh_param_size']}"
    if cfg["dh_param_size"] and s.smallest_dh is not None and s.smallest_dh < cfg["dh_param_size"]:
        out["dh_param_size"] = f"DH group of {s.smallest_dh} bits; at least {cfg['dh_param_size']}"
    if s.chain_valid is False:
        out["certificate_path_validation"] = "the certificate chain does not validate"
    if not s.hostname_ok:
        out["certificate_hostname_validation"] = "the certificate is not valid for the host name"
    if s.key_type not in cfg["certificate_types"]:
        out["certificate_types"] = (
            f"{s.key_type} certificate; the profile wants {', '.join(cfg['certificate_types'])}"
        )
    if s.key_type == "ecdsa" and s.curve not in cfg["certificate_curves"]:
        out["certificate_curves"] = (
            f"curve {s.curve}; the profile wants {', '.join(cfg['certificate_curves'])}"
        )
    if s.key_type == "rsa" and cfg["rsa_key_size"] and (s.rsa_bits or 0) < cfg["rsa_key_size"]:
        out["rsa_key_size"] = f"RSA key of {s.rsa_bits} bits; at least {cfg['rsa_key_size']}"
    if s.sig_alg not in cfg["certificate_signatures"]:
        out["certificate_signatures"] = (
            f"signed with {s.sig_alg}; the profile wants {', '.join(cfg['certificate_signatures'])}"
        )
    if s.lifespan_days > cfg["maximum_certificate_lifespan"]:
        out["maximum_certificate_lifespan"] = (
            f"valid {s.lifespan_days} days; at most {cfg['maximum_certificate_lifespan']}"
        )
    return out


def verdicts(r: Report, s: ServerFacts) -> str:
    """mozilla_modern, mozilla_intermediate, mozilla_old; returns the strictest profile met, or none.

    A profile not met while a stricter one is met is only informative: "old" wants RSA
    certificates for clients of 2010, which an ECDSA-only server meeting "intermediate" need not
    serve. So is a profile missed only on the certificate's type, curve or signature algorithm.
    """
    version = guidelines()["version"]
    found = {profile: issues(profile, s) for profile in PROFILES}
    met = [p for p in PROFILES if not found[p] and not s.incomplete]
    for i, profile in enumerate(PROFILES):
        check = f"mozilla_{profile}"
        expected = f"Mozilla {profile} {version}"
        if found[profile]:
            stricter_met = any(p in met for p in PROFILES[:i])
            compatibility_only = set(found[profile]) <= _COMPATIBILITY
            severity = "info" if stricter_met or compatibility_only else _SEVERITY[profile]
            detail = "; ".join(found[profile].values())
            if stricter_met:
                detail += " (a stricter profile is met)"
            elif compatibility_only:
                detail += " (only which old clients can connect; not a weakness)"
            r.add(check, "not-met", False, severity, sorted(found[profile]), expected, detail)
        elif s.incomplete:
            r.add(
                check,
                "unknown",
                False,
                "info",
                None,
                expected,
                f"not decided: {', '.join(s.incomplete)} could not be fully scanned",
            )
        else:
            r.add(check, "met", True, "info", None, expected)
    return met[0] if met else "none"

"""Findings on protocol versions and cipher suites, from a :mod:`._scan` result.

Severities are testssl.sh's (``run_protocols``: SSL 3.0 offered high, TLS 1.0/1.1 offered low,
TLS 1.2 missing medium, TLS 1.3 missing low) and, for suites, those of :mod:`._ciphers`.
"""

from __future__ import annotations

from typing import Any

from ._ciphers import WEAKNESSES, weaknesses_at
from ._report import Report
from ._scan import NOT_OFFERED, OFFERED, UNKNOWN, VERSIONS, ScanResult

_SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
#: weakness class -> check name
_CHECKS = {w: f"cipher_{w}" for w in WEAKNESSES}


def protocols(r: Report, scan: ScanResult) -> None:
    """protocol_ssl3_0 ... protocol_tls1_3."""
    for key, label, _ in VERSIONS:
        v = scan.versions[key]
        check = f"protocol_{key}"
        if v.state == UNKNOWN:
            r.add(check, "unknown", False, "info", v.state, None, f"{label} could not be tested: {v.why}")
        elif key in ("ssl3_0", "tls1_0", "tls1_1"):
            if v.state == OFFERED:
                severity = "high" if key == "ssl3_0" else "low"
                r.add(check, "offered", False, severity, v.state, NOT_OFFERED, f"{label} is offered")
            else:
                r.add(check, "not-offered", True, "info", v.state, NOT_OFFERED)
        elif v.state == OFFERED:
            r.add(check, "offered", True, "info", v.state, OFFERED)
        else:
            severity = "medium" if key == "tls1_2" else "low"
            r.add(check, "not-offered", False, severity, v.state, OFFERED, f"{label} not offered: {v.why}")


def suite_rows(scan: ScanResult) -> list[dict[str, Any]]:
    """The ``cipher_suites`` section: one row per (protocol, accepted suite)."""
    rows: list[dict[str, Any]] = []
    for key, label, _ in VERSIONS:
        for a in scan.versions[key].accepted:
            s = a.suite
            weak = weaknesses_at(s, label)
            rows.append(
                {
                    "protocol": label,
                    "suite": s.name,
                    "code": f"0x{s.code:04X}",
                    "key_exchange": s.key_exchange,
                    "cipher": s.cipher,
                    "bits": s.bits,
                    "forward_secrecy": s.forward_secrecy,
                    "aead": s.aead,
                    "ephemeral_key": " ".join(str(p) for p in a.ephemeral if p is not None)
                    if a.ephemeral
                    else None,
                    "weaknesses": ", ".join(weak),
                    "severity": min(
                        (WEAKNESSES[w][0] for w in weak), key=_SEVERITY_ORDER.index, default="info"
                    ),
                }
            )
    return rows


def cipher_suites(r: Report, scan: ScanResult) -> None:
    """One check per weakness class: failed with the offending suites, or passed."""
    found: dict[str, list[str]] = {w: [] for w in WEAKNESSES}
    any_fs = False
    for key, label, _ in VERSIONS:
        for a in scan.versions[key].accepted:
            any_fs = any_fs or a.suite.forward_secrecy
            for w in weaknesses_at(a.suite, label):
                found[w].append(f"{label} {a.suite.name}")
    incomplete = [
        label
        for key, label, _ in VERSIONS
        if not scan.versions[key].complete or scan.versions[key].state == UNKNOWN
    ]
    for weakness, (severity, explanation) in WEAKNESSES.items():
        check = _CHECKS[weakness]
        suites = found[weakness]
        if suites:
            if weakness == "no_forward_secrecy" and not any_fs:
                severity = "medium"  # testssl.sh run_fs: no suite with forward secrecy at all
            r.add(
                check,
                "offered",
                False,
                severity,
                suites,
                "none accepted",
                f"{len(suites)} accepted: {', '.join(suites[:8])}" + (" ..." if len(suites) > 8 else ""),
                explanation=explanation,
            )
        elif incomplete:
            r.add(
                check,
                "unknown",
                False,
                "info",
                None,
                "none accepted",
                f"none found, but {', '.join(incomplete)} could not be fully scanned",
                explanation=explanation,
            )
        else:
            r.add(check, "not-offered", True, "info", None, "none accepted", explanation=explanation)

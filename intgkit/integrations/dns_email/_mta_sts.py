"""MTA-STS (RFC 8461): the TXT record, the policy file, MX coverage; TLS-RPT (RFC 8460).

The parsers (:func:`parse_sts_record`, :func:`parse_sts_policy`, :func:`parse_tls_rpt`,
:func:`mx_pattern_matches`) are pure; :func:`fetch_policy` is the one HTTPS request.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .._findings import clip
from .._net import client_session
from ._catalogue import Report
from ._lookup import Answer

__all__ = [
    "fetch_policy",
    "mta_sts_findings",
    "mx_pattern_matches",
    "parse_sts_policy",
    "parse_sts_record",
    "parse_tls_rpt",
    "tls_rpt_findings",
]

MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 §3.3: senders may refuse larger policies
MAX_STS_MAX_AGE = 31_557_600
_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
_TLSRPT = re.compile(r"^v=TLSRPTv1[ \t]*(;|$)")
_TLSRPT_URI = re.compile(r"^(mailto:\S+@\S+|https://\S+)$", re.I)


def mx_pattern_matches(pattern: str, host: str) -> bool:
    """RFC 8461 §4.1: exact match, or ``*.`` matching exactly one leftmost label."""
    pattern = pattern.lower().rstrip(".")
    host = host.lower().rstrip(".")
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return host == pattern


def _tags(record: str) -> dict[str, str]:
    return {
        k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in record.split(";") if p.strip())
    }


def parse_sts_record(records: list[str]) -> tuple[dict[str, str], list[str]]:
    """RFC 8461 §3.1: (tags of the first v=STSv1 record, problems)."""
    problems: list[str] = []
    if len(records) > 1:
        problems.append("more than one v=STSv1 record")
    tags = _tags(records[0])
    if not _STS_ID.match(tags.get("id", "")):
        problems.append("the id tag must be 1 to 32 letters or digits")
    return tags, problems


def parse_sts_policy(text: str) -> tuple[dict[str, Any], list[str]]:
    """RFC 8461 §3.2 ``key: value`` lines: (policy, errors)."""
    policy: dict[str, Any] = {"mx": []}
    errors: list[str] = []
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep:
            errors.append(f"line {n}: not a key: value pair")
        elif key == "mx":
            policy["mx"].append(value.lower())
        elif key in ("version", "mode", "max_age"):
            if key in policy:
                errors.append(f"line {n}: duplicate {key}")
            policy[key] = value
        # other keys are extensions (RFC 8461 §3.2): ignored
    if policy.get("version") != "STSv1":
        errors.append("version must be STSv1")
    if policy.get("mode") not in ("enforce", "testing", "none"):
        errors.append("mode must be enforce, testing or none")
    age = policy.get("max_age")
    if not (isinstance(age, str) and age.isdigit() and int(age) <= MAX_STS_MAX_AGE):
        errors.append(f"max_age must be an integer from 0 to {MAX_STS_MAX_AGE}")
    else:
        policy["max_age"] = int(age)
    if policy.get("mode") in ("enforce", "testing") and not policy["mx"]:
        errors.append("no mx line")
    return policy, [clip(e, 200) or "" for e in errors]


def parse_tls_rpt(records: list[str]) -> list[str]:
    """RFC 8460 §3: the problems of the TLS-RPT records (one record, rua of mailto:/https:)."""
    problems = []
    if len(records) > 1:
        problems.append("more than one v=TLSRPTv1 record")
    uris = [u.strip() for u in _tags(records[0]).get("rua", "").split(",") if u.strip()]
    if not uris:
        problems.append("no rua tag")
    problems += [
        f"rua URI {clip(u, 80)!r} is not mailto: or https:" for u in uris if not _TLSRPT_URI.match(u)
    ]
    return problems


async def fetch_policy(
    url: str, fact: dict[str, Any], *, ca_bundle: str | None, resolve: str | None, timeout: float
) -> tuple[str | None, str | None]:
    """GET the policy (no redirects, RFC 8461 §3.3); (text, None) or (None, why not)."""
    import aiohttp

    try:
        async with (
            client_session(
                cafile=ca_bundle, resolve=resolve, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as session,
            session.get(url, allow_redirects=False) as resp,
        ):
            fact["http_status"] = resp.status
            if resp.status != 200:
                return None, f"HTTP {resp.status} from {url}"
            body = await resp.content.read(MAX_POLICY_BYTES + 1)
            if len(body) > MAX_POLICY_BYTES:
                return None, f"the policy is larger than {MAX_POLICY_BYTES} bytes"
            if resp.content_type != "text/plain":
                fact["error"] = f"Content-Type should be text/plain, not {clip(resp.content_type, 100)}"
            return body.decode("utf-8", errors="replace"), None
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        message = str(exc) or type(exc).__name__
        return None, clip(f"{type(exc).__name__}: {message}", 300)


async def mta_sts_findings(
    report: Report,
    domain: str,
    answer: Answer,
    mx_hosts: list[str] | None,
    mx_why: str,
    *,
    ca_bundle: str | None,
    resolve: str | None,
    timeout: float,
) -> list[dict[str, Any]]:
    """The MTA-STS findings (fetching the policy if announced); returns the facts rows."""
    name = f"_mta-sts.{domain}"
    if answer.failed:
        report.unknown("mta-sts-unknown", answer.status, answer.why(name, "TXT"))
        return []
    records = [t for t in answer.texts if t.startswith("v=STSv1")]
    if not records:
        report.add("mta-sts-not-found", None, f"v=STSv1; id=... at {name}")
        return []
    url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    fact: dict[str, Any] = {
        "txt_record": clip(records[0]),
        "id": None,
        "policy_url": url,
        "http_status": None,
        "version": None,
        "mode": None,
        "max_age": None,
        "mx": None,
        "mx_hosts": None,
        "uncovered": None,
        "error": None,
    }
    tags, problems = parse_sts_record(records)
    fact["id"] = clip(tags.get("id"), 64)
    if problems:
        fact["error"] = "; ".join(problems)
        report.add(
            "mta-sts-invalid-record",
            records,
            "one v=STSv1; id=<1-32 alphanumerics> record",
            "; ".join(problems),
        )
        return [fact]
    text, error = await fetch_policy(url, fact, ca_bundle=ca_bundle, resolve=resolve, timeout=timeout)
    if text is None:
        fact["error"] = error
        report.add(
            "mta-sts-policy-unavailable",
            error,
            f"HTTP 200 text/plain from {url}",
            "the TXT record announces a policy that cannot be fetched",
        )
        return [fact]
    policy, perrors = parse_sts_policy(text)
    fact.update(
        version=policy.get("version"),
        mode=policy.get("mode"),
        max_age=policy.get("max_age"),
        mx=clip(json.dumps(policy.get("mx", []))),
    )
    if perrors:
        fact["error"] = clip("; ".join(perrors))
        report.add(
            "mta-sts-invalid-policy", perrors, "version: STSv1, mode, max_age and mx lines (RFC 8461 §3.2)"
        )
        return [fact]
    mode = policy["mode"]
    if mode == "enforce":
        report.add("mta-sts-enforce", "mode: enforce", "mode: enforce")
    else:
        report.add(f"mta-sts-mode-{mode}", f"mode: {mode}", "mode: enforce")
    if mode == "none":
        return [fact]
    if mx_hosts is None:
        report.unknown("mta-sts-mx-unknown", "ERROR", mx_why)
        return [fact]
    uncovered = [h for h in mx_hosts if not any(mx_pattern_matches(p, h) for p in policy["mx"])]
    fact.update(mx_hosts=json.dumps(mx_hosts), uncovered=json.dumps(uncovered))
    expected = f"every MX host matches one of {policy['mx']}"
    if uncovered:
        report.add(
            "mta-sts-mx-mismatch", uncovered, expected, "senders honouring the policy refuse these hosts"
        )
    else:
        report.add("mta-sts-mx-covered", mx_hosts, expected)
    return [fact]


def tls_rpt_findings(report: Report, domain: str, answer: Answer) -> None:
    """The TLS-RPT finding for the ``_smtp._tls.<domain>`` answer."""
    name = f"_smtp._tls.{domain}"
    if answer.failed:
        report.unknown("tls-rpt-unknown", answer.status, answer.why(name, "TXT"))
        return
    records = [t for t in answer.texts if _TLSRPT.match(t)]
    expected = "v=TLSRPTv1; rua=mailto:... or https://..."
    if not records:
        report.add("tls-rpt-not-found", None, expected)
        return
    problems = parse_tls_rpt(records)
    if problems:
        report.add("tls-rpt-invalid", records, expected, "; ".join(problems))
    else:
        report.add("tls-rpt-present", records[0], expected)

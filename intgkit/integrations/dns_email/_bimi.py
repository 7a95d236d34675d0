"""BIMI (draft-brand-indicators-for-message-identification §4): the record's syntax.

``default._bimi.<domain>`` holds ``v=BIMI1; l=<https URI of the SVG logo>; a=<https URI of the
mark certificate>``. :func:`parse_bimi` is pure: ``v=BIMI1`` first, tags once each, ``l``
required (empty to decline), ``l`` and ``a`` empty or one HTTPS URI (``a`` with a fully
qualified host), ``avp`` brand or personal. Unknown tags are ignored (§4.3). The logo and the
certificate themselves are not fetched.
"""

from __future__ import annotations

import ipaddress
import re

from .._findings import clip
from ._catalogue import Report
from ._lookup import Answer

__all__ = ["bimi_findings", "parse_bimi"]

_VERSION = re.compile(r"^v[ \t]*=[ \t]*BIMI1[ \t]*(?:;|$)")
_URI = re.compile(
    r"^https://(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*)"
    r"(?::\d{1,5})?(?:[/?](?:[a-z0-9\-._~:/?@!$&'()*+=]|%[0-9a-f]{2})*)?$",
    re.I,
)
_TAGS = ("v", "l", "a", "avp", "lps")


def parse_bimi(record: str) -> tuple[dict[str, str], list[str]]:
    """(tags, problems) of one record starting with ``v=BIMI1``."""
    tags: dict[str, str] = {}
    problems: list[str] = []
    for part in (p.strip() for p in record.split(";")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not re.fullmatch(r"[a-z]+", key):
            problems.append(f"{clip(part, 80)!r} is not a tag=value pair")
            continue
        if key not in _TAGS:
            continue
        if key in tags:
            problems.append(f"duplicate {key} tag")
            continue
        tags[key] = value
    if "l" not in tags:
        problems.append("no l tag (publish l= empty to decline BIMI)")
    for key in ("l", "a"):
        value = tags.get(key, "")
        if not value:
            continue
        m = _URI.match(value)
        host = m.group("host") if m else ""
        if m is None:
            problems.append(f"{key}={clip(value, 80)!r} is not one https:// URI")
        elif key == "a" and ("." not in host or _is_ipv4(host)):
            problems.append(f"a={clip(value, 80)!r} needs a fully qualified host name")
    if tags.get("avp", "brand") not in ("brand", "personal"):
        problems.append(f"avp={tags['avp']!r} is not brand or personal")
    return tags, problems


def _is_ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def bimi_findings(report: Report, domain: str, answer: Answer) -> None:
    """The BIMI finding for the ``default._bimi.<domain>`` answer."""
    name = f"default._bimi.{domain}"
    if answer.failed:
        report.unknown("bimi-unknown", answer.status, answer.why(name, "TXT"))
        return
    records = [t for t in answer.texts if _VERSION.match(t)]
    expected = "v=BIMI1; l=https://.../logo.svg; a=https://.../vmc.pem"
    if not records:
        report.add("bimi-not-found", None, expected)
        return
    if len(records) > 1:
        report.add("bimi-invalid", records, expected, f"more than one BIMI record at {name}")
        return
    tags, problems = parse_bimi(records[0])
    if problems:
        report.add("bimi-invalid", problems, expected, f"{name}: {clip(records[0], 300)!r}")
    elif not tags.get("l"):
        report.add("bimi-declined", records[0], expected)
    else:
        report.add("bimi-present", records[0], expected)

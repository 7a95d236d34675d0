"""Response headers as the Observatory's tests see them, and small value parsers they share.

The Observatory runs on Node, whose HTTP client joins repeated response headers with ", "
(Set-Cookie kept apart; the first value wins for Content-Type, Location and Node's other
single-value headers): two ``X-Content-Type-Options: nosniff`` lines are one invalid value.
A client that keeps only the first line would disagree with it, hence :func:`node_headers`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

# Node's http module keeps the first of these when repeated (and joins every other header)
NODE_FIRST_WINS = frozenset(
    {
        "age",
        "authorization",
        "content-length",
        "content-type",
        "etag",
        "expires",
        "from",
        "host",
        "if-modified-since",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "proxy-authorization",
        "referer",
        "retry-after",
        "server",
        "user-agent",
    }
)


def node_headers(raw: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Response headers as Node's http module exposes them: lower-case names, repeats joined."""
    out: dict[str, str | list[str]] = {}
    for name, value in raw:
        key = name.lower()
        if key == "set-cookie":
            cookies = out.setdefault(key, [])
            assert isinstance(cookies, list)
            cookies.append(value)
        elif key not in out:
            out[key] = value
        elif key not in NODE_FIRST_WINS:
            out[key] = f"{out[key]}, {value}"
    return out


def parse_int(text: str) -> float:
    """JavaScript's parseInt(text, 10): leading digits after optional space and sign, else NaN."""
    m = re.match(r"\s*([+-]?)(\d+)", text)
    if not m:
        return math.nan
    return float(int(m.group(1) + m.group(2)))


_SF_KEY = r"[a-z*][a-z0-9_\-.*]*"
_SF_BARE = (
    r"(?:-?\d{1,15}(?:\.\d{1,3})?|\"(?:[ !#-\[\]-~]|\\[\"\\])*\"|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*"
    r"|:[A-Za-z0-9+/=]*:|\?[01])"
)
_SF_ITEM = re.compile(
    rf"^ *(?P<token>[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*)(?:; *{_SF_KEY}(?:={_SF_BARE})?)* *$"
)


def sf_token(value: str) -> str | None:
    """The bare item of an RFC 8941 structured-field item when it is a token, else None."""
    m = _SF_ITEM.match(value)
    return m.group("token") if m else None


def redact_cookie(line: str) -> str:
    """A Set-Cookie line with its value replaced: names and attributes stay, secrets do not."""
    pair, sep, rest = line.partition(";")
    name = pair.partition("=")[0].strip()
    return f"{name}=<redacted>{sep}{rest}"

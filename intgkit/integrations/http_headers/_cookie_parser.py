"""Set-Cookie parsing as the Observatory's cookie jar (tough-cookie) sees it.

Pure functions: a Set-Cookie line in, a :class:`Cookie` (name and flags, never the value) out,
or None when the jar would reject it; and the raw SameSite check the cookies test applies to
the final response's lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(slots=True)
class Cookie:
    """A cookie as the jar stores it (tough-cookie's view; the value is never kept)."""

    name: str
    domain: str
    path: str
    secure: bool = False
    httponly: bool = False
    samesite: str | None = None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # control characters make tough-cookie reject a pair


def parse_set_cookie(line: str, host: str, request_path: str) -> Cookie | None:
    """Parse one Set-Cookie line as tough-cookie does (strict mode); None when it is rejected."""
    pair, *attrs = line.split(";")
    name, eq, _value = pair.partition("=")
    name = name.strip()
    if not eq or not name or _CONTROL.search(pair):
        return None
    default_path = request_path.rsplit("/", 1)[0] if request_path.count("/") > 1 else "/"
    cookie = Cookie(name=name, domain=host, path=default_path or "/")
    for attr in attrs:
        key, _, val = attr.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "secure":
            cookie.secure = True
        elif key == "httponly":
            cookie.httponly = True
        elif key == "samesite":
            v = val.lower()
            cookie.samesite = v if v in ("strict", "lax", "none") else None
        elif key == "domain" and val:
            domain = val.lstrip(".").lower()
            if host != domain and not host.endswith("." + domain):
                return None  # "Cookie not in this host's domain"
            cookie.domain = domain
        elif key == "path" and val.startswith("/"):
            cookie.path = val
    return cookie


def invalid_samesite(line: str) -> bool:
    """Whether a raw Set-Cookie line has a SameSite attribute that is empty or not Strict/Lax/None."""
    for part in line.strip().split(";"):
        pieces = part.strip().split("=")
        key, value = pieces[0], (pieces[1] if len(pieces) > 1 else "")
        if key.strip().lower() == "samesite" and (
            not value or value.strip().lower() not in ("lax", "strict", "none")
        ):
            return True
    return False

"""Content-Security-Policy parsing as the Observatory's ``src/analyzer/cspParser.js`` does it.

A pure function from policy strings to directives and their allowed sources. Several policies
(a comma in one header, several headers, header plus ``<meta>``) are intersected: a source
counts only when every policy that names the directive allows it, as browsers enforce them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

BROAD = frozenset({"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"})
UNSAFE_INLINE = frozenset({"'unsafe-inline'", "data:"})
BROAD_OR_INLINE = BROAD | UNSAFE_INLINE
PASSIVE = ("img-src", "media-src")
NONCES_HASHES = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
META_DISALLOWED = ("frame-ancestors", "report-uri", "sandbox")
_ALLOWED_DUPLICATES = frozenset({"report-uri", "report-to"})
DUPLICATES_KEY = "_observatory_duplicate_warnings"


class CspError(ValueError):
    """A policy the Observatory's parser rejects."""


@dataclass(slots=True)
class _Src:
    source: str
    index: int
    keep: bool


def _decode_component(piece: str) -> str:
    """decodeURIComponent: a stray % or bad UTF-8 throws (and invalidates the policy)."""
    if re.search(r"%(?![0-9A-Fa-f]{2})", piece):
        raise CspError(f"malformed URI component {piece[:64]!r}")
    try:
        return unquote(piece, errors="strict")
    except UnicodeDecodeError as exc:
        raise CspError(f"malformed URI component {piece[:64]!r}") from exc


def _path_part_match(a: str, b: str) -> bool:
    if not a:
        return True
    if a == "/" and not b:
        return True
    exact = not a.endswith("/")
    la, lb = a.split("/"), b.split("/")
    if len(la) > len(lb) or (exact and len(la) != len(lb)):
        return False
    if not exact:
        la.pop()
    return all(_decode_component(x) == _decode_component(y) for x, y in zip(la, lb, strict=False))


def parse_csp(policies: Sequence[str]) -> dict[str, set[str]]:
    """cspParser.js parseCsp: directives -> sources, several policies intersected."""
    clean = [p.replace("\r", "").replace("\n", "").strip() for p in policies]
    if not clean:
        return {}
    for p in clean:
        if not p or len(p) < len("img-src") - 1:
            raise CspError(f"invalid policy {p[:64]!r}")
    csp: dict[str, list[_Src]] = {}
    duplicates: set[str] = set()
    for index, policy in enumerate(clean):
        seen: set[str] = set()
        for entry in policy.split(";"):
            directive_entry, *values_raw = re.split(r"\s+", entry.strip())
            if not directive_entry:
                continue
            directive = directive_entry.lower()
            if directive in seen:
                if directive not in _ALLOWED_DUPLICATES:
                    raise CspError(f"duplicate directive {directive} in policy {index}")
                duplicates.add(directive)
            else:
                seen.add(directive)
            keep = index == 0
            values = [_Src(v.strip().lower(), index, keep) for v in values_raw]
            if not values_raw and directive.endswith("-src"):
                values = [_Src("'none'", index, keep)]
            combined = list(values) if index == 0 else [*csp.get(directive, []), *values]
            combined.sort(key=lambda s: s.source)
            for i in range(1, len(combined)):
                src, prev = combined[i], combined[i - 1]
                if src.index == prev.index and src.source.startswith(prev.source):
                    src.keep = False
                if src.index != prev.index and _path_part_match(prev.source, src.source):
                    src.keep = True
            csp[directive] = [s for s in combined if s.keep]
            if index == 0 and len(policies) > 1:
                for s in csp[directive]:
                    s.keep = False
    final = {d: ({s.source for s in srcs} or {"'none'"}) for d, srcs in csp.items()}
    if duplicates:
        final[DUPLICATES_KEY] = duplicates
    return final


def split_policies(values: Iterable[str]) -> list[str]:
    """Policies from header values: a comma separates two policies."""
    return [p.strip() for v in values for p in v.split(",")]


def has_nonce_or_hash(sources: Iterable[str]) -> bool:
    """Whether a source list holds a nonce or a hash (which makes 'unsafe-inline' ignored)."""
    return any(s.startswith(NONCES_HASHES) for s in sources)

"""The content-security-policy test (``src/analyzer/tests/csp.js``).

Header and ``<meta http-equiv>`` policies are parsed together (intersected); the verdict is the
worst of: unsafe inline script, insecure active schemes, 'unsafe-eval', insecure passive
schemes, unsafe style sources; else the policy is sound (+10 with ``default-src 'none'``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from ._csp_parser import (
    BROAD,
    BROAD_OR_INLINE,
    DUPLICATES_KEY,
    META_DISALLOWED,
    PASSIVE,
    CspError,
    has_nonce_or_hash,
    parse_csp,
    split_policies,
)
from ._outcome import Outcome
from ._retriever import Retrieval


def csp_test(r: Retrieval) -> tuple[Outcome, dict[str, list[str]] | None]:
    """content-security-policy (tests/csp.js); also returns the parsed policy for XFO."""
    name = "content-security-policy"
    auto = r.auto
    if auto is None:
        return Outcome(name, "csp-not-implemented", False), None
    header = auto.header("content-security-policy")
    http_policies = split_policies([header] if header is not None else [])
    meta_policies = split_policies(r.http_equiv.get("content-security-policy", []))
    observed: dict[str, Any] = {"header": header, "meta": r.http_equiv.get("content-security-policy") or None}
    try:
        csp = parse_csp([*http_policies, *meta_policies])
    except CspError as exc:
        return Outcome(name, "csp-header-invalid", False, observed, str(exc)), None
    try:  # without meta policies that is csp itself (whose frame-ancestors nothing mutates)
        header_only = parse_csp(http_policies) if meta_policies else csp
    except CspError:
        header_only = {}
    try:
        meta = parse_csp(meta_policies)
        for d in META_DISALLOWED:
            meta.pop(d, None)
    except CspError:
        meta = {}
    if not header_only and not meta:
        if auto.header("content-security-policy-report-only"):
            observed["report-only"] = auto.header("content-security-policy-report-only")
            return Outcome(name, "csp-not-implemented-but-reporting-enabled", False, observed), None
        return Outcome(name, "csp-not-implemented", False, observed), None

    result: str | None = None
    # these are the very sets inside csp, mutated in place as the Observatory does
    object_src = csp.get("object-src") or csp.get("default-src") or {"*"}
    script_src = csp.get("script-src") or csp.get("default-src") or {"*"}
    style_src = csp.get("style-src") or csp.get("default-src") or {"*"}
    for sources in (script_src, style_src):
        if has_nonce_or_hash(sources) and "'unsafe-inline'" in sources:
            sources.discard("'unsafe-inline'")
    if has_nonce_or_hash(script_src) and "'strict-dynamic'" in script_src:
        for s in list(script_src):
            if any(s.startswith(b) for b in BROAD) or s in ("'self'", "'unsafe-inline'"):
                script_src.discard(s)
    elif "'strict-dynamic'" in script_src:
        result = "csp-header-invalid"
    active = [s for d, srcs in csp.items() if d not in PASSIVE and d != "script-src" for s in srcs]
    active.extend(script_src)
    passive = [s for d in PASSIVE for s in (csp.get(d) or csp.get("default-src") or set())]
    https = urlsplit(r.session.start).scheme == "https"

    def insecure(sources: Iterable[str]) -> bool:
        return any(s.startswith(("http:", "ftp:")) for s in sources)

    unsafe_inline = any(s in BROAD_OR_INLINE for s in script_src) or any(s in BROAD for s in object_src)
    default_none = csp.get("default-src") == {"'none'"}
    checks = (
        (unsafe_inline, "csp-implemented-with-unsafe-inline"),
        (https and insecure(active), "csp-implemented-with-insecure-scheme"),
        ("'unsafe-eval'" in (script_src | style_src), "csp-implemented-with-unsafe-eval"),
        (https and insecure(passive), "csp-implemented-with-insecure-scheme-in-passive-content-only"),
        (
            any(s in BROAD_OR_INLINE for s in style_src),
            "csp-implemented-with-unsafe-inline-in-style-src-only",
        ),
        (default_none, "csp-implemented-with-no-unsafe-default-src-none"),
        (True, "csp-implemented-with-no-unsafe"),
    )
    # the Observatory's policy summary; frame-ancestors counts from the header only (browsers
    # ignore it in <meta>), base-uri and form-action default to *
    frame_ancestors = header_only.get("frame-ancestors") or {"*"}
    observed["policy"] = {
        "antiClickjacking": not any(s in BROAD for s in frame_ancestors),
        "defaultNone": default_none,
        "insecureBaseUri": any(s in BROAD_OR_INLINE for s in csp.get("base-uri") or {"*"}),
        "insecureFormAction": any(s in BROAD for s in csp.get("form-action") or {"*"}),
        "insecureSchemeActive": checks[1][0],
        "insecureSchemePassive": checks[3][0],
        "strictDynamic": has_nonce_or_hash(script_src) and "'strict-dynamic'" in script_src,
        "unsafeEval": checks[2][0],
        "unsafeInline": unsafe_inline,
        "unsafeInlineStyle": checks[4][0],
        "unsafeObjects": any(s in BROAD for s in object_src),
    }
    for hit, rid in checks:
        if result is None and hit:
            result = rid
    assert result is not None
    passed = result in (
        "csp-implemented-with-no-unsafe",
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    )
    if passed and DUPLICATES_KEY in csp:
        result = "csp-implemented-but-duplicate-directives"
    note = "'strict-dynamic' without a nonce or hash" if result == "csp-header-invalid" else ""
    data = {d: sorted(s) for d, s in csp.items() if d != DUPLICATES_KEY}
    return Outcome(name, result, passed, observed, note), data

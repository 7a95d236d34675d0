"""The redirection test (``src/analyzer/tests/redirection.js``).

Where ``http://`` goes: scheme and host of each hop only (ports in Location change nothing).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from ._outcome import Outcome
from ._preload import preloaded
from ._retriever import Retrieval


def redirection_test(r: Retrieval) -> Outcome:
    """redirection: where http:// goes (scheme and host only; ports do not matter)."""
    name = "redirection"
    resp = r.http.response
    route = [url for url, _ in r.http.history]
    if resp is None:
        note = f"HTTP failed: {r.http.error}" if r.http.error else ""
        return Outcome(name, "redirection-not-needed-no-http", True, None, note)
    if not resp.verified:
        return Outcome(name, "redirection-invalid-cert", False, route)
    parts = [urlsplit(u) for u in route]
    if all(preloaded(p.hostname or "", r.preload) for p in parts):
        result = "redirection-all-redirects-preloaded"
    elif len(route) == 1:
        result = "redirection-missing"
    elif parts[-1].scheme != "https":
        result = "redirection-not-to-https"
    elif parts[1].scheme == "http":
        result = "redirection-not-to-https-on-initial-redirection"
    elif parts[0].scheme == "http" and parts[1].scheme == "https" and parts[0].hostname != parts[1].hostname:
        result = "redirection-off-host-from-http"
    else:
        result = "redirection-to-https"
    passed = result in (
        "redirection-not-needed-no-http",
        "redirection-all-redirects-preloaded",
        "redirection-to-https",
    )
    return Outcome(name, result, passed, " -> ".join(route) if len(json.dumps(route)) <= 8192 else None)

"""Registrable domains ("second-level domains"), as the Observatory's SRI test compares them.

The Observatory asks tldts for ``parse(host).domain``: the registrable domain under the ICANN
section of the Public Suffix List (tldts leaves the private section out by default), an unknown
top-level label counted as a public suffix (``site.test`` -> ``site.test``), and nothing for IP
addresses or single labels. ``publicsuffixlist`` ships the list inside the package, so this
works offline; the list is parsed once (about 50 ms), on first use.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from .._net import is_ip

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList


@functools.cache
def _psl() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList(only_icann=True)


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str | None) -> str | None:
    """``www.example.co.uk`` -> ``example.co.uk``; None for IPs, single labels and no host."""
    if not host:
        return None
    host = host.strip("[]").rstrip(".").lower()
    if not host or is_ip(host):
        return None
    domain: str | None = _psl().privatesuffix(host)
    return domain

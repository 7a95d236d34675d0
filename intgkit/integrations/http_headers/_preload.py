"""The HSTS preload list: an input, since the real one is fetched from Chromium's source.

Empty by default (offline), so ``hsts-preloaded`` and ``redirection-all-redirects-preloaded``
only occur when a list is given. Each domain covers its subdomains, as hstspreload.org requires.
"""

from __future__ import annotations

from pathlib import Path

from ..._settings import Setting

HSTS_PRELOAD = Setting(
    "INTGKIT_HSTS_PRELOAD",
    required=False,
    secret=False,
    description="file of HSTS-preloaded domains, one per line (default: none)",
)


def load_preload_file(path: str) -> frozenset[str]:
    """Domains from a preload file: one per line; blank lines and # comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(
            f"{HSTS_PRELOAD.name}: cannot read the preload list {path!r}: {exc.strerror}"
        ) from exc
    return frozenset(
        line.strip().lower().rstrip(".")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def preloaded(host: str, preload: frozenset[str]) -> bool:
    """Whether ``host`` or one of its parent domains is on the list."""
    labels = host.lower().rstrip(".").split(".")
    return any(".".join(labels[i:]) in preload for i in range(len(labels)))

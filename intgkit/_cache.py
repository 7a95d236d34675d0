"""The result cache: a re-run within an integration's ``cache_ttl`` reuses its ok results.

Keyed on (integration, target, settings fingerprint). The fingerprint is a keyed hash (a
random key per process, :func:`~intgkit._policies.keyed_digest`) of every declared setting's
name and value, so changing a token or an API base misses the cache, and no value, nor a plain
hash of one, is ever stored. Only ``ok`` results are kept: a failure is worth retrying on the
next run. Bounded by entries and by an estimate of the bytes the results hold, evicting the
least recently used first; an entry past its time to live is dropped when it is next looked up
(or evicted). A hit is the stored result with ``cached=True``, its original ``started_at`` and
``duration_s`` (what the call cost when it was made).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import UsageError
from ._models import IntegrationResult, IntegrationSection, Status, make_result
from ._policies import keyed_digest
from ._settings import Setting

__all__ = ["ResultCache", "settings_fingerprint"]

CacheKey = tuple[str, str | None, str]


def settings_fingerprint(settings: Iterable[Setting]) -> str:
    """A keyed digest of the settings' names and current values (unset ones included)."""
    parts: list[str] = []
    for s in settings:
        value = s.value()
        parts.append(s.name)
        parts.append("\x00unset" if value is None else "=" + value)
    return keyed_digest(parts)


class ResultCache:
    """An LRU map of (integration, target, settings fingerprint) to an ok result.

    Args:
        max_entries: results kept at most (default 10,000).
        max_bytes: estimated bytes kept at most (default 256 MiB); a result larger than this
            alone is never cached.

    ``runner.cache.clear()`` empties it; ``run(..., refresh=True)`` skips it for one run (and
    stores the fresh results).
    """

    __slots__ = ("_entries", "_lock", "hits", "max_bytes", "max_entries", "misses", "nbytes")

    def __init__(self, max_entries: int = 10_000, max_bytes: int = 256 * 2**20) -> None:
        for name, v in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise UsageError(f"ResultCache({name}=...) must be a whole number >= 0, got {v!r}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        # key -> (expires at (monotonic), size estimate, the result with cached=True)
        self._entries: OrderedDict[CacheKey, tuple[float, int, IntegrationResult]] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, now: float | None = None) -> IntegrationResult | None:
        """The cached result for ``key`` (marked ``cached=True``), or None if absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        if entry[0] <= (time.monotonic() if now is None else now):
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
                    self.nbytes -= entry[1]
            self.misses += 1
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs a context manager per hit
            self._entries.move_to_end(key)
        except KeyError:  # evicted by another thread meanwhile: the result is still good
            pass
        self.hits += 1
        return entry[2]

    def put(self, key: CacheKey, result: IntegrationResult, ttl: float, now: float | None = None) -> bool:
        """Keep ``result`` for ``ttl`` seconds if it is ok and fits; True when stored."""
        if result.status is not Status.OK or ttl <= 0 or self.max_entries == 0:
            return False
        size = estimate_size(result)
        if size > self.max_bytes:
            return False
        stored = make_result(
            result.integration,
            result.target,
            result.status,
            result.sections,
            result.error_type,
            result.error,
            result.started_at,
            result.duration_s,
            result.breaker_state,
            0.0,
            result.attempts,
            0.0,
            True,
        )
        expires = (time.monotonic() if now is None else now) + ttl
        entries = self._entries
        with self._lock:
            old = entries.pop(key, None)
            if old is not None:
                self.nbytes -= old[1]
            entries[key] = (expires, size, stored)
            self.nbytes += size
            while len(entries) > self.max_entries or self.nbytes > self.max_bytes:
                _k, (_e, s, _r) = entries.popitem(last=False)
                self.nbytes -= s
        return True

    def clear(self) -> None:
        """Drop every cached result."""
        with self._lock:
            self._entries.clear()
            self.nbytes = 0

    def __repr__(self) -> str:
        return (
            f"<ResultCache {len(self._entries)} results, ~{self.nbytes / 2**20:.1f} MiB "
            f"(max {self.max_entries} / {self.max_bytes / 2**20:.0f} MiB), "
            f"{self.hits} hits, {self.misses} misses>"
        )


_BASE = sys.getsizeof(make_result("", None, Status.OK, (), None, None, None, 0.0, "closed"))


def estimate_size(result: IntegrationResult) -> int:
    """Bytes a result holds, estimated: exact enough to bound memory, cheap enough per call.

    Rows of dicts are sized from their keys and values one level deep (nested values by their
    own ``getsizeof``); a DataFrame section by ``memory_usage(deep=True)``.
    """
    size = _BASE + _str_size(result.integration) + _str_size(result.target)
    for s in result.sections:
        size += _section_size(s)
    return size


def _str_size(v: str | None) -> int:
    return 0 if v is None else sys.getsizeof(v)


def _section_size(s: IntegrationSection) -> int:
    size = sys.getsizeof(s) + sys.getsizeof(s.name) + _mapping_size(s.summary)
    rows = s.rows
    if isinstance(rows, tuple):
        size += sys.getsizeof(rows)
        for row in rows:
            size += _mapping_size(row)
        return size
    usage = getattr(rows, "memory_usage", None)
    if usage is not None:
        return size + int(usage(deep=True).sum())
    return size + sys.getsizeof(rows)


def _mapping_size(m: Mapping[str, Any]) -> int:
    size = sys.getsizeof(m)
    for k, v in m.items():
        size += sys.getsizeof(k) + sys.getsizeof(v)
    return size

"""A progress bar for runs: tqdm.auto, a widget in Jupyter and text in a terminal."""

from __future__ import annotations

from typing import Any

from ._models import IntegrationResult, Status


class ProgressBar:
    """Counts results as they complete; the postfix shows how many failed."""

    def __init__(self, total: int) -> None:
        from tqdm.auto import tqdm

        self._bar: Any = tqdm(total=total, desc="intgkit", unit="call", leave=True)
        self._failed = 0
        self._waiting = 0

    def __call__(self, result: IntegrationResult) -> None:
        if result.status is not Status.OK:
            self._failed += 1
            self._postfix(refresh=False)
        self._bar.update(1)

    def waiting(self, n: int) -> None:
        """``n`` calls wait for a rate-limit token now (shown until none does)."""
        if (n == 0) != (self._waiting == 0) or n % 10 == 0:
            self._waiting = n
            self._postfix(refresh=True)
        self._waiting = n

    def _postfix(self, *, refresh: bool) -> None:
        parts = {}
        if self._failed:
            parts["failed"] = self._failed
        if self._waiting:
            parts["waiting for rate limit"] = self._waiting
        self._bar.set_postfix(parts, refresh=refresh)

    def close(self) -> None:
        self._bar.close()

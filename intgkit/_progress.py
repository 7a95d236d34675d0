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

    def __call__(self, result: IntegrationResult) -> None:
        if result.status is not Status.OK:
            self._failed += 1
            self._bar.set_postfix(failed=self._failed, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

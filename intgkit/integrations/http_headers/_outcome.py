"""One test's outcome, and the Observatory's rule for combining several verdicts into one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._grader import RESULTS


@dataclass(slots=True)
class Outcome:
    """One test's result, as the Observatory's test outputs carry it."""

    test: str
    result: str
    passed: bool
    observed: Any = None
    note: str = ""

    @property
    def modifier(self) -> int:
        return RESULTS[self.result].modifier


def worse(new: str, old: str | None, order: Sequence[str]) -> str:
    """utils.js onlyIfWorse (an id missing from the order ranks -1, as indexOf does)."""
    if old is None:
        return new
    rank = {rid: i for i, rid in enumerate(order)}
    return new if rank.get(new, -1) > rank.get(old, -1) else old

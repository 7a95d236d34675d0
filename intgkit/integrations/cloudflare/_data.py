"""What one zone's audit reads (:class:`ZoneData`) and the findings collector the checks share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._findings import MAX_CELL, Findings, clip
from ._client import NAME
from ._explanations import EXPLANATIONS


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Why a piece of zone data could not be read.

    Attributes:
        reason: the whole story (endpoint, status, Cloudflare's message).
        permission: the permission the token lacks, when the API refused it (else None).
    """

    reason: str
    permission: str | None = None


@dataclass(slots=True)
class ZoneData:
    """Everything read about one zone; a part that could not be read is :class:`Unavailable`."""

    zone: dict[str, Any]
    settings: dict[str, dict[str, Any] | Unavailable] = field(default_factory=dict)
    records: list[dict[str, Any]] | Unavailable = field(default_factory=list)
    dnssec: dict[str, Any] | Unavailable = field(default_factory=dict)
    rules: dict[str, list[dict[str, Any]] | Unavailable] = field(default_factory=dict)
    universal_ssl: dict[str, Any] | Unavailable = field(default_factory=dict)
    certificate_packs: list[dict[str, Any]] | Unavailable = field(default_factory=list)
    origin_pulls: dict[str, Any] | Unavailable = field(default_factory=dict)
    hostname_tls: dict[str, list[dict[str, Any]] | Unavailable] = field(default_factory=dict)


def cell(value: Any, limit: int = MAX_CELL) -> Any:
    """Outside text, cut to ``limit`` characters; other values as they are."""
    return clip(value, limit) if isinstance(value, str) else value


class ZoneFindings(Findings):
    """Collects the findings of one zone (the zone is also a column of its own)."""

    def __init__(self, zone: str) -> None:
        super().__init__(NAME, zone, zone=zone)

    def add(
        self,
        check: str,
        result_id: str,
        passed: bool,
        severity: str,
        observed: Any = None,
        expected: Any = None,
        detail: str = "",
        explanation: str = "",
    ) -> None:
        """Append one finding; the explanation is the check's own (:data:`EXPLANATIONS`)."""
        super().add(
            check,
            result_id,
            passed,
            severity,
            observed,
            expected,
            detail,
            explanation or EXPLANATIONS[check],
        )

    def unknown(self, check: str, why: Unavailable) -> None:
        """An info ``<check>-unknown`` finding saying why the check could not be evaluated."""
        self.add(
            check,
            f"{check.replace('_', '-')}-unknown",
            False,
            "info",
            expected=None if why.permission is None else f"token permission {why.permission!r}",
            detail=f"could not be evaluated: {cell(why.reason, 600)}",
        )

"""Integrations that tests/test_cli.py installs through a real entry point for the `intgkit` command.

Loaded in a subprocess (PYTHONPATH + a dist-info folder made by the test), never imported by
the test process itself. CLIPLUG_MARKER names a file every call appends to, so a test can tell
whether any call was made at all.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import intgkit

SEVERITIES = ("critical", "high", "medium", "low", "info")
LONG = "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.example/" + "x" * 400


def _mark(name: str, target: str | None) -> None:
    marker = os.environ.get("CLIPLUG_MARKER")
    if marker:
        with open(marker, "a", encoding="utf-8") as f:
            f.write(f"{name} {target}\n")


@intgkit.integration(name="slow", title="Slow", register=False)
async def slow(target: str | None) -> dict[str, Any]:
    """Sleeps long enough that a test notices if it ran."""
    _mark("slow", target)
    await asyncio.sleep(10)
    return {}


@intgkit.integration(name="audit", title="Audit", register=False)
async def audit(target: str | None) -> dict[str, Any]:
    """A findings section of every severity, passed and failed, one with a long observed value."""
    _mark("audit", target)
    rows = []
    for i, severity in enumerate(SEVERITIES):
        rows.append(
            {
                "target": target,
                "check": f"check_{severity}",
                "passed": target == "clean.example",
                "severity": severity,
                "observed": LONG if severity == "medium" else f"-all (or ~all) {i}",
                "expected": "",
                "detail": "",
                "explanation": f"Why {severity} matters for {target}.",
            }
        )
    rows.append({"target": target, "check": "fine", "passed": True, "severity": "high", "observed": "ok",
                 "expected": "", "detail": "", "explanation": ""})  # fmt: skip
    return {"findings": rows, "facts": [{"target": target, "note": "", "value": 1}], "nothing": []}


@intgkit.integration(name="hostcheck", title="Host check", needs_target=True, register=False)
async def hostcheck(target: str | None) -> dict[str, Any]:
    """Needs a target, as the built-in integrations do."""
    _mark("hostcheck", target)
    return {"hosts": [{"host": target}]}


@intgkit.integration(name="broken", title="Broken", register=False)
async def broken(target: str | None) -> dict[str, Any]:
    """Always fails."""
    _mark("broken", target)
    raise ConnectionError(f"connection refused by {target}")


def many() -> list[intgkit.FunctionIntegration]:
    """1,500 integrations when CLIPLUG_MANY=1 (enough output for a pipe to fill), else none."""
    if os.environ.get("CLIPLUG_MANY") != "1":
        return []

    async def fetch(target: str | None) -> dict[str, Any]:
        return {}

    return [
        intgkit.integration(name=f"many_{i:04d}", title=f"Many {i}", register=False)(fetch)
        for i in range(1500)
    ]

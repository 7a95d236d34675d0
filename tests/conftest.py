"""Shared fixtures: global state (default registry, structlog) is reset around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

import intgkit
from intgkit import _registry
from intgkit._policies import LIMITERS


@pytest.fixture(autouse=True)
def _reset_global_state() -> Iterator[None]:
    """Each test starts with a fresh default registry, no rate-limit buckets and unconfigured structlog."""
    _registry.reset_default_registry()
    LIMITERS.reset()
    structlog.reset_defaults()
    yield
    _registry.reset_default_registry()
    LIMITERS.reset()
    structlog.reset_defaults()


@pytest.fixture
def registry() -> intgkit.IntegrationRegistry:
    """An empty registry that loads no entry points."""
    return intgkit.IntegrationRegistry(None)


@pytest.fixture
def logs() -> Iterator[list[dict[str, object]]]:
    """structlog events captured as dicts (structlog.testing.capture_logs)."""
    with structlog.testing.capture_logs() as captured:
        yield captured

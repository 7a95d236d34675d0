"""Shared fixtures: global state (default registry, structlog) is reset around every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

import intgkit
from intgkit import _registry
from intgkit._policies import LIMITERS

# No test records into the real user data folder: recording is off for the whole session
# (kernels and subprocesses started by tests inherit this), and tests that want a store give
# one in a tmp folder (the ``history_path`` fixture).
os.environ["INTGKIT_HISTORY"] = "off"


@pytest.fixture(autouse=True)
def _history_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the run history off, whatever an earlier test set."""
    monkeypatch.setenv("INTGKIT_HISTORY", "off")


@pytest.fixture
def history_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store file in the test's tmp folder, also made the default through INTGKIT_HISTORY."""
    path = tmp_path / "history" / "runs.duckdb"
    monkeypatch.setenv("INTGKIT_HISTORY", str(path))
    return path


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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free port of 127.0.0.1 for the whole session; its URL.

    Tests share it: give each its own key namespace (or flush what you wrote)."""
    from _redis import redis_server

    with redis_server() as url:
        yield url

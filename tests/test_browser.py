"""The panel in a real browser: a notebook served by Voila, driven in headless Chromium.

The widget-model tests cannot see what the frontend does with the state (rendering, the
button's disabled state round-trip, comm traffic from a task on the kernel loop); this can.
Set INTGKIT_UPDATE_SCREENSHOT=1 to also refresh docs/images/panel.png for the README.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium package; CI installs it with apt
README_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "panel.png"
KERNEL_NAME = "intgkit-browser-test"

pytestmark = [pytest.mark.browser]


@pytest.fixture(autouse=True)
def _needs_chromium() -> None:
    """Skip without Chromium on a developer's machine; in CI (CI set) a missing browser fails."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs Chromium at {CHROMIUM} (bash .ci/setup --browser installs it)")
    pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")


NOTEBOOK_SOURCE = [
    """\
import asyncio

import intgkit
from intgkit.widgets import IntegrationPanel

registry = intgkit.IntegrationRegistry(None)


@intgkit.integration(name="status_page", title="Status page", registry=registry)
async def status_page(target):
    await asyncio.sleep(0.2)
    return {"checks": [{"target": target, "healthy": True}]}


@intgkit.integration(name="slow_api", title="Slow API", registry=registry, timeout=2.0)
async def slow_api(target):
    await asyncio.sleep(30)


@intgkit.integration(name="flaky_api", title="Flaky API", registry=registry)
async def flaky_api(target):
    raise ConnectionError(f"connection refused by {target}")


@intgkit.integration(
    name="billing", title="Billing API", settings=["BILLING_API_TOKEN"], registry=registry
)
async def billing(target):
    return {}
""",
    """\
runner = intgkit.IntegrationRunner(registry, fail_max=2, reset_timeout=120)
# trip the flaky API's breaker first, so the panel's run shows a circuit_open call
_ = await runner.arun("flaky_api", ["example.org", "example.net"])
""",
    """\
IntegrationPanel(runner, targets=["example.org", "example.net"])
""",
]


def _notebook(cells: list[str]) -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": KERNEL_NAME, "display_name": "intgkit test", "language": "python"},
            "language_info": {"name": "python"},
        },
        "cells": [
            {
                "cell_type": "code",
                "id": f"cell{i}",
                "metadata": {},
                "execution_count": None,
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"voila exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"voila did not listen on {port} within {timeout:g} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's chromium instead of a downloaded browser (no download is possible in CI)."""
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


# pytest-playwright keeps one sync Playwright (and so an event loop marked as running in the
# main thread) for the whole session, which breaks every pytest-asyncio test collected after
# this module. Module-scoped overrides stop it when this module is done.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """A sync Playwright that lives only as long as this module's tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser_type(playwright: Any, browser_name: str) -> Any:
    """The browser type from the module-scoped Playwright."""
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args: dict[str, Any], browser_type: Any) -> Any:
    """Launches with the launch args above (no remote connect_options here)."""
    return lambda **kwargs: browser_type.launch(**{**browser_type_launch_args, **kwargs})


@pytest.fixture(scope="module")
def browser(launch_browser: Any) -> Iterator[Any]:
    """One Chromium for this module, closed with it."""
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser_context_args() -> dict[str, Any]:
    """A window wide enough for the status table (the plugin's version needs its session Playwright)."""
    return {"viewport": {"width": 1280, "height": 1000}}


@pytest.fixture
def voila_url(tmp_path: Path) -> Iterator[str]:
    """Serve a notebook with the panel through Voila on 127.0.0.1, with this interpreter's kernel."""
    jupyter = tmp_path / "jupyter"
    spec = jupyter / "data" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "intgkit test",
                "language": "python",
            }
        )
    )
    notebook = tmp_path / "panel.ipynb"
    notebook.write_text(json.dumps(_notebook(NOTEBOOK_SOURCE)))
    env = {
        **os.environ,
        "JUPYTER_PATH": str(jupyter / "data"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("BILLING_API_TOKEN", None)
    port = _free_port()
    log = tmp_path / "voila.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}",
             "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for_port(port, proc, log)
        yield f"http://127.0.0.1:{port}/"
    finally:
        # its own session: the signal reaches voila and the kernel it started, nothing else
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_panel_runs_and_shows_live_statuses(page: Any, voila_url: str, tmp_path: Path) -> None:
    """Clicking Run in Chromium fills the status table with ok, timeout and circuit_open rows."""
    from playwright.sync_api import expect

    page.goto(voila_url)
    run = page.get_by_role("button", name=re.compile(r"^\W*Run$"))  # the icon adds a glyph
    expect(run).to_be_enabled(timeout=90_000)  # Voila first starts a kernel and runs the cells
    status = page.locator(".intgkit-status")
    expect(status.get_by_text("Billing API")).to_be_visible()
    expect(page.get_by_text("not configured: set BILLING_API_TOKEN")).to_be_visible()
    expect(page.get_by_role("checkbox", name="Billing API")).to_be_disabled()

    run.click()
    expect(run).to_be_disabled()
    expect(status.get_by_text("ok", exact=True)).to_be_visible(timeout=30_000)
    expect(run).to_be_disabled()  # ok arrived while the 2 s timeouts are still running: live
    expect(status.get_by_text("circuit_open", exact=True)).to_be_visible()
    expect(status.get_by_text("timeout", exact=True)).to_be_visible(timeout=30_000)
    expect(run).to_be_enabled(timeout=30_000)
    expect(page.get_by_text("6/6 done")).to_be_visible()
    # the summary frame of the run is in the Results tab
    page.get_by_role("tab", name="Results").click()
    output = page.locator(".intgkit-output")
    expect(output.get_by_role("columnheader", name="breaker_state")).to_be_visible()
    expect(output.get_by_text("circuit breaker 'flaky_api' is open", exact=False).first).to_be_visible()

    shot = tmp_path / "panel.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("INTGKIT_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)

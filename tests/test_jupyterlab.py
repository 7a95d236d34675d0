"""The panel where users are: real JupyterLab 4, driven by Playwright in Debian's headless Chromium.

One JupyterLab server (fresh config, data, settings and workspace folders; a throw-away root
dir) serves a notebook with a panel over three local integrations. The test does what a user
does: Run All, run from the panel, cancel a run midway, reset the breakers, switch to the dark
theme, in a 1280x800 window with the file browser open; it reads the rendered text and
measures the contrast of the panel's text against what is really behind it (WCAG 2.x, alpha
blended, as notes/audit-and-ux-libraries.md §7 shows is needed). Notebook 03 is opened too:
after Run All it must leave a working panel.

Set INTGKIT_UPDATE_SCREENSHOT=1 to refresh docs/images/panel-jupyterlab-{light,dark}.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_browser import CHROMIUM, _free_port, _notebook

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
KERNEL_NAME = "intgkit-browser-test"
#: WCAG 2.x minimum contrast for normal text.
MIN_CONTRAST = 4.5

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = [
    """\
import asyncio

import intgkit
from intgkit.widgets import IntegrationPanel

registry = intgkit.IntegrationRegistry(None)


@intgkit.integration(name="status_page", title="Status page", registry=registry)
async def status_page(target):
    await asyncio.sleep(0.2)
    return {"checks": [{"target": target, "healthy": True}]}


@intgkit.integration(name="flaky_api", title="Flaky API", registry=registry)
async def flaky_api(target):
    raise ConnectionError(f"connection refused by {target}: " + "the upstream said no " * 20)


@intgkit.integration(name="slow_report", title="Slow report", registry=registry, timeout=120)
async def slow_report(target):
    await asyncio.sleep(60)
    return {}
""",
    """\
runner = intgkit.IntegrationRunner(registry, fail_max=3, reset_timeout=300)
panel = IntegrationPanel(runner, targets=["a.example", "b.example", "c.example"])
panel.checkboxes["slow_report"].value = False
panel
""",
]

KERNEL_READY = """() => { const k = window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel;
                          return !!k && k.connectionStatus === 'connected' && k.status === 'idle'; }"""
CONTRAST = """(sel) => {   // WCAG 2.x: text colour blended over the first opaque ancestor background
  // one synchronous JS task from query to result: the panel re-renders its table every second
  // while a breaker counts down, and a node replaced mid-measure has no computed colour
  const el = document.querySelector(sel);
  if (!el || !el.isConnected) return null;
  const rgba = (s) => { const v = (s.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number);
                        return [v[0], v[1], v[2], v[3] ?? 1]; };  // "transparent" has no digits
  const lin = (c) => (c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  const lum = (c) => 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  let bg = [255, 255, 255, 1];
  for (let n = el; n; n = n.parentElement) {
    const c = rgba(getComputedStyle(n).backgroundColor); if (c[3] > 0) { bg = c; break; } }
  const colour = getComputedStyle(el).color;
  if (!/\\d/.test(colour)) return null;
  const f = rgba(colour);
  const fg = [0, 1, 2].map((i) => f[3] * f[i] + (1 - f[3]) * bg[i]);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  return Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100; }"""


#: The panel's, the cell output's and the status table box's widths, and the box's overflow.
FIT = """() => {
  const panel = document.querySelector('.intgkit-panel');
  const out = panel.closest('.jp-OutputArea-output');
  const box = document.querySelector('.intgkit-status-table').parentElement;
  return {cell: out.clientWidth, panel: panel.getBoundingClientRect().width,
          box: box.getBoundingClientRect().width, overflow: getComputedStyle(box).overflowX}; }"""


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"needs Chromium at {CHROMIUM} (apt-get install chromium; .ci/setup --browser does)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """JupyterLab on a free port, every Jupyter folder fresh, a root dir holding the notebooks."""
    _require_chromium()
    root = tmp_path / "root"
    root.mkdir()
    (root / "panel.ipynb").write_text(json.dumps(_notebook(NOTEBOOK)))
    shutil.copy(ROOT / "notebooks" / "03_panel.ipynb", root / "03_panel.ipynb")
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
    # notebook 03 names the python3 kernel: give it this interpreter under that name too
    python3 = jupyter / "data" / "kernels" / "python3"
    shutil.copytree(spec, python3)
    env = {
        **os.environ,
        "JUPYTER_PATH": str(jupyter / "data"),
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
        "PYTHONUNBUFFERED": "1",
    }
    port = _free_port()
    log = tmp_path / "lab.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
             f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"],
            cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyterlab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyterlab did not answer within 90 s:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # its own session: the server and its kernels
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _run_all(page: Any) -> None:
    page.wait_for_function(KERNEL_READY, timeout=90_000)
    page.get_by_role("menuitem", name="Run").click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def _run_button(panel: Any) -> Any:
    """The panel's Run button (exactly: "Show run" and others also contain the word)."""
    return panel.get_by_role("button", name=re.compile(r"^\W*Run$"))


def _label(page: Any) -> str:
    return str(page.locator(".intgkit-panel .intgkit-progress-label").first.inner_text())


def _contrast(page: Any, selector: str) -> float:
    for _ in range(50):
        ratio = page.evaluate(CONTRAST, selector)
        if ratio is not None:
            return float(ratio)
        page.wait_for_timeout(100)  # caught between two renders: measure the next one
    raise AssertionError(f"{selector} never had a measurable colour")


def _screenshot(page: Any, name: str, tmp_path: Path) -> None:
    where = IMAGES if os.environ.get("INTGKIT_UPDATE_SCREENSHOT") else tmp_path
    page.locator(".intgkit-panel").first.screenshot(path=str(where / name))


def test_panel_in_jupyterlab_light_and_dark(lab: str, tmp_path: Path) -> None:
    """Run All, run, cancel, reset and the dark theme in JupyterLab: true text, a fit, 4.5:1 contrast."""
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{lab}/lab/tree/panel.ipynb")
            page.wait_for_function(KERNEL_READY, timeout=90_000)
            page.evaluate("window.jupyterapp.commands.execute('filebrowser:activate')")
            expect(page.locator(".jp-FileBrowser")).to_be_visible()
            _run_all(page)
            panel = page.locator(".intgkit-panel")
            expect(panel).to_be_visible(timeout=60_000)

            # a run: three ok, three errors that open the flaky API's breaker
            _run_button(panel).click()
            expect(panel.locator(".intgkit-progress-label")).to_contain_text("done", timeout=60_000)
            assert _label(page) == "6/6 done (3 ok, 3 error)"
            status = panel.locator(".intgkit-status-table")
            expect(status).to_contain_text("Flaky API")
            expect(status.locator("tr", has_text="Flaky API")).to_contain_text("open")

            # it fits the cell: nothing wider than the cell's output area; the table scrolls inside
            fit = page.evaluate(FIT)
            assert fit["panel"] <= fit["cell"] + 1 and fit["box"] <= fit["cell"] + 1, fit
            assert fit["overflow"] == "auto", fit
            # a narrower window: the cell shrinks to at most 700 px and the panel still fits it
            page.set_viewport_size({"width": 1100, "height": 800})
            page.wait_for_function("() => document.querySelector('.jp-OutputArea-output').clientWidth <= 700")
            narrow = page.evaluate(FIT)
            assert narrow["panel"] <= narrow["cell"] + 1 and narrow["box"] <= narrow["cell"] + 1, narrow
            page.set_viewport_size({"width": 1280, "height": 800})
            error_cell = status.locator("tr", has_text="Flaky API").locator("td.error")
            assert error_cell.get_attribute("title", timeout=5_000).startswith("connection refused")
            assert "…" in error_cell.inner_text()  # cut on screen, whole in the tooltip

            contrast = {
                "light name": _contrast(page, ".intgkit-status-table .intgkit-name"),
                "light updated": _contrast(page, ".intgkit-updated"),
                "light note": _contrast(page, ".intgkit-panel code.intgkit-name"),
            }
            _screenshot(page, "panel-jupyterlab-light.png", tmp_path)

            # cancel midway: the slow report is cancelled, and nothing says "running" afterwards
            panel.locator(".widget-checkbox", has_text="Slow report").locator("input").check()
            # the tick reaches the kernel as a comm message of its own; give it time to land
            # before Run's click (a user's hand is slower than Playwright's)
            page.wait_for_timeout(1_000)
            _run_button(panel).click()
            expect(panel.locator(".intgkit-status-table")).to_contain_text("running", timeout=30_000)
            page.wait_for_timeout(1_000)
            panel.locator(".widget-button", has_text="Cancel").click()
            expect(panel.locator(".intgkit-progress-label")).to_contain_text("cancelled:", timeout=30_000)
            label = _label(page)
            assert "3 cancelled" in label and "3 circuit_open" in label, label
            slow_row = panel.locator(".intgkit-status-table tr", has_text="Slow report")
            expect(slow_row).to_contain_text("cancelled")
            expect(panel.locator(".intgkit-status-table")).not_to_contain_text("running")

            # reset: confirmed, and the stale circuit_open cell is gone
            panel.locator(".widget-button", has_text="Reset breakers").click()
            expect(panel.locator(".intgkit-message")).to_contain_text("breakers reset at")
            expect(panel.locator(".intgkit-status-table tr", has_text="Flaky API")).not_to_contain_text(
                "circuit_open"
            )

            # the dark theme
            page.evaluate(
                "window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})"
            )
            page.wait_for_function("document.body.dataset.jpThemeLight === 'false'")
            # the theme's stylesheet applies after the flag: wait until the cell background is dark
            page.wait_for_function(
                "() => { const v = getComputedStyle(document.querySelector('.jp-Notebook'))"
                ".backgroundColor.match(/[\\d.]+/g); return !!v && Number(v[0]) < 100; }"
            )
            contrast |= {
                "dark name": _contrast(page, ".intgkit-status-table .intgkit-name"),
                "dark updated": _contrast(page, ".intgkit-updated"),
                "dark note": _contrast(page, ".intgkit-panel code.intgkit-name"),
            }
            _screenshot(page, "panel-jupyterlab-dark.png", tmp_path)
            low = {k: v for k, v in contrast.items() if v < MIN_CONTRAST}
            assert not low, f"text below {MIN_CONTRAST}:1: {low} (all: {contrast})"

            # notebook 03: Run All leaves a working panel, and says why a stored one may not show
            page.goto(f"{lab}/lab/tree/03_panel.ipynb")
            trust_note = page.locator(".jp-RenderedMarkdown", has_text="must be trusted for its stored")
            expect(trust_note.first).to_be_visible(timeout=60_000)
            _run_all(page)
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget.content.widgets"
                ".every((c) => c.model.type !== 'code' || c.model.executionCount !== null)",
                timeout=120_000,
            )
            last = page.locator(".intgkit-panel").last
            expect(last).to_be_visible()
            expect(_run_button(last)).to_be_enabled()
        finally:
            browser.close()
    relevant = [e for e in errors if "favicon" not in e]
    assert not relevant, relevant

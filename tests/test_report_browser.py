"""The HTML report as a reader sees it: opened from disk in headless Chromium (Debian's package).

The report of ``intgkit demo --html`` (the real built-in integrations against the local demo
servers) is loaded from a file URL; the test reads the rendered text, checks that the browser
made no request besides the file itself, and that hostile values show as text (no dialog).
Set INTGKIT_UPDATE_SCREENSHOT=1 to also refresh docs/images/report.png for the README.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intgkit._models import IntegrationResult, Status
from intgkit._results import IntegrationResults

CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium; .ci/setup --browser installs it
README_SCREENSHOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "report.png"
INTGKIT = Path(sys.executable).with_name("intgkit")
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for this module (its own sync Playwright, closed with the module)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI needs Chromium at {CHROMIUM} (bash .ci/setup --browser)")
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def open_report(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requests, dialogs


def test_demo_report_reads_right_in_chromium(browser: Any, tmp_path: Path) -> None:
    """The demo's report: a summary per target, failed checks by severity with explanations,
    every call's status; nothing loaded but the file itself."""
    report = tmp_path / "report.html"
    proc = subprocess.run(
        [str(INTGKIT), "demo", "--csv", str(tmp_path / "csv"), "--html", str(report)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page, requests, dialogs = open_report(browser, report)
    assert requests == [report.as_uri()] and dialogs == []
    assert page.title() == "intgkit report"
    targets = page.locator("#targets tbody tr")
    assert targets.count() == 2
    site = [c.strip() for c in targets.nth(0).locator("td").all_inner_texts()]
    assert site[:2] == ["site.test", "C"]  # the MDN Observatory grade of the demo site
    headings = [h.strip() for h in page.locator("#findings h3").all_inner_texts()]
    order = [h.split()[0] for h in headings]
    severities = ["critical", "high", "medium", "low", "info"]
    assert order == sorted(order, key=severities.index) and "high" in order
    # every failed check is a card, and the built-in integrations explain theirs
    cards = page.locator("#findings article")
    assert cards.count() >= 10
    assert page.locator("#findings article .why").count() >= cards.count() // 2
    calls = page.locator("#calls tbody tr")
    assert calls.count() == 5  # the demo: four integrations on the site, one on the shop
    assert set(page.locator("#calls tbody tr td:first-child").all_inner_texts()) == {"ok"}
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    if os.environ.get("INTGKIT_UPDATE_SCREENSHOT") == "1":
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_SCREENSHOT)
    page.close()


def test_hostile_values_render_as_text(browser: Any, tmp_path: Path) -> None:
    """A target and an error message holding markup show as text: no script runs, no image loads."""
    results = IntegrationResults(
        [IntegrationResult("audit", EVIL, Status.ERROR, (), "ValueError", EVIL, None, 0.1)]
    )
    path = results.to_html(tmp_path / "evil.html")
    page, requests, dialogs = open_report(browser, path)
    assert dialogs == [] and requests == [path.as_uri()]
    row = page.locator("#calls tbody tr").nth(0).inner_text()
    assert EVIL in row and f"ValueError: {EVIL}" in row
    assert page.locator("#calls img, #calls script").count() == 0
    page.close()

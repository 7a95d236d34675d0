"""The shareable HTML report: one self-contained file, everything escaped, findings by severity.

tests/test_report_browser.py opens it in headless Chromium; these check the document itself.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import intgkit
from intgkit._models import IntegrationResult, IntegrationSection, Status
from intgkit._results import IntegrationResults

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def findings(target: str) -> list[dict[str, object]]:
    return [
        {"target": target, "check": "hsts", "passed": False, "severity": "high", "observed": EVIL,
         "expected": "max-age>=31536000", "detail": "", "explanation": "Browsers may use HTTP."},
        {"target": target, "check": "csp", "passed": False, "severity": "medium", "observed": None,
         "expected": None, "detail": "no policy", "explanation": "Injected scripts would run."},
        {"target": target, "check": "spf", "passed": True, "severity": "high", "observed": "-all",
         "expected": None, "detail": "", "explanation": ""},
    ]  # fmt: skip


def sample() -> IntegrationResults:
    return IntegrationResults(
        [
            IntegrationResult(
                "audit",
                "a.example",
                Status.OK,
                (
                    IntegrationSection("findings", tuple(findings("a.example"))),
                    IntegrationSection("observatory", ({"grade": "C", "score": 55},)),
                ),
                duration_s=0.3,
            ),
            IntegrationResult("audit", EVIL, Status.ERROR, (), "ValueError", EVIL, None, 0.1),
        ]
    )


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_report_is_self_contained_and_escapes_everything(tmp_path: Path) -> None:
    """No script, no external reference, a CSP that forbids loading; outside text is escaped."""
    path = sample().to_html(tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(html)
    tags = {t for t, _ in parser.tags}
    assert "script" not in tags and "img" not in tags and "link" not in tags
    assert not any(k in ("src", "href") for _, attrs in parser.tags for k in attrs)
    assert "default-src 'none'" in html
    assert EVIL not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert not re.search(r"https?://", html)


def test_report_groups_failed_checks_by_severity_with_explanations(tmp_path: Path) -> None:
    """Summary per target (grade, counts), failed checks grouped by severity, every call's status."""
    html = intgkit.IntegrationResults.to_html(sample(), tmp_path / "r.html").read_text(encoding="utf-8")
    high, medium = html.index('id="severity-high"'), html.index('id="severity-medium"')
    assert html.index('id="targets"') < high < medium < html.index('id="calls"')
    assert "Browsers may use HTTP." in html[high:medium]
    assert "Injected scripts would run." in html[medium:]
    assert ">spf<" not in html  # passed checks are not listed
    row = re.search(r"<tr><td>a\.example</td>(.*?)</tr>", html)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
    assert cells[0] == "C" and cells[1:3] == ["3", "2"]


def test_report_counts_every_status() -> None:
    """The header counts each status that occurs, from the Status enum (new statuses included)."""
    from intgkit._report import report_html

    results = IntegrationResults([IntegrationResult("i", f"t{i}", s) for i, s in enumerate(Status)])
    html = report_html(results)
    for status in Status:
        assert f"1 {status.value}</span>" in html

"""Secrets never leave intgkit, and text from outside services is inert in HTML and CSV.

A distinctive token is planted in a setting; integrations then do their worst with it (put it in
exception messages, rows, nested cells, DataFrames, full results, messages long enough to be cut)
and every output channel is scanned for the token and for any 12-character piece of it.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import ipywidgets
import pandas as pd
import pytest
import structlog
from _reliability import STATS, reliability_report

import intgkit
from intgkit import IntegrationResult, IntegrationSection, Setting, Status
from intgkit._redact import MASK, MIN_SECRET_LEN, redact
from intgkit._settings import SettingsView

__all__ = ["reliability_report"]  # the module-scoped fixture that prints the counters

SECRET = "sk-PLANTED-9Qz7Xr2LmW4vT8yBq3"
ENV = "LEAKY_API_TOKEN"
#: A leak of a piece of the token (e.g. a message cut mid-token) counts as a leak too.
PIECES = [SECRET[i : i + 12] for i in range(len(SECRET) - 11)]


def leaks(text: str) -> list[str]:
    """The pieces of the planted token found in ``text``."""
    return [p for p in PIECES if p in text]


BEHAVIOURS = [
    "raise",
    "raise-cut",
    "keyerror",
    "rows",
    "nested",
    "frame",
    "passthrough",
    "malformed",
    "group",
]


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    """Panels made here are closed afterwards."""
    yield
    ipywidgets.Widget.close_all()


@pytest.fixture
def leaky(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> intgkit.IntegrationRegistry:
    """A registry with one integration that tries to leak its token in every way, by target."""
    monkeypatch.setenv(ENV, SECRET)

    @intgkit.integration(registry=registry, settings=[ENV], title="Leaky API")
    async def leaky(target, settings):  # type: ignore[no-untyped-def]
        token = settings[ENV]
        if target == "raise":
            raise PermissionError(f"401 Unauthorized for Authorization: Bearer {token}")
        if target == "raise-cut":  # the token straddles the 2000-character cut of error messages
            raise ValueError("x" * 1985 + token + " tail")
        if target == "keyerror":
            raise KeyError(token)
        if target == "rows":
            return {"s": [{"auth": f"Bearer {token}", "n": 1}]}
        if target == "nested":
            return {"n": [{"request": {"headers": {"Authorization": f"Bearer {token}"}}, "log": [token]}]}
        if target == "frame":
            return {"f": pd.DataFrame({"a": [f"token={token}"], "b": [1]})}
        if target == "passthrough":
            return IntegrationResult(
                "leaky",
                target,
                Status.ERROR,
                sections=(IntegrationSection("p", ({"t": token},)),),
                error_type="Upstream",
                error=f"upstream said: bad key {token}",
            )
        if target == "malformed":
            return f"token {token}"
        raise ExceptionGroup("several", [ValueError(token)])

    return registry


def _frames_text(results: intgkit.IntegrationResults) -> str:
    parts = [results.to_frame().to_csv()]
    for flatten in (False, True):
        parts += [f.to_csv() for f in results.to_frames(flatten=flatten).values()]
    return "\n".join(parts)


def _files_text(folder: Path) -> str:
    return "\n".join(
        p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*")) if p.is_file()
    )


async def test_planted_token_appears_in_no_output_channel(
    leaky: intgkit.IntegrationRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reprs, HTML, log events, stdout/stderr, frames, CSV files, the breaker table, the panel
    and the CLI: none holds the token or any 12-character piece of it."""
    runner = intgkit.IntegrationRunner(leaky, timeout=5, fail_max=100)
    integ = leaky.get("leaky")
    channels: dict[str, str] = {}
    with structlog.testing.capture_logs() as events:
        results = await runner.arun(["leaky"], BEHAVIOURS)
    assert [r.status for r in results][:3] == [Status.ERROR] * 3
    assert results[3].ok and results[4].ok and results[5].ok
    channels["log events"] = repr(events)
    # unconfigured structlog prints to stdout: run again with the default configuration
    await runner.arun(["leaky"], BEHAVIOURS)
    runner.run(["leaky"], BEHAVIOURS)
    for r in results:
        channels[f"repr/str/html of result {r.target}"] = (
            repr(r) + str(r) + r._repr_html_() + repr(r.sections)
        )
        channels[f"error of {r.target}"] = f"{r.error_type} {r.error}"
    channels["results repr/html"] = repr(results) + str(results) + results._repr_html_()
    channels["runner repr"] = repr(runner) + str(runner)
    channels["registry repr"] = repr(leaky) + str(leaky)
    channels["integration repr"] = repr(integ) + str(integ) + repr(integ.settings)
    view = SettingsView([Setting(ENV)])
    assert view[ENV] == SECRET  # the view does hold it, for the integration
    channels["SettingsView repr/str"] = repr(view) + str(view) + repr(dict.fromkeys(view))
    channels["frames"] = _frames_text(results)
    out = results.to_csv(tmp_path / "export")
    channels["CSV export"] = _files_text(out)
    channels["breaker table"] = (
        repr(runner.breakers) + runner.breakers._repr_html_() + runner.breakers.to_frame().to_csv()
    )
    from intgkit.widgets import IntegrationPanel

    panel = IntegrationPanel(runner, targets=BEHAVIOURS)
    panel.run_button.click()
    assert panel.run_task is not None
    await panel.run_task
    panel_html = [panel.status.value, repr(panel.output.outputs)]
    for name in [*(panel.results or intgkit.IntegrationResults()).section_names(), "summary"]:
        panel.picker.value = name
        panel_html.append(repr(panel.output.outputs))
    channels["panel"] = "\n".join(panel_html)
    from intgkit import cli

    for fmt in ("table", "csv", "json"):
        buf = io.StringIO()
        code = cli.main(
            ["run", "leaky", *[a for t in BEHAVIOURS for a in ("-t", t)], "--format", fmt, "--no-progress"],
            registry=leaky,
            stdout=buf,
        )
        assert code == 1  # some results are errors
        channels[f"CLI --format {fmt}"] = buf.getvalue()
    buf = io.StringIO()
    cli.main(
        ["run", "leaky", "-t", "nested", "--section", "n", "--format", "json", "--no-progress"],
        registry=leaky,
        stdout=buf,
    )
    channels["CLI --section"] = buf.getvalue()
    captured = capsys.readouterr()
    channels["stdout"] = captured.out
    channels["stderr"] = captured.err
    assert "integration_result" in captured.out  # the default structlog output was scanned

    found = {name: leaks(text) for name, text in channels.items()}
    STATS["secrets_planted"] += len(BEHAVIOURS)
    STATS["channels_scanned"] += len(channels)
    STATS["secrets_leaked"] += sum(bool(v) for v in found.values())
    assert {k: v for k, v in found.items() if v} == {}
    assert MASK in results[0].error and MASK in results[1].error  # type: ignore[operator]


async def test_redaction_reaches_nested_cells(leaky: intgkit.IntegrationRegistry) -> None:
    """A token nested inside a cell (a dict of headers, a list) is masked in the result itself."""
    (r,) = await intgkit.IntegrationRunner(leaky, timeout=5).arun(["leaky"], ["nested"])
    row = r.section("n").rows[0]
    assert row == {"request": {"headers": {"Authorization": f"Bearer {MASK}"}}, "log": [MASK]}


def test_error_cut_never_leaves_a_piece_of_the_token(leaky: intgkit.IntegrationRegistry) -> None:
    """A message cut at 2000 characters is redacted first, so no prefix of the token survives."""
    (r,) = intgkit.IntegrationRunner(leaky, timeout=5).run(["leaky"], ["raise-cut"])
    assert r.error is not None and len(r.error) <= 2000 and leaks(r.error) == []


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        ("abc12", "login failed for abc12", "login failed for abc12"),  # too short to mask inside text
        ("abc12", "abc12", MASK),  # but a text that is exactly the value is masked whole
        ("abc123", "login failed for abc123", f"login failed for {MASK}"),  # MIN_SECRET_LEN: masked
        ("x" * MIN_SECRET_LEN, "a " + "x" * MIN_SECRET_LEN + " b", f"a {MASK} b"),
    ],
)
def test_short_secret_rule(secret: str, text: str, expected: str) -> None:
    """Values shorter than MIN_SECRET_LEN (6) are masked only when a text is exactly the value;
    from 6 characters on they are masked wherever they appear."""
    assert MIN_SECRET_LEN == 6
    assert redact(text, [secret]) == expected


def test_short_secret_rule_through_the_runner(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the runner: a 5-character token stays in a longer message, is masked when alone."""
    monkeypatch.setenv("SHORT_TOKEN", "q7Zp2")

    @intgkit.integration(registry=registry, settings=["SHORT_TOKEN"])
    async def short(target, settings):  # type: ignore[no-untyped-def]
        raise ValueError(settings["SHORT_TOKEN"] if target == "alone" else "bad q7Zp2 here")

    alone, inside = intgkit.IntegrationRunner(registry).run(["short"], ["alone", "inside"])
    assert alone.error == MASK and inside.error == "bad q7Zp2 here"


# -- untrusted text: HTML and spreadsheets -------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x","y")'
FORMULAS = [FORMULA, "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture
def hostile(registry: intgkit.IntegrationRegistry) -> intgkit.IntegrationRegistry:
    """Integrations whose errors, cells, titles and targets carry HTML and formula payloads."""

    @intgkit.integration(registry=registry, title=SCRIPT, breaker_per_target=True)
    async def payload(target):  # type: ignore[no-untyped-def]
        if target.startswith("err"):
            raise RuntimeError(f"{SCRIPT} {FORMULA}")
        return {SCRIPT: [{"cell": SCRIPT, "f": f, SCRIPT: 1} for f in FORMULAS]}

    return registry


TARGETS = ["ok", SCRIPT, FORMULA, f"err {SCRIPT}", "err=1"]


async def test_outside_text_is_escaped_in_every_html_repr_and_the_panel(
    hostile: intgkit.IntegrationRegistry,
) -> None:
    """<script> in targets, errors, section names, cells and titles is escaped in results,
    result, breaker-table and panel HTML."""
    runner = intgkit.IntegrationRunner(hostile, fail_max=1)
    results = await runner.arun(["payload"], TARGETS)
    assert [r.ok for r in results] == [True, True, True, False, False]
    from intgkit.widgets import IntegrationPanel

    panel = IntegrationPanel(runner, targets=TARGETS)
    panel.run_button.click()
    assert panel.run_task is not None
    await panel.run_task
    panel.picker.value = SCRIPT  # the section whose name is the payload
    html = {
        "results": results._repr_html_(),
        "result": results[3]._repr_html_() + results[1]._repr_html_(),
        "breakers": runner.breakers._repr_html_(),
        "panel status": panel.status.value,
        "panel output": json.dumps([o.get("data", {}).get("text/html", "") for o in panel.output.outputs]),
    }
    STATS["channels_scanned"] += len(html)
    for name, text in html.items():
        assert SCRIPT not in text and "<script" not in text.lower(), name
    assert "&lt;script&gt;" in html["results"] and "&lt;script&gt;" in html["breakers"]
    assert "&lt;script&gt;" in html["panel status"] and "&lt;script&gt;" in html["panel output"]


def test_formulas_are_neutralized_in_csv_and_read_back_exactly(
    hostile: intgkit.IntegrationRegistry, tmp_path: Path
) -> None:
    """Formula payloads in targets, errors and cells are prefixed with ' in every CSV cell,
    and read_csv gives the original text back."""
    results = intgkit.IntegrationRunner(hostile, fail_max=100).run(["payload"], TARGETS)
    folder = results.to_csv(tmp_path / "out")
    cells = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            cells += [c for row in csv.reader(fh) for c in row]
    risky = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert risky == []
    assert "'" + FORMULA in cells and "'@SUM(A1)" in cells
    back = intgkit.frames.read_csv(folder)  # type: ignore[attr-defined]
    assert FORMULA in set(back["summary"]["target"])
    section = next(v for k, v in back.items() if k != "summary")
    assert set(section["f"]) == set(FORMULAS)


def test_cli_csv_output_is_neutralized(hostile: intgkit.IntegrationRegistry) -> None:
    """`intgkit run --format csv` prints no cell a spreadsheet would run."""
    from intgkit import cli

    buf = io.StringIO()
    cli.main(
        ["run", "payload", "-t", FORMULA, "-t", "err=1", "--format", "csv", "--no-progress"],
        registry=hostile,
        stdout=buf,
    )
    cells = [c for row in csv.reader(io.StringIO(buf.getvalue())) for c in row]
    assert "'" + FORMULA in cells
    assert [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))] == []


# -- built-in integrations send credentials only to their API base over HTTPS -------------------


async def test_cloudflare_token_is_not_sent_over_http_nor_through_a_redirect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cloudflare integration refuses an http:// base on a remote host before connecting, and
    does not follow a redirect from its (loopback) base to another server: the token stays put."""
    from aiohttp import web

    from intgkit.integrations.cloudflare import Cloudflare

    seen_elsewhere: list[str | None] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen_elsewhere.append(request.headers.get("Authorization"))
        return web.json_response({"success": True, "result": [], "errors": [], "messages": []})

    async def redirector(request: web.Request) -> web.Response:
        raise web.HTTPFound(location=f"http://127.0.0.1:{other_port}/client/v4/zones")

    apps = []
    for handler in (elsewhere, redirector):
        app = web.Application()
        app.router.add_get("/{tail:.*}", handler)
        app_runner = web.AppRunner(app)
        await app_runner.setup()
        site = web.TCPSite(app_runner, "127.0.0.1", 0)
        await site.start()
        apps.append((app_runner, site._server.sockets[0].getsockname()[1]))  # type: ignore[union-attr]
    other_port, redirect_port = apps[0][1], apps[1][1]
    try:
        registry = intgkit.IntegrationRegistry(None)
        registry.register(Cloudflare(token=SECRET, api_base=f"http://127.0.0.1:{redirect_port}/client/v4"))
        plain_http = Cloudflare(token=SECRET, api_base="http://api.example.invalid/client/v4")
        plain_http.name = "cloudflare_plain"  # a second instance under its own name
        registry.register(plain_http)
        results = await intgkit.IntegrationRunner(registry, timeout=5).arun()
    finally:
        for app_runner, _ in apps:
            await app_runner.cleanup()
    assert seen_elsewhere == []
    by_name = {r.integration: r for r in results}
    assert by_name["cloudflare"].status is Status.ERROR and "redirect" in (by_name["cloudflare"].error or "")
    plain = by_name["cloudflare_plain"]
    assert plain.status is Status.ERROR and "https://" in (plain.error or "")
    STATS["channels_scanned"] += 1
    assert leaks(repr(results) + results._repr_html_()) == []
    await asyncio.sleep(0)


def test_the_run_history_store_holds_no_secret(leaky: intgkit.IntegrationRegistry, tmp_path: Path) -> None:
    """Every table of the run-history store, read back through SQL (DuckDB compresses text, so
    raw bytes alone would prove nothing) and the file's raw bytes, holds no piece of the token;
    the settings are stored as present or not, never as values."""
    import duckdb

    from intgkit._store import flush

    store = tmp_path / "history.duckdb"

    @intgkit.integration(registry=leaky, settings=[ENV])
    async def leaky_summary(target, settings):  # type: ignore[no-untyped-def]
        token = settings[ENV]  # a section summary (which the runner does not redact) with the token
        return [IntegrationSection("s", ({"n": 1},), {"auth": f"Bearer {token}", "nested": [token]})]

    results = intgkit.IntegrationRunner(leaky, timeout=5, fail_max=100, history=store).run(
        ["leaky", "leaky_summary"], BEHAVIOURS
    )
    flush(store)
    assert results.run_id is not None
    loaded = intgkit.History(store).load(results.run_id)
    channels = {"loaded frames": _frames_text(loaded), "raw file": store.read_bytes().decode("latin-1")}
    with duckdb.connect(str(store), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            channels[f"table {table}"] = repr(rows)
        (settings,) = con.execute("SELECT settings_present FROM runs").fetchall()[0]
    assert json.loads(settings) == {"leaky": {ENV: True}, "leaky_summary": {ENV: True}}
    summary = dict(loaded[len(BEHAVIOURS)].section("s").summary)
    assert summary == {"auth": f"Bearer {MASK}", "nested": [MASK]}
    assert "section_s" in tables and "section_n" in tables  # the leaky rows were stored
    found = {name: leaks(text) for name, text in channels.items()}
    STATS["channels_scanned"] += len(channels)
    STATS["secrets_leaked"] += sum(bool(v) for v in found.values())
    assert {k: v for k, v in found.items() if v} == {}


async def test_section_rows_given_as_a_list_are_redacted_not_crashed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An IntegrationSection whose rows are a list (not a tuple or a frame) is redacted like any other.

    It used to be taken for a DataFrame and the AttributeError escaped the runner.
    """
    monkeypatch.setenv(ENV, SECRET)
    registry = intgkit.IntegrationRegistry(None)

    @intgkit.integration(name="listy", registry=registry, settings=[Setting(ENV, secret=True)])
    async def _listy(target: str | None, settings: object) -> IntegrationResult:
        return IntegrationResult(
            "listy", target, Status.OK, (IntegrationSection("s", [{"echo": f"token={SECRET}"}]),)
        )

    (r,) = await intgkit.IntegrationRunner(registry, timeout=5).arun(["listy"], ["t"])
    assert r.status is Status.OK, r.error
    assert r.section("s").rows[0] == {"echo": f"token={MASK}"}

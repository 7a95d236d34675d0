"""IntegrationPanel driven through its widget models (a dummy comm outside a kernel)."""

from __future__ import annotations

import asyncio
import html
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ipywidgets
import pytest

import intgkit
from intgkit.widgets import IntegrationPanel


@pytest.fixture(autouse=True)
def _close_widgets() -> Iterator[None]:
    """Every widget made in a test is closed after it."""
    yield
    ipywidgets.Widget.close_all()


class Clock:
    """A settable aware-UTC clock for the breakers."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A frozen clock, so seconds-until-probe is exact."""
    return Clock()


def make_runner(
    registry: intgkit.IntegrationRegistry, clock: Clock | None = None, **kwargs: object
) -> intgkit.IntegrationRunner:
    return intgkit.IntegrationRunner(registry, clock=clock, **kwargs)  # type: ignore[arg-type]


def add_ok(registry: intgkit.IntegrationRegistry, name: str = "good", title: str = "Good one") -> None:
    @intgkit.integration(name=name, title=title, registry=registry)
    async def _fetch(target: str | None) -> dict[str, list[dict[str, object]]]:
        return {"rows": [{"target": target, "n": 1}]}


def add_failing(registry: intgkit.IntegrationRegistry, message: str = "boom") -> None:
    @intgkit.integration(name="flaky", title="Flaky", registry=registry)
    async def _fetch(target: str | None) -> None:
        raise RuntimeError(message)


def add_slow(registry: intgkit.IntegrationRegistry, seconds: float = 5.0, timeout: float = 0.05) -> None:
    @intgkit.integration(name="slow", title="Slow", registry=registry, timeout=timeout)
    async def _fetch(target: str | None) -> dict[str, list[dict[str, object]]]:
        await asyncio.sleep(seconds)
        return {"rows": []}


def message_text(panel: IntegrationPanel) -> str:
    """The panel's message line (the newest error or confirmation), as HTML-unescaped text."""
    return html.unescape(panel.message.value)


def test_checkboxes_follow_the_registry(registry: intgkit.IntegrationRegistry) -> None:
    """One checkbox per integration, labelled with its title, checked when configured."""
    add_ok(registry)
    add_failing(registry)
    panel = IntegrationPanel(make_runner(registry))
    assert list(panel.checkboxes) == ["flaky", "good"]
    assert panel.checkboxes["good"].description == "Good one"
    assert panel.selected == ["flaky", "good"]


def test_unconfigured_integration_is_disabled_and_names_missing_settings(
    registry: intgkit.IntegrationRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An integration without its settings is disabled, and the panel says which are missing."""
    monkeypatch.delenv("INTGKIT_TEST_TOKEN", raising=False)

    @intgkit.integration(name="needs_token", settings=["INTGKIT_TEST_TOKEN"], registry=registry)
    def _fetch(target: str | None) -> dict[str, list[dict[str, object]]]:
        return {}

    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry))
    box = panel.checkboxes["needs_token"]
    assert box.disabled
    assert not box.value
    html = "".join(
        c.value
        for row in panel.integrations_box.children
        for c in row.children
        if isinstance(c, ipywidgets.HTML)
    )
    assert "not configured" in html
    assert "INTGKIT_TEST_TOKEN" in html
    panel.select_none_button.click()
    assert panel.selected == []
    panel.select_all_button.click()
    assert panel.selected == ["good"]
    assert not box.value


def test_select_none_then_run_shows_an_error(registry: intgkit.IntegrationRegistry) -> None:
    """Running with nothing selected puts a message in the output instead of raising."""
    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry))
    panel.select_none_button.click()
    panel.run_button.click()
    assert "no integration is selected" in message_text(panel)
    assert not panel.run_button.disabled
    assert panel.run_task is None


@pytest.mark.parametrize("bad", ["abc", "-1", "0", "inf", "nan"])
def test_bad_timeout_is_shown_as_an_error(registry: intgkit.IntegrationRegistry, bad: str) -> None:
    """A timeout that is not a positive finite number is an error message, and nothing runs."""
    add_ok(registry)
    runner = make_runner(registry)
    panel = IntegrationPanel(runner)
    panel.timeout_box.value = bad
    panel.run_button.click()
    assert "UsageError" in message_text(panel)
    assert "timeout" in message_text(panel)
    assert runner.last_results is None
    assert not panel.run_button.disabled


def test_bad_concurrency_and_duplicate_targets_are_shown(registry: intgkit.IntegrationRegistry) -> None:
    """Concurrency below 1 and a target listed twice are reported in the output."""
    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry))
    panel.concurrency_box.value = 0
    panel.run_button.click()
    assert "max concurrency" in message_text(panel)
    panel.concurrency_box.value = 4
    panel.targets_box.value = "a.example\na.example\n"
    panel.run_button.click()
    assert "listed twice" in message_text(panel)


async def test_run_fills_results_status_and_progress(registry: intgkit.IntegrationRegistry) -> None:
    """Run on the loop: results for every (integration, target), a full bar, a status table."""
    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry), targets=["a.example", "b.example"])
    panel.targets_box.value += "\n\n  c.example  \n"
    panel.run_button.click()
    assert panel.run_button.disabled
    assert not panel.cancel_button.disabled
    assert panel.run_task is not None
    results = await panel.run_task
    assert results is panel.results
    assert [(r.integration, r.target, r.status.value) for r in panel.results] == [
        ("good", t, "ok") for t in ("a.example", "b.example", "c.example")
    ]
    assert (panel.progress.value, panel.progress.max) == (3, 3)
    assert panel.progress.bar_style == "success"
    assert not panel.run_button.disabled
    assert panel.cancel_button.disabled
    assert ">ok<" in panel.status.value
    assert "3/3" in panel.status.value


async def test_status_table_updates_as_each_result_arrives(registry: intgkit.IntegrationRegistry) -> None:
    """The table shows a fast result while a slow call is still running."""
    add_ok(registry)
    gate = asyncio.Event()

    @intgkit.integration(name="waiter", registry=registry)
    async def _wait(target: str | None) -> dict[str, list[dict[str, object]]]:
        await gate.wait()
        return {}

    panel = IntegrationPanel(make_runner(registry))
    panel.run_button.click()
    assert panel.run_task is not None
    for _ in range(100):  # updates are throttled to one per RENDER_INTERVAL_S
        if ">ok<" in panel.status.value:
            break
        await asyncio.sleep(0.01)
    assert panel.running
    assert ">ok<" in panel.status.value
    assert "running…" in panel.status.value
    gate.set()
    await panel.run_task
    assert "running…" not in panel.status.value


async def test_failing_integration_trips_its_breaker(
    registry: intgkit.IntegrationRegistry, clock: Clock
) -> None:
    """After fail_max failures the table shows the breaker open, its fail counter and countdown."""
    add_failing(registry)
    runner = make_runner(registry, clock, fail_max=2, reset_timeout=60)
    panel = IntegrationPanel(runner)
    for _ in range(2):
        panel.run_button.click()
        await panel.run_task  # type: ignore[misc]
    html = panel.status.value
    assert "open</span>" in html
    assert "<td class='num'>2</td>" in html  # fail counter
    assert "60 s" in html
    assert "12:01:00 UTC" in html  # when the probe is due, on the injected clock
    clock.now += timedelta(seconds=45)
    panel._render_status()
    assert "15 s" in panel.status.value
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    assert panel.results is not None
    assert panel.results[0].status is intgkit.Status.CIRCUIT_OPEN
    assert "circuit_open" in panel.status.value


async def test_open_breaker_countdown_keeps_moving_after_the_run(
    registry: intgkit.IntegrationRegistry, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a run that left a breaker open, the table refreshes its countdown by itself."""
    monkeypatch.setattr("intgkit.widgets._panel.TICK_S", 0.01)
    add_failing(registry)
    panel = IntegrationPanel(make_runner(registry, clock, fail_max=1, reset_timeout=60))
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    assert "60 s" in panel.status.value
    clock.now += timedelta(seconds=30)
    for _ in range(100):
        if "30 s" in panel.status.value:
            break
        await asyncio.sleep(0.01)
    assert "30 s" in panel.status.value
    clock.now += timedelta(seconds=30)
    await asyncio.sleep(0.1)
    assert "probe due" in panel.status.value
    assert panel._ticker is not None
    assert panel._ticker.done()  # stops once nothing counts down


async def test_reset_breakers_closes_them(registry: intgkit.IntegrationRegistry, clock: Clock) -> None:
    """Reset breakers closes every breaker and the table shows it at once."""
    add_failing(registry)
    runner = make_runner(registry, clock, fail_max=1)
    panel = IntegrationPanel(runner)
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    assert runner.breakers["flaky"].state == "open"
    panel.reset_button.click()
    assert runner.breakers["flaky"].state == "closed"
    assert "open</span>" not in panel.status.value
    assert "closed</span>" in panel.status.value


async def test_slow_integration_times_out_and_is_counted(registry: intgkit.IntegrationRegistry) -> None:
    """Calls over their timeout end as timeout results and the table counts them."""
    add_ok(registry)
    add_slow(registry, timeout=0.05)
    panel = IntegrationPanel(make_runner(registry, fail_max=5), targets=["a", "b"])
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    assert panel.results is not None
    assert [r.status.value for r in panel.results if r.integration == "slow"] == ["timeout", "timeout"]
    row = next(r for r in panel.status.value.split("<tr>") if ">Slow<" in r)
    assert ">timeout<" in row
    # calls 2/2, then the timeout count 2
    assert "<td class='num'>2/2</td><td class='num'>2</td>" in row
    assert panel.progress.bar_style == "warning"


async def test_timeout_box_overrides_the_integrations_timeout(registry: intgkit.IntegrationRegistry) -> None:
    """A timeout typed in the panel applies to the run, over the integration's own."""
    add_slow(registry, seconds=0.2, timeout=0.01)
    panel = IntegrationPanel(make_runner(registry))
    panel.timeout_box.value = "5"
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    assert panel.results is not None
    assert panel.results[0].status is intgkit.Status.OK


async def test_cancel_keeps_finished_results_and_reenables_run(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """Cancel mid-run: finished results are kept and shown, the rest marked cancelled, Run back on."""
    add_ok(registry)
    add_slow(registry, seconds=30, timeout=60)
    runner = make_runner(registry)
    panel = IntegrationPanel(runner)
    panel.run_button.click()
    task = panel.run_task
    assert task is not None
    while panel.progress.value < 1:
        await asyncio.sleep(0.01)
    panel.cancel_button.click()
    results = await task
    assert results is runner.last_results
    assert panel.results is runner.last_results
    assert [(r.integration, r.status.value) for r in panel.results] == [("good", "ok"), ("slow", "cancelled")]
    assert not panel.run_button.disabled
    assert panel.cancel_button.disabled
    assert panel.progress_label.value == "cancelled: 1/2 done (1 ok, 1 cancelled)"
    assert runner.breakers["slow"].fail_counter == 0  # a cancel is not a failure
    slow_row = next(r for r in panel.status.value.split("<tr>") if ">Slow<" in r)
    assert "running" not in panel.status.value  # the run has ended: nothing is running
    assert ">cancelled<" in slow_row and "(1 cancelled)" in slow_row


async def test_error_text_is_escaped_in_the_status_table(registry: intgkit.IntegrationRegistry) -> None:
    """An error message carrying markup is shown as text, not run as HTML."""
    add_failing(registry, message="<script>alert('x')</script>")
    panel = IntegrationPanel(make_runner(registry))
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    html = panel.status.value
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_titles_are_escaped(registry: intgkit.IntegrationRegistry) -> None:
    """A title with markup is escaped in the status table."""
    add_ok(registry, title="<b>bold</b> & co")
    panel = IntegrationPanel(make_runner(registry))
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in panel.status.value
    assert "<b>bold" not in panel.status.value


async def test_output_shows_summary_and_section_frames(registry: intgkit.IntegrationRegistry) -> None:
    """The output shows the summary frame; the picker switches to a section's frame."""
    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry), targets=["a.example"])
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    assert list(panel.picker.options) == ["summary", "rows"]
    assert not panel.picker.disabled
    (shown,) = panel.output.outputs
    assert shown["output_type"] == "display_data"
    assert "status" in shown["data"]["text/plain"]
    panel.picker.value = "rows"
    (shown,) = panel.output.outputs
    assert "a.example" in shown["data"]["text/plain"]
    assert "status" not in shown["data"]["text/plain"]


def test_run_outside_a_loop_runs_to_completion(registry: intgkit.IntegrationRegistry) -> None:
    """Without a running loop (a plain script) Run completes the run before returning."""
    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry))
    panel.run_button.click()
    assert panel.run_task is None
    assert panel.results is not None
    assert panel.results[0].ok
    assert not panel.run_button.disabled


def test_panel_refuses_a_non_runner() -> None:
    """Passing something that is not a runner is a usage error naming what was passed."""
    with pytest.raises(intgkit.UsageError, match="IntegrationRunner, got dict"):
        IntegrationPanel({})  # type: ignore[arg-type]


def test_import_intgkit_does_not_import_optional_layers() -> None:
    """`import intgkit` leaves ipywidgets and matplotlib unimported."""
    code = textwrap.dedent(
        """
        import sys, intgkit
        loaded = [m for m in ("ipywidgets", "matplotlib") if m in sys.modules]
        assert not loaded, loaded
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_ipywidgets_names_the_extra() -> None:
    """Without ipywidgets, importing the panel says which extra to install."""
    code = textwrap.dedent(
        """
        import sys
        sys.modules["ipywidgets"] = None
        import intgkit
        try:
            import intgkit.widgets
        except intgkit.MissingExtraError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert 'pip install "intgkit[widgets]"' in out


async def test_reset_confirms_and_clears_stale_last_results(
    registry: intgkit.IntegrationRegistry, clock: Clock
) -> None:
    """Reset breakers says when it happened and forgets the circuit_open/error cells it made stale."""
    add_failing(registry, message="refused by upstream")
    runner = make_runner(registry, clock, fail_max=1)
    panel = IntegrationPanel(runner)
    for _ in range(2):
        panel.run_button.click()
        await panel.run_task  # type: ignore[misc]
    assert ">circuit_open<" in panel.status.value
    panel.reset_button.click()
    assert re.search(r"breakers reset at \d\d:\d\d:\d\d UTC", message_text(panel))
    assert ">circuit_open<" not in panel.status.value
    assert "refused by upstream" not in panel.status.value


def test_newest_error_replaces_the_previous_one(registry: intgkit.IntegrationRegistry) -> None:
    """Errors show at the top, one at a time: a new mistake replaces the old message."""
    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry))
    panel.timeout_box.value = "soon"
    panel.run_button.click()
    assert "timeout must be a number" in message_text(panel)
    panel.timeout_box.value = ""
    panel.concurrency_box.value = 0
    panel.run_button.click()
    assert "max concurrency" in message_text(panel)
    assert "timeout must be a number" not in message_text(panel)
    assert panel.children.index(panel.message) < panel.children.index(panel.tabs)


async def test_elapsed_time_is_shown_beside_the_progress(registry: intgkit.IntegrationRegistry) -> None:
    """The elapsed time of the run is shown next to the count and stops when the run ends."""
    add_slow(registry, seconds=0.3, timeout=5)
    panel = IntegrationPanel(make_runner(registry))
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    match = re.fullmatch(r"(\d+\.\d) s", panel.elapsed.value)
    assert match is not None and float(match.group(1)) >= 0.3
    first = panel.elapsed.value
    await asyncio.sleep(0.2)
    panel._render_status()
    assert panel.elapsed.value == first  # frozen once the run has ended


async def test_compact_summary_and_the_full_frame_one_click_away(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """The results tab shows the columns needed at a glance; 'all columns' shows the whole frame."""
    add_failing(registry, message="x" * 500)
    panel = IntegrationPanel(make_runner(registry, fail_max=10))
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    (shown,) = panel.output.outputs
    compact = shown["data"]["text/html"]
    assert "started_at" not in compact and "queued_s" not in compact and ">error<" in compact
    panel.full_frame.value = True
    (shown,) = panel.output.outputs
    assert "started_at" in shown["data"]["text/html"] and "queued_s" in shown["data"]["text/html"]


async def test_findings_view_groups_failed_checks_by_severity(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """The findings tab lists failed checks most severe first, filters by severity, escapes text."""

    @intgkit.integration(name="audit", registry=registry)
    async def _audit(target: str | None) -> dict[str, list[dict[str, object]]]:
        row = {"target": target, "integration": "audit", "observed": "<img src=x>", "explanation": "why"}
        return {
            "findings": [
                {**row, "check": "low-one", "severity": "low", "passed": False},
                {**row, "check": "high-one", "severity": "high", "passed": False},
                {**row, "check": "passed-one", "severity": "critical", "passed": True},
            ]
        }

    panel = IntegrationPanel(make_runner(registry), targets=["a.example"])
    assert "No run yet" in panel.findings.value
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    html_text = panel.findings.value
    assert html_text.index("high (1)") < html_text.index("low (1)")
    assert "passed-one" not in html_text
    assert "<img" not in html_text and "&lt;img src=x&gt;" in html_text
    panel.severity.value = "medium"
    assert "high-one" in panel.findings.value and "low-one" not in panel.findings.value
    panel.severity.value = "critical"
    assert "No failed check at severity critical" in panel.findings.value


def test_panel_text_colours_follow_the_theme(registry: intgkit.IntegrationRegistry) -> None:
    """Names and the 'updated' line take JupyterLab's theme colours, not fixed greys."""
    add_ok(registry)
    panel = IntegrationPanel(make_runner(registry))
    css = panel.children[0].value
    assert "var(--jp-ui-font-color1" in css and "var(--jp-ui-font-color2" in css
    table = panel.status.value.split("</style>", 1)[1]
    assert "#57606a" not in table and "color:#" not in table.replace("color:#fff", "")


async def test_history_tab_shows_a_past_run_and_what_changed(
    registry: intgkit.IntegrationRegistry, history_path: Path
) -> None:
    """The History tab lists stored runs, shows a past one, and diffs the last run with the previous."""
    checks = {"round": 1}

    @intgkit.integration(name="audit", registry=registry)
    async def _audit(target: str | None) -> dict[str, list[dict[str, object]]]:
        failing = {"old-problem", "lasting"} if checks["round"] == 1 else {"lasting", "new-problem"}
        return {
            "findings": [
                {"integration": "audit", "target": target, "check": c, "result_id": f"{c}-fail",
                 "passed": False, "severity": "high", "observed": None}
                for c in sorted(failing)
            ]
        }  # fmt: skip

    panel = IntegrationPanel(intgkit.IntegrationRunner(registry, history=history_path), targets=["a.example"])
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    first = panel.results
    checks["round"] = 2
    panel.run_button.click()
    await panel.run_task  # type: ignore[misc]
    assert first is not None and first.run_id and panel.results is not None and panel.results.run_id

    panel.tabs.selected_index = 3  # History
    assert [run_id for _, run_id in panel.history_runs.options] == [panel.results.run_id, first.run_id]
    panel.history_changes.click()
    text = "".join(o.get("text", "") for o in panel.history_output.outputs)
    assert f"since run {first.run_id}: 0 result change(s), 2 finding change(s)" in text
    shown = "".join(o["data"]["text/html"] for o in panel.history_output.outputs if "data" in o)
    assert "new-problem" in shown and ">new<" in shown and "old-problem" in shown and ">resolved<" in shown

    panel.history_runs.value = first.run_id
    panel.history_show.click()
    assert panel.results is not None and panel.results.run_id == first.run_id
    assert "old-problem" in panel.findings.value and "new-problem" not in panel.findings.value
    assert panel.last_message == f"showing stored run {first.run_id}"


def test_history_tab_says_when_history_is_off(registry: intgkit.IntegrationRegistry) -> None:
    """With history=None the History tab says so instead of failing."""
    add_ok(registry)
    panel = IntegrationPanel(intgkit.IntegrationRunner(registry, history=None))
    panel.history_refresh.click()
    assert "Run history is off" in "".join(o.get("text", "") for o in panel.history_output.outputs)


async def test_status_tab_shows_calls_waiting_for_rate_limit_tokens(
    registry: intgkit.IntegrationRegistry,
) -> None:
    """Throttled calls show as waiting (progress text, limits table with tokens and next token)."""

    @intgkit.integration(
        name="throttled_panel_api", registry=registry, rate_limit=intgkit.RateLimit(2, per=1.0)
    )
    async def _throttled(target: str | None) -> dict[str, list[dict[str, object]]]:
        return {"rows": [{"target": target}]}

    panel = IntegrationPanel(make_runner(registry), targets=[f"t{i}" for i in range(5)])
    panel.run_button.click()
    seen_label, seen_table = "", ""
    while panel.running:
        await asyncio.sleep(0.05)
        panel._render_status()
        if "waiting for a rate-limit token" in panel.progress_label.value:
            seen_label, seen_table = panel.progress_label.value, panel.limits.value
    assert re.search(r"\d+ waiting for a rate-limit token", seen_label), seen_label
    assert "throttled_panel_api" in seen_table and "2 / 1 s" in seen_table
    assert panel.results is not None and all(r.ok for r in panel.results)
    assert "waiting for a rate-limit token" not in panel.progress_label.value  # settled at the end

"""IntegrationPanel: pick integrations and targets, run them, and watch the run's whole story.

Composed the way ipywidgets composes its own ``interactive``: a VBox subclass whose children
are assigned once, controls wired with ``observe(..., names="value")`` and ``on_click``, and the
Run button disabled while a run is in flight and re-enabled in ``finally``, so an exception is
shown and never lost. The newest error (or confirmation) is shown in one message line at the
top of the panel, replacing the previous one, where a reader looks first.

Below the controls, a tab per view of the run (status, results, findings), each rendered by a
module of its own, so the panel is the place where the run's story is told without being one
growing class.

The run is a task on the kernel's own event loop (``await runner.arun`` with its ``on_result``
callback), not the sync door: the notebook stays responsive, Cancel works, and the status table
updates as each result arrives. Outside a running loop (a plain script) Run falls back to
``asyncio.run``. Output is written with ``append_*`` and ``outputs = ()``, never ``with out:``,
which captures nothing outside a kernel and leaks into the cell's stdout under nbval.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

import ipywidgets as w

from .._errors import UsageError
from .._html import STATUS_COLOURS
from .._integration import validate_timeout
from .._models import IntegrationResult, Status
from .._results import IntegrationResults
from .._runner import IntegrationRunner
from ._findings_view import SEVERITY_CHOICES, findings_html
from ._history_view import changes, history_of, run_choices
from ._limits_view import limits_html, waiting_calls
from ._results_view import SUMMARY, frame_for
from ._status_view import Row, cut, status_table
from ._style import PANEL_CLASS, PANEL_CSS, muted

__all__ = ["RENDER_INTERVAL_S", "TICK_S", "IntegrationPanel"]

#: Status-table and progress updates are sent at most this often (one comm message each), so a
#: run of thousands of calls does not flood the browser; the last update is never dropped.
RENDER_INTERVAL_S = 0.1
#: How often the elapsed time (during a run) and an open breaker's countdown (after it) move.
TICK_S = 1.0
#: The tabs, in order; ``panel.tabs.selected_index`` follows this order.
VIEWS = ("Status", "Results", "Findings", "History")


@dataclass(frozen=True, slots=True)
class _Params:
    names: list[str]
    targets: list[str] | None
    timeout: Any  # float | None, or _DEFAULT to keep the runner's and integrations' own
    max_concurrency: int
    calls: int


_DEFAULT: Any = object()


class IntegrationPanel(w.VBox):  # type: ignore[misc]  # ipywidgets ships no type hints
    """A notebook panel over an :class:`~intgkit.IntegrationRunner`.

    Args:
        runner: the runner whose registry, breakers and limits the panel uses.
        targets: targets to pre-fill the targets box with, one per line.
        client: a dask.distributed ``Client``: runs go to its cluster (``runner.arun(...,
            client=)``, docs/scaling.md); Cancel cancels the partitions not finished.

    Attributes:
        results: the IntegrationResults of the last run (None before the first), for later cells.
        run_task: the asyncio.Task of the current or last run; ``await panel.run_task`` waits
            for it (None when no run was started on a running loop).
        message: the newest error or confirmation (HTML), at the top of the panel.
        last_message: the same as plain text ("" when there is none).
        tabs: the views of the run: status, results, findings.
    """

    def __init__(
        self, runner: IntegrationRunner, targets: Iterable[str] | None = None, *, client: Any = None
    ) -> None:
        if not isinstance(runner, IntegrationRunner):
            raise UsageError(f"IntegrationPanel needs an IntegrationRunner, got {type(runner).__name__}")
        if client is not None:
            from .._distributed import check_client

            check_client(client)
        self.runner = runner
        self.client = client
        self.results: IntegrationResults | None = None
        self.run_task: asyncio.Task[IntegrationResults | None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._rows: dict[str, Row] = {}
        self._last_render = 0.0
        self._render_pending: asyncio.TimerHandle | None = None
        self._updating_picker = False
        self._live = False  # a run is feeding the table
        self._started = 0.0  # time.monotonic() when the current run started
        self._ended: float | None = None

        registry = runner.registry
        self.checkboxes: dict[str, w.Checkbox] = {}
        self._titles: dict[str, str] = {}
        rows = []
        for integ in registry:
            name = integ.name
            self._titles[name] = str(integ.title)
            missing = registry.missing(name)
            box = w.Checkbox(
                value=not missing,
                description=str(integ.title),
                disabled=bool(missing),
                indent=False,
                layout=w.Layout(width="auto"),
            )
            self.checkboxes[name] = box
            self._rows[name] = Row()
            note = (
                f"<span class='intgkit-muted'>not configured: set {escape(', '.join(missing))}</span>"
                if missing
                else f"<code class='intgkit-name'>{escape(name)}</code>"
            )
            rows.append(w.HBox([box, w.HTML(note)]))
        self.integrations_box = w.VBox(rows)
        self.select_all_button = w.Button(description="All", tooltip="select every configured integration")
        self.select_none_button = w.Button(description="None", tooltip="select no integration")
        self.targets_box = w.Textarea(
            value="\n".join(targets or ()),
            placeholder="one target per line (empty: no target)",
            description="Targets",
            layout=w.Layout(width="100%", max_width="40em", height="6em"),
        )
        self.timeout_box = w.Text(
            value="",
            placeholder=_timeout_placeholder(runner.timeout),
            description="Timeout (s)",
            style={"description_width": "initial"},
            layout=w.Layout(width="auto"),
            tooltip="seconds per call; empty keeps the runner's and integrations' own; 'none' for no limit",
        )
        self.concurrency_box = w.IntText(
            value=runner.max_concurrency,
            description="Max concurrency",
            style={"description_width": "initial"},
            layout=w.Layout(width="auto"),
        )
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.reset_button = w.Button(description="Reset breakers", icon="refresh")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress")
        self.progress_label = w.Label(value="")
        self.progress_label.add_class("intgkit-progress-label")
        self.elapsed = w.Label(value="")
        self.elapsed.add_class("intgkit-elapsed")
        self.message = w.HTML(value="")
        #: the newest message as plain text ("" when none), for code and tests
        self.last_message = ""
        self.message.add_class("intgkit-message-box")
        # views
        self.status = w.HTML(value="")
        self.status.add_class("intgkit-status")
        self.limits = w.HTML(value="")
        self.limits.add_class("intgkit-limits")
        self.picker = w.Dropdown(options=[SUMMARY], value=SUMMARY, description="Show", disabled=True)
        self.full_frame = w.Checkbox(
            value=False, description="all columns", indent=False, layout=w.Layout(width="auto")
        )
        self.output = w.Output(layout=w.Layout(max_width="100%", overflow="auto"))
        self.output.add_class("intgkit-output")
        self.severity = w.Dropdown(
            options=list(SEVERITY_CHOICES), value="info", description="At least", disabled=False
        )
        self.findings = w.HTML(value=findings_html(None, "info"))
        self.findings.add_class("intgkit-findings")
        self.history_runs = w.Dropdown(options=[], description="Run", layout=w.Layout(width="100%"))
        self.history_refresh = w.Button(description="Refresh", icon="refresh", tooltip="list the stored runs")
        self.history_show = w.Button(
            description="Show run", tooltip="show the picked run in Results and Findings"
        )
        self.history_changes = w.Button(
            description="Changes since previous run",
            layout=w.Layout(width="auto"),
            tooltip="what changed between the last run and the previous run of the same integrations",
        )
        self.history_output = w.Output(layout=w.Layout(max_width="100%", overflow="auto"))
        self.history_output.add_class("intgkit-output")
        self.tabs = w.Tab(
            children=[
                w.VBox([self.status, self.limits]),
                w.VBox([w.HBox([self.picker, self.full_frame]), self.output]),
                w.VBox([self.severity, self.findings]),
                w.VBox(
                    [
                        self.history_runs,
                        w.HBox([self.history_refresh, self.history_show, self.history_changes]),
                        self.history_output,
                    ]
                ),
            ]
        )
        for i, title in enumerate(VIEWS):
            self.tabs.set_title(i, title)

        self.select_all_button.on_click(self._select_all)
        self.select_none_button.on_click(self._select_none)
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(self._on_cancel)
        self.reset_button.on_click(self._on_reset)
        self.picker.observe(self._on_pick, names="value")
        self.full_frame.observe(self._on_pick, names="value")
        self.severity.observe(self._on_severity, names="value")
        self.history_refresh.on_click(self._on_history_refresh)
        self.history_show.on_click(self._on_history_show)
        self.history_changes.on_click(self._on_history_changes)
        self.tabs.observe(self._on_tab, names="selected_index")

        super().__init__(
            children=[
                w.HTML(PANEL_CSS),
                self.message,
                w.HTML("<strong>Integrations</strong>"),
                self.integrations_box,
                w.HBox([self.select_all_button, self.select_none_button]),
                self.targets_box,
                w.HBox([self.timeout_box, self.concurrency_box], layout=w.Layout(flex_flow="row wrap")),
                w.HBox([self.run_button, self.cancel_button, self.reset_button]),
                w.HBox([self.progress, self.progress_label, self.elapsed]),
                self.tabs,
            ],
            layout=w.Layout(max_width="100%"),
        )
        self.add_class(PANEL_CLASS)
        self._render_status()

    # -- selection -----------------------------------------------------------------------------
    @property
    def selected(self) -> list[str]:
        """The names of the checked integrations, in registry order."""
        return [n for n, box in self.checkboxes.items() if box.value and not box.disabled]

    def _select_all(self, _button: Any = None) -> None:
        for box in self.checkboxes.values():
            if not box.disabled:
                box.value = True

    def _select_none(self, _button: Any = None) -> None:
        for box in self.checkboxes.values():
            box.value = False

    # -- running -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a run is in flight."""
        return self.run_task is not None and not self.run_task.done()

    def _read_params(self) -> _Params:
        """The run's arguments from the controls; UsageError says what is wrong with them."""
        names = self.selected
        if not names:
            raise UsageError("no integration is selected; tick at least one configured integration")
        lines = [line.strip() for line in self.targets_box.value.splitlines()]
        targets = [t for t in lines if t] or None
        raw = self.timeout_box.value.strip()
        if not raw:
            timeout = _DEFAULT
        elif raw.lower() in ("none", "off", "no limit"):
            timeout = None
        else:
            try:
                number = float(raw)
            except ValueError:
                raise UsageError(
                    f"timeout must be a number of seconds (e.g. 30), 'none' for no limit, or "
                    f"empty for the defaults; got {raw!r}"
                ) from None
            timeout = validate_timeout(number)
        concurrency = self.concurrency_box.value
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise UsageError(f"max concurrency must be a whole number >= 1 (e.g. 32), got {concurrency!r}")
        kwargs = {} if timeout is _DEFAULT else {"timeout": timeout}
        calls = self.runner.plan(names, targets, **kwargs)  # every other caller mistake, now
        return _Params(names, targets, timeout, concurrency, len(calls))

    def _on_run(self, _button: Any = None) -> None:
        if self.running:
            return
        try:
            params = self._read_params()
        except Exception as exc:  # noqa: BLE001 - a bad input is shown, never raised into the frontend
            self._show_error(exc)
            return
        self.run_button.disabled = True
        self.cancel_button.disabled = False
        self._start(params)
        coro = self._run(params)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a plain script: no kernel loop to schedule on
            asyncio.run(coro)
            return
        self.run_task = loop.create_task(coro)
        self._ensure_ticker()

    def _start(self, params: _Params) -> None:
        """Reset the per-run state the table and progress bar show."""
        per_integration = params.calls // len(params.names)
        for name in self._rows:
            chosen = name in params.names
            self._rows[name] = Row(selected=chosen, total=per_integration if chosen else 0)
        self.progress.max = max(params.calls, 1)
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.progress_label.value = f"0/{params.calls}"
        self.message.value = ""
        self.last_message = ""
        self.output.outputs = ()
        self._started = time.monotonic()
        self._ended = None
        self._live = True
        self._render_status()

    async def _run(self, params: _Params) -> IntegrationResults | None:
        kwargs: dict[str, Any] = {} if params.timeout is _DEFAULT else {"timeout": params.timeout}
        if self.client is not None:
            kwargs["client"] = self.client
        cancelled = False
        results: IntegrationResults | None = None
        try:
            results = await self.runner.arun(
                params.names,
                params.targets,
                max_concurrency=params.max_concurrency,
                on_result=self._on_result,
                **kwargs,
            )
        except asyncio.CancelledError:
            # Cancel was pressed: the runner has put what finished (and the rest marked as
            # cancelled) in last_results. The panel has handled it, so the task ends normally.
            cancelled = True
            results = self.runner.last_results
        except Exception as exc:  # noqa: BLE001 - shown in the message line, never lost
            self._show_error(exc)
        finally:
            self._live = False
            self._ended = time.monotonic()
            self.run_button.disabled = False
            self.cancel_button.disabled = True
            try:
                if results is not None:
                    self.results = results
                    self._finish(results, cancelled)
                else:
                    self.progress.bar_style = "danger"
                    self._render_status()
                self._ensure_ticker()
            except Exception as exc:  # noqa: BLE001 - nothing may escape the task unseen
                self._show_error(exc)
        return results

    def _on_result(self, result: IntegrationResult) -> None:
        """Called by the runner as each call completes (on the loop, in completion order)."""
        row = self._rows.get(result.integration)
        if row is not None and result.status is not Status.CANCELLED:
            row.done += 1
            row.timeouts += result.status is Status.TIMEOUT
            row.last_status = result.status
            row.last_duration = result.duration_s
            row.last_error = result.error
        self.progress.value += 1
        self._render_soon()

    def _finish(self, results: IntegrationResults, cancelled: bool) -> None:
        """Settle every row from the run's final results, so no row says "running" any more."""
        for row in self._rows.values():
            row.done = row.timeouts = row.cancelled = 0
        for r in results:
            settled = self._rows.get(r.integration)
            if settled is None:
                continue
            if r.status is Status.CANCELLED:
                settled.cancelled += 1
            else:
                settled.done += 1
                settled.timeouts += r.status is Status.TIMEOUT
        counts = results.counts()
        done = len(results) - counts.get(Status.CANCELLED.value, 0)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        self.progress.value = done
        self.progress.bar_style = "warning" if cancelled or results.failed else "success"
        self.progress_label.value = (
            f"{'cancelled: ' if cancelled else ''}{done}/{len(results)} done ({summary})"
        )
        self._render_status()
        self._show_results_views()
        if self.tabs.selected_index == VIEWS.index("History"):
            self._on_history_refresh()

    def _show_results_views(self) -> None:
        """Point the Results and Findings tabs at ``self.results``."""
        assert self.results is not None
        self._updating_picker = True
        try:
            self.picker.options = [SUMMARY, *self.results.section_names()]
            self.picker.value = SUMMARY
            self.picker.disabled = False
        finally:
            self._updating_picker = False
        self._show_frame(SUMMARY)
        self._render_findings()

    def _on_cancel(self, _button: Any = None) -> None:
        if self.run_task is not None and not self.run_task.done():
            self.run_task.cancel()

    def _on_reset(self, _button: Any = None) -> None:
        try:
            self.runner.breakers.reset()
        except Exception as exc:  # noqa: BLE001 - shown, never lost
            self._show_error(exc)
            return
        for row in self._rows.values():
            row.clear_last()  # the last results explained breakers that are now closed
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self._show_message(f"breakers reset at {stamp} UTC", kind="info")
        self._render_status()

    # -- output --------------------------------------------------------------------------------
    def _on_pick(self, _change: dict[str, Any]) -> None:
        if not self._updating_picker:
            self._show_frame(self.picker.value)

    def _show_frame(self, which: str) -> None:
        self.output.outputs = ()
        if self.results is None:
            return
        try:
            frame = frame_for(self.results, which, full=self.full_frame.value)
        except Exception as exc:  # noqa: BLE001 - e.g. a section whose rows do not tabulate
            self._show_error(exc)
            return
        self.output.append_display_data(frame)

    def _on_severity(self, _change: dict[str, Any]) -> None:
        self._render_findings()

    def _render_findings(self) -> None:
        try:
            self.findings.value = findings_html(self.results, self.severity.value)
        except Exception as exc:  # noqa: BLE001 - shown, never lost
            self._show_error(exc)

    # -- history -------------------------------------------------------------------------------
    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] == VIEWS.index("History"):
            self._on_history_refresh()

    def _history(self) -> Any:
        """The runner's History, or None after saying in the history output why there is none."""
        history = history_of(self.runner)
        if isinstance(history, str):
            self.history_output.outputs = ()
            self.history_output.append_stdout(history + "\n")
            return None
        return history

    def _on_history_refresh(self, _button: Any = None) -> None:
        """List the stored runs, newest first."""
        try:
            history = self._history()
            if history is None:
                return
            choices = run_choices(history.runs())
        except Exception as exc:  # noqa: BLE001 - e.g. a store another process corrupted: shown
            self._show_error(exc)
            return
        self.history_runs.options = choices
        if choices:
            self.history_runs.value = choices[0][1]

    def _on_history_show(self, _button: Any = None) -> None:
        """Show the picked run in the Results and Findings tabs."""
        run_id = self.history_runs.value
        if not run_id:
            self._show_message("no stored run is picked: press Refresh, then pick one", kind="error")
            return
        try:
            history = self._history()
            if history is None:
                return
            self.results = history.load(run_id)
        except Exception as exc:  # noqa: BLE001 - shown, never lost
            self._show_error(exc)
            return
        self._show_results_views()
        self._show_message(f"showing stored run {run_id}", kind="info")

    def _on_history_changes(self, _button: Any = None) -> None:
        """What changed between the last run and the previous run of the same integrations."""
        try:
            history = self._history()
            if history is None:
                return
            found = changes(history, self.results)
        except Exception as exc:  # noqa: BLE001 - shown, never lost
            self._show_error(exc)
            return
        self.history_output.outputs = ()
        if isinstance(found, str):
            self.history_output.append_stdout(found + "\n")
            return
        old, result_changes, finding_changes = found
        self.history_output.append_stdout(
            f"since run {old}: {len(result_changes)} result change(s), "
            f"{len(finding_changes)} finding change(s)\n"
        )
        if len(result_changes):
            self.history_output.append_display_data(result_changes)
        if len(finding_changes):
            self.history_output.append_display_data(finding_changes)

    def _show_error(self, exc: BaseException) -> None:
        """Show an exception at the top: the message for usage errors, else the traceback's last line.

        The whole traceback is one click away, in a <details> under the message.
        """
        if isinstance(exc, UsageError):
            self._show_message(f"{type(exc).__name__}: {exc}", kind="error")
            return
        text = "".join(traceback.format_exception(exc))
        self._show_message(f"{type(exc).__name__}: {exc}", kind="error", details=text)

    def _show_message(self, text: str, *, kind: str, details: str | None = None) -> None:
        """Replace the message line (newest first: an old error never hides a new one)."""
        self.last_message = text
        colour = STATUS_COLOURS[Status.ERROR] if kind == "error" else STATUS_COLOURS[Status.OK]
        body = f"<span style='color:{colour};font-weight:bold'>{'error' if kind == 'error' else 'ok'}</span> "
        body += f"<span title='{escape(text, quote=True)}'>{escape(cut(text, 300))}</span>"
        if details:
            body += (
                f"<details><summary style='color:{muted}'>traceback</summary>"
                f"<pre>{escape(details)}</pre></details>"
            )
        self.message.value = f"<div class='intgkit-message {kind}'>{body}</div>"

    # -- the status table ----------------------------------------------------------------------
    def _render_soon(self) -> None:
        """Render now, or once RENDER_INTERVAL_S after the last render if that was too recent."""
        now = time.monotonic()
        if now - self._last_render >= RENDER_INTERVAL_S:
            self._render_status()
            return
        if self._render_pending is None:
            loop = asyncio.get_running_loop()
            self._render_pending = loop.call_later(
                RENDER_INTERVAL_S - (now - self._last_render), self._render_status
            )

    def _render_status(self) -> None:
        if self._render_pending is not None:
            self._render_pending.cancel()
            self._render_pending = None
        self._last_render = time.monotonic()
        scopes = [n for n, row in self._rows.items() if row.selected] or list(self._rows)
        if self._live:
            waiting = waiting_calls(scopes)
            self.progress_label.value = f"{self.progress.value}/{self.progress.max}" + (
                f" · {waiting} waiting for a rate-limit token" if waiting else ""
            )
        self.limits.value = limits_html(scopes)
        if self._started:
            end = self._ended if self._ended is not None else time.monotonic()
            self.elapsed.value = f"{end - self._started:.1f} s"
        self.status.value = status_table(self.runner.breakers, self._rows, self._titles, live=self._live)

    def _ticking(self) -> bool:
        return self.running or any(
            b.state != "closed" and b.seconds_until_probe() > 0 for b in self.runner.breakers
        )

    def _ensure_ticker(self) -> None:
        """Keep the elapsed time and an open breaker's countdown moving, while the kernel loop runs."""
        if self._ticker is not None and not self._ticker.done():
            return
        if not self._ticking():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._ticker = loop.create_task(self._tick())

    async def _tick(self) -> None:
        while self._ticking():
            await asyncio.sleep(TICK_S)
            self._render_status()
        self._render_status()

    def close(self) -> None:
        """Close the panel and every widget in it, and stop its timers (a run is cancelled)."""
        # getattr: ipywidgets calls close() from __del__, also on a panel whose __init__ failed
        for task in (getattr(self, "run_task", None), getattr(self, "_ticker", None)):
            if task is not None and not task.done():
                task.cancel()
        pending = getattr(self, "_render_pending", None)
        if pending is not None:
            pending.cancel()
            self._render_pending = None
        for child in _descendants(self):
            child.close()
        super().close()


def _descendants(box: Any) -> list[Any]:
    out = []
    for child in getattr(box, "children", ()):
        out.extend(_descendants(child))
        out.append(child)
    return out


def _timeout_placeholder(timeout: float | None) -> str:
    return f"default ({timeout:g} s)" if timeout is not None else "default (no limit)"

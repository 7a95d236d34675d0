"""IntegrationPanel: pick integrations and targets, run them, and watch results and breakers live.

Composed the way ipywidgets composes its own ``interactive``: a VBox subclass whose children
are assigned once, controls wired with ``observe(..., names="value")`` and ``on_click``, one
Output for results and errors, and the Run button disabled while a run is in flight and
re-enabled in ``finally``, so an exception is shown and never lost.

The run is a task on the kernel's own event loop (``await runner.arun`` with its ``on_result``
callback), not the sync door: the notebook stays responsive, Cancel works, and the status table
updates as each result arrives. Outside a running loop (a plain script) Run falls back to
``asyncio.run``. Output is written with ``append_*`` and ``outputs = ()``, never ``with out:``,
which captures nothing outside a kernel and leaks into the cell's stdout under nbval.

Only this module imports ipywidgets; ``import intgkit`` never does.
"""

from __future__ import annotations

import asyncio
import math
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from ._errors import MissingExtraError, UsageError
from ._html import BREAKER_COLOURS, STATUS_COLOURS, badge
from ._integration import validate_timeout
from ._models import IntegrationResult, IntegrationResults, Status
from ._runner import IntegrationRunner

try:
    import ipywidgets as w
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("ipywidgets", "widgets", "intgkit.widgets.IntegrationPanel") from exc

__all__ = ["IntegrationPanel"]

#: Status-table and progress updates are sent at most this often (one comm message each), so a
#: run of thousands of calls does not flood the browser; the last update is never dropped.
RENDER_INTERVAL_S = 0.1
#: How often an open breaker's countdown is refreshed after a run, while one is counting down.
TICK_S = 1.0
#: Error texts in the status table are cut here; the full text is in the cell's tooltip.
MAX_ERROR_CHARS = 120
SUMMARY = "summary"

_TABLE_CSS = (
    ".intgkit-status-table td, .intgkit-status-table th {padding: 1px 8px; white-space: nowrap}"
    " .intgkit-status-table td.error {white-space: normal; min-width: 20em}"
)
_STATE_RANK = {"closed": 0, "half-open": 1, "open": 2}


@dataclass(slots=True)
class _Row:
    """What the status table shows of one integration in the current run."""

    selected: bool = False
    total: int = 0
    done: int = 0
    timeouts: int = 0
    last_status: Status | None = None
    last_duration: float | None = None
    last_error: str | None = None


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

    Attributes:
        results: the IntegrationResults of the last run (None before the first), for later cells.
        run_task: the asyncio.Task of the current or last run; ``await panel.run_task`` waits
            for it (None when no run was started on a running loop).
    """

    def __init__(self, runner: IntegrationRunner, targets: Iterable[str] | None = None) -> None:
        if not isinstance(runner, IntegrationRunner):
            raise UsageError(f"IntegrationPanel needs an IntegrationRunner, got {type(runner).__name__}")
        self.runner = runner
        self.results: IntegrationResults | None = None
        self.run_task: asyncio.Task[IntegrationResults | None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._rows: dict[str, _Row] = {}
        self._last_render = 0.0
        self._render_pending: asyncio.TimerHandle | None = None
        self._updating_picker = False
        self._live = False  # a run is feeding the table (the task is still running in its finally)

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
            self._rows[name] = _Row()
            note = (
                f"<span style='color:{STATUS_COLOURS[Status.NOT_CONFIGURED]}'>not configured: set "
                f"{escape(', '.join(missing))}</span>"
                if missing
                else f"<code style='color:#57606a'>{escape(name)}</code>"
            )
            rows.append(w.HBox([box, w.HTML(note)]))
        self.select_all_button = w.Button(description="All", tooltip="select every configured integration")
        self.select_none_button = w.Button(description="None", tooltip="select no integration")
        self.targets_box = w.Textarea(
            value="\n".join(targets or ()),
            placeholder="one target per line (empty: no target)",
            description="Targets",
            layout=w.Layout(width="40em", height="6em"),
        )
        self.timeout_box = w.Text(
            value="",
            placeholder=_timeout_placeholder(runner.timeout),
            description="Timeout (s)",
            style={"description_width": "initial"},
            tooltip="seconds per call; empty keeps the runner's and integrations' own; 'none' for no limit",
        )
        self.concurrency_box = w.IntText(
            value=runner.max_concurrency,
            description="Max concurrency",
            style={"description_width": "initial"},
        )
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.reset_button = w.Button(description="Reset breakers", icon="refresh")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress")
        self.progress_label = w.Label(value="")
        self.status = w.HTML(value="")
        self.status.add_class("intgkit-status")
        self.picker = w.Dropdown(options=[SUMMARY], value=SUMMARY, description="Show", disabled=True)
        self.output = w.Output()
        self.output.add_class("intgkit-output")

        self.select_all_button.on_click(self._select_all)
        self.select_none_button.on_click(self._select_none)
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(self._on_cancel)
        self.reset_button.on_click(self._on_reset)
        self.picker.observe(self._on_pick, names="value")

        super().__init__(
            children=[
                w.HTML("<strong>Integrations</strong>"),
                w.VBox(rows),
                w.HBox([self.select_all_button, self.select_none_button]),
                self.targets_box,
                w.HBox([self.timeout_box, self.concurrency_box]),
                w.HBox([self.run_button, self.cancel_button, self.reset_button]),
                w.HBox([self.progress, self.progress_label]),
                self.status,
                self.picker,
                self.output,
            ]
        )
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

    def _start(self, params: _Params) -> None:
        """Reset the per-run state the table and progress bar show."""
        per_integration = params.calls // len(params.names)
        for name in self._rows:
            chosen = name in params.names
            self._rows[name] = _Row(selected=chosen, total=per_integration if chosen else 0)
        self.progress.max = max(params.calls, 1)
        self.progress.value = 0
        self.progress.bar_style = "info"
        self.progress_label.value = f"0/{params.calls}"
        self.output.outputs = ()
        self._live = True
        self._render_status()

    async def _run(self, params: _Params) -> IntegrationResults | None:
        kwargs = {} if params.timeout is _DEFAULT else {"timeout": params.timeout}
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
        except Exception as exc:  # noqa: BLE001 - shown in the output, never lost
            self._show_error(exc)
        finally:
            self._live = False
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
        if row is not None:
            row.done += 1
            row.timeouts += result.status is Status.TIMEOUT
            row.last_status = result.status
            row.last_duration = result.duration_s
            row.last_error = result.error
        self.progress.value += 1
        self._render_soon()

    def _finish(self, results: IntegrationResults, cancelled: bool) -> None:
        done = sum(r.started_at is not None for r in results)
        counts = ", ".join(f"{n} {s}" for s, n in results.counts().items() if n)
        self.progress.value = done
        self.progress.bar_style = "warning" if cancelled or results.failed else "success"
        self.progress_label.value = (
            f"{'cancelled: ' if cancelled else ''}{done}/{len(results)} done ({counts})"
        )
        self._render_status()
        self._updating_picker = True
        try:
            self.picker.options = [SUMMARY, *results.section_names()]
            self.picker.value = SUMMARY
            self.picker.disabled = False
        finally:
            self._updating_picker = False
        self._live = False  # a run is feeding the table (the task is still running in its finally)
        self._show_frame(SUMMARY)

    def _on_cancel(self, _button: Any = None) -> None:
        if self.run_task is not None and not self.run_task.done():
            self.run_task.cancel()

    def _on_reset(self, _button: Any = None) -> None:
        try:
            self.runner.breakers.reset()
        except Exception as exc:  # noqa: BLE001 - shown, never lost
            self._show_error(exc)
        self._render_status()

    # -- output --------------------------------------------------------------------------------
    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._updating_picker:
            self._show_frame(change["new"])

    def _show_frame(self, which: str) -> None:
        self.output.outputs = ()
        if self.results is None:
            return
        try:
            frame = self.results.to_frame(None if which == SUMMARY else which)
        except Exception as exc:  # noqa: BLE001 - e.g. a section whose rows do not tabulate
            self._show_error(exc)
            return
        self.output.append_display_data(frame)

    def _show_error(self, exc: BaseException) -> None:
        """Put an exception in the output: the message for usage errors, else the traceback."""
        if isinstance(exc, UsageError):
            text = f"{type(exc).__name__}: {exc}\n"
        else:
            text = "".join(traceback.format_exception(exc))
        self.output.append_stderr(text)

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
        if self._live:
            self.progress_label.value = f"{self.progress.value}/{self.progress.max}"
        self.status.value = _status_table(self.runner, self._rows, self._titles)

    def _ensure_ticker(self) -> None:
        """Keep an open breaker's countdown moving after a run, while the kernel loop runs."""
        if self._ticker is not None and not self._ticker.done():
            return
        if not any(b.state != "closed" and b.seconds_until_probe() > 0 for b in self.runner.breakers):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._ticker = loop.create_task(self._tick())

    async def _tick(self) -> None:
        while any(b.state != "closed" and b.seconds_until_probe() > 0 for b in self.runner.breakers):
            await asyncio.sleep(TICK_S)
            if not self.running:  # a run renders by itself
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


def _status_table(runner: IntegrationRunner, rows: dict[str, _Row], titles: dict[str, str]) -> str:
    """The live table: per integration its breaker, fail counter, countdown and last result.

    An integration with per-target breakers shows its worst breaker, and how many are open.
    """
    breakers: dict[str, list[Any]] = {}
    for b in runner.breakers:
        breakers.setdefault(b.key[0], []).append(b)
    now = runner.breakers.clock()
    body = []
    for name, row in rows.items():
        group = breakers.get(name, [])
        if group:
            worst = max(group, key=lambda b: (_STATE_RANK.get(b.state, 0), b.fail_counter))
            state = worst.state
            fails = max(b.fail_counter for b in group)
            opened = [b for b in group if b.state != "closed"]
            wait = min((b.seconds_until_probe() for b in opened), default=0.0)
            state_cell = badge(state, BREAKER_COLOURS.get(state, "#6e7781"))
            if len(group) > 1:
                state_cell += f" <small>{len(opened)}/{len(group)} not closed</small>"
        else:
            state, fails, wait, opened = "closed", 0, 0.0, []
            state_cell = badge("closed", BREAKER_COLOURS["closed"])
        if not opened:
            probe = ""
        elif wait > 0:
            due = (now + timedelta(seconds=wait)).astimezone(UTC).strftime("%H:%M:%S")
            probe = f"{math.ceil(wait)} s <small>({due} UTC)</small>"
        else:
            probe = "probe due"
        if row.last_status is not None:
            status_cell = badge(row.last_status.value, STATUS_COLOURS[row.last_status])
        elif row.selected:
            status_cell = "<em>running…</em>" if row.done < row.total else ""
        else:
            status_cell = ""
        duration = (
            f"{row.last_duration:.2f} s"
            if row.last_duration is not None and not math.isnan(row.last_duration)
            else ""
        )
        calls = f"{row.done}/{row.total}" if row.selected else ""
        error = row.last_error or ""
        short = error if len(error) <= MAX_ERROR_CHARS else error[: MAX_ERROR_CHARS - 1] + "…"
        body.append(
            f"<tr><td title='{escape(name, quote=True)}'>{escape(titles.get(name, name))}</td>"
            f"<td>{state_cell}</td><td style='text-align:right'>{fails}</td><td>{probe}</td>"
            f"<td>{status_cell}</td><td style='text-align:right'>{duration}</td>"
            f"<td style='text-align:right'>{calls}</td><td style='text-align:right'>{row.timeouts}</td>"
            f"<td class='error' title='{escape(error, quote=True)}'>{escape(short)}</td></tr>"
        )
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    return (
        f"<style>{_TABLE_CSS}</style><table class='intgkit-status-table'>"
        "<thead><tr><th>integration</th><th>breaker</th>"
        "<th>fails</th><th>probe in</th><th>last status</th><th>last duration</th><th>calls</th>"
        "<th>timeouts</th><th>last error</th></tr></thead><tbody>"
        + "".join(body)
        + f"</tbody></table><small style='color:#57606a'>updated {stamp} UTC</small>"
    )

"""Build the teaching notebooks from their cell sources and execute them in place.

    python notebooks/build_notebooks.py            # every notebook
    python notebooks/build_notebooks.py 02 05      # the ones whose names start with these

Each notebook is written with nbformat from the cell lists below, executed with nbclient in
the current environment's ``python3`` kernel (working directory: this folder, as nbval uses)
and saved with its outputs, which nbval then compares (see README.md). Re-run this after
changing a notebook or a pinned version, then check with the nbval command in README.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}


def md(text: str) -> tuple[str, str]:
    return ("markdown", text.strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", text.strip("\n"))


def notebook(name: str, *cells: tuple[str, str]) -> None:
    NOTEBOOKS[name] = list(cells)


# ------------------------------------------------------------------------------------------------
notebook(
    "01_quickstart",
    md("""
# intgkit quickstart

intgkit runs many *integrations* (functions that fetch data from an outside service) over many
*targets*, concurrently. Every call runs under a timeout and a circuit breaker, and every
(integration, target) pair ends as exactly one `IntegrationResult`, whatever the integration
does. Results become pandas DataFrames and CSV exports.

This notebook runs offline: the integrations below only pretend to call a service.
"""),
    code("""
import asyncio
import os
import tempfile
import time
from pathlib import Path

import pandas as pd

import intgkit
"""),
    md("""
## Define integrations

`@intgkit.integration` turns a function into an integration and registers it by name. The
function may be `async def` (runs on the event loop) or a plain `def` (runs in a worker
thread, so a blocking call cannot stall the others). It receives the target, and optionally
the settings it declared, and returns a mapping of *section name* to rows (a list of dicts).
"""),
    code("""
FORECASTS = {"Oslo": 4.5, "Lima": 19.0}


@intgkit.integration(name="weather", title="Weather API")
async def weather(target):
    await asyncio.sleep(0.01)  # stands in for an HTTP request
    if target not in FORECASTS:
        raise LookupError(f"no forecast for {target!r}")
    return {"forecast": [{"city": target, "day": day, "temp_c": FORECASTS[target] + day} for day in (1, 2)]}


@intgkit.integration(name="population", title="Population (blocking)", timeout=0.5)
def population(target):
    # a plain, blocking function; its own timeout (0.5 s) overrides the runner's
    time.sleep(2 if target == "Atlantis" else 0.01)  # Atlantis is slow to answer
    return {"population": [{"city": target, "people": {"Oslo": 709_000, "Lima": 10_000_000}[target]}]}


os.environ.pop("PAID_API_TOKEN", None)  # make sure the next one is not configured here


@intgkit.integration(
    name="paid_api",
    title="Paid API",
    settings=[intgkit.Setting("PAID_API_TOKEN", description="API token of the paid service")],
)
async def paid_api(target, settings):
    token = settings["PAID_API_TOKEN"]  # never reached while the setting is missing
    return {"forecast": [{"city": target, "day": 1, "temp_c": 0.0}]}


weather, population, paid_api
"""),
    md("""
## Run them

A runner holds the limits: the default timeout per call, how many consecutive failures open a
breaker, and how many calls run at once. In a notebook, `await runner.arun(...)` is the primary
door: the cell awaits the run on the kernel's own event loop.
"""),
    code("""
runner = intgkit.IntegrationRunner(timeout=5, fail_max=3, reset_timeout=60, max_concurrency=32)
runner
"""),
    code("""
results = await runner.arun(["weather", "population", "paid_api"], targets=["Oslo", "Lima", "Atlantis"])
results
"""),
    md("""
The results keep the order of the selection (integrations, then targets), whatever order the
calls finished in. Their HTML table above shows each call's status, duration and breaker state,
and either its sections (with row counts) or its error. `counts()` has every status, zeros
included:
"""),
    code("""
results.counts()
"""),
    code("""
for r in results.failed:
    print(f"{r.integration:<10} {r.target:<8} {r.status:<14} {r.error_type}: {r.error}")
"""),
    md("""
`runner.run(...)` is the synchronous door, for scripts. In a notebook cell it works too (the run
happens on a private event loop in a worker thread while the cell waits), but prefer `await
runner.arun(...)` there.
"""),
    code("""
again = runner.run("weather", targets=["Oslo"])
again[0]
"""),
    md("""
## Frames

`results.to_frame()` is the summary, one row per result, with fixed columns and dtypes.
`started_at`, `duration_s` and `queued_s` (the wait for a worker) change on every run, so this notebook drops them before showing
the frame (it is checked by nbval, which compares stored outputs with fresh ones).
"""),
    code("""
summary = results.to_frame()
summary.dtypes
"""),
    code("""
summary.drop(columns=["started_at", "duration_s", "queued_s"])
"""),
    code("""
assert (summary["duration_s"] < 1).all()  # the slow call was cut at its 0.5 s timeout
summary["status"].value_counts()
"""),
    md("""
`results.to_frame(section)` is a tidy frame of one section: the rows of every result that
produced it, with `integration` and `target` first.
"""),
    code("""
results.section_names()
"""),
    code("""
forecast = results.to_frame("forecast")
forecast
"""),
    code("""
forecast.groupby("target")["temp_c"].mean()
"""),
    md("""
## CSV export

`results.to_csv(folder)` writes `summary.csv`, one CSV per section and a `manifest.json` with
the dtypes, atomically (a folder holds a whole export or none). `intgkit.read_csv` reads the
same frames back, dtypes included.
"""),
    code("""
frames = results.to_frames()
with tempfile.TemporaryDirectory() as tmp:
    folder = results.to_csv(Path(tmp) / "export")
    print("written:", sorted(p.name for p in folder.iterdir()))
    back = intgkit.read_csv(folder)

for name, frame in frames.items():
    pd.testing.assert_frame_equal(back[name], frame)  # raises if anything differs
    print(f"{name:<11} {frame.shape} read back equal")
"""),
    md("""
## What each status means

| status | meaning | breaker |
|---|---|---|
| `ok` | the integration returned data; its sections are in the result | counts as a success |
| `error` | it raised (or returned something that is not sections); `error_type` and `error` say what | counts as a failure |
| `timeout` | it did not finish within its time limit; the error says the limit | counts as a failure |
| `circuit_open` | its breaker is open after `fail_max` consecutive failures, so it was **not called** (see `02_breakers_and_timeouts`) | — |
| `not_configured` | a required setting (environment variable) is missing, so it was **not called** | — |

The runner raises only for your own mistakes, before anything runs:
"""),
    code("""
try:
    await runner.arun(["wether"], targets=["Oslo"])
except intgkit.IntgkitError as exc:
    print(f"{type(exc).__name__}: {exc}")
"""),
)

# ------------------------------------------------------------------------------------------------
notebook(
    "02_breakers_and_timeouts",
    md("""
# Circuit breakers and timeouts

Every call runs under a **timeout** and a **circuit breaker**. A breaker counts consecutive
failures (errors and timeouts) of an integration; after `fail_max` of them it *opens*, and
further calls are not made at all (`circuit_open` results) until `reset_timeout` seconds have
passed. Then one call is let through as a *probe*: a success closes the breaker, a failure opens
it again.

To make the waiting visible without slowing the notebook down, this runner gets an injected
clock (`IntegrationRunner(clock=...)`): the breakers read the time from it, and we move it
forward by hand.
"""),
    code("""
import asyncio
from datetime import UTC, datetime, timedelta

import intgkit


class ManualClock:
    \"\"\"An aware-UTC clock that only moves when told to.\"\"\"

    def __init__(self):
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


clock = ManualClock()
registry = intgkit.IntegrationRegistry(entry_point_group=None)  # just this notebook's integrations
runner = intgkit.IntegrationRunner(registry, timeout=5, fail_max=3, reset_timeout=30, clock=clock)
runner
"""),
    md("""
## A failing integration opens its breaker

`inventory` fails while `service_up` is False, and counts how often it is really called.
`runner.breakers.on_change` reports every state change.
"""),
    code("""
service_up = False
calls = 0


@intgkit.integration(name="inventory", registry=registry)
async def inventory(target):
    global calls
    calls += 1
    await asyncio.sleep(0.05)
    if not service_up:
        raise ConnectionError("connection refused by inventory.internal")
    return {"stock": [{"warehouse": target, "items": 42}]}


def report(key, old, new):
    name, target = key  # target is None unless the integration has a breaker per target
    print(f"breaker {name if target is None else f'{name}@{target}'}: {old} -> {new}")


runner.breakers.on_change(report)
"""),
    code("""
def show(results):
    for r in results:
        print(f"{r.target:<4} {r.status:<13} breaker={r.breaker_state:<9} {r.error or ''}")


# one call at a time, so the order of events is fixed
results = await runner.arun("inventory", targets=["w1", "w2", "w3", "w4", "w5"], max_concurrency=1)
show(results)
print("calls made:", calls)
"""),
    md("""
Three failures opened the breaker; the last two targets got `circuit_open` results and the
integration was **not called** for them (5 results, 3 calls). `runner.breakers` shows every
breaker: its state, fail counter, when it opened and how long until a probe is allowed.
"""),
    code("""
runner.breakers
"""),
    code("""
results = await runner.arun("inventory", targets=["w1", "w2"])
show(results)
print("calls made:", calls)
"""),
    md("""
## A probe after `reset_timeout`

Thirty (clock) seconds later the breaker lets **one** call through as a probe. While that probe
is in flight, every other call is still rejected, so a recovering service is not hit by the
whole backlog at once. The service is back up, so the probe succeeds and closes the breaker.
"""),
    code("""
clock.advance(31)
print("seconds until probe:", runner.breakers["inventory"].seconds_until_probe())
service_up = True
results = await runner.arun("inventory", targets=["w1", "w2", "w3"])
show(results)
print("calls made:", calls)
"""),
    md("""
Had the probe failed, the breaker would have opened again for another `reset_timeout`:
"""),
    code("""
service_up = False
results = await runner.arun("inventory", targets=["w1", "w2", "w3"], max_concurrency=1)
clock.advance(31)
results = await runner.arun("inventory", targets=["w1"])  # the probe, which fails
show(results)
runner.breakers.to_frame()[["key", "state", "fail_counter", "seconds_until_probe"]]
"""),
    md("""
## Reset

`runner.breakers.reset(name)` closes a breaker by hand (for example after a fix was deployed);
`reset()` closes all of them.
"""),
    code("""
service_up = True
runner.breakers.reset("inventory")
results = await runner.arun("inventory", targets=["w1"])
show(results)
"""),
    md("""
## Timeouts

A call that takes longer than its time limit ends as a `timeout` result, on time: the runner
does not wait for it. The limit comes from `run(..., timeout=...)`, else the integration's own
`timeout`, else the runner's. The error says which limit was hit. Timeouts count as failures
for the breaker, like errors.
"""),
    code("""
@intgkit.integration(name="slow_report", registry=registry)
async def slow_report(target):
    await asyncio.sleep(10)
    return {"report": [{"rows": 1}]}


results = await runner.arun("slow_report", targets=["q1"], timeout=0.2)
r = results[0]
print(r.status, "|", r.error_type, "|", r.error)
print("took less than a second:", r.duration_s < 1)
print("breaker:", r.breaker_state, "fail_counter:", runner.breakers["slow_report"].fail_counter)
"""),
    md("""
## Cancelling a run

Stopping a run (the kernel's interrupt, the panel's Cancel, `task.cancel()`) is the user's act,
not a failure of the integration: every call it stopped ends as `cancelled` (with the time it
started, when it had), calls that had finished keep their results in `runner.last_results`,
and the breaker counts none of it.
"""),
    code("""
@intgkit.integration(name="nightly_export", registry=registry)
async def nightly_export(target):
    await asyncio.sleep(0.05 if target == "small" else 30)
    return {"export": [{"target": target}]}


task = asyncio.ensure_future(runner.arun("nightly_export", targets=["small", "huge"], timeout=60))
await asyncio.sleep(0.5)
task.cancel()
try:
    await task
except asyncio.CancelledError:
    print("the run was cancelled")
for r in runner.last_results:
    print(f"{r.target:<5} {r.status:<9} started: {r.started_at is not None}")
breaker = runner.breakers["nightly_export"]
print("breaker:", breaker.state, "fail_counter:", breaker.fail_counter)
"""),
    md("""
## Per-target breakers

A per-host check should not stop checking every host because one of them is down. With
`breaker_per_target=True` (on the integration, or for all of them on the runner) each
(integration, target) pair gets its own breaker, shown as `name@target`.
"""),
    code("""
DOWN = {"db2.internal"}


@intgkit.integration(name="ping", registry=registry, breaker_per_target=True)
async def ping(target):
    await asyncio.sleep(0.01)
    if target in DOWN:
        raise ConnectionError(f"{target}: no route to host")
    return {"ping": [{"host": target, "rtt_ms": 1.5}]}


hosts = ["db1.internal", "db2.internal", "db3.internal"]
for attempt in range(4):
    results = await runner.arun("ping", targets=hosts)
    print(attempt + 1, [f"{r.target}: {r.status}" for r in results])
"""),
    code("""
board = runner.breakers.to_frame()
board[board["integration"] == "ping"][["key", "target", "state", "fail_counter"]]
"""),
    md("""
Only `db2.internal` is cut off; the other hosts are still checked on every run. Resetting by
integration name closes all of its per-target breakers:
"""),
    code("""
runner.breakers.reset("ping")
runner.breakers.to_frame()[["key", "state", "fail_counter"]]
"""),
    md("""
## Retries, rate limits and the cache

Breakers and timeouts stop the bleeding; real APIs also need the calls to *succeed*. An API
says "slow down" (HTTP 429) and "try again" (503), often with a `Retry-After`. Policies on the
integration handle that for every call:

- `retry=intgkit.Retry(attempts, on=(...))`: retry only the declared exceptions, with backoff
  and jitter, or exactly the server's `Retry-After`; never past the call's timeout;
- `rate_limit=intgkit.RateLimit(rate, per=...)`: a token bucket shared by every call and run
  in the process; waiting for a token does not count against the timeout;
- `max_concurrency=`: a bulkhead, at most that many of its calls in flight;
- `cache_ttl=`: reuse an `ok` result for that many seconds.

`intgkit.testing.RateLimitedAPI` is a local weather API that allows 10 requests a second and
answers 429 beyond that; here it also answers 503 to each city's first request.
"""),
    code("""
import aiohttp
from intgkit.testing import RateLimitedAPI

api = RateLimitedAPI(rate=10, per=1.0, fail_first=1).start()


@intgkit.integration(
    name="weather",
    registry=registry,
    retry=intgkit.Retry(attempts=4, on=(aiohttp.ClientConnectionError, intgkit.TransientError)),
    rate_limit=intgkit.RateLimit(10, per=1.0),
    max_concurrency=4,
    cache_ttl=600,
)
async def weather(target):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{api.url}/weather", params={"city": target}) as resp:
            if resp.status in (429, 503):
                raise intgkit.TransientError(f"HTTP {resp.status}", retry_after=resp.headers.get("Retry-After"))
            resp.raise_for_status()
            return {"weather": [await resp.json()]}


cities = ["Oslo", "Lima", "Paris", "Quito", "Accra", "Kyiv"]
policy_runner = intgkit.IntegrationRunner(registry, timeout=10)
results = await policy_runner.arun("weather", targets=cities)
results.to_frame()[["target", "status", "attempts", "cached"]]
"""),
    md("""
Every city answered 503 once and succeeded on its second attempt: `attempts` is 2 and the
status is `ok`, and the breaker saw one success per call, not a failure per attempt.
`waited_s` (beside `duration_s`) is the time spent in backoff and waiting for tokens. Each retry
is also a log event, `integration_retry`, with the integration, target, attempt, wait and reason.

### The cache

Within `cache_ttl`, a re-run reuses the `ok` results: no request is made, and each result says
`cached=True` and keeps the `started_at` of the call that produced it. `refresh=True` calls
again (and caches the new results); `runner.cache.clear()` empties the cache.
"""),
    code("""
before = api.served
again = await policy_runner.arun("weather", targets=cities)
print("requests made:", api.served - before)
print("all cached:", all(r.cached for r in again))
print("same started_at:", [a.started_at for a in again] == [r.started_at for r in results])
fresh = await policy_runner.arun("weather", targets=cities, refresh=True)
print("after refresh=True, cached:", [r.cached for r in fresh])
"""),
    md("""
### Rate limits and Retry-After

A runner can override what integrations declare: `rate_limits={"weather": RateLimit(...)}` (also
`retry=` and `cache_ttl=`). Here one request per 5 seconds is all the API allows: the second
city gets a 429 with `Retry-After: 5`, and with a 1-second timeout that retry cannot finish in
time, so it is not started: the call ends at once, saying why, rather than sleeping past its
deadline. `runner.rate_limit_state` shows the process's token buckets.
"""),
    code("""
strict = RateLimitedAPI(rate=1, per=5.0).start()
api_url, api.url = api.url, strict.url  # point the integration at the strict API
strict_runner = intgkit.IntegrationRunner(registry, timeout=1, cache_ttl=0)
for r in await strict_runner.arun("weather", targets=["Oslo", "Lima"], max_concurrency=1):
    print(r.target, r.status, "attempts:", r.attempts, "| retry not started:", "retry not started" in (r.error or ""))
strict.stop()
api.url = api_url
policy_runner.rate_limit_state[["scope", "rate", "per_s", "burst", "waiting"]]
"""),
    code("""
api.stop()
"""),
)


# ------------------------------------------------------------------------------------------------
notebook(
    "03_panel",
    md("""
# The IntegrationPanel

`intgkit.widgets.IntegrationPanel(runner)` is an ipywidgets panel over a runner: tick the
integrations to run, type the targets, press **Run**, and watch each integration's breaker,
last status and timeouts update live while the run is in flight. The run is a task on the
kernel's own event loop, so the notebook stays responsive and **Cancel** works.

Everything you can click can also be driven from code, which is what this notebook does (so it
can run unattended and be checked by nbval). Needs the `widgets` extra:
`pip install "intgkit[widgets]"`.

A notebook must be trusted for its stored widgets to show: opened from disk, the panel below
shows as text (`IntegrationPanel(children=...)`) until you run the cells (Run All) or trust
the notebook (File › Trust Notebook); running them builds a live panel.
"""),
    code("""
import asyncio
import re

import intgkit
from intgkit.widgets import IntegrationPanel

registry = intgkit.IntegrationRegistry(entry_point_group=None)  # just this notebook's integrations
RATES = {"Oslo": ("NOK", 11.2), "Lima": ("PEN", 3.8), "Quito": ("USD", 1.0)}


@intgkit.integration(name="weather", title="Weather API", registry=registry)
async def weather(target):
    await asyncio.sleep(0.02)
    return {"forecast": [{"city": target, "temp_c": {"Oslo": 4.5, "Lima": 19.0, "Quito": 14.0}[target]}]}


@intgkit.integration(name="exchange_rates", title="Exchange rates", registry=registry)
async def exchange_rates(target):
    await asyncio.sleep(0.02)
    currency, per_eur = RATES[target]
    return {"rates": [{"city": target, "currency": currency, "per_eur": per_eur}]}


@intgkit.integration(name="slow_archive", title="Slow archive", registry=registry, timeout=0.3)
async def slow_archive(target):
    await asyncio.sleep(5)  # always slower than its 0.3 s timeout
    return {"archive": [{"city": target}]}


@intgkit.integration(name="crm", title="CRM", settings=["CRM_API_TOKEN"], registry=registry)
async def crm(target, settings):
    return {"accounts": []}


registry.names()
"""),
    md("""
## Build it and show it

Configured integrations start ticked; `CRM` is greyed out because `CRM_API_TOKEN` is not set,
and its row says so. (In a notebook the panel shows as widgets: a message line for the newest
error or confirmation, checkboxes, the targets box, timeout and concurrency, Run / Cancel /
Reset breakers, a progress bar with the elapsed time, and a tab per view of the run: the live
**Status** table, the **Results** frames, the **Findings** grouped by severity, and the
**History** of recorded runs: show a past run, or what changed since the previous run.)
"""),
    code("""
import os

os.environ.pop("CRM_API_TOKEN", None)
runner = intgkit.IntegrationRunner(registry, timeout=5, fail_max=3, reset_timeout=60)
panel = IntegrationPanel(runner, targets=["Oslo", "Lima"])
panel
"""),
    code("""
for name, box in panel.checkboxes.items():
    print(f"{name:<15} ticked={box.value!s:<5} disabled={box.disabled}")
print("selected:", panel.selected)
print("targets:", panel.targets_box.value.splitlines())
"""),
    md("""
## Drive it from code

Set the controls as a user would, then `panel.run_button.click()`: that is exactly what a click
in the browser does. The run starts as a task on the kernel's loop (`panel.run_task`); awaiting
it waits for the run to finish and returns its results.
"""),
    code("""
panel.checkboxes["slow_archive"].value = False  # untick the slow one for now
panel.targets_box.value = "Oslo\\nLima\\nQuito"
panel.timeout_box.value = "2"  # seconds per call, for runs from this panel

panel.run_button.click()
print("running:", panel.running, "| Run enabled:", not panel.run_button.disabled)
results = await panel.run_task
print("running:", panel.running, "| Run enabled:", not panel.run_button.disabled)
print("progress:", panel.progress_label.value)
"""),
    md("""
The results of the last run stay on the panel as `panel.results`, for the next cells:
"""),
    code("""
panel.results
"""),
    code("""
panel.results.to_frame().drop(columns=["started_at", "duration_s", "queued_s"])  # timings vary
"""),
    code("""
panel.results.to_frame("rates")
"""),
    md("""
The panel's **Results** tab shows the same frames: its **Show** drop-down lists the summary
(the columns needed at a glance; tick **all columns** for the whole frame) and every section
of the run.
"""),
    code("""
print("Show:", list(panel.picker.options))
panel.picker.value = "rates"
print("output area holds", len(panel.output.outputs), "frame")
"""),
    md("""
## Timeouts in the panel

Tick the slow integration again and clear the timeout box: an empty box keeps each
integration's own timeout (0.3 s for the slow archive), where a number in the box overrides it
for runs from the panel. Its calls end as `timeout` results, and three timeouts in a row open
its breaker, which the status table shows with a countdown to the next probe.
"""),
    code("""
panel.checkboxes["slow_archive"].value = True
panel.timeout_box.value = ""  # empty: the runner's and the integrations' own timeouts
panel.run_button.click()
results = await panel.run_task
print("progress:", panel.progress_label.value)
for r in results.failed:
    print(f"{r.integration:<13} {r.target:<6} {r.status}: {r.error}")
print("slow_archive breaker:", runner.breakers["slow_archive"].state)
"""),
    md("""
**Reset breakers** closes them all:
"""),
    code("""
panel.reset_button.click()
print("slow_archive breaker:", runner.breakers["slow_archive"].state)
print(re.sub(r"\\d\\d:\\d\\d:\\d\\d", "HH:MM:SS", panel.last_message))  # the time of day varies
"""),
    md("""
## Cancel

**Cancel** stops a run midway. Calls that had finished keep their results; every call the
cancellation stopped ends as `cancelled` (never counted on a breaker), and the table stops
saying "running" at once. Here the slow archive gets a 30 s timeout, so it is still running
when Cancel is pressed half a second in:
"""),
    code("""
panel.timeout_box.value = "30"
panel.run_button.click()
await asyncio.sleep(0.5)
panel.cancel_button.click()
results = await panel.run_task
print("progress:", panel.progress_label.value)
print(results.counts())
print("slow_archive breaker:", runner.breakers["slow_archive"].state, "| fails:", runner.breakers["slow_archive"].fail_counter)
panel.timeout_box.value = ""
"""),
    md("""
## Mistakes are shown in the panel, not raised

A bad value in a control does not start a run; the panel's message line, at the top, says what
is wrong (the newest message replaces the previous one):
"""),
    code("""
panel.timeout_box.value = "soon"
panel.run_button.click()
print("started a run:", panel.running)
print(panel.last_message)
panel.timeout_box.value = ""
"""),
    md("""
The panel above is still live: press its buttons. When you are done with it, `panel.close()`
closes every widget of the panel and stops its timers (not run here, so Run All leaves a
working panel).
"""),
)


# ------------------------------------------------------------------------------------------------
notebook(
    "04_writing_an_integration",
    md("""
# Writing your own integration

`@intgkit.integration` (see the quickstart) is the quick way. For an integration you ship and
test, write a class: anything with the attributes and methods of the `intgkit.Integration`
protocol is an integration. This notebook writes one for a JSON status-page API, tests it against
a local HTTPS server from `intgkit.testing`, and packages it so that intgkit discovers it through
an entry point.
"""),
    code("""
import importlib
import json
import os
import ssl
import sys
import tempfile
import textwrap
from pathlib import Path
from unittest import mock

import aiohttp
import pandas as pd

import intgkit
from intgkit.testing import LocalSite, Route
"""),
    md("""
## The Integration protocol

| member | what it is |
|---|---|
| `name` | unique snake_case name: selects it and keys its breaker |
| `title` | a human title for tables and the panel |
| `settings` | the environment variables it reads, as names or `intgkit.Setting` |
| `is_configured()` | whether every required setting is present; unconfigured integrations are not called |
| `fetch(target)` | `async def` or plain `def`; returns `{section name: rows}`, rows being a list of dicts or a DataFrame |
| `timeout` (optional) | its own time limit in seconds, overriding the runner's |
| `breaker_per_target` (optional) | one circuit breaker per target instead of one for the integration |

A `Setting` is required unless `required=False` (then it may have a `default`), and it is
secret when its name looks like a credential (`TOKEN`, `KEY`, `SECRET`, `PASSWORD`, ...) unless
declared with `secret=False`. Secret values are redacted from every error message and text cell
the runner produces.
"""),
    code("""
class StatusPage:
    \"\"\"Components and open incidents of a status-page API (JSON over HTTPS).\"\"\"

    name = "status_page"
    title = "Status page"
    settings = (
        intgkit.Setting("STATUS_API_URL", description="base URL, e.g. https://status.example.com"),
        intgkit.Setting("STATUS_API_KEY", description="API key, sent as ?key=..."),
        intgkit.Setting("STATUS_CA_BUNDLE", required=False, description="PEM trust roots (optional)"),
    )
    timeout = 10  # seconds; the runner's timeout= for a run still overrides it

    def is_configured(self):
        return all(s.value() for s in self.settings if s.required)

    async def fetch(self, target):
        base, key, ca_bundle = (s.value() for s in self.settings)
        tls = ssl.create_default_context(cafile=ca_bundle)
        async with aiohttp.ClientSession() as session:
            url = f"{base}/api/{target}/summary.json"
            async with session.get(url, params={"key": key}, ssl=tls) as response:
                response.raise_for_status()
                data = await response.json()
        components = pd.DataFrame(data["components"], columns=["name", "status"])
        components["degraded"] = components["status"] != "operational"
        return {
            "components": components,  # a DataFrame section
            "incidents": [{"title": i["title"], "impact": i["impact"]} for i in data["incidents"]],  # rows
        }


for s in StatusPage.settings:
    print(s)
"""),
    md("""
A registry checks the protocol when it registers an object, and says what is missing:
"""),
    code("""
class Incomplete:
    name = "incomplete"
    title = "Incomplete"
    settings = ()

    def __repr__(self):  # the message names the object; the default repr holds its address
        return "Incomplete()"


try:
    intgkit.IntegrationRegistry(entry_point_group=None).register(Incomplete())
except intgkit.UsageError as exc:
    print(f"UsageError: {exc}")
"""),
    md("""
## Testing it against a local server

`intgkit.testing.LocalSite` serves routes over HTTP and HTTPS on 127.0.0.1, with a certificate
from a throwaway CA (`site.ca_bundle`) that also names `127.0.0.1`. Here it plays the status API.
`mock.patch.dict(os.environ, ...)` sets the settings for one block, as pytest's `monkeypatch`
would.
"""),
    code("""
SUMMARY = {
    "components": [
        {"name": "API", "status": "operational"},
        {"name": "Dashboard", "status": "degraded_performance"},
        {"name": "Webhooks", "status": "operational"},
    ],
    "incidents": [{"title": "Slow dashboard", "impact": "minor"}],
}
routes = {
    "/api/acme/summary.json": Route(body=json.dumps(SUMMARY), content_type="application/json"),
    "/api/broken/summary.json": Route(status=500, body="oops", content_type="text/plain"),
    "/api/slow/summary.json": Route(body="{}", content_type="application/json", delay=5),
}
site = await LocalSite(routes).start()


def settings_for(site):
    return {
        "STATUS_API_URL": f"https://127.0.0.1:{site.https_port}",
        "STATUS_API_KEY": "k-3f9a-not-a-real-key",
        "STATUS_CA_BUNDLE": site.ca_bundle,
    }


registry = intgkit.IntegrationRegistry(entry_point_group=None)
registry.register(StatusPage())
runner = intgkit.IntegrationRunner(registry, timeout=5)
"""),
    code("""
with mock.patch.dict(os.environ, settings_for(site)):
    results = await runner.arun("status_page", targets=["acme"])
results
"""),
    code("""
results.to_frame("components")
"""),
    code("""
results.to_frame("incidents")
"""),
    md("""
The same checks as tests, pytest style: plain `assert`s in `test_*` functions (with
pytest-asyncio, `async def` tests run as they are). Each case starts from a fresh runner, so
breakers never carry over from one test to the next. (The warning on stderr below is intgkit
telling you that an integration has some of its required settings but not all: the
not-configured test empties one of them on purpose.)
"""),
    code("""
async def run_status(targets, env, timeout=5):
    runner = intgkit.IntegrationRunner(registry)
    with mock.patch.dict(os.environ, env):
        # a run's timeout= overrides the integration's own (10 s), which overrides the runner's
        return await runner.arun("status_page", targets=targets, timeout=timeout)


async def test_components_and_incidents():
    [r] = await run_status(["acme"], settings_for(site))
    assert r.status == "ok", r.error
    components = r.section("components").rows
    assert list(components["name"]) == ["API", "Dashboard", "Webhooks"]
    assert components["degraded"].sum() == 1
    assert r.section("incidents").rows == ({"title": "Slow dashboard", "impact": "minor"},)


async def test_not_configured_without_key():
    env = settings_for(site)
    env["STATUS_API_KEY"] = ""  # empty counts as missing
    [r] = await run_status(["acme"], env)
    assert r.status == "not_configured"
    assert r.error == "not configured: missing settings STATUS_API_KEY"


async def test_server_error_is_a_result_and_the_key_is_redacted():
    env = settings_for(site)
    [r] = await run_status(["broken"], env)
    assert r.status == "error" and r.error_type == "ClientResponseError"
    assert "500" in r.error
    assert env["STATUS_API_KEY"] not in r.error  # the URL carried the key; the runner redacted it
    print("error as reported:", r.error)


async def test_slow_server_times_out():
    [r] = await run_status(["slow"], settings_for(site), timeout=0.3)
    assert r.status == "timeout"
    assert r.duration_s < 2


for test in (
    test_components_and_incidents,
    test_not_configured_without_key,
    test_server_error_is_a_result_and_the_key_is_redacted,
    test_slow_server_times_out,
):
    await test()
    print("passed:", test.__name__)
"""),
    code("""
await site.stop()
"""),
    md("""
## Packaging it with an entry point

intgkit discovers integrations through the `intgkit.integrations` entry-point group, which is
also how its own built-in integrations arrive. In your package's `pyproject.toml`:

```toml
[project.entry-points."intgkit.integrations"]
status_page = "acme_status:StatusPage"
```

The value names an integration object, a class (instantiated without arguments) or a callable
returning one or a list of them. After `pip install acme-status`, the default registry (which
`@intgkit.integration` and `IntegrationRunner()` use) loads it on first use, and so does
`IntegrationRegistry().load_entrypoints()`.

To see discovery work for real without installing anything, write what `pip install` would
leave behind into a temporary folder, a module plus its `.dist-info` with `entry_points.txt`,
and put that folder on `sys.path`:
"""),
    code("""
PLUGIN = '''
class Uptime:
    name = "acme_uptime"
    title = "ACME uptime"
    settings = ()

    def is_configured(self):
        return True

    async def fetch(self, target):
        return {"uptime": [{"service": target, "uptime_pct": 99.95}]}
'''

tmp = tempfile.TemporaryDirectory()
root = Path(tmp.name)
(root / "acme_status.py").write_text(PLUGIN)
dist_info = root / "acme_status-0.1.0.dist-info"
dist_info.mkdir()
(dist_info / "METADATA").write_text("Metadata-Version: 2.1\\nName: acme-status\\nVersion: 0.1.0\\n")
(dist_info / "entry_points.txt").write_text("[intgkit.integrations]\\nacme_uptime = acme_status:Uptime\\n")
print(sorted(str(p.relative_to(root)) for p in root.rglob("*")))
"""),
    code("""
sys.path.insert(0, str(root))
importlib.invalidate_caches()

plugins = intgkit.IntegrationRegistry()  # reads the intgkit.integrations group
loaded = plugins.load_entrypoints()
print("loaded", loaded, "integrations:", plugins.names())
print("load errors:", plugins.load_errors)
"""),
    code("""
results = await intgkit.IntegrationRunner(plugins).arun("acme_uptime", targets=["api", "web"])
results.to_frame("uptime")
"""),
    code("""
sys.path.remove(str(root))
sys.modules.pop("acme_status", None)
tmp.cleanup()
"""),
)

# ------------------------------------------------------------------------------------------------
notebook(
    "05_audit_local_site",
    md("""
# Auditing a local test site with the built-in integrations

intgkit ships four security integrations:

- `http_headers`: the MDN HTTP Observatory tests and grade (CSP, HSTS, cookies, redirection, ...);
- `tls_certificate`: chain of trust, host name, expiry, lifespan, key, signatures, OCSP stapling,
  protocols, cipher suites and Mozilla's TLS profiles;
- `dns_email`: SPF, DMARC, MTA-STS, TLS-RPT, CAA, BIMI and DNSSEC records, and STARTTLS on the
  mail servers;
- `cloudflare`: zone settings, TLS and HSTS, DNSSEC, WAF and managed rulesets, edge
  certificates, Authenticated Origin Pulls and origin exposure (DNS, SPF) through the Cloudflare API.

This notebook points them at servers on 127.0.0.1 from `intgkit.testing`, the same set-up as
`intgkit demo`: a deliberately mediocre web site, a TLS endpoint whose certificate expires soon,
a DNS server for the site's zone, its mail server (which offers no STARTTLS) and a fake Cloudflare
API. Nothing leaves the machine. Needs the
`testing` extra: `pip install "intgkit[testing]"`.
"""),
    code("""
import pandas as pd

import intgkit
from intgkit.integrations.cloudflare import Cloudflare
from intgkit.integrations.dns_email import DnsEmail
from intgkit.integrations.http_headers import HttpHeaders
from intgkit.integrations.tls_certificate import TlsCertificate
from intgkit.testing import DemoServers  # the servers `intgkit demo` audits

SITE, SHOP = DemoServers.SITE, DemoServers.SHOP
pd.set_option("display.width", 140)
pd.set_option("display.max_colwidth", 60)
print(DemoServers.ZONE)
"""),
    md("""
## Start the local servers

`LocalSite.mediocre()` serves `site.test` over HTTP and HTTPS (with a throwaway CA) with some
security headers right and several not. The shop's TLS endpoint has a certificate that expires
in 20 days. The fake Cloudflare API holds the site's zone with a few weak settings.
"""),
    code("""
servers = await DemoServers().start()
site, shop, dns, cloudflare = servers.site, servers.shop, servers.dns, servers.cloudflare
print("site:", site.target, "| shop:", SHOP)
print(cloudflare.zones[0].name, cloudflare.zones[0].settings["ssl"], cloudflare.zones[0].dnssec)
"""),
    md("""
## Point the integrations at them

The built-in integrations read their configuration from environment variables
(`INTGKIT_CA_BUNDLE`, `INTGKIT_RESOLVE`, `CLOUDFLARE_API_TOKEN`, ...), and every one of them can
also be given it in its constructor, which is what we do here: the test CA as trust root, and
name overrides (`resolve`, like curl's `--connect-to`) that send `site.test` to the local ports.
A registry of our own keeps them apart from the default one.
"""),
    code("""
registry = intgkit.IntegrationRegistry(entry_point_group=None)
registry.register(HttpHeaders(ca_bundle=site.ca_bundle, resolve=site.resolve))
registry.register(TlsCertificate(ca_bundle=site.ca_bundle, resolve=site.resolve))
registry.register(DnsEmail(nameserver=dns.nameserver, ca_bundle=site.ca_bundle, resolve=f"{site.resolve},{servers.mail_resolve}"))
registry.register(Cloudflare(token=DemoServers.TOKEN, api_base=cloudflare.base_url, ca_bundle=cloudflare.ca_bundle))
runner = intgkit.IntegrationRunner(registry, timeout=20)
[(i.name, i.title) for i in registry]
"""),
    code("""
results = await runner.arun(registry.names(), targets=[SITE])
results
"""),
    code("""
results.to_frame()[["integration", "target", "status", "n_sections", "n_rows"]]
"""),
    md("""
## The findings frame

Every built-in integration returns a `findings` section with the same columns: the check, a
stable `result_id`, whether it `passed`, a `severity`, what was `observed` and what was
`expected`. One tidy frame holds the findings of all four.
"""),
    code("""
findings = results.to_frame("findings")
print(findings.shape)
list(findings.columns)
"""),
    code("""
pd.crosstab(findings["integration"], findings["passed"])
"""),
    md("""
## Filtering by severity

An ordered categorical makes severities sortable and comparable: here every failed check of
severity medium or worse, most severe first.
"""),
    code("""
SEVERITY = pd.CategoricalDtype(["critical", "high", "medium", "low", "info"], ordered=True)
failed = findings[~findings["passed"]].astype({"severity": SEVERITY})
failed["severity"].value_counts(sort=False)
"""),
    code("""
serious = failed[failed["severity"] <= "medium"].sort_values(["severity", "integration", "check"])
serious[["severity", "integration", "check", "result_id"]].reset_index(drop=True)
"""),
    md("""
## The mail set-up, in plain words

Every finding also carries a one-line `explanation` for readers who are not specialists. The
site's DMARC reports go to another organisation that never agreed to receive them (RFC 7489
§7.1), so none would arrive, and its mail server offers no STARTTLS, so mail to it travels in
clear text:
"""),
    code("""
mail = failed[failed["integration"] == "dns_email"].sort_values(["severity", "check"])
print(mail[["severity", "result_id", "explanation"]].to_string(index=False))
"""),
    md("""
## The Observatory score and grade

`http_headers` scores the site as the MDN HTTP Observatory does: 100 points plus each test's
score modifier (bonuses only count from 90 up), then a letter grade. Each finding also carries
a one-line `explanation` of its result for readers who are not specialists.
"""),
    code("""
results.to_frame("observatory")[["target", "score", "grade", "tests_passed", "tests_failed", "tests_quantity"]]
"""),
    code("""
headers = findings[findings["integration"] == "http_headers"]
scored = headers[headers["score_modifier"] != 0][["check", "result_id", "score_modifier"]]
print(scored.to_string(index=False))
penalties = scored.loc[scored["score_modifier"] < 0, "score_modifier"].sum()
bonuses = scored.loc[scored["score_modifier"] > 0, "score_modifier"].sum()
print(f"\\n100 + penalties = {100 + penalties}; the bonuses (+{bonuses}) only count from 90 up")
"""),
    code("""
for row in headers[~headers["passed"]].itertuples():
    print(f"{row.check} ({row.severity}): {row.explanation}")
"""),
    md("""
## What the Cloudflare audit found

The fake Cloudflare zone has a few weak settings, an origin whose address its own DNS gives
away (an unproxied record and the SPF record), no Authenticated Origin Pulls, and the OWASP
ruleset set to log only. Each finding carries a one-line `explanation` of why it matters.
"""),
    code("""
cf_failed = failed[failed["integration"] == "cloudflare"].sort_values(["severity", "check"])
cf_failed[["severity", "check", "result_id", "explanation"]].reset_index(drop=True)
"""),
    md("""
## A certificate that expires soon

The shop's endpoint has its own CA, so it gets a `tls_certificate` configured with that trust
root. Its expiry check fails with severity high (20 days left, where 30 is the warning limit),
and it accepts an anonymous cipher suite at TLS 1.2, which is critical: without a certificate
in the handshake, anyone on the path can impersonate the shop.
"""),
    code("""
shop_registry = intgkit.IntegrationRegistry(entry_point_group=None)
shop_registry.register(TlsCertificate(ca_bundle=shop.ca_bundle, resolve=servers.shop_resolve))
shop_results = await intgkit.IntegrationRunner(shop_registry, timeout=20).arun("tls_certificate", targets=[SHOP])
shop_findings = shop_results.to_frame("findings")
shop_findings[~shop_findings["passed"]][["check", "severity", "observed", "expected"]]
"""),
    md("""
## Stop the servers
"""),
    code("""
await servers.stop()
"""),
)


# ------------------------------------------------------------------------------------------------
notebook(
    "06_history_and_changes",
    md("""
# Run history and what changed

Every run a runner makes is recorded in a DuckDB file (`pip install "intgkit[history]"`): by
default in your user data folder (or `$INTGKIT_HISTORY`), or where `IntegrationRunner(history=path)`
says; `history=None` turns it off. `intgkit.History` lists the runs, loads one back as
`IntegrationResults` with the same frames, and says what changed between two runs.

Here we audit the local demo site twice with the `http_headers` integration (the MDN HTTP
Observatory tests), change the site's configuration in between, and ask what changed. The store
lives in a temporary folder so the notebook leaves nothing behind.
"""),
    code("""
import tempfile
from pathlib import Path

import pandas as pd

import intgkit
from intgkit.integrations.http_headers import HttpHeaders
from intgkit.testing import LocalSite, Route

pd.set_option("display.width", 140)
pd.set_option("display.max_colwidth", 50)
folder = tempfile.TemporaryDirectory()
store = Path(folder.name) / "history.duckdb"

site = await LocalSite.mediocre().start()
registry = intgkit.IntegrationRegistry(entry_point_group=None)
registry.register(HttpHeaders(ca_bundle=site.ca_bundle, resolve=site.resolve))
runner = intgkit.IntegrationRunner(registry, timeout=20, history=store)
"""),
    md("""
## Audit, change the site, audit again

The first audit finds the mediocre site's problems (grade C). Then the site's administrator adds
`X-Content-Type-Options: nosniff`, but also drops `X-Frame-Options` while editing the headers.
"""),
    code("""
first = await runner.arun(["http_headers"], targets=[site.target])
print(first.to_frame("observatory")[["target", "score", "grade"]].to_string(index=False))

page = site.routes["/"]
headers = [(k, v) for k, v in page.headers if k != "X-Frame-Options"] + [("X-Content-Type-Options", "nosniff")]
site.routes["/"] = Route.page(headers=headers, cookies=page.cookies, body=page.body)

second = await runner.arun(["http_headers"], targets=[site.target])
print(second.to_frame("observatory")[["target", "score", "grade"]].to_string(index=False))
"""),
    md("""
## The runs, newest first

`History(store).runs()` has one row per run: when it ran, which integrations over how many
targets, the results by status, and `partial` for a run that was cancelled or interrupted.
Each run's id is also on its results: `second.run_id`.
"""),
    code("""
h = intgkit.History(store)
runs = h.runs()
print(len(runs), runs["run_id"].tolist() == [second.run_id, first.run_id])
runs[["integrations", "n_targets", "n_results", "ok", "error", "partial"]]
"""),
    md("""
## What changed

`h.diff(old, new)` lists status changes and changed values of one-row sections (the grade, the
score); `h.diff(old, new, "findings")` matches findings by their key (integration, target,
check) and says which are **new**, **resolved** or **changed**. The join runs inside DuckDB.
"""),
    code("""
h.diff(first.run_id, second.run_id)
"""),
    code("""
changes = h.diff(first.run_id, second.run_id, "findings")
changes[["target", "key", "change", "severity", "before", "after"]]
"""),
    md("""
The same comparison works on results in memory, and a stored run loads back with the frames
it had: `results.diff(old)`, `h.load(run_id)`.
"""),
    code("""
old = h.load(first.run_id)
pd.testing.assert_frame_equal(old.to_frame("findings"), first.to_frame("findings"))
second.diff(old, "findings").equals(changes), h.diff(second.run_id, second.run_id).empty
"""),
    md("""
From a shell, `intgkit history` lists the runs and `intgkit diff --fail-on-new high` exits 1 when
a new finding of that severity appeared since the previous comparable run: a weekly cron job
or a CI step that fails on regressions only. `h.prune(keep=50)` or `h.prune(older_than="90d")`
keeps the file small.
"""),
    code("""
await site.stop()
intgkit.History(store).prune(keep=1), len(intgkit.History(store).runs())
"""),
    code("""
folder.cleanup()
"""),
)


# ------------------------------------------------------------------------------------------------

# ------------------------------------------------------------------------------------------------
notebook(
    "07_scaling_out",
    md("""
# Scaling out: the same runner on a Dask cluster

One process audits thousands of domains a second against fast servers; real audits (hundreds of
thousands of domains every week) are bounded by round trips, per-host politeness and one
machine's sockets. Past one machine, intgkit runs on Dask (`pip install "intgkit[dask]"`): pass a
dask.distributed `Client` as `client=` and nothing else changes.

Here the cluster is a `LocalCluster` of two worker processes on this machine; on a real cluster
it is `Client("tcp://scheduler:8786")` (or a Kubernetes, SLURM or cloud deployer from the Dask
project). We audit a local test site with the built-in `http_headers` integration and with one
defined in this notebook.
"""),
    code("""
import logging
import os

from dask.distributed import Client, LocalCluster

import intgkit
from intgkit.testing import LocalSite

# silence_logs: no warnings when a busy machine is slow to stop a worker at the end
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                       silence_logs=logging.ERROR)
client = Client(cluster)
print(len(client.scheduler_info()["workers"]), "workers")

site = await LocalSite.mediocre().start()
os.environ.update(site.env())      # the site's CA bundle and addresses: settings of http_headers
"""),
    md("""
## An integration defined here runs on the workers

Dask ships it to the workers by value (cloudpickle), so a cell is enough. Built-in and installed
integrations are looked up by name on the workers instead. The settings `http_headers` reads
(set in this kernel's environment above) reach the workers encrypted with a key made for the
run: the task graph, the dashboard and the logs never hold them in clear text.
"""),
    code("""
@intgkit.integration(name="where_it_ran")
def where_it_ran(target):
    return {"where": [{"host": target, "on_a_worker": os.getpid() != CLIENT_PID}]}

CLIENT_PID = os.getpid()
targets = list(site.hosts)
runner = intgkit.IntegrationRunner(timeout=20, max_concurrency=64)   # per worker
results = await runner.arun(["http_headers", "where_it_ran"], targets=targets, client=client)
print(results.to_frame()[["integration", "target", "status"]].to_string(index=False))
print(results.to_frame("where").drop(columns="integration").to_string(index=False))
print(results.to_frame("observatory")[["target", "grade"]].to_string(index=False))
"""),
    md("""
The frames have the same shape as a local run's. `runner.run(...)` works too (it waits for the
cluster off the kernel's loop); here `await runner.arun(...)` keeps the kernel's loop free for the
local site, which runs in this kernel.

## Results as partitions finish

The targets are cut into partitions, one task each; `stream()` yields each partition's results
when it comes back, and the progress bar and `on_result` count them as they arrive. Every
(integration, target) gets exactly one result, also when a worker dies mid-run (its partitions
run again elsewhere).
"""),
    code("""
arrived = []
async for result in runner.stream(["where_it_ran"], targets=[f"host{i}.example" for i in range(40)], client=client):
    arrived.append(result.target)
print(len(arrived), "results,", len(set(arrived)), "distinct")
"""),
    md("""
## What each worker has

- **Breakers** are per worker: each worker's runner counts its own failures. With
  `IntegrationRunner(breaker_storage="redis://...")` every worker shares each breaker.
- **Rate limits** are shared out: each worker gets limit / workers of an integration's
  `RateLimit`.
- **Cancelling** (the kernel's interrupt, the panel's Cancel, `task.cancel()`) cancels the
  partitions not finished; `runner.last_results` keeps what had finished.
- **History**: the run is recorded once, by this process, as a local run.

docs/scaling.md has the measurements and a plan for a million domains a day.
"""),
    code("""
client.close()
cluster.close()
await site.stop()
"""),
)


def build(name: str, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):  # stable ids keep regenerated notebooks diffable
        cell.id = f"{name[:2]}-{i:02d}"
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        record_timing=False,
        resources={"metadata": {"path": str(HERE)}},
    )
    client.execute()
    _check_portable(name, nb)
    path = HERE / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def _check_portable(name: str, nb: nbformat.NotebookNode) -> None:
    """Refuse outputs that hold machine-specific paths (they would differ on every machine)."""
    text = nbformat.writes(nb)
    for needle in {str(ROOT), str(Path.home()), sys.prefix, "/work/"}:
        if needle and needle != "/" and needle in text:
            raise SystemExit(f"{name}: the outputs contain the machine-specific path {needle!r}")


def main(argv: list[str]) -> None:
    # as under nbval (notebooks/conftest.py): the kernels record no run into the user's store
    os.environ.setdefault("INTGKIT_HISTORY", "off")
    chosen = [n for n in NOTEBOOKS if not argv or any(n.startswith(a) for a in argv)]
    if not chosen:
        raise SystemExit(f"no notebook matches {argv}; notebooks: {', '.join(NOTEBOOKS)}")
    for name in chosen:
        path = build(name, NOTEBOOKS[name])
        print(f"built {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])

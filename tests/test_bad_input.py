# The CASES table reads best one case per line, so long lines are allowed in this file.
# ruff: noqa: E501
"""Bad input to every public entry point is refused clearly, before any work or file is touched.

One list, CASES, drives the test and the table in docs/reliability_inputs.md: each case is an
entry point, the input tried, the error it must raise and a phrase its message must contain.
``INTGKIT_UPDATE_DOCS=1 pytest tests/test_bad_input.py`` rewrites the table; otherwise a test
fails when the table and the list disagree.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets
import pytest
from _reliability import STATS, reliability_report

import intgkit
from intgkit import (
    DuplicateIntegrationError,
    ExportError,
    IntegrationResults,
    IntegrationRunner,
    UnknownIntegrationError,
    UnknownSectionError,
    UsageError,
)

__all__ = ["reliability_report"]  # the module-scoped fixture that prints the counters

DOC = Path(__file__).resolve().parent.parent / "docs" / "reliability_inputs.md"


class CliUsageError(Exception):
    """`intgkit` exited with status 2 (usage error); the message is what it printed on stderr."""


@dataclass
class Ctx:
    """What a case may use: a registry holding the spy integration, its calls, a scratch folder."""

    registry: intgkit.IntegrationRegistry
    calls: list[object]
    tmp: Path

    def runner(self, **kw: Any) -> IntegrationRunner:
        return IntegrationRunner(self.registry, **kw)

    def results(self) -> IntegrationResults:
        return IntegrationResults([intgkit.IntegrationResult("spy", "t", intgkit.Status.OK)])

    def export(self) -> Path:
        """A valid CSV export of one result, made before the spy's calls are checked."""
        return self.results().to_csv(self.tmp / "export")


@dataclass(frozen=True)
class Case:
    entry: str
    tried: str
    call: Callable[[Ctx], Any]
    raises: type[BaseException]
    says: str
    prepare: Callable[[Ctx], Any] | None = None  # sets the scene (files) before the snapshot
    #: False only where the mistake cannot be known before running (section names come from
    #: the results): then it is refused after the run, before anything is printed or written.
    before_work: bool = True


def cli(*argv: str) -> Callable[[Ctx], Any]:
    def run(ctx: Ctx) -> None:
        from intgkit import cli as cli_module

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = cli_module.main(list(argv), registry=ctx.registry, stdout=io.StringIO())
        if code == 2:
            raise CliUsageError(err.getvalue())
        raise AssertionError(f"exit code {code}, stderr {err.getvalue()!r}")

    return run


def deco(**kw: Any) -> Callable[[Ctx], Any]:
    def run(ctx: Ctx) -> None:
        def fn(target):  # type: ignore[no-untyped-def]
            return {}

        intgkit.integration(registry=ctx.registry, **kw)(fn)

    return run


def corrupt(change: Callable[[Path], None]) -> Callable[[Ctx], Any]:
    def prepare(ctx: Ctx) -> None:
        change(ctx.export())

    return prepare


def read_export(ctx: Ctx) -> Any:
    return intgkit.frames.read_csv(ctx.tmp / "export")  # type: ignore[attr-defined]


def _truncate(folder: Path) -> None:
    path = folder / "summary.csv"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _bad_json(folder: Path) -> None:
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")


def _no_summary(folder: Path) -> None:
    (folder / "summary.csv").unlink()


def _other_version(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["version"] = 999
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def _three_args(ctx: Ctx) -> None:
    def fn(a, b, c):  # type: ignore[no-untyped-def]
        return {}

    intgkit.integration(fn, registry=ctx.registry)  # type: ignore[call-overload]


def _a_file(ctx: Ctx) -> None:
    (ctx.tmp / "a_file").write_text("x")


NAN, INF = float("nan"), float("inf")

CASES: list[Case] = [
    # -- @integration ------------------------------------------------------------------------------
    Case("@integration", "name='Bad Name'", deco(name="Bad Name"), UsageError, "snake_case"),
    Case("@integration", "name=''", deco(name=""), UsageError, "snake_case"),
    Case("@integration", "name of 101 characters", deco(name="a" * 101), UsageError, "at most 100"),
    Case("@integration", "name='spy' (taken)", deco(name="spy"), DuplicateIntegrationError, "already registered"),
    Case("@integration", "a non-callable", lambda c: intgkit.integration(42), UsageError, "decorates a function"),  # type: ignore[call-overload]
    Case("@integration", "a function of 3 required arguments", _three_args, UsageError, "requires 3 arguments"),
    Case("@integration", "title=42", deco(name="t1", title=42), UsageError, "title must be a string"),
    Case("@integration", "settings=[42]", deco(name="t2", settings=[42]), UsageError, "environment variable names"),
    Case("@integration", "settings=['BAD-NAME']", deco(name="t3", settings=["BAD-NAME"]), UsageError, "environment variable name"),
    Case("@integration", "settings=['A', 'A']", deco(name="t4", settings=["A", "A"]), UsageError, "declared twice"),
    Case("@integration", "timeout=-1", deco(name="t5", timeout=-1), UsageError, "positive finite"),
    Case("@integration", "timeout=nan", deco(name="t6", timeout=NAN), UsageError, "positive finite"),
    Case("@integration", "timeout=inf", deco(name="t7", timeout=INF), UsageError, "positive finite"),
    Case("@integration", "timeout='5'", deco(name="t8", timeout="5"), UsageError, "got str"),
    # -- IntegrationRegistry -------------------------------------------------------------------------
    Case("IntegrationRegistry.register", "object()", lambda c: c.registry.register(object()), UsageError, "is not an integration"),
    Case("IntegrationRegistry.get", "'spyy' (unknown)", lambda c: c.registry.get("spyy"), UnknownIntegrationError, "Did you mean 'spy'"),
    Case("IntegrationRegistry.get", "42", lambda c: c.registry.get(42), UnknownIntegrationError, "Registered integrations"),  # type: ignore[arg-type]
    Case("IntegrationRegistry.unregister", "'nope'", lambda c: c.registry.unregister("nope"), UnknownIntegrationError, "unknown integration"),
    Case("IntegrationRegistry.load_entrypoints", "a registry without a group", lambda c: c.registry.load_entrypoints(), UsageError, "no entry-point group"),
    # -- IntegrationRunner() -------------------------------------------------------------------------
    Case("IntegrationRunner()", "registry='spy'", lambda c: IntegrationRunner("spy"), UsageError, "must be an IntegrationRegistry"),  # type: ignore[arg-type]
    Case("intgkit.Retry", "attempts=0", lambda c: intgkit.Retry(attempts=0), UsageError, "attempts"),
    Case("intgkit.Retry", "on=KeyboardInterrupt", lambda c: intgkit.Retry(on=KeyboardInterrupt), UsageError, "exception classes"),  # type: ignore[arg-type]
    Case("intgkit.RateLimit", "rate=-1", lambda c: intgkit.RateLimit(-1), UsageError, "positive finite"),
    Case("intgkit.RateLimit", "rate=nan", lambda c: intgkit.RateLimit(NAN), UsageError, "positive finite"),
    Case("intgkit.RateLimit", "per=0", lambda c: intgkit.RateLimit(10, per=0), UsageError, "per="),
    Case("@integration", "cache_ttl=-1", deco(name="c1", cache_ttl=-1), UsageError, "cache_ttl"),
    Case("@integration", "retry=3", deco(name="c2", retry=3), UsageError, "intgkit.Retry"),
    Case("IntegrationRunner()", "rate_limits={'spy': 5}", lambda c: c.runner(rate_limits={"spy": 5}), UsageError, "rate_limits maps"),
    Case("IntegrationRunner()", "cache_ttl=-1", lambda c: c.runner(cache_ttl=-1), UsageError, "cache_ttl"),
    Case("runner.run", "refresh='yes'", lambda c: c.runner().run(["spy"], refresh="yes"), UsageError, "refresh must be True or False"),  # type: ignore[arg-type]
    Case("IntegrationRunner()", "timeout=0", lambda c: c.runner(timeout=0), UsageError, "positive"),
    Case("IntegrationRunner()", "timeout=-1", lambda c: c.runner(timeout=-1), UsageError, "positive"),
    Case("IntegrationRunner()", "timeout=nan", lambda c: c.runner(timeout=NAN), UsageError, "positive"),
    Case("IntegrationRunner()", "timeout=inf", lambda c: c.runner(timeout=INF), UsageError, "finite"),
    Case("IntegrationRunner()", "timeout=True", lambda c: c.runner(timeout=True), UsageError, "got bool"),
    Case("IntegrationRunner()", "timeout=1e308*10 (overflow to inf)", lambda c: c.runner(timeout=1e308 * 10), UsageError, "finite"),
    Case("IntegrationRunner()", "max_concurrency=0", lambda c: c.runner(max_concurrency=0), UsageError, ">= 1"),
    Case("IntegrationRunner()", "max_concurrency=1.5", lambda c: c.runner(max_concurrency=1.5), UsageError, "whole number"),
    Case("IntegrationRunner()", "max_concurrency=True", lambda c: c.runner(max_concurrency=True), UsageError, "whole number"),
    Case("IntegrationRunner()", "fail_max=0", lambda c: c.runner(fail_max=0), UsageError, "fail_max"),
    Case("IntegrationRunner()", "fail_max=2.5", lambda c: c.runner(fail_max=2.5), UsageError, "whole number"),
    Case("IntegrationRunner()", "reset_timeout=-5", lambda c: c.runner(reset_timeout=-5), UsageError, "positive finite"),
    Case("IntegrationRunner()", "reset_timeout=nan", lambda c: c.runner(reset_timeout=NAN), UsageError, "positive finite"),
    Case("IntegrationRunner()", "reset_timeout=inf", lambda c: c.runner(reset_timeout=INF), UsageError, "positive finite"),
    Case("IntegrationRunner()", "breaker_per_target='yes'", lambda c: c.runner(breaker_per_target="yes"), UsageError, "True, False or None"),
    # -- run / arun / stream ---------------------------------------------------------------------
    Case("runner.run", "['spyy'] (unknown)", lambda c: c.runner().run(["spyy"]), UnknownIntegrationError, "Did you mean 'spy'"),
    Case("runner.run", "['spy', 'spy']", lambda c: c.runner().run(["spy", "spy"]), UsageError, "selected twice"),
    Case("runner.run", "[42]", lambda c: c.runner().run([42]), UsageError, "by name"),  # type: ignore[list-item]
    Case("runner.run", "targets=[1]", lambda c: c.runner().run(["spy"], [1]), UsageError, "target 0 is int"),  # type: ignore[list-item]
    Case("runner.run", "targets=['a\\nb']", lambda c: c.runner().run(["spy"], ["a\nb"]), UsageError, "control character"),
    Case("runner.run", "targets=['a\\x00b']", lambda c: c.runner().run(["spy"], ["a\x00b"]), UsageError, "control character"),
    Case("runner.run", "targets=['a\\x7fb']", lambda c: c.runner().run(["spy"], ["a\x7fb"]), UsageError, "control character"),
    Case("runner.run", "targets=['']", lambda c: c.runner().run(["spy"], [""]), UsageError, "empty"),
    Case("runner.run", "targets=['   ']", lambda c: c.runner().run(["spy"], ["   "]), UsageError, "empty"),
    Case("runner.run", "a 2049-character target", lambda c: c.runner().run(["spy"], ["a" * 2049]), UsageError, "limit is 2048"),
    Case("runner.run", "targets=['a', 'a']", lambda c: c.runner().run(["spy"], ["a", "a"]), UsageError, "listed twice"),
    Case("runner.run", "targets=[]", lambda c: c.runner().run(["spy"], []), UsageError, "targets is empty"),
    Case("runner.run", "targets=b'bytes'", lambda c: c.runner().run(["spy"], b"x"), UsageError, "list of strings"),  # type: ignore[arg-type]
    Case("runner.run", "targets={'a': 1}", lambda c: c.runner().run(["spy"], {"a": 1}), UsageError, "list of strings"),  # type: ignore[arg-type]
    Case("runner.run", "timeout=-1", lambda c: c.runner().run(["spy"], timeout=-1), UsageError, "positive"),
    Case("runner.run", "timeout=nan", lambda c: c.runner().run(["spy"], timeout=NAN), UsageError, "positive"),
    Case("runner.run", "max_concurrency=0", lambda c: c.runner().run(["spy"], max_concurrency=0), UsageError, ">= 1"),
    Case("runner.run", "on_result='print'", lambda c: c.runner().run(["spy"], on_result="print"), UsageError, "must be callable"),  # type: ignore[arg-type]
    Case("runner.arun", "targets=['a\\tb']", lambda c: _await(c.runner().arun(["spy"], ["a\tb"])), UsageError, "control character"),
    Case("runner.arun", "on_result=42", lambda c: _await(c.runner().arun(["spy"], on_result=42)), UsageError, "must be callable"),  # type: ignore[arg-type]
    Case("runner.stream", "['spyy'] (unknown)", lambda c: _drain(c.runner().stream(["spyy"])), UnknownIntegrationError, "Did you mean 'spy'"),
    Case("runner.stream", "max_concurrency=-1", lambda c: _drain(c.runner().stream(["spy"], max_concurrency=-1)), UsageError, ">= 1"),
    Case("runner.breakers.reset", "'nope'", lambda c: c.runner().breakers.reset("nope"), UsageError, "no breaker 'nope'"),
    # -- results and frames ----------------------------------------------------------------------
    Case("IntegrationResults()", "[1]", lambda c: IntegrationResults([1]), UsageError, "holds IntegrationResult values"),  # type: ignore[list-item]
    Case("results.to_frame", "'nope' (unknown section)", lambda c: c.results().to_frame("nope"), UnknownSectionError, "no section named 'nope'"),
    Case("result.section", "'nope'", lambda c: c.results()[0].section("nope"), UnknownSectionError, "sections that exist"),
    Case("results.to_csv", "a path that is a file", lambda c: c.results().to_csv(c.tmp / "a_file"), ExportError, "is a file", _a_file),
    Case("results.to_csv", "directory=42", lambda c: c.results().to_csv(42), UsageError, "must be a path"),  # type: ignore[arg-type]
    Case("frames.read_csv", "a missing folder", lambda c: intgkit.frames.read_csv(c.tmp / "none"), ExportError, "give the folder"),  # type: ignore[attr-defined]
    Case("frames.read_csv", "a truncated summary.csv", read_export, ExportError, "summary", corrupt(_truncate)),
    Case("frames.read_csv", "a manifest that is not JSON", read_export, ExportError, "manifest", corrupt(_bad_json)),
    Case("frames.read_csv", "a missing summary.csv", read_export, ExportError, "export it again", corrupt(_no_summary)),
    Case("frames.read_csv", "a manifest of another version", read_export, ExportError, "version", corrupt(_other_version)),
    # -- widgets and the command line ------------------------------------------------------------
    Case("IntegrationPanel()", "'runner' (not a runner)", lambda c: _panel("runner"), UsageError, "needs an IntegrationRunner"),
    Case("IntegrationPanel()", "None", lambda c: _panel(None), UsageError, "needs an IntegrationRunner"),
    Case("intgkit", "bogus (no such command)", cli("bogus"), CliUsageError, "invalid choice"),
    Case("intgkit run", "spyy (unknown)", cli("run", "spyy"), CliUsageError, "Did you mean 'spy'"),
    Case("intgkit run", "--timeout -1", cli("run", "spy", "--timeout", "-1"), CliUsageError, "positive finite"),
    Case("intgkit run", "--timeout nan", cli("run", "spy", "--timeout", "nan"), CliUsageError, "positive finite"),
    Case("intgkit run", "--timeout abc", cli("run", "spy", "--timeout", "abc"), CliUsageError, "expected seconds"),
    Case("intgkit run", "--max-concurrency 0", cli("run", "spy", "--max-concurrency", "0"), CliUsageError, ">= 1"),
    Case("intgkit run", "-t with a control character", cli("run", "spy", "-t", "a\x01b"), CliUsageError, "control character"),
    Case("intgkit run", "-t 'exa mple.org' (a space)", cli("run", "spy", "-t", "exa mple.org"), CliUsageError, "contains a space"),
    Case("intgkit run", "--targets-file missing.txt", cli("run", "spy", "--targets-file", "missing.txt"), CliUsageError, "not a readable file"),
    Case("intgkit run", "--severity urgent", cli("run", "spy", "-t", "a", "--severity", "urgent"), CliUsageError, "critical, high"),
    Case("intgkit run", "--xlsx out.csv", cli("run", "spy", "-t", "a", "--xlsx", "out.csv"), CliUsageError, "must end in .xlsx"),
    Case("intgkit run", "--html in a missing folder", cli("run", "spy", "-t", "a", "--html", "no/such/r.html"), CliUsageError, "does not exist"),
    Case("intgkit run", "--section nope", cli("run", "spy", "-t", "a", "--section", "nope"), CliUsageError, "no section named", before_work=False),
]  # fmt: skip


def _await(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


def _drain(agen: Any) -> Any:
    import asyncio

    async def main() -> list[Any]:
        return [r async for r in agen]

    return asyncio.run(main())


def _panel(runner: Any) -> None:
    from intgkit.widgets import IntegrationPanel

    try:
        IntegrationPanel(runner)
    finally:
        ipywidgets.Widget.close_all()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def ctx(registry: intgkit.IntegrationRegistry, tmp_path: Path) -> Iterator[Ctx]:
    """The spy integration in a fresh registry, and a scratch folder to run in."""
    calls: list[object] = []

    @intgkit.integration(registry=registry)
    async def spy(target):  # type: ignore[no-untyped-def]
        calls.append(target)
        return {"s": [{"t": target}]}

    cwd = Path.cwd()
    os.chdir(tmp_path)  # the CLI's relative paths land here
    try:
        yield Ctx(registry, calls, tmp_path)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.entry}: {c.tried}" for c in CASES])
def test_bad_input_is_refused_clearly_before_any_work(ctx: Ctx, case: Case) -> None:
    """Each bad input raises the documented error type, with a message saying what was wrong,
    before the integration is called and without writing or changing any file."""
    STATS["bad_inputs_tried"] += 1
    if case.prepare is not None:
        case.prepare(ctx)
    before = _snapshot(ctx.tmp)
    with pytest.raises(case.raises) as info:
        case.call(ctx)
    message = str(info.value)
    assert case.says in message, message
    assert len(message) < 3000
    assert ctx.calls == ([] if case.before_work else ["a"])
    after = _snapshot(ctx.tmp)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert changed == set()
    STATS["bad_inputs_refused_clearly"] += 1


def render_table() -> str:
    """The markdown table of every case, as docs/reliability_inputs.md holds it."""
    lines = [
        "# Bad inputs tried, and what each gets",
        "",
        "Generated from `CASES` in tests/test_bad_input.py "
        "(`INTGKIT_UPDATE_DOCS=1 pytest tests/test_bad_input.py` rewrites it; a test fails when it",
        "is out of date). Every case is refused before the integration is called and before any file",
        "is written (one exception, marked: a section name can only be checked once the results exist).",
        "`intgkit` cases exit with status 2 and print the message on stderr.",
        "",
        f"{len(CASES)} inputs.",
        "",
        "| entry point | input | error | the message says | refused |",
        "|---|---|---|---|---|",
    ]
    for c in CASES:
        error = "exit 2" if c.raises is CliUsageError else f"`{c.raises.__name__}`"
        tried = c.tried.replace("|", "\\|")
        when = "before any call" if c.before_work else "after the run, before any output"
        lines.append(f"| `{c.entry}` | {tried} | {error} | “{c.says}” | {when} |")
    return "\n".join(lines) + "\n"


def test_reliability_inputs_doc_lists_every_case() -> None:
    """docs/reliability_inputs.md is the table of CASES (rewritten when INTGKIT_UPDATE_DOCS=1)."""
    table = render_table()
    if os.environ.get("INTGKIT_UPDATE_DOCS") == "1":
        DOC.write_text(table, encoding="utf-8")
    assert DOC.read_text(encoding="utf-8") == table

"""The README's Python examples run as written, so the README can never crash again.

Every fenced ```python block of README.md is one test, named by the line its fence opens on
(``README.md:L42``). Each block runs on its own: a fresh namespace, a fresh default registry,
a temporary working folder and an environment restored afterwards, so a block must import what
it uses. Top-level ``await`` works (notebook style: the block then runs in ``asyncio.run``).

A block that cannot run offline (a real host on the internet, a real API token) is marked by
an HTML comment on the line right before its fence, which GitHub does not render:

    <!-- readme-test: skip: needs the internet (example.org) -->

The reason after ``skip:`` is required; keep such blocks few (tests/test_readme.py counts them).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = re.compile(r"^<!--\s*readme-test:\s*skip:\s*(?P<reason>\S.*?)\s*-->$")
MAX_SKIPPED = 3


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    code: str
    skip: str | None  # the reason, when marked


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of a Markdown text, with the line of each opening fence."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = re.match(r"^(`{3,}|~{3,})\s*(\w+)?", lines[i])
        if not fence:
            i += 1
            continue
        mark, lang = fence.group(1), (fence.group(2) or "").lower()
        start = i
        i += 1
        body: list[str] = []
        # a closing fence is the fence characters alone (CommonMark): "``` text" is not one
        while i < len(lines) and not (lines[i].strip() and set(lines[i].strip()) == {mark[0]}
                                      and len(lines[i].strip()) >= len(mark)):  # fmt: skip
            body.append(lines[i])
            i += 1
        if i >= len(lines):
            raise AssertionError(f"README.md:L{start + 1}: the {mark} block opened here is never closed")
        i += 1  # the closing fence
        if lang not in ("python", "py"):
            continue
        prev = lines[start - 1].strip() if start else ""
        marker = SKIP.match(prev)
        if prev.startswith("<!--") and "readme-test" in prev and not marker:
            raise AssertionError(
                f"README.md:L{start} has a malformed readme-test marker {prev!r}; "
                f"write <!-- readme-test: skip: REASON -->"
            )
        blocks.append(Block(start + 1, "\n".join(body) + "\n", marker.group("reason") if marker else None))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_readme_has_examples_and_few_skips() -> None:
    """The README has Python examples, and at most a few are marked as not runnable offline."""
    assert BLOCKS, "README.md has no ```python block"
    skipped = [f"L{b.line} ({b.skip})" for b in BLOCKS if b.skip]
    assert len(skipped) <= MAX_SKIPPED, f"too many README blocks marked skip: {skipped}"


def test_extractor_finds_lines_and_markers() -> None:
    """The extractor reports each block's fence line and honours only a well-formed marker."""
    text = (
        "# t\n\n```python\nx = 1\n```\n\n<!-- readme-test: skip: needs the internet -->\n"
        "```python\nimport urllib\n```\n```bash\nls\n```\n"
    )
    blocks = python_blocks(text)
    assert [(b.line, b.skip) for b in blocks] == [(3, None), (8, "needs the internet")]
    with pytest.raises(AssertionError, match="malformed"):
        python_blocks("<!-- readme-test: skip -->\n```python\nx = 1\n```\n")
    with pytest.raises(AssertionError, match="L1: the ``` block opened here is never closed"):
        python_blocks("```python\nx = 1\n``` then prose\n")


def run_block(block: Block) -> None:
    """Execute one block as a module would run (top-level await allowed)."""
    try:
        code = compile(block.code, f"README.md:L{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        pytest.fail(f"README.md block at line {block.line} does not compile: {exc}")
    namespace: dict[str, object] = {"__name__": "__readme__"}
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(eval(code, namespace))
    else:
        exec(code, namespace)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:L{b.line}" for b in BLOCKS])
def test_readme_block_runs(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """One README Python block runs without an exception, in a temporary folder.

    A block that reads ``REDIS_URL`` gets the session's real redis-server there.
    """
    if block.skip:
        pytest.skip(f"README.md:L{block.line} is marked: {block.skip}")
    redis = request.getfixturevalue("redis_url") if "REDIS_URL" in block.code else None
    monkeypatch.chdir(tmp_path)
    saved = dict(os.environ)
    for name in saved:  # a developer's own settings must not make a block pass
        if name.startswith(("INTGKIT_", "CLOUDFLARE_")):
            del os.environ[name]
    os.environ["INTGKIT_HISTORY"] = str(tmp_path / "history.duckdb")  # never the user's real store
    if redis is not None:
        os.environ["REDIS_URL"] = redis
    try:
        run_block(block)
    except Exception as exc:
        pytest.fail(
            f"README.md block at line {block.line} raised {type(exc).__name__}: {exc}\n--- block ---\n"
            f"{block.code}"
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)

"""Exports replace the folder atomically: a writer killed at any step of the replacement leaves
the export folder in place, whole (the old export or the new one, never neither), and the next
export removes what the dead writer left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import intgkit
from intgkit import _atomic

#: A writer that exports results over an existing export and SIGKILLs itself at one step of the
#: replacement (the steps _atomic.replace_dir marks with _step()).
WRITER = """
import os, signal, sys
import intgkit
from intgkit import _atomic
from intgkit._models import IntegrationResult, IntegrationSection, Status

target, crash_at, rows, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if mode == "fallback":
    _atomic._exchange = lambda a, b: False       # as on a system without RENAME_EXCHANGE

def step(name):
    if name == crash_at:
        os.kill(os.getpid(), signal.SIGKILL)
_atomic._step = step

results = intgkit.IntegrationResults([
    IntegrationResult("probe", f"t{i}", Status.OK, (IntegrationSection("s", ({"n": rows},)),))
    for i in range(rows)
])
results.to_csv(target)
"""

STEPS = {
    "exchange": ["staged", "exchanged", "cleaned"],
    "fallback": ["staged", "moved_aside", "exchanged", "cleaned"],
}


def _write(target: Path, crash_at: str, rows: int, mode: str) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(target), crash_at, str(rows), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode


def _rows(target: Path) -> int:
    frames = intgkit.read_csv(target)
    return len(frames["summary"])


@pytest.mark.parametrize(
    ("mode", "step"), [(m, s) for m, steps in STEPS.items() for s in steps], ids=lambda v: str(v)
)
def test_a_writer_killed_at_any_step_leaves_a_whole_export(tmp_path: Path, mode: str, step: str) -> None:
    if mode == "exchange" and not _atomic.exchange_supported():
        pytest.skip("this C library has no renameat2")
    target = tmp_path / "export"
    assert _write(target, "never", 3, mode) == 0 and _rows(target) == 3
    assert _write(target, step, 5, mode) == -signal.SIGKILL
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "export")
    if mode == "exchange" or step != "moved_aside":
        assert target.is_dir()  # never missing with the exchange; outside the fallback's window
        assert _rows(target) == (3 if step == "staged" else 5)  # the old export whole, or the new
    else:  # the fallback's window: the target is missing, the old export sits aside
        assert not target.exists() and any(".intgkit-old-" in n for n in leftovers)
    # the next export cleans up after the dead writer (and restores the old one first if needed)
    assert _write(target, "never", 7, mode) == 0 and _rows(target) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_the_exchange_is_used_on_linux(tmp_path: Path) -> None:
    """On Linux (glibc 2.28+) the swap is one renameat2(RENAME_EXCHANGE), so the old export's
    files move under the staging name (the same inode is now at the target)."""
    if sys.platform != "linux":
        pytest.skip("RENAME_EXCHANGE is Linux's")
    assert _atomic.exchange_supported()
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from_a").write_text("a")
    inode = os.stat(a).st_ino
    assert _atomic._exchange(a, b) is True
    assert (b / "from_a").exists() and os.stat(b).st_ino == inode and not (a / "from_a").exists()
    assert _atomic._exchange(a, tmp_path / "missing") is False  # no target yet: plain rename


def test_a_live_writers_staging_folder_is_left_alone(tmp_path: Path) -> None:
    """Only leftovers of dead processes are removed; a staging folder of a live one stays."""
    target = tmp_path / "export"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        mine = tmp_path / f".export.intgkit-staging-{live.pid}-abc123"
        dead = tmp_path / ".export.intgkit-staging-999999999-def456"
        other = tmp_path / ".other.intgkit-staging-999999999-def456"
        for p in (mine, dead, other):
            p.mkdir()
        assert _atomic.clean_stale(target) == [dead]
        assert mine.exists() and other.exists() and not dead.exists()
    finally:
        live.kill()
        live.wait()

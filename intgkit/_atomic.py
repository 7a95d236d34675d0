"""Atomic replacement of a folder: at no moment is the export folder missing or half-written.

An export is written into a staging folder beside its target, then put in place. Renaming the
old folder away and the new one in leaves a moment with no folder at all, and a crash in that
moment leaves only a hidden ``.intgkit-old-*`` folder. On Linux, ``renameat2(RENAME_EXCHANGE)``
swaps the two names in one step (called through ctypes: Python has no binding); the old export
then sits under the staging name and is deleted. Elsewhere (macOS, Windows, a file system or
C library without RENAME_EXCHANGE) the fallback is the two renames, with that window.

Names carry the writer's process id (``.<name>.intgkit-staging-<pid>-<token>``), so a later
export can tell folders left by a crashed writer (its process is gone) from those of a writer
still at work, and removes only the former; if a crash in the fallback's window left the
target missing, the old folder is renamed back first.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import secrets
import shutil
from pathlib import Path

__all__ = ["clean_stale", "exchange_supported", "fsync_dir", "replace_dir", "staging_path"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 1 << 1
_STAGING = "intgkit-staging"
_OLD = "intgkit-old"
_LEFTOVER = re.compile(rf"^\.(?P<name>.+)\.(?P<kind>{_STAGING}|{_OLD})-(?P<pid>\d+)-[0-9a-f]+$")


def _step(name: str) -> None:
    """A no-op between the steps of a replacement; the crash tests kill the writer here."""


def staging_path(target: Path) -> Path:
    """A fresh staging folder name beside ``target``, carrying this process's id."""
    return target.parent / f".{target.name[:100]}.{_STAGING}-{os.getpid()}-{secrets.token_hex(6)}"


def replace_dir(staging: Path, target: Path) -> None:
    """Put the folder ``staging`` at ``target`` (which may exist) atomically where possible."""
    _step("staged")
    if _exchange(staging, target):
        _step("exchanged")  # target is the new export; staging holds the old one
        fsync_dir(target.parent)
        shutil.rmtree(staging, ignore_errors=True)
        _step("cleaned")
        return
    if not target.exists():
        os.rename(staging, target)
        fsync_dir(target.parent)
        _step("cleaned")
        return
    # The fallback: move the old export aside, then the new one in (a moment with no target).
    old = target.parent / f".{target.name[:100]}.{_OLD}-{os.getpid()}-{secrets.token_hex(6)}"
    with contextlib.suppress(OSError):
        shutil.copymode(target, staging)
    os.rename(target, old)
    _step("moved_aside")
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    _step("exchanged")
    fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)
    _step("cleaned")


def clean_stale(target: Path) -> list[Path]:
    """Remove staging and old folders of ``target`` left by writers that died; returns them.

    When the target is missing and a dead writer's old folder exists (a crash in the
    fallback's window), that folder is renamed back to the target first.
    """
    parent = target.parent
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    prefix = target.name[:100]
    for entry in sorted(entries, key=lambda e: e.name):
        m = _LEFTOVER.match(entry.name)
        if m is None or m["name"] != prefix or not entry.is_dir(follow_symlinks=False):
            continue
        if _alive(int(m["pid"])):
            continue  # a writer at work
        path = Path(entry.path)
        if m["kind"] == _OLD and not target.exists():
            with contextlib.suppress(OSError):
                os.rename(path, target)
                continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not writing this target now: any leftover is stale
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's), or cannot tell: leave it
    return True


_renameat2 = None
_looked_up = False


def _libc_renameat2() -> object | None:
    global _renameat2, _looked_up
    if not _looked_up:
        _looked_up = True
        if os.name == "posix":
            with contextlib.suppress(OSError, AttributeError, TypeError):
                libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
                fn = libc.renameat2
                fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                fn.restype = ctypes.c_int
                _renameat2 = fn
    return _renameat2


def exchange_supported() -> bool:
    """Whether this platform's C library offers renameat2 (the file system may still refuse)."""
    return _libc_renameat2() is not None


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step; False when unsupported or ``b`` is missing."""
    fn = _libc_renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)  # type: ignore[operator]
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOENT, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # no target yet, or no exchange here: the caller falls back
    raise OSError(err, os.strerror(err), str(b))


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries to disk, so a rename into it survives a crash (POSIX only)."""
    if os.name != "posix":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

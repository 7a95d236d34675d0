"""An export folder's manifest, and whether an export may go into a folder.

Kept apart from :mod:`intgkit.frames` and free of pandas, so the command line can refuse a bad
``--csv`` folder in a fraction of a second, before it imports pandas or calls anything.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from ._errors import ExportError, UsageError

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST",
    "check_export_dir",
    "check_target",
    "load_manifest",
    "manifest_problem",
]

#: The export layout version written; a reader refuses versions it does not know.
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
SUMMARY = "summary"
_FORMAT = "intgkit-export"
FILE_NAME = re.compile(r"^[a-z0-9_]+(?:-[0-9a-f]{12}(?:-\d+)?)?\.(?:csv|parquet)$")


def check_export_dir(directory: str | os.PathLike[str]) -> Path:
    """The export folder, resolved, if an export may be written there; ExportError otherwise.

    The check :func:`intgkit.frames.to_csv` makes before writing, for callers (the CLI) that
    want to refuse a bad folder before a run rather than after it.
    """
    return check_target(directory)


def check_target(directory: str | os.PathLike[str]) -> Path:
    """Refuse a target that is a file, lies under a file, or holds something not ours."""
    try:
        raw = Path(os.fspath(directory))
    except TypeError as exc:
        raise UsageError(f"directory must be a path, got {type(directory).__name__} {directory!r}") from exc
    target = raw.resolve()
    if not target.name:
        raise ExportError(f"cannot export into {str(raw)!r}; give a folder below it, e.g. 'results'")
    if target.exists() and not target.is_dir():
        raise ExportError(
            f"{str(raw)!r} is a file, not a folder; give a folder path (it is created if missing)"
        )
    for ancestor in target.parents:
        if ancestor.exists():
            if not ancestor.is_dir():
                raise ExportError(
                    f"cannot export into {str(raw)!r}: {str(ancestor)!r} is a file, not a folder"
                )
            break
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise ExportError(
            f"cannot export into {str(raw)!r}: it is (or contains) the current folder, which an "
            f"export replaces whole; give a subfolder, e.g. 'results'"
        )
    if target.is_dir():
        entries = {p.name for p in target.iterdir()}
        if entries:
            manifest = load_manifest(target, None, quiet=True)
            if manifest is None:
                raise ExportError(
                    f"{str(raw)!r} is not empty and holds no intgkit export (no valid {MANIFEST}); "
                    f"refusing to overwrite it; give an empty or new folder"
                )
            ours = {MANIFEST} | {t["file"] for t in manifest["tables"].values()}
            foreign = sorted(entries - ours)
            if foreign:
                raise ExportError(
                    f"{str(raw)!r} holds an intgkit export plus files that are not part of it "
                    f"({', '.join(map(repr, foreign[:10]))}); an export replaces the folder whole, so "
                    f"move them away or give another folder"
                )
    return target


def load_manifest(folder: Path, fmt: str | None, *, quiet: bool = False) -> dict[str, Any] | None:
    """The parsed, checked manifest; None (quiet) or ExportError (otherwise) when it is not valid."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        problem = manifest_problem(manifest, fmt)
    except FileNotFoundError:
        problem = f"it has no {MANIFEST}, so it is not an intgkit export (or the export was not finished)"
    except (OSError, UnicodeError, ValueError) as exc:
        problem = f"its {MANIFEST} cannot be read as JSON ({exc})"
    if problem is None:
        return manifest  # type: ignore[no-any-return]
    if quiet:
        return None
    raise ExportError(f"cannot read the export in {str(folder)!r}: {problem}")


def manifest_problem(manifest: Any, fmt: str | None) -> str | None:
    if not isinstance(manifest, dict) or manifest.get("format") != _FORMAT:
        return f'its {MANIFEST} is not an intgkit export manifest (expected "format": {_FORMAT!r})'
    if manifest.get("version") not in READABLE_VERSIONS:
        return (
            f"the manifest has format version {manifest.get('version')!r}; this intgkit reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))} (export it again with this version)"
        )
    if manifest.get("encoding", "utf-8") not in ("utf-8", "utf-8-sig"):
        return f"the manifest's encoding is {manifest.get('encoding')!r}; expected 'utf-8' or 'utf-8-sig'"
    if manifest.get("file_format") not in ("csv", "parquet"):
        return f"the manifest's file_format is {manifest.get('file_format')!r}; expected 'csv' or 'parquet'"
    if fmt is not None and manifest["file_format"] != fmt:
        reader = "read_parquet" if manifest["file_format"] == "parquet" else "read_csv"
        return f"it is a {manifest['file_format']} export, not {fmt}; read it with {reader}"
    tables = manifest.get("tables")
    if not isinstance(tables, dict) or SUMMARY not in tables:
        return "the manifest lists no tables (or no summary)"
    for key, table in tables.items():
        if not (
            isinstance(table, dict)
            and isinstance(table.get("file"), str)
            and isinstance(table.get("columns"), list)
        ):
            return f"the manifest's entry for table {key!r} lacks a file or columns"
        if not FILE_NAME.match(table["file"]):
            return f"table {key!r} names the file {table['file']!r}, which no intgkit export writes"
        for column in table["columns"]:
            if not (isinstance(column, dict) and isinstance(column.get("name"), str)):
                return f"table {key!r} has a column entry without a name: {column!r}"
    return None

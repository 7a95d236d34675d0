"""The package surface: __all__ is complete and sorted, heavy extras are not imported eagerly."""

from __future__ import annotations

import subprocess
import sys

import intgkit


def test_all_is_complete_and_sorted() -> None:
    """Every public name in intgkit's namespace is in __all__, and __all__ is sorted."""
    public = {n for n in dir(intgkit) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(intgkit, n)).__name__ == "module"}
    assert set(intgkit.__all__) - {"__version__"} == public - modules
    assert intgkit.__all__ == sorted(intgkit.__all__)


def test_import_is_light() -> None:
    """`import intgkit` imports none of the heavy optional parts."""
    code = (
        "import sys, intgkit; heavy = ['ipywidgets', 'aiohttp', 'dns', 'matplotlib', 'pandas', "
        "'pyarrow', 'tqdm', 'cryptography', 'nest_asyncio2', 'distributed', 'dask', 'duckdb', "
        "'platformdirs']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_py_typed_is_shipped() -> None:
    """The package ships py.typed so users' type checkers read its hints."""
    from importlib.resources import files

    assert files("intgkit").joinpath("py.typed").is_file()

"""The package's version, on the ground floor: the report's footer, the run history's stamp and
the Dask workers' check read it here, so none of them imports the whole package (``intgkit``
imports them). pyproject.toml's build reads it from this file too."""

__version__ = "0.1.0"

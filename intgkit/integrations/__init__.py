"""Built-in integrations, one module each, registered through the ``intgkit.integrations``
entry-point group (see pyproject.toml), so they load like any third-party plugin.

Each returns a ``findings`` section of one shape (see :mod:`intgkit.integrations._findings`)
plus sections of facts.
"""

"""ipywidgets views of a runner: :class:`IntegrationPanel` and the views it is made of.

The panel is one VBox of controls (what to run, Run / Cancel / Reset) above a tab per view of
the run: the live status table, the results frames and the findings. Each view is a small
module of its own (``_status_view``, ``_results_view``, ``_findings_view``), so a new view of
the run (waiting calls, history) is a new module and one more tab, not a longer class.

Only this package imports ipywidgets; ``import intgkit`` never does.
"""

from __future__ import annotations

from .._errors import MissingExtraError

try:
    import ipywidgets  # noqa: F401 - imported here so a missing extra is reported once, clearly
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise MissingExtraError("ipywidgets", "widgets", "intgkit.widgets.IntegrationPanel") from exc

from ._panel import TICK_S, IntegrationPanel

__all__ = ["TICK_S", "IntegrationPanel"]

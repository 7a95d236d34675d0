"""The panel's CSS: colours from JupyterLab's theme variables, layouts that fit a narrow cell.

Colours come from ``--jp-ui-font-color*`` / ``--jp-layout-color*`` so the light and dark
themes both keep text at 4.5:1 or better (the browser test measures it); the fallbacks after
each variable are for front ends without JupyterLab's theme (classic Notebook, VS Code).
Wide tables scroll sideways inside their own box instead of widening the cell, and long
cells are cut with an ellipsis, whole in their tooltip.
"""

from __future__ import annotations

__all__ = ["PANEL_CLASS", "PANEL_CSS", "muted", "text"]

PANEL_CLASS = "intgkit-panel"

#: Main text and secondary text colours, as CSS values usable in inline styles.
text = "var(--jp-ui-font-color1, #1f2328)"
muted = "var(--jp-ui-font-color2, #57606a)"

PANEL_CSS = f"""
<style>
.{PANEL_CLASS} {{ max-width: 100%; color: {text}; }}
.{PANEL_CLASS} .intgkit-scroll {{ max-width: 100%; overflow-x: auto; }}
.{PANEL_CLASS} .widget-html, .{PANEL_CLASS} .widget-html-content {{ max-width: 100%; min-width: 0; }}
.{PANEL_CLASS} .widget-html-content {{ display: block; }}
.{PANEL_CLASS} .widget-tab, .{PANEL_CLASS} .widget-tab > .widget-tab-contents {{
  max-width: 100%; min-width: 0; }}
.{PANEL_CLASS} .intgkit-muted {{ color: {muted}; }}
.{PANEL_CLASS} .intgkit-name {{ color: {text}; font-family: var(--jp-code-font-family, monospace); }}
.{PANEL_CLASS} table.intgkit-table {{ border-collapse: collapse; color: {text}; }}
.{PANEL_CLASS} table.intgkit-table td, .{PANEL_CLASS} table.intgkit-table th {{
  padding: 1px 8px; white-space: nowrap; text-align: left; }}
.{PANEL_CLASS} table.intgkit-table td.num {{ text-align: right; }}
.{PANEL_CLASS} table.intgkit-table td.cut {{ max-width: 22em; overflow: hidden; text-overflow: ellipsis; }}
.{PANEL_CLASS} .intgkit-message {{ padding: 2px 6px; border-left: 4px solid; }}
.{PANEL_CLASS} .intgkit-message.error {{ border-color: #cf222e; }}
.{PANEL_CLASS} .intgkit-message.info {{ border-color: #1a7f37; }}
.{PANEL_CLASS} .intgkit-output .jp-OutputArea-output {{ max-width: 100%; overflow-x: auto; }}
.{PANEL_CLASS} .intgkit-output td, .{PANEL_CLASS} .intgkit-output th {{
  white-space: nowrap; max-width: 24em; overflow: hidden; text-overflow: ellipsis; }}
.{PANEL_CLASS} details.intgkit-group summary {{ cursor: pointer; font-weight: bold; }}
</style>
"""

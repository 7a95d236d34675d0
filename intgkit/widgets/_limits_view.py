"""The rate-limit view: per bucket, tokens left, calls waiting for one, and when the next arrives.

Calls waiting for a rate-limit token are neither running nor stuck; without this table a run
throttled by its own limit looks hung. The buckets are the process's (shared by every runner),
read from the limiter board without pandas, so the view can re-render every tick.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from .._policies import LIMITERS

__all__ = ["limits_html", "waiting_calls"]


def waiting_calls(scopes: Sequence[str]) -> int:
    """How many calls of these integrations wait for a rate-limit token now."""
    return sum(int(row["waiting"]) for row in LIMITERS.rows(scopes))


def limits_html(scopes: Sequence[str]) -> str:
    """The buckets of these integrations as a small table; "" when none has a rate limit."""
    rows = LIMITERS.rows(scopes)
    if not rows:
        return ""
    body = "".join(
        f"<tr><td class='intgkit-name'>{escape(str(r['scope']))}</td><td>{escape(str(r['key']) or '-')}</td>"
        f"<td class='num'>{r['rate']:g} / {r['per_s']:g} s</td><td class='num'>{r['tokens']:.1f}</td>"
        f"<td class='num'>{r['waiting']}</td>"
        f"<td class='num'>{'' if r['tokens'] >= 1 else format(r['next_token_in_s'], '.1f') + ' s'}</td></tr>"
        for r in rows
    )
    return (
        "<div class='intgkit-scroll'><table class='intgkit-table intgkit-limits-table'>"
        "<thead><tr><th>rate limit</th><th>key</th><th>rate</th><th>tokens</th><th>waiting</th>"
        "<th>next token in</th></tr></thead><tbody>" + body + "</tbody></table></div>"
    )

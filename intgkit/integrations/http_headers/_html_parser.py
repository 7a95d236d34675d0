"""The parts of an HTML page the Observatory reads: ``<script>`` tags and ``<meta>`` policies.

The standard library's html.parser extracts ``<meta http-equiv="content-security-policy">``,
``<meta name="referrer">`` and every ``<script>`` with its attributes; nothing is executed or
fetched. Only pages whose Content-Type is exactly one of :data:`HTML_TYPES` are read.

Parsing was a quarter of a scan's time on a local site, almost all of it html.parser working
through tags nobody reads. Two shortcuts keep its results exactly (tests/
test_http_headers_parser.py compares them with html.parser run plainly on crafted and random
pages): a tag whose name is not one the result or the parser's state depends on is only
measured, not taken apart into attributes; and the page is fed only up to the first ``<`` after
its last ``<script``/``<meta`` (case-insensitive): a script or meta tag can only start at such
a literal, so nothing past that point can add to the result, unless something before it is not
finished there (a comment, a tag, a script's text holding a ``<``), in which case the whole
page is parsed as before.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

#: Where a script or meta tag could start; a superset (``<scripts``, ``<metadata`` ...) is fine.
_CANDIDATE = re.compile(r"<(?:script|meta)", re.IGNORECASE)
#: A start tag's name as html.parser reads it (its ``tagfind_tolerant``).
_TAG_NAME = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
#: Start tags that must go through html.parser's own handling: the two we read and every one
#: after which html.parser reads differently (raw text such as <style>, RCDATA, plaintext ...).
_HANDLED = frozenset(
    {"script", "meta", "plaintext", "svg", "math"}
    | {t.lower() for t in getattr(HTMLParser, "CDATA_CONTENT_ELEMENTS", ())}
    | {t.lower() for t in getattr(HTMLParser, "RCDATA_CONTENT_ELEMENTS", ())}
)


class Page(HTMLParser):
    """Scripts (their attributes, the first of repeated ones winning) and meta policies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str]] = []
        self.http_equiv: dict[str, list[str]] = {"content-security-policy": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("script", "meta"):
            return
        attributes: dict[str, str] = {}
        for k, v in attrs:
            attributes.setdefault(k, v or "")  # the first of repeated attributes wins
        if tag == "script":
            self.scripts.append(attributes)
            return
        if "http-equiv" in attributes and "content" in attributes:
            content = attributes["content"]
            if content and attributes["http-equiv"].lower().strip() == "content-security-policy":
                self.http_equiv["content-security-policy"].append(content)
        elif attributes.get("name", "").lower().strip() == "referrer" and attributes.get("content"):
            self.http_equiv["referrer-policy"] = [attributes["content"]]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def updatepos(self, i: int, j: int) -> int:
        """No line/column bookkeeping: positions are never reported (a tenth of the time)."""
        return j

    def parse_starttag(self, i: int) -> int:
        """Where an unread tag ends, without reading its attributes; others as html.parser does."""
        name = _TAG_NAME.match(self.rawdata, i + 1)
        if name is not None and name.group(1).lower() not in _HANDLED:
            return self.check_for_whole_start_tag(i)
        return super().parse_starttag(i)


def parse_page(html: str) -> Page:
    """Script and meta tags of a page (never executes or fetches anything)."""
    if html.isascii():  # lower() keeps every index (the regex below takes a scan of every "<")
        low = html.lower()
        at = max(low.rfind("<script"), low.rfind("<meta"))
        end = -1 if at < 0 else at + (7 if low.startswith("<script", at) else 5)
    else:
        end = -1
        for last in _CANDIDATE.finditer(html):
            end = last.end()
    if end < 0:
        return Page()  # no script or meta tag can be in it
    cut = html.find("<", end)
    if cut >= 0:
        page = Page()
        page.feed(html[:cut])
        if "<" not in page.rawdata:
            return page  # everything up to the cut finished: the rest adds nothing
    page = Page()
    page.feed(html)
    page.close()
    return page

"""The parts of an HTML page the Observatory reads: ``<script>`` tags and ``<meta>`` policies.

The standard library's html.parser extracts ``<meta http-equiv="content-security-policy">``,
``<meta name="referrer">`` and every ``<script>`` with its attributes; nothing is executed or
fetched. Only pages whose Content-Type is exactly one of :data:`HTML_TYPES` are read.
"""

from __future__ import annotations

from html.parser import HTMLParser

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


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


def parse_page(html: str) -> Page:
    """Script and meta tags of a page (never executes or fetches anything)."""
    page = Page()
    page.feed(html)
    page.close()
    return page

"""The page parser's shortcuts keep html.parser's results exactly.

``_html_parser.parse_page`` skips attribute parsing of tags it never reads and stops feeding
after the last possible ``<script``/``<meta``. The reference here is html.parser itself, fed
the whole page with nothing skipped, collecting the same tags the same way: any page on which
the two differ is a bug in a shortcut. Crafted pages aim at the cut (a tag, comment, attribute
value or script text running past it); seeded random pages mix the same pieces.
"""

from __future__ import annotations

import random
from html.parser import HTMLParser

import pytest

from intgkit.integrations.http_headers._html_parser import Page, parse_page


class Reference(HTMLParser):
    """html.parser with no shortcut: every tag parsed, every character fed, then close()."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str]] = []
        self.http_equiv: dict[str, list[str]] = {"content-security-policy": []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("script", "meta"):
            return
        attributes: dict[str, str] = {}
        for k, v in attrs:
            attributes.setdefault(k, v or "")
        if tag == "script":
            self.scripts.append(attributes)
        elif "http-equiv" in attributes and "content" in attributes:
            if (
                attributes["content"]
                and attributes["http-equiv"].lower().strip() == "content-security-policy"
            ):
                self.http_equiv["content-security-policy"].append(attributes["content"])
        elif attributes.get("name", "").lower().strip() == "referrer" and attributes.get("content"):
            self.http_equiv["referrer-policy"] = [attributes["content"]]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def reference(html: str) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
    ref = Reference()
    ref.feed(html)
    ref.close()
    return ref.scripts, ref.http_equiv


CSP = '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
CRAFTED = [
    "",
    "<p>no tags we read</p>",
    '<script src="/a.js"></script><p>x</p>',
    f"<head>{CSP}</head><body>" + "<p>t</p>" * 50 + "</body>",
    # the last candidate's tag, comment or value runs past the first "<" after it
    '<meta name="referrer" content="a<b>c"><p>x</p>',
    "<meta name=referrer content=x<y>z><p>",
    '<script src="/a.js">if (a<b) {}</script><script src="/b.js"></script>',
    '<script src="/a.js">var s = "<p>";</script>',
    "<!-- <script src=/hidden.js></script> <p> --><script src=/shown.js></script>",
    "<!-- <meta name=referrer content=x> <p>",
    f'<div title="{CSP}<p>">x</div>',
    f"<style>{CSP}</style><p>",
    f"<textarea>{CSP}</textarea><title>{CSP}</title><p>",
    '<SCRIPT SRC="/UP.js"></SCRIPT><Meta Name="Referrer" Content="no-referrer"><p>',
    "<script/src=/slash.js></script><meta/name=referrer/content=origin/><p>",
    "<scripts src=/not.js><metadata><p>",
    '<script src="/a.js" src="/b.js" integrity=x></script><p>',
    "<![CDATA[<script src=/c.js>]]><?pi <meta name=referrer content=y>?><p>",
    "<!doctype html><script src=/a.js",
    "<script src=/a.js><p></p></script><p>",
    "<meta name=referrer content='unterminated><p>x</p>",
    "<script>&amp; <!-- </script> --><p>",
    "<p>café</p><script src=/é.js></script><p>İ</p>",
    "<ſcript src=/long-s.js></ſcript><meta name=referrer content=origin><p>",
    '<meta http-equiv="content-security-policy" content="a">'
    "<meta http-equiv=CONTENT-SECURITY-POLICY content=b></p>",
]
PIECES = [
    "<script src=/a.js>",
    "</script>",
    "<script>",
    CSP,
    "<meta name=referrer content=origin>",
    "<meta name='referrer' content=\"no-referrer\"/>",
    "<!--",
    "-->",
    "<p>",
    "</p>",
    '<div title="',
    '"',
    "'",
    ">",
    "<",
    "<style>",
    "</style>",
    "<textarea>",
    "</textarea>",
    "<title>",
    "</title>",
    "&amp;",
    "&",
    "<![CDATA[",
    "]]>",
    "<?x",
    "<!doctype html>",
    "text",
    "<SCRIPT SRC=/U.js>",
    "<meta/",
    "/>",
    "=",
    " ",
    "\n",
    "<scr",
    "ipt>",
    "</",
    "<a href=x>",
    "<b>",
    "</b",
    "<br/>",
    # non-ASCII pages take the other search for the last candidate
    "é",
    "İ",
    "<ſcript src=/long-s.js>",
    "<META NAME=REFERRER CONTENT=İ>",
]


@pytest.mark.parametrize("html", CRAFTED)
def test_crafted_pages_parse_as_html_parser_does(html: str) -> None:
    page = parse_page(html)
    assert (page.scripts, page.http_equiv) == reference(html)


def test_random_pages_parse_as_html_parser_does() -> None:
    rng = random.Random(20261202)
    for _ in range(3000):
        html = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40)))
        page = parse_page(html)
        assert (page.scripts, page.http_equiv) == reference(html), html


def test_the_shortcut_is_taken_on_a_page_with_scripts_in_its_head(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's page shape: scripts in <head>, then a long body, is fed only up to the cut."""
    fed: list[str] = []
    feed = Page.feed

    def spy(self: Page, data: str) -> None:
        fed.append(data)
        feed(self, data)

    monkeypatch.setattr(Page, "feed", spy)
    html = "<head><script src=/a.js></script></head><body>" + "<p>t</p>" * 200 + "</body>"
    page = parse_page(html)
    assert page.scripts == [{"src": "/a.js"}]
    assert fed == ["<head><script src=/a.js>"]

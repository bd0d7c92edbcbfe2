"""Plain text of an item body, as Exchange derives `TextBody` (and `Body` with BodyType Text)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements that start a new line in the text rendering; their content is kept.
_BLOCK = {
    "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2",
    "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "tr",
    "ul",
}  # fmt: skip
# Elements whose content is not text a reader sees.
_HIDDEN = {"head", "script", "style", "title"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def _block_break(self) -> None:
        # A block starts or ends a line, but never adds an empty one.
        last = next((p for p in reversed(self.parts) if p.strip(" ")), "\n")
        if last != "\n":
            self.parts.append("\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCK:
            self._block_break()
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCK and tag != "br":
            self._block_break()

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            # Line breaks in HTML source are just spaces; lines come from <br> and blocks.
            self.parts.append(re.sub(r"\s+", " ", data.replace("\xa0", " ")))


def html_to_text(html: str) -> str:
    """Visible text of an HTML body: tags dropped, entities decoded, one line per block.

    Source line breaks and runs of spaces collapse to one space (as a browser shows them);
    `<br>` breaks a line, block elements (`p`, `div`, `li`, `tr`, ...) start their own line;
    `&nbsp;` becomes a plain space; lines are stripped.
    """
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    lines = [line.strip(" ") for line in "".join(parser.parts).split("\n")]
    return "\n".join(lines).strip("\n")


def body_text(body_type: str | None, content: str | None) -> str:
    """Plain text of a stored body (HTML converted, text as it is)."""
    if not content:
        return ""
    return html_to_text(content) if (body_type or "").upper() == "HTML" else content

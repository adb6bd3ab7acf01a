"""HTML mail -> plain text for the ticket view and search. Pure, standard library only.

Quoted history keeps a visible marker: lines inside <blockquote> get "> " and the Gmail/Outlook quote
containers start with an "-----Original Message-----" line, so ``quotes.split_reply`` can cut them.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_HTML_CHARS = 2_000_000
_BLOCK = {"p", "div", "br", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "pre",
          "section", "article", "header", "footer", "address", "center", "dl", "dt", "dd", "form"}
_SKIP = {"script", "style", "head", "title", "template", "noscript", "svg", "object"}
_QUOTE_CLASSES = re.compile(r"\b(gmail_quote|yahoo_quoted|moz-cite-prefix|OutlookMessageHeader)\b", re.I)
_QUOTE_IDS = re.compile(r"^(divRplyFwdMsg|appendonsend|OLK_SRC_BODY_SECTION)$", re.I)
QUOTE_MARKER = "-----Original Message-----"
_BLANKS = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote_depth = 0
        self.skipping = 0
        self.marked = False

    def _newline(self) -> None:
        self.lines.append("")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
            return
        values = dict(attrs)
        if not self.marked and (_QUOTE_CLASSES.search(values.get("class") or "")
                                or _QUOTE_IDS.match(values.get("id") or "")):
            self.marked = True
            self._newline()
            self.lines[-1] = QUOTE_MARKER
            self._newline()
        if tag == "blockquote":
            self.quote_depth += 1
            self._newline()
        elif tag == "li":
            self._newline()
            self.lines[-1] += "- "
        elif tag in _BLOCK:
            self._newline()
        elif tag in ("td", "th"):
            self.lines[-1] += " "

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            self._newline()
        elif tag in _BLOCK:
            self._newline()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr"):
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        pieces = re.sub(r"\s+", " ", data).split("\n")
        for i, piece in enumerate(pieces):
            if i:
                self._newline()
            if self.quote_depth and not self.lines[-1]:
                self.lines[-1] = "> " * self.quote_depth
            self.lines[-1] += piece


def html_to_text(html: str) -> str:
    """The readable text of an HTML body (at most MAX_HTML_CHARS of it are read)."""
    parser = _Text()
    try:
        parser.feed(html[:MAX_HTML_CHARS])
        parser.close()
    except Exception:  # HTMLParser is lenient, but a text view must never fail a message
        parser.lines.append("")
    lines = [" ".join(line.split()) if not line.startswith(">") else line.rstrip() for line in parser.lines]
    text = "\n".join(line for line in lines if line.strip(" >") or not line.startswith(">"))
    return _BLANKS.sub("\n\n", text).strip()

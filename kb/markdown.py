"""Article bodies: Markdown rendered to safe HTML, and to plain text for search and snippets."""

from __future__ import annotations

import html
import re

import nh3
from markdown_it import MarkdownIt

from contactcenter.sanitize import sanitize_html

__all__ = ["plain_text", "render"]

# CommonMark with tables and strikethrough; raw HTML in the source is shown as text, never passed through.
_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])
_BLANKS_RE = re.compile(r"[ \t]*\n[ \t\n]*")


def render(markdown: str) -> str:
    """Markdown -> HTML, then through the nh3 sanitizer (scripts, event handlers and unsafe URLs removed)."""
    return sanitize_html(_MD.render(markdown))


def plain_text(markdown: str) -> str:
    """The text a reader sees, one paragraph or list item per line (for search terms and snippets)."""
    text = nh3.clean(_MD.render(markdown), tags=set())
    return _BLANKS_RE.sub("\n", html.unescape(text)).strip()

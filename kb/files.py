"""Reading and writing articles as files: a folder of Markdown files or one CSV.

Markdown: an optional front matter between ``---`` lines with ``key: value`` lines (``title``,
``language``, ``category``, ``status``, ``tags`` comma-separated) and ``phrasings:`` followed by
``- text`` lines; without a ``title`` the first ``# heading`` is the title. The rest is the body.

CSV: either one article per row (a ``title`` column, and optionally ``body``, ``language``,
``category``, ``status``, ``tags`` comma-separated, ``phrasings`` separated by ``|``), or labelled
questions with columns ``text,category``: one article per category, titled after it
(``card_arrival`` -> "Card arrival"), whose phrasings are that category's texts.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ArticleFile", "articles_by_category", "category_title", "dump_markdown", "file_name", "read_articles",
           "read_queries"]

_SLUG_RE = re.compile(r"[^\w]+")


@dataclass
class ArticleFile:
    """An article as read from or written to a file."""

    title: str
    body: str = ""
    language: str | None = None
    category: str | None = None
    status: str = "published"
    tags: list[str] = field(default_factory=list)
    phrasings: list[str] = field(default_factory=list)
    source: str = ""


def category_title(category: str) -> str:
    """``card_arrival`` -> ``Card arrival``."""
    words = category.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def read_articles(path: Path) -> list[ArticleFile]:
    """Articles from a folder of ``*.md`` files (recursively, sorted) or from a CSV file."""
    if path.is_dir():
        return [_parse_markdown(p.read_text(encoding="utf-8"), str(p)) for p in sorted(path.rglob("*.md"))]
    return list(_read_csv(path))


def read_queries(path: Path) -> list[tuple[str, str]]:
    """``(text, category)`` pairs from a CSV with columns ``text,category``."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"text", "category"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: needs the columns text,category")
        return [(row["text"], row["category"]) for row in reader if row["text"]]


def _read_csv(path: Path) -> Iterator[ArticleFile]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = set(reader.fieldnames or ())
        if "title" in columns:
            for n, row in enumerate(reader, start=2):
                if not (row.get("title") or "").strip():
                    raise ValueError(f"{path}:{n}: empty title")
                yield ArticleFile(
                    title=row["title"].strip(), body=row.get("body") or "", language=row.get("language") or None,
                    category=row.get("category") or None, status=row.get("status") or "published",
                    tags=_split(row.get("tags") or "", ","), phrasings=_split(row.get("phrasings") or "", "|"),
                    source=f"{path}:{n}",
                )
        elif {"text", "category"} <= columns:
            yield from articles_by_category(((row["text"], row["category"]) for row in reader), f"{path}:")
        else:
            raise ValueError(f"{path}: needs a title column, or the columns text,category")


def articles_by_category(rows: Iterable[tuple[str, str]], source: str = "") -> list[ArticleFile]:
    """One article per category of ``(text, category)`` rows, titled after it, its texts as phrasings (rows
    with an empty text or category are skipped); each article's ``source`` is ``source`` + its category."""
    grouped: dict[str, list[str]] = {}
    for text, category in rows:
        if text and category:
            grouped.setdefault(category, []).append(text)
    return [ArticleFile(title=category_title(category), category=category, phrasings=texts,
                        source=f"{source}{category}") for category, texts in grouped.items()]


def _split(value: str, sep: str) -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def _parse_markdown(text: str, source: str) -> ArticleFile:
    meta: dict[str, str] = {}
    phrasings: list[str] = []
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[0].strip() == "---" and "---" in (s.strip() for s in lines[1:]):
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        in_list = False
        for line in lines[1:end]:
            item = line.strip()
            if in_list and item.startswith("- "):
                phrasings.append(item[2:].strip())
                continue
            key, _, value = item.partition(":")
            in_list = key.strip() == "phrasings" and not value.strip()
            if value.strip():
                meta[key.strip().lower()] = value.strip()
        lines = lines[end + 1 :]
    title = meta.get("title", "")
    if not title:
        for i, line in enumerate(lines):
            if line.startswith("# "):
                title = line[2:].strip()
                del lines[i]
                break
    if not title:
        title = Path(source).stem.replace("-", " ").replace("_", " ")
    return ArticleFile(
        title=title, body="\n".join(lines).strip(), language=meta.get("language"), category=meta.get("category"),
        status=meta.get("status", "published"), tags=_split(meta.get("tags", ""), ","), phrasings=phrasings,
        source=source,
    )


def dump_markdown(article: ArticleFile) -> str:
    """The Markdown file ``read_articles`` reads back as ``article``."""
    head = ["---", f"title: {article.title}"]
    for key in ("language", "category", "status"):
        value = getattr(article, key)
        if value:
            head.append(f"{key}: {value}")
    if article.tags:
        head.append("tags: " + ", ".join(article.tags))
    if article.phrasings:
        head.append("phrasings:")
        head.extend(f"  - {p}" for p in article.phrasings)
    head.append("---")
    return "\n".join(head) + "\n\n" + article.body.strip() + "\n"


def file_name(article: ArticleFile, taken: set[str]) -> str:
    """A file name for ``article`` that is not in ``taken`` (which it is added to)."""
    base = _SLUG_RE.sub("-", article.title.lower()).strip("-")[:60] or "article"
    name, n = f"{base}.md", 1
    while name in taken:
        n += 1
        name = f"{base}-{n}.md"
    taken.add(name)
    return name

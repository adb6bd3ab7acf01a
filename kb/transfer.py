"""`contactcenter kb import` and `kb export`: articles between the database and files.

Import creates each article, or updates the one with the same title and language (so importing the
same folder twice changes nothing). Everything is imported in one transaction: a bad file leaves the
database as it was. Export writes every article, drafts included, as Markdown files or one CSV that
import reads back.
"""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tqdm import tqdm

from contactcenter.actions.audit import Actor
from contactcenter.actions.kb import do_create_article, do_update_article
from contactcenter.db.engine import Database
from contactcenter.db.models import KbArticle
from contactcenter.domain.language import detect_language
from contactcenter.errors import ActionError
from kb.files import ArticleFile, dump_markdown, file_name, read_articles

__all__ = ["export_articles", "import_articles", "write_articles"]

_LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,4})?$")


async def import_articles(db: Database, path: Path, *, actor: Actor, progress: bool = True) -> dict[str, int]:
    """Import the articles under ``path``; returns counts of created, updated and unchanged articles."""
    files = await asyncio.to_thread(read_articles, path)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    async with db.write() as session:
        existing = {(a.title, a.language): a for a in (await session.scalars(select(KbArticle))).all()}
        for item in tqdm(files, desc="articles", unit="article", disable=not progress):
            language = item.language or detect_language(f"{item.title}\n{item.body}")
            _check(item, language)
            values: dict[str, Any] = {"title": item.title, "body": item.body, "language": language,
                                      "category": item.category or "", "tags": item.tags, "status": item.status,
                                      "phrasings": item.phrasings}
            try:
                found = existing.get((item.title, language))
                if found is None:
                    existing[(item.title, language)] = await do_create_article(session, **values, actor=actor)
                    counts["created"] += 1
                else:
                    before = found.version
                    await do_update_article(session, found.id, values, actor=actor)
                    counts["updated" if found.version != before else "unchanged"] += 1
            except ActionError as exc:
                raise ValueError(f"{item.source}: {exc}") from None
    return counts


def _check(item: ArticleFile, language: str) -> None:
    """The limits the API also keeps (column sizes), as a clear message naming the file."""
    problems = []
    if not 1 <= len(item.title) <= 300:
        problems.append("the title must have 1 to 300 characters")
    if not _LANGUAGE_RE.match(language):
        problems.append(f"language {language!r} is not a language code such as en or fa")
    if len(item.category or "") > 120:
        problems.append("the category is longer than 120 characters")
    if any(len(tag) > 60 for tag in item.tags):
        problems.append("a tag is longer than 60 characters")
    if any(len(p) > 500 for p in item.phrasings):
        problems.append("a phrasing is longer than 500 characters")
    if problems:
        raise ValueError(f"{item.source}: {'; '.join(problems)}")


def _as_file(article: KbArticle) -> ArticleFile:
    return ArticleFile(title=article.title, body=article.body, language=article.language,
                       category=article.category or None, status=article.status, tags=list(article.tags),
                       phrasings=list(article.phrasings))


async def export_articles(db: Database, path: Path) -> int:
    """Write every article to ``path``: a CSV file when it ends in ``.csv``, else a folder of Markdown files."""
    async with db.read() as session:
        articles: Sequence[KbArticle] = (await session.scalars(select(KbArticle).order_by(KbArticle.id))).all()
    items = [_as_file(a) for a in articles]
    await asyncio.to_thread(write_articles, items, path)
    return len(items)


def write_articles(items: Sequence[ArticleFile], path: Path) -> None:
    """Write ``items`` to a CSV file (``path`` ends in ``.csv``) or as Markdown files into the folder ``path``."""
    if path.suffix.lower() == ".csv":
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["title", "body", "language", "category", "status", "tags", "phrasings"])
            for a in items:
                writer.writerow([a.title, a.body, a.language, a.category or "", a.status, ", ".join(a.tags),
                                 " | ".join(a.phrasings)])
    else:
        path.mkdir(parents=True, exist_ok=True)
        taken = {p.name for p in path.glob("*.md")}
        for a in items:
            (path / file_name(a, taken)).write_text(dump_markdown(a), encoding="utf-8")

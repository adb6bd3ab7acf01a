"""`contactcenter kb import` and `kb export`: articles between the database and files.

Import creates each article, or updates the one with the same title and language (so importing the
same folder twice changes nothing). Everything is imported in one transaction: a bad file leaves the
database as it was. Export writes every article, drafts included, as Markdown files or one CSV that
import reads back.
"""

from __future__ import annotations

import asyncio
import csv
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


async def import_articles(db: Database, path: Path, *, actor: Actor, progress: bool = True) -> dict[str, int]:
    """Import the articles under ``path``; returns counts of created, updated and unchanged articles."""
    files = await asyncio.to_thread(read_articles, path)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    async with db.write() as session:
        existing = {(a.title, a.language): a for a in (await session.scalars(select(KbArticle))).all()}
        for item in tqdm(files, desc="articles", unit="article", disable=not progress):
            language = item.language or detect_language(f"{item.title}\n{item.body}")
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

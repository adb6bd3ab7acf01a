"""The articles of the database as rankers, rebuilt when an article changes.

One ``ArticleLibrary`` lives in the server's context. Before each search it reads a fingerprint of
the article table (row count, sum of versions, highest id: every write changes one of them) and
rebuilds its rankers when it differs, so several server processes on one database stay current.
Drafts are never searchable; internal articles only for staff.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from contactcenter.db.engine import Database
from contactcenter.db.models import KbArticle
from kb.markdown import plain_text
from kb.ranker import Entry, Hit, Ranker

__all__ = ["ArticleLibrary", "primary_language"]


def primary_language(code: str | None) -> str | None:
    """``fa-IR`` -> ``fa``; empty or undetermined -> None (no language filter)."""
    lang = (code or "").split("-")[0].strip().lower()
    return lang if lang and lang not in {"und", "xx"} else None


def _build(rows: Sequence[tuple[Any, ...]]) -> tuple[Ranker, Ranker]:
    """The public and the staff ranker from (id, title, body, phrasings, language, status) rows."""
    entries = [(status, Entry(id_, title, plain_text(body), tuple(phrasings or ()), primary_language(language)))
               for id_, title, body, phrasings, language, status in rows]
    return Ranker([e for status, e in entries if status == "published"]), Ranker([e for _, e in entries])


class ArticleLibrary:
    """Cached rankers: one over published articles, one over published and internal ones (staff)."""

    def __init__(self) -> None:
        self._fingerprint: tuple[int, int, int] | None = None
        self._public = Ranker([])
        self._staff = Ranker([])
        self._lock = asyncio.Lock()

    async def _current(self, db: Database) -> tuple[Ranker, Ranker]:
        async with db.read() as session:
            row = (await session.execute(select(func.count(), func.coalesce(func.sum(KbArticle.version), 0),
                                                func.coalesce(func.max(KbArticle.id), 0)))).one()
            fingerprint = (int(row[0]), int(row[1]), int(row[2]))
            if fingerprint == self._fingerprint:
                return self._public, self._staff
            async with self._lock:
                if fingerprint != self._fingerprint:
                    rows = (await session.execute(
                        select(KbArticle.id, KbArticle.title, KbArticle.body, KbArticle.phrasings,
                               KbArticle.language, KbArticle.status)
                        .where(KbArticle.status.in_(("published", "internal"))).order_by(KbArticle.id))).all()
                    # Rendering and indexing take a while for a large knowledge base: not on the event loop.
                    self._public, self._staff = await asyncio.to_thread(_build, [tuple(r) for r in rows])
                    self._fingerprint = fingerprint
        return self._public, self._staff

    async def search(self, db: Database, query: str, *, k: int = 3, language: str | None = None,
                     staff: bool = False) -> Sequence[Hit]:
        """The ``k`` best searchable articles for ``query`` (in ``language`` when given)."""
        public, staff_ranker = await self._current(db)
        return (staff_ranker if staff else public).search(query, k, language=primary_language(language))

"""The articles of the database as rankers, rebuilt when an article changes.

One ``ArticleLibrary`` lives in the server's context. Before each search it reads a fingerprint of
the article table (row count, sum of versions, highest id: every write changes one of them) and
rebuilds its rankers when it differs, so several server processes on one database stay current.
Drafts are never searchable; internal articles only for staff.

With the embeddings extra (``[kb] embeddings = "auto"``), the lexical rankers are ready at once and the
semantic part follows from a background task: the model is loaded once per process, and titles and
phrasings are embedded once per distinct text (kept between rebuilds, so an edit embeds only what it
changed). Until it is ready, searches are lexical. When ``tuned`` names a folder holding a valid
fine-tuned model (``contactcenter kb tune``, ``kb/tuned.py``) that model is used instead of the packaged
one; a model tuned meanwhile is picked up at the next rebuild (the next article change) or restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select

from contactcenter.db.engine import Database
from contactcenter.db.models import KbArticle
from kb.embeddings import Encoder, load_encoder
from kb.markdown import plain_text
from kb.ranker import Entry, Hit, Ranker, SemanticIndex, semantic_texts
from kb.tuned import tuned_paths
from kb.vector_file import VECTORS, load_vectors, save_vectors

__all__ = ["ArticleLibrary", "VectorCache", "primary_language", "published_entries", "shared_encoder"]

log = logging.getLogger(__name__)


def primary_language(code: str | None) -> str | None:
    """``fa-IR`` -> ``fa``; empty or undetermined -> None (no language filter)."""
    lang = (code or "").split("-")[0].strip().lower()
    return lang if lang and lang not in {"und", "xx"} else None


def shared_encoder(mode: str, tuned: Path | None = None) -> Encoder | None:
    """The process's one copy of the model (loading it takes seconds and ~100 MB); None without the extra.
    With ``tuned``, a new copy is loaded when the tuned model kept there changes."""
    return _encoder(mode, tuned, _stamp(tuned))


@functools.lru_cache(maxsize=2)
def _encoder(mode: str, tuned: Path | None, stamp: tuple[int, int] | None) -> Encoder | None:
    return load_encoder(mode, tuned=tuned)


def _stamp(tuned: Path | None) -> tuple[int, int] | None:
    """When the tuned model's metadata file was last written, and its size (None: no file)."""
    if tuned is None:
        return None
    try:
        stat = tuned_paths(tuned)[1].stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _entry(id_: int, title: str, body: str, phrasings: Sequence[str] | None, language: str | None) -> Entry:
    """A ranker entry from an article row's (id, title, body, phrasings, language)."""
    return Entry(id_, title, plain_text(body), tuple(phrasings or ()), primary_language(language))


async def published_entries(db: Database) -> list[Entry]:
    """The published articles as ranker entries (what ``kb tune`` learns from)."""
    async with db.read() as session:
        rows = (await session.execute(
            select(KbArticle.id, KbArticle.title, KbArticle.body, KbArticle.phrasings, KbArticle.language)
            .where(KbArticle.status == "published").order_by(KbArticle.id))).all()
    return [_entry(*row) for row in rows]


class VectorCache:
    """Embeddings by text: each distinct title or phrasing is embedded once.

    With ``file``, and an encoder that has an ``identity`` (``MiniLM``), the vectors are read from it at once
    and ``save`` writes them back (``kb/vector_file.py``): a restarted server embeds only new texts."""

    def __init__(self, encoder: Encoder, file: Path | None = None) -> None:
        self.encoder = encoder
        identity: str | None = getattr(encoder, "identity", None)
        self._file = (file, identity) if file is not None and identity else None
        self._vectors: dict[str, npt.NDArray[np.float32]] = load_vectors(*self._file) if self._file else {}
        self._changed = False

    def __len__(self) -> int:
        return len(self._vectors)

    def vectors(self, texts: Sequence[str], *, keep_only: bool = False) -> npt.NDArray[np.float32]:
        """One row per text; only texts not seen before are encoded. ``keep_only``: forget every other text."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            self._vectors.update(zip(missing, self.encoder.encode(missing), strict=True))
        if keep_only:
            kept = {t: self._vectors[t] for t in texts}
            self._changed |= len(kept) != len(self._vectors)
            self._vectors = kept
        self._changed |= bool(missing)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])

    def semantic(self, ranker: Ranker, weight: float, *, keep_only: bool = False) -> SemanticIndex:
        """The semantic index of ``ranker``'s entries (``keep_only``: they are all the cache must keep)."""
        texts = [t for entry in ranker.entries for t in semantic_texts(entry)]
        return SemanticIndex.build(ranker.entries, self.encoder, self.vectors(texts, keep_only=keep_only), weight)

    def save(self) -> None:
        """Write the vectors to the cache's file if they changed since it was read or last written; a failure
        is logged (the vectors stay in memory)."""
        if self._file is None or not self._changed:
            return
        try:
            save_vectors(self._file[0], self._file[1], self._vectors)
        except OSError:
            log.warning("knowledge base: could not keep the vectors in %s", self._file[0], exc_info=True)
            return
        self._changed = False


def _build(rows: Sequence[tuple[Any, ...]]) -> tuple[Ranker, Ranker]:
    """The public and the staff ranker from (id, title, body, phrasings, language, status) rows."""
    entries = [(status, _entry(*article)) for *article, status in rows]
    return Ranker([e for status, e in entries if status == "published"]), Ranker([e for _, e in entries])


class ArticleLibrary:
    """Cached rankers: one over published articles, one over published and internal ones (staff)."""

    def __init__(self, embeddings: str = "off", semantic_weight: float = 0.75, *, tuned: Path | None = None) -> None:
        self.embeddings = embeddings
        self.tuned = tuned
        self.semantic_weight = semantic_weight
        self._fingerprint: tuple[int, int, int] | None = None
        self._public = Ranker([])
        self._staff = Ranker([])
        self._lock = asyncio.Lock()
        self._embed_lock = asyncio.Lock()
        self._cache: VectorCache | None = None
        self._embedding: asyncio.Task[None] | None = None

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
                    if self.embeddings != "off":
                        self._embedding = asyncio.get_running_loop().create_task(
                            self._add_semantic(fingerprint, self._public, self._staff), name="kb-embeddings")
        return self._public, self._staff

    async def _add_semantic(self, fingerprint: tuple[int, int, int], public: Ranker, staff: Ranker) -> None:
        """Embed what the new rankers hold (in a thread) and swap them in if nothing changed meanwhile."""
        async with self._embed_lock:  # one embedding pass at a time, in the order of the rebuilds
            if fingerprint != self._fingerprint:
                return  # a newer rebuild has its own pass
            try:
                encoder = await asyncio.to_thread(shared_encoder, self.embeddings, self.tuned)
                if encoder is None:
                    return
                if self._cache is None or self._cache.encoder is not encoder:
                    kept = self.tuned / VECTORS if self.tuned is not None else None
                    self._cache = await asyncio.to_thread(VectorCache, encoder, kept)
                cache, weight = self._cache, self.semantic_weight

                def embed() -> tuple[Ranker, Ranker]:
                    staff_index = cache.semantic(staff, weight, keep_only=True)  # includes every public entry
                    semantic = public.with_semantic(cache.semantic(public, weight)), staff.with_semantic(staff_index)
                    cache.save()
                    return semantic

                semantic_public, semantic_staff = await asyncio.to_thread(embed)
            except Exception:
                log.exception("knowledge base: embedding the articles failed; searches stay lexical")
                return
            if fingerprint == self._fingerprint:
                self._public, self._staff = semantic_public, semantic_staff

    async def ready(self, db: Database) -> None:
        """Wait until the rankers (and their semantic part, when enabled) reflect the database."""
        await self._current(db)
        while self._embedding is not None and not self._embedding.done():
            await asyncio.shield(self._embedding)

    async def search(self, db: Database, query: str, *, k: int = 3, language: str | None = None,
                     staff: bool = False) -> Sequence[Hit]:
        """The ``k`` best searchable articles for ``query`` (in ``language`` when given)."""
        public, staff_ranker = await self._current(db)
        ranker = staff_ranker if staff else public
        if ranker.semantic is not None:  # a forward pass of the model: off the event loop
            return await asyncio.to_thread(ranker.search, query, k, language=primary_language(language))
        return ranker.search(query, k, language=primary_language(language))

    def tuned_for(self, query: str) -> bool:
        """Whether searches for ``query`` are now scored with the fine-tuned model (``Ranker.tuned_for``)."""
        return self._public.tuned_for(query)

    async def close(self) -> None:
        """Stop a pending embedding pass (server shutdown)."""
        if self._embedding is not None and not self._embedding.done():
            self._embedding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._embedding

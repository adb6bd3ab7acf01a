"""Lexical ranking of knowledge-base articles (BM25 via ``bm25s``).

Two BM25 indexes are kept over the same articles:

* an *article* index, one document per article: title (twice), body and every phrasing;
* a *phrasing* index, one document per title and per alternative phrasing.

A query's score for an article is the mean of the two BM25 scores, each divided by the
best score any article could reach for that query (the sum over the query's terms of the
highest single-term score in that index; a term found nowhere counts as a term found in one
document, so a query that is mostly unknown words scores low). The result lies in [0, 1]: 1 means every query
term matched as strongly as it can anywhere, so it can be compared to a fixed threshold.

With a ``SemanticIndex`` (the optional embeddings extra, ``kb/embeddings.py``), an article's score is
``(1 - w) * lexical + w * semantic`` where ``semantic`` mixes the highest cosine similarity between the
query and the article's title or phrasings with the similarity to their mean (``SemanticIndex.scores``).
Only where the model can read both sides: a query in the model's script, an article in one of its
languages (or without a language). Everywhere else the score stays lexical, so Persian is ranked exactly
as without the extra.
"""

from __future__ import annotations

import copy
import logging
import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import bm25s
import numpy as np
import numpy.typing as npt

from kb.analyze import terms
from kb.embeddings import Encoder, is_tuned, writes_in_model_script

__all__ = ["Entry", "Hit", "Ranker", "SemanticIndex", "semantic_texts"]

# bm25s sets its own logger to DEBUG when imported and logs every index build; let the application's
# logging configuration decide instead.
logging.getLogger("bm25s").setLevel(logging.NOTSET)

_SENTENCE_RE = re.compile(r"(?<=[.!?؟۔])\s+|\n+")
SNIPPET_CHARS = 200
# The best phrasing's share of the semantic score (the rest: the mean direction), chosen with
# ``[kb] semantic_weight`` by cross-validation inside BANKING77's training part (BENCHMARKS.md, kb5).
BEST_SHARE = 0.6


@dataclass(frozen=True)
class Entry:
    """One searchable article: its id, text and alternative phrasings of the question it answers."""

    id: Hashable
    title: str
    body: str = ""
    phrasings: tuple[str, ...] = ()
    language: str | None = None


@dataclass(frozen=True)
class Hit:
    """One ranked article: its id, title, score in [0, 1] and a snippet of its body."""

    id: Hashable
    title: str
    score: float
    snippet: str


@dataclass
class _Index:
    """A BM25 index whose documents each belong to one article (``owner``)."""

    owner: npt.NDArray[np.intp]
    model: bm25s.BM25 | None = None
    vocab: frozenset[str] = field(default_factory=frozenset)
    unseen: float = 0.0  # what a term found in no document counts towards the ceiling


    @classmethod
    def build(cls, docs: list[list[str]], owner: list[int]) -> _Index:
        index = cls(np.asarray(owner, dtype=np.intp))
        if any(docs):
            index.model = bm25s.BM25()
            index.model.index(docs, show_progress=False)
            index.vocab = frozenset(index.model.vocab_dict)
            n = len(docs)
            index.unseen = math.log(1 + (n - 0.5) / 1.5)  # Lucene IDF of a term in one document
        return index

    def scores(self, query: list[str], n_articles: int) -> tuple[npt.NDArray[np.float64], float]:
        """Per-article best document score for ``query`` and the best score reachable at all."""
        best = np.zeros(n_articles)
        unique = list(dict.fromkeys(query))
        known = [t for t in unique if t in self.vocab]
        if self.model is None or not known:
            return best, 0.0
        ceiling = self.unseen * (len(unique) - len(known))
        ceiling += sum(float(np.max(self.model.get_scores([t]))) for t in known)
        np.maximum.at(best, self.owner, self.model.get_scores(known).astype(np.float64))
        return best, ceiling


def semantic_texts(entry: Entry) -> tuple[str, ...]:
    """What the model embeds of an article: its title and each phrasing (as the phrasing index holds them)."""
    return (entry.title, *entry.phrasings)


@dataclass(frozen=True)
class SemanticIndex:
    """The embedded titles and phrasings of a ranker's entries (rows in ``semantic_texts`` order) and the
    encoder for queries. ``weight`` is the semantic share of the score."""

    encoder: Encoder
    vectors: npt.NDArray[np.float32]
    owner: npt.NDArray[np.intp]
    centroids: npt.NDArray[np.float32]
    eligible: npt.NDArray[np.bool_]
    weight: float
    starts: npt.NDArray[np.intp]  # each article's first row (rows are grouped by article, in order)

    @classmethod
    def build(cls, entries: Sequence[Entry], encoder: Encoder, vectors: npt.NDArray[np.float32],
              weight: float) -> SemanticIndex:
        """``vectors``: one row per text of ``semantic_texts`` of every entry, in order."""
        owner = np.asarray([i for i, e in enumerate(entries) for _ in semantic_texts(e)], dtype=np.intp)
        if len(owner) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors for {len(owner)} texts")
        eligible = np.asarray([e.language is None or e.language in encoder.languages for e in entries], dtype=bool)
        centroids = np.zeros((len(entries), vectors.shape[1] if len(vectors) else 0), dtype=np.float32)
        if len(vectors):
            np.add.at(centroids, owner, vectors)
            centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return cls(encoder, vectors, owner, centroids, eligible, weight,
                   np.searchsorted(owner, np.arange(len(entries))).astype(np.intp))

    def scores(self, query: str, n_articles: int) -> npt.NDArray[np.float64]:
        """Per article, ``BEST_SHARE`` (0.6) x the best cosine similarity of ``query`` with a title or phrasing
        + 0.4 x its similarity with their mean direction (one odd phrasing weighs less), in [0, 1].

        Two matrix-vector products over unit vectors and one ``maximum.reduceat`` over each article's
        rows (every article has at least its title): well under a millisecond for 8,000 phrasings."""
        if not len(self.owner):
            return np.zeros(n_articles)
        vector = self.encoder.encode([query])[0]
        best: npt.NDArray[np.float64] = np.maximum.reduceat(self.vectors @ vector, self.starts).astype(np.float64)
        best = BEST_SHARE * best + (1 - BEST_SHARE) * (self.centroids @ vector).astype(np.float64)
        return np.clip(best, 0.0, 1.0)


class Ranker:
    """An immutable BM25 ranker over a set of entries; build a new one when articles change."""

    semantic: SemanticIndex | None = None

    def with_semantic(self, semantic: SemanticIndex | None) -> Ranker:
        """The same lexical ranker, its scores combined with ``semantic`` similarity."""
        ranker = copy.copy(self)
        ranker.semantic = semantic
        return ranker

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries = tuple(entries)
        article_docs: list[list[str]] = []
        phrasing_docs: list[list[str]] = []
        phrasing_owner: list[int] = []
        for i, entry in enumerate(self.entries):
            title = terms(entry.title)
            phrasings = [terms(p) for p in entry.phrasings]
            article_docs.append(title * 2 + terms(entry.body) + [t for p in phrasings for t in p])
            for doc in (title, *phrasings):
                phrasing_docs.append(doc)
                phrasing_owner.append(i)
        self._articles = _Index.build(article_docs, list(range(len(self.entries))))
        self._phrasings = _Index.build(phrasing_docs, phrasing_owner)

    def __len__(self) -> int:
        return len(self.entries)

    def lexical_scores(self, query: str) -> npt.NDArray[np.float64]:
        """Every entry's lexical score for ``query`` (in entry order, 0..1), as ``search`` mixes it."""
        return self._lexical(terms(query))

    def _lexical(self, query_terms: list[str]) -> npt.NDArray[np.float64]:
        n = len(self.entries)
        combined = np.zeros(n)
        if not n or not query_terms:
            return combined
        by_article, ceiling_a = self._articles.scores(query_terms, n)
        by_phrasing, ceiling_p = self._phrasings.scores(query_terms, n)
        if ceiling_a > 0:
            combined += 0.5 * by_article / ceiling_a
        if ceiling_p > 0:
            combined += 0.5 * by_phrasing / ceiling_p
        return combined

    def tuned_for(self, query: str) -> bool:
        """Whether ``query``'s scores mix in the similarity of a fine-tuned model (``kb tune``): they run higher,
        so an automatic answer asks for more (``[kb] tuned_threshold``)."""
        semantic = self.semantic
        return semantic is not None and is_tuned(semantic.encoder) and writes_in_model_script(query)

    def search(self, query: str, k: int = 3, *, language: str | None = None) -> list[Hit]:
        """Return the ``k`` best entries for ``query`` (score > 0), best first.

        With ``language``, only entries in that language or without one are considered.
        """
        n = len(self.entries)
        query_terms = terms(query)
        if not n or not query_terms or k <= 0:
            return []
        combined = self._lexical(query_terms)
        semantic = self.semantic
        if semantic is not None and writes_in_model_script(query):
            w = semantic.weight
            combined = np.where(semantic.eligible, (1 - w) * combined + w * semantic.scores(query, n), combined)
        if language is not None:
            for i, entry in enumerate(self.entries):
                if entry.language not in (None, language):
                    combined[i] = 0.0
        order = np.argsort(-combined, kind="stable")[:k]
        wanted = set(query_terms)
        return [
            Hit(self.entries[i].id, self.entries[i].title, round(float(min(combined[i], 1.0)), 4),
                snippet(self.entries[i].body, wanted))
            for i in order
            if combined[i] > 0
        ]


def snippet(body: str, wanted: set[str], limit: int = SNIPPET_CHARS) -> str:
    """The sentence of ``body`` that shares the most terms with the query, cut to ``limit`` characters."""
    sentences = [s.strip() for s in _SENTENCE_RE.split(body) if s.strip()]
    if not sentences:
        return ""
    best = max(sentences, key=lambda s: len(wanted.intersection(terms(s))))
    return best if len(best) <= limit else best[: limit - 1].rstrip() + "…"

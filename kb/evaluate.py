"""Measuring the ranker: top-1/top-3 accuracy, latency and the precision of automatic answers."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from kb.confidence import confident_answer, raised_for_tuned
from kb.embeddings import Encoder, is_tuned
from kb.files import ArticleFile
from kb.library import VectorCache
from kb.ranker import Entry, Ranker

__all__ = ["Report", "entries_from_files", "evaluate"]


@dataclass(frozen=True)
class Report:
    """What ``evaluate`` measured. Out-of-scope queries (category naming no article) count only for
    the automatic answers: answering one is a wrong automatic answer."""

    articles: int
    ranking: str  # "lexical", or "lexical+<model>"
    queries: int
    in_scope: int
    top1: float
    top3: float
    ms_p50: float
    ms_mean: float
    threshold: float
    tuned_threshold: float | None  # the least threshold for questions the fine-tuned model scored (None: as above)
    margin: float
    auto_answered: int
    auto_correct: int
    auto_precision: float
    auto_coverage: float

    def as_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)


def entries_from_files(articles: Sequence[ArticleFile]) -> list[Entry]:
    """Ranker entries keyed by category (else title), as the evaluation's queries name them."""
    return [Entry(a.category or a.title, a.title, a.body, tuple(a.phrasings), a.language) for a in articles]


def evaluate(entries: Sequence[Entry], queries: Sequence[tuple[str, str]], *, threshold: float,
             margin: float, encoder: Encoder | None = None, semantic_weight: float = 0.75,
             tuned_threshold: float | None = None) -> Report:
    """Rank every ``(text, category)`` query against ``entries`` and summarize (with ``encoder``: the
    articles are embedded first, not timed; each query's embedding is part of its time). Automatic answers
    are judged as the server gives them: at least ``tuned_threshold`` (if given) for a query the fine-tuned model
    scores."""
    ranker = Ranker(entries)
    if encoder is not None:
        ranker = ranker.with_semantic(VectorCache(encoder).semantic(ranker, semantic_weight))
    known = {str(e.id) for e in entries}
    top1 = top3 = in_scope = answered = correct = 0
    latencies: list[float] = []
    for text, category in queries:
        start = time.perf_counter()
        hits = ranker.search(text, k=3)
        latencies.append((time.perf_counter() - start) * 1000)
        ids = [str(h.id) for h in hits]
        if category in known:
            in_scope += 1
            top1 += ids[:1] == [category]
            top3 += category in ids
        limit = threshold
        if tuned_threshold is not None and ranker.tuned_for(text):
            limit = raised_for_tuned(threshold, tuned_threshold)
        auto = confident_answer(hits, limit, margin)
        if auto is not None:
            answered += 1
            correct += str(auto.id) == category
    return Report(
        articles=len(entries), queries=len(queries),
        ranking=f"lexical+{encoder.name}" if encoder is not None else "lexical", in_scope=in_scope,
        top1=round(top1 / in_scope, 4) if in_scope else 0.0, top3=round(top3 / in_scope, 4) if in_scope else 0.0,
        ms_p50=round(statistics.median(latencies), 3) if latencies else 0.0,
        ms_mean=round(statistics.fmean(latencies), 3) if latencies else 0.0,
        threshold=threshold, margin=margin, auto_answered=answered, auto_correct=correct,
        tuned_threshold=tuned_threshold if encoder is not None and is_tuned(encoder) else None,
        auto_precision=round(correct / answered, 4) if answered else 1.0,
        auto_coverage=round(correct / in_scope, 4) if in_scope else 0.0,
    )

"""bench/kb_cv.py: the seeded folds, the articles built from rows and the offline re-ranking that chooses
the ranking weights (lexical scores only: no model needed)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def kb_cv() -> Iterator[ModuleType]:
    if not HAS_TORCH:
        pytest.skip("bench/kb_cv.py needs the embeddings extra")
    path = Path(__file__).resolve().parents[2] / "bench" / "kb_cv.py"
    spec = importlib.util.spec_from_file_location("kb_cv", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.modules["kb_cv"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    yield module
    sys.modules.pop("kb_cv", None)


ROWS = [(f"question {i} about {c}", c) for c in ("card", "refund", "pin") for i in range(10)]


def test_folds_are_seeded_disjoint_and_cover_every_row(kb_cv: ModuleType) -> None:
    parts = kb_cv.folds(ROWS, 3)
    assert parts == kb_cv.folds(ROWS, 3)
    assert sorted(r for p in parts for r in p) == sorted(ROWS)
    assert [len(p) for p in parts] == [10, 10, 10]
    assert parts != kb_cv.folds(ROWS, 3, seed=1)


def test_articles_from_rows_one_per_category(kb_cv: ModuleType) -> None:
    entries = kb_cv.articles_from_rows(ROWS)
    assert [e.id for e in entries] == ["card", "refund", "pin"]
    assert entries[1].title == "Refund" and len(entries[1].phrasings) == 10


def test_offline_ranking_and_answers(kb_cv: ModuleType) -> None:
    entries = kb_cv.articles_from_rows(ROWS)
    queries = [("refund question", "refund"), ("pin question", "pin"), ("weather tomorrow", "oos")]
    s = kb_cv.score_queries(entries, queries, None)
    assert s["truth"].tolist() == [1, 2, -1] and not s["semantic"].any()
    # Without the model the combined score is the lexical one, whatever the weights.
    assert np.array_equal(kb_cv.combine(s, 0.8, 0.7), s["lexical"])
    assert kb_cv.top_k(s, 0.8, 0.7, 1) == (2, 2)
    given, correct, oos = kb_cv.answers(s, 0.8, 0.7, 0.0, 0.0)
    assert (given, correct) == (2, 2) and oos == 0  # "weather tomorrow" matches no article: score 0
    # A made-up semantic part: the best phrasing only (mix 1) decides once the weight is 1.
    s["semantic"][:] = True
    s["best"] = np.asarray([[0.9, 0.1, 0.2], [0.1, 0.2, 0.3], [0.1, 0.1, 0.95]])
    s["mean"] = np.zeros((3, 3))
    assert kb_cv.top_k(s, 1.0, 1.0, 1) == (1, 2)
    assert kb_cv.answers(s, 1.0, 1.0, 0.5, 0.15) == (2, 0, 1)


def _scores(best: list[list[float]], truth: list[int]) -> dict[str, np.ndarray]:
    n = np.asarray(best, dtype=float)
    return {"lexical": np.zeros_like(n), "best": n, "mean": n, "truth": np.asarray(truth),
            "semantic": np.ones(len(n), dtype=bool)}


def test_the_rule_against_a_baseline(kb_cv: ModuleType) -> None:
    # 4 articles; query 0 is the 4th best (a top-3 miss) for the baseline and the best for the setting.
    base = {0: _scores([[0.4, 0.9, 0.8, 0.7], [0.9, 0.1, 0.1, 0.1]], [0, 0])}
    better = {0: _scores([[0.95, 0.9, 0.8, 0.7], [0.9, 0.1, 0.1, 0.1]], [0, 0])}
    row = kb_cv.against_baseline(better, base)
    assert row["top3_gain_per_fold"] == [1] and (row["gained"], row["lost"]) == (1, 0) and row["top1_gain"] == 1
    assert not row["passes"]  # one query gained is below MIN_GAIN
    assert kb_cv.against_baseline(base, base)["top3_gain_per_fold"] == [0]


def test_answers_are_summed_over_files(kb_cv: ModuleType, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    inside = _scores([[0.9, 0.1], [0.2, 0.3]], [0, 1])
    outside = _scores([[0.8, 0.1]], [-1])
    for name, s in (("in", inside), ("out", outside)):
        kb_cv.save(tmp_path / f"{name}.npz", s, {})
    kb_cv.main(["answers", str(tmp_path / "in.npz"), str(tmp_path / "out.npz"), "--weight", "1", "--mix", "1"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    row = next(r for r in rows if r["threshold"] == 0.5 and r["margin"] == 0.15)
    assert (row["given"], row["correct"], row["oos_answered"]) == (2, 1, 1) and row["coverage"] == 0.5


def _fold(kb_cv: ModuleType, cosines: list[list[float]], owner: list[int], truth: list[int]) -> Any:
    """A made-up fold: per-text cosines of each query, the texts' articles (grouped, in order)."""
    c = np.asarray(cosines, dtype=np.float32)
    own = np.asarray(owner, dtype=np.intp)
    starts = np.searchsorted(own, np.arange(own.max() + 1))
    best = np.maximum.reduceat(c, starts, axis=1).astype(float)
    s = {"lexical": np.zeros_like(best), "best": best, "mean": best, "truth": np.asarray(truth),
         "semantic": np.ones(len(c), dtype=bool)}
    return kb_cv.FoldData(s, c, own, starts, np.zeros((len(own), 2), np.float32), np.zeros((len(c), 2), np.float32),
                          [], [], {})


def test_variant_formulas_over_the_text_cosines(kb_cv: ModuleType) -> None:
    # Article 0 has one very close text and one far; article 1 two fairly close ones.
    d = _fold(kb_cv, [[0.9, 0.1, 0.7, 0.7, 0.2]], [0, 0, 1, 1, 2], [1])
    assert kb_cv.top_mean(d, 1)[0].tolist() == pytest.approx([0.9, 0.7, 0.2])
    assert kb_cv.top_mean(d, 2)[0].tolist() == pytest.approx([0.5, 0.7, 0.2])
    assert kb_cv.top_mean(d, 5)[0].tolist() == pytest.approx([0.5, 0.7, 0.2])  # k beyond an article's texts: all
    vote = kb_cv.knn_vote(d, 3, 0.1)[0]  # the 3 nearest texts: one of article 0, two of article 1
    assert vote.sum() == pytest.approx(1.0) and vote[2] == 0.0
    assert vote[0] == pytest.approx(np.exp(2) / (np.exp(2) + 2))
    # top-2 mean at mix 1, weight 1 ranks article 1 first; the shipped formula article 0.
    assert kb_cv.hit_masks(kb_cv.candidate_scores("topk", d, (2, 1.0, 1.0)), d.s["truth"])[0].tolist() == [True]
    assert kb_cv.hit_masks(kb_cv.current(d), d.s["truth"])[0].tolist() == [False]


def test_nested_choice_scores_each_fold_with_the_point_chosen_on_the_others(kb_cv: ModuleType) -> None:
    t, f = True, False
    base = [(np.array([t, f, f, f]), np.array([t, t, f, f]))] * 3
    better = (np.array([t, f, f, f]), np.array([t, t, t, f]))
    worse = (np.array([t, f, f, f]), np.array([t, f, f, f]))
    point1 = {0: better, 1: better, 2: worse}  # better on folds 0 and 1, worse on fold 2

    row = kb_cv.nested_choice(["same", "other"], lambda i, fold: base[fold] if i == 0 else point1[fold], base)
    # folds 0 and 1: a tie on the other folds (4 top-3 hits each way) keeps the first point; fold 2: the second
    assert row["chosen_per_fold"] == ["same", "same", "other"]
    assert row["top3_gain_per_fold"] == [0, 0, -1] and (row["gained"], row["lost"]) == (0, 1)
    assert row["passes"] is False
    assert (row["optimistic_best_point"], row["optimistic_top3_hits"]) == ("other", 7)  # chosen on what it scores

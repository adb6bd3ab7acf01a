"""Choosing ``kb tune``'s settings and the ranking weights by k-fold cross-validation inside BANKING77's
training part (``banking77-train.csv`` of bench/kb_split.py), never looking at the held-out part.

The training part's rows are shuffled with a fixed seed (``SEED``) and dealt into ``--folds`` folds. For
fold ``i`` the articles are built from the other folds' rows (one article per intent, as ``kb evaluate``
builds them), the model is tuned on them with the given settings (``--steps``, ``--lr``, ``--layers``,
``--batch``, ``--scale``, ``--hard-negatives``; ``--steps 0``: the packaged model, no tune), and fold ``i``'s
rows are the queries. For every query the script keeps each article's lexical score, best cosine similarity
with a title or phrasing and similarity with the mean direction (``scores``), so that the ranking weights can
be re-chosen afterwards without tuning again (``report``).

    python bench/kb_cv.py fold /tmp/kb-bench/banking77-train.csv /tmp/kb-cv --fold 0 --name s300-lr5e-5
    python bench/kb_cv.py fold ... --extra OOS.csv [--only-extra]                # + out-of-scope queries
    python bench/kb_cv.py scores ARTICLES.csv QUERIES.csv OUT.npz [--tuned DIR]   # any articles/queries pair
    python bench/kb_cv.py report /tmp/kb-cv [--baseline NAME]                     # CV table + weight grid
    python bench/kb_cv.py answers OUT.npz [MORE.npz ...]                          # threshold/margin grid

kb8 (bench/kb8_rule.md): ``fold --keep-vectors`` also keeps the fold's title/phrasing vectors and the query vectors
(OUT/vectors/), so other ranking formulas over the per-phrasing cosines are scored on the same tuned models without
the model: ``variants`` (each candidate's parameters chosen on two folds and applied to the third, kb6's rule),
``variant-answers`` (a candidate's automatic-answer grid) and ``misses`` (how near the current misses are).

    python bench/kb_cv.py variants /tmp/kb-bench/banking77-train.csv /tmp/kb-cv [--name base] [--only topk knn]

kb9 (bench/kb9_rule.md): ``fold --seed`` tunes with another seed; ``ensemble`` and ``ensemble-answers`` score
several fold runs averaged as the members of one model, from their kept vectors (bench/kb_variants.py).

    python bench/kb_cv.py ensemble /tmp/kb-bench/banking77-train.csv /tmp/kb-cv --members s77 s78 s79 packaged
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# The repository, not bench/ (whose email.py would shadow the standard library's).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from kb.embeddings import MiniLM, writes_in_model_script
from kb.evaluate import entries_from_files
from kb.files import articles_by_category, read_articles, read_queries
from kb.finetune import TuneSettings
from kb.ranker import Entry, Ranker, SemanticIndex, semantic_texts

SEED = 7705
WEIGHTS = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0)  # semantic share of the score (shipped: 0.75)
MIXES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # share of the best phrasing in the semantic part (shipped: 0.6)
# The shipped weights (``[kb] semantic_weight``, ``kb/ranker.py`` BEST_SHARE): settings are compared at these.
REFERENCE = (0.75, 0.6)
# kb6's rule, written before its results: a setting replaces the baseline only with at least this many more
# top-3 hits over all folds, none fewer in any fold, and at most TOP1_SLACK fewer top-1 hits.
MIN_GAIN, TOP1_SLACK = 8, 16
Scores = dict[str, npt.NDArray[np.float64]]
Arrays = dict[str, npt.NDArray[Any]]  # vectors (float32), owners (intp), counts


def folds(rows: Sequence[tuple[str, str]], k: int, seed: int = SEED) -> list[list[tuple[str, str]]]:
    """``rows`` shuffled with ``seed`` and dealt round-robin into ``k`` folds (sizes differ by one at most)."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [[rows[i] for i in order[f::k]] for f in range(k)]


def articles_from_rows(rows: Sequence[tuple[str, str]]) -> list[Entry]:
    """One article per category, as ``kb evaluate`` reads a text,category CSV."""
    return entries_from_files(articles_by_category(rows))


def score_queries(entries: Sequence[Entry], queries: Sequence[tuple[str, str]], encoder: MiniLM | None,
                  vectors_out: Arrays | None = None) -> Scores:
    """Per query and article: ``lexical``, ``best`` (best cosine with a title/phrasing), ``mean`` (cosine with
    their mean direction); ``truth`` = the query's article index (-1: none) and ``semantic`` = whether the
    model reads the query. Without ``encoder`` best and mean are zero.

    With ``vectors_out`` (and ``encoder``), the vectors themselves are put there, so that other ranking formulas
    over the per-phrasing cosines can be tried later without the model: ``phrasings`` (one unit row per title
    and phrasing, ``semantic_texts`` order), ``owner`` (each row's article index) and ``queries`` (one row per
    query; zeros where the model does not read it)."""
    ranker = Ranker(entries)
    n, index = len(entries), {str(e.id): i for i, e in enumerate(entries)}
    lexical, best, mean = (np.zeros((len(queries), n)) for _ in range(3))
    semantic = np.zeros(len(queries), dtype=bool)
    if encoder is not None:
        vectors = encoder.encode([t for e in entries for t in semantic_texts(e)])
        sem = SemanticIndex.build(entries, encoder, vectors, 0.8)
        query_vectors = np.zeros((len(queries), vectors.shape[1]), dtype=np.float32)
    for q, (text, _) in enumerate(queries):
        lexical[q] = ranker.lexical_scores(text)
        if encoder is not None and writes_in_model_script(text):
            vector = query_vectors[q] = encoder.encode([text])[0]
            best[q] = np.maximum.reduceat(sem.vectors @ vector, sem.starts)
            mean[q] = sem.centroids @ vector
            semantic[q] = True
    if vectors_out is not None and encoder is not None:
        vectors_out.update(phrasings=sem.vectors, owner=sem.owner, queries=query_vectors)
    truth = np.asarray([index.get(c, -1) for _, c in queries])
    return {"lexical": lexical, "best": best, "mean": mean, "truth": truth, "semantic": semantic}


def combine(s: Scores, weight: float, mix: float) -> npt.NDArray[np.float64]:
    """The ranker's score: (1 - weight) x lexical + weight x clip(mix x best + (1 - mix) x mean)."""
    sem = np.clip(mix * s["best"] + (1 - mix) * s["mean"], 0.0, 1.0)
    mixed = (1 - weight) * s["lexical"] + weight * sem
    return np.where(s["semantic"][:, None], mixed, s["lexical"])


def top_k(s: Scores, weight: float, mix: float, k: int) -> tuple[int, int]:
    """(in-scope queries whose article is among the ``k`` best, in-scope queries), ties broken as the ranker does."""
    combined = combine(s, weight, mix)
    order = np.argsort(-combined, axis=1, kind="stable")[:, :k]
    inside = s["truth"] >= 0
    return int((order[inside] == s["truth"][inside, None]).any(axis=1).sum()), int(inside.sum())


def answers(s: Scores, weight: float, mix: float, threshold: float, margin: float) -> tuple[int, int, int]:
    """Automatic answers (``kb/confidence.py``'s rule): (given, correct, out-of-scope queries answered)."""
    combined = np.minimum(combine(s, weight, mix), 1.0)
    order = np.argsort(-combined, axis=1, kind="stable")
    rows = np.arange(len(combined))
    first, second = combined[rows, order[:, 0]], combined[rows, order[:, 1]]
    given = (first >= threshold) & (first - second >= margin) & (first > 0)
    correct = given & (order[:, 0] == s["truth"])
    return int(given.sum()), int(correct.sum()), int((given & (s["truth"] < 0)).sum())


def save(path: Path, s: Arrays, meta: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **s)  # type: ignore[arg-type]
    path.with_suffix(".json").write_text(json.dumps(meta))


def load(path: Path) -> Scores:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def run_fold(args: argparse.Namespace) -> None:
    from kb.finetune import groups_for_tuning, tune
    from kb.tuned import save_tuned

    with Path(args.train).open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    parts = folds(rows, args.folds)
    queries = parts[args.fold]
    entries = articles_from_rows([r for f, part in enumerate(parts) if f != args.fold for r in part])
    meta: dict[str, object] = {"fold": args.fold, "folds": args.folds, "name": args.name, "queries": len(queries)}
    tuned_dir = None
    if args.only_extra:  # the fold's kept model (the packaged one if none was kept), the extra queries only
        kept = Path(args.out) / f"{args.name}-fold{args.fold}"
        tuned_dir, queries = (kept if kept.is_dir() else None), []
    elif args.steps > 0:
        settings = replace(TuneSettings(), steps=args.steps, learning_rate=args.lr, layers=args.layers,
                           batch=args.batch, threads=args.threads, scale=args.scale,
                           hard_negatives=args.hard_negatives, seed=args.seed)
        tuned = tune(groups_for_tuning(entries, MiniLM.languages), settings)
        tuned_dir = Path(args.out) / f"{args.name}-fold{args.fold}"
        save_tuned(tuned_dir, tuned.tensors, tuned.meta)
        meta["tune"] = tuned.meta
    started = time.monotonic()
    extra = read_queries(Path(args.extra)) if args.extra else []
    kept_vectors: Arrays | None = {} if args.keep_vectors else None
    both = score_queries(entries, [*queries, *extra], MiniLM(tuned=tuned_dir), kept_vectors)
    s = {key: value[: len(queries)] for key, value in both.items()}
    meta["scoring_seconds"] = round(time.monotonic() - started, 1)
    if kept_vectors:  # the fold's queries first, then the extra ones (``extra`` = how many of those)
        kept_vectors["extra"] = np.asarray(len(extra))
        save(Path(args.out) / "vectors" / f"{args.name}-fold{args.fold}.npz", kept_vectors,
             {**meta, "extra_queries": args.extra})
    if not args.only_extra:
        save(Path(args.out) / f"{args.name}-fold{args.fold}.npz", s, meta)
    if extra:  # scored with the same model and article vectors (the article texts are embedded once)
        out = Path(args.out) / "extra" / f"{args.name}-fold{args.fold}.npz"
        save(out, {key: value[len(queries):] for key, value in both.items()}, {**meta, "queries": args.extra})
    if queries:
        hit, total = top_k(s, *REFERENCE, 3)
        meta["top3_reference_weights"] = round(hit / total, 4)
    print(json.dumps(meta))


def run_scores(args: argparse.Namespace) -> None:
    entries = entries_from_files(read_articles(Path(args.articles)))
    encoder = MiniLM(tuned=Path(args.tuned) if args.tuned else None)
    s = score_queries(entries, read_queries(Path(args.queries)), encoder)
    save(Path(args.out), s, {"articles": args.articles, "queries": args.queries, "model": encoder.name})
    print(args.out, encoder.name)


def report(args: argparse.Namespace) -> None:
    """Per setting: top-1/top-3 per fold at the ``REFERENCE`` weights, the weights that are best over all folds,
    and an honest estimate for choosing them: each fold ranked with the weights best on the other folds."""
    runs: dict[str, dict[int, Scores]] = {}
    for path in sorted(Path(args.out).glob("*-fold*.npz")):
        name, fold = path.stem.rsplit("-fold", 1)
        runs.setdefault(name, {})[int(fold)] = load(path)
    grid = [(w, m) for w in WEIGHTS for m in MIXES]
    base = runs.get(args.baseline) if args.baseline else None
    for name, by_fold in runs.items():
        hits = {p: [top_k(s, *p, 3) for _, s in sorted(by_fold.items())] for p in grid}
        top1 = [top_k(s, *REFERENCE, 1) for _, s in sorted(by_fold.items())]
        shipped = hits[REFERENCE]
        best = max(grid, key=lambda p: (sum(h for h, _ in hits[p]), p == REFERENCE))
        nested = 0
        for f in range(len(by_fold)):
            chosen = max(grid, key=lambda p: (sum(h for i, (h, _) in enumerate(hits[p]) if i != f), p == REFERENCE))
            nested += hits[chosen][f][0]
        total = sum(t for _, t in shipped)
        row: dict[str, object] = {
            "setting": name, "folds": len(by_fold),
            "top3_per_fold": [round(h / t, 4) for h, t in shipped],
            "top3": round(sum(h for h, _ in shipped) / total, 4), "top3_hits": sum(h for h, _ in shipped),
            "top1": round(sum(h for h, _ in top1) / total, 4), "top1_hits": sum(h for h, _ in top1),
            "best_weights": best, "top3_best_weights": round(sum(h for h, _ in hits[best]) / total, 4),
            "top3_weights_chosen_on_other_folds": round(nested / total, 4),
        }
        if base is not None and sorted(base) == sorted(by_fold):
            row.update(against_baseline(by_fold, base))
        print(json.dumps(row))


def against_baseline(runs: dict[int, Scores], base: dict[int, Scores]) -> dict[str, object]:
    """Top-3 hits gained per fold, queries gained/lost over ``base`` (same folds, ``REFERENCE`` weights), and
    whether the setting passes kb6's rule (``MIN_GAIN``, no fold worse, ``TOP1_SLACK``)."""
    per_fold, gained, lost = [], 0, 0
    for f in sorted(runs):
        mine, theirs = (_hits_mask(s) for s in (runs[f], base[f]))
        per_fold.append(int(mine.sum() - theirs.sum()))
        gained += int((mine & ~theirs).sum())
        lost += int((~mine & theirs).sum())
    top1 = sum(top_k(runs[f], *REFERENCE, 1)[0] - top_k(base[f], *REFERENCE, 1)[0] for f in runs)
    passes = sum(per_fold) >= MIN_GAIN and min(per_fold) >= 0 and top1 >= -TOP1_SLACK
    return {"top3_gain_per_fold": per_fold, "gained": gained, "lost": lost, "top1_gain": top1, "passes": passes}


def _hits_mask(s: Scores) -> npt.NDArray[np.bool_]:
    """Per in-scope query: its article is among the 3 best at the ``REFERENCE`` weights."""
    order = np.argsort(-combine(s, *REFERENCE), axis=1, kind="stable")[:, :3]
    inside = s["truth"] >= 0
    hit: npt.NDArray[np.bool_] = (order[inside] == s["truth"][inside, None]).any(axis=1)
    return hit


def grid_answers(args: argparse.Namespace) -> None:
    """The automatic-answer rule over a threshold/margin grid, summed over the scores files given (e.g. each
    fold's in-scope queries and its extra out-of-scope ones)."""
    runs = [load(Path(path)) for path in args.scores]
    inside = sum(int((s["truth"] >= 0).sum()) for s in runs)
    for threshold in (0.45, 0.5, 0.55, 0.6, 0.65, 0.7):
        for margin in (0.1, 0.15, 0.2):
            given, correct, oos = (sum(t) for t in zip(*(answers(s, args.weight, args.mix, threshold, margin)
                                                         for s in runs), strict=True))
            print(json.dumps({"threshold": threshold, "margin": margin, "given": given, "correct": correct,
                              "precision": round(correct / given, 4) if given else 1.0, "oos_answered": oos,
                              "coverage": round(correct / inside, 4) if inside else 0.0}))


# ---- kb8: other ranking formulas over the kept vectors (bench/kb8_rule.md) --------------------------------------

Point = tuple[float, ...]


@dataclass
class FoldData:
    """One fold's kept scores and vectors, and what every formula needs: the per-text cosines."""

    s: Scores
    cosines: npt.NDArray[np.float32]  # (queries, texts)
    owner: npt.NDArray[np.intp]
    starts: npt.NDArray[np.intp]
    phrasings: npt.NDArray[np.float32]
    queries: npt.NDArray[np.float32]
    entries: list[Entry]
    texts: list[tuple[str, str]]
    cache: dict[object, npt.NDArray[np.float64]]


def load_fold(train: Path, out: Path, name: str, fold: int, k: int, *, extra: bool = False) -> FoldData:
    """Fold ``fold`` of run ``name``: its queries, or with ``extra`` the extra (out-of-scope) queries it scored."""
    with train.open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    parts = folds(rows, k)
    entries = articles_from_rows([r for f, part in enumerate(parts) if f != fold for r in part])
    s = load(out / f"{name}-fold{fold}.npz")
    texts = parts[fold]
    with np.load(out / "vectors" / f"{name}-fold{fold}.npz") as data:
        phrasings, owner, queries = data["phrasings"], data["owner"].astype(np.intp), data["queries"]
    if extra:
        queries, s = queries[len(s["truth"]):], load(out / "extra" / f"{name}-fold{fold}.npz")
        meta = json.loads((out / "vectors" / f"{name}-fold{fold}.json").read_text())
        texts = read_queries(Path(meta["extra_queries"]))
    queries = queries[: len(s["truth"])]
    starts = np.searchsorted(owner, np.arange(len(entries))).astype(np.intp)
    if len(queries) != len(texts) or int(owner[-1]) != len(entries) - 1:
        raise ValueError(f"fold {fold}: the kept vectors do not match the folds of {train}")
    return FoldData(s, queries @ phrasings.T, owner, starts, phrasings, queries, entries, texts, {})


def _sem_ok(d: FoldData, score: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``score`` where the model read the query, the lexical score elsewhere (as the ranker)."""
    return np.where(d.s["semantic"][:, None], score, d.s["lexical"])


def current(d: FoldData, weight: float = 0.75, mix: float = 0.6) -> npt.NDArray[np.float64]:
    """S0: the shipped formula, from the fold run's own ``best`` and ``mean``."""
    return combine(d.s, weight, mix)


def top_mean(d: FoldData, k: int) -> npt.NDArray[np.float64]:
    """Per query and article: the mean of the article's ``k`` highest text cosines (all if fewer)."""
    key = ("topk", k)
    if key not in d.cache:
        out = np.zeros_like(d.s["best"])
        ends = [*d.starts[1:], len(d.owner)]
        for a, (lo, hi) in enumerate(zip(d.starts, ends, strict=True)):
            part = -np.sort(-d.cosines[:, lo:hi], axis=1)[:, :k]
            out[:, a] = part.mean(axis=1, dtype=np.float64)
        d.cache[key] = out
    return d.cache[key]


def knn_vote(d: FoldData, n: int, t: float) -> npt.NDArray[np.float64]:
    """Per query and article: the softmax (temperature ``t``) weight of the article's texts among the query's
    ``n`` nearest texts; sums to 1 over the articles."""
    idx = np.argpartition(-d.cosines, n, axis=1)[:, :n]
    near = np.take_along_axis(d.cosines, idx, axis=1).astype(np.float64)
    weights = np.exp((near - near.max(axis=1, keepdims=True)) / t)
    vote = np.zeros_like(d.s["best"])
    np.add.at(vote, (np.arange(len(vote))[:, None], d.owner[idx]), weights)
    normalized: npt.NDArray[np.float64] = vote / weights.sum(axis=1, keepdims=True)
    return normalized


def lexical_parts(d: FoldData, k1: float, b: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The two BM25 indexes' scores divided by their ceilings (as ``Ranker._lexical``), built with ``k1``, ``b``."""
    import bm25s

    from kb.analyze import terms
    from kb.ranker import _Index

    key = ("lexical", k1, b)
    if key not in d.cache:
        article_docs: list[list[str]] = []
        phrasing_docs: list[list[str]] = []
        phrasing_owner: list[int] = []
        for i, entry in enumerate(d.entries):
            title, phrasings = terms(entry.title), [terms(p) for p in entry.phrasings]
            article_docs.append(title * 2 + terms(entry.body) + [t for p in phrasings for t in p])
            phrasing_docs.extend((title, *phrasings))
            phrasing_owner.extend([i] * (1 + len(phrasings)))
        indexes = [_Index.build(article_docs, list(range(len(d.entries)))), _Index.build(phrasing_docs, phrasing_owner)]
        for index, docs in zip(indexes, (article_docs, phrasing_docs), strict=True):
            index.model = bm25s.BM25(k1=k1, b=b)
            index.model.index(docs, show_progress=False)
        out = np.zeros((2, len(d.texts), len(d.entries)))
        for q, (text, _) in enumerate(d.texts):
            for j, index in enumerate(indexes):
                score, ceiling = index.scores(terms(text), len(d.entries))
                if ceiling > 0:
                    out[j, q] = score / ceiling
        d.cache[key] = out
    parts = d.cache[key]
    return parts[0], parts[1]


def classifier_probabilities(d: FoldData, c: float) -> npt.NDArray[np.float64]:
    """Multinomial logistic regression on the articles' text vectors (C x cross-entropy + 1/2 ||W||^2, bias not
    penalized, scipy L-BFGS from zero, at most 300 iterations): each query's probability per article."""
    from scipy.optimize import minimize  # type: ignore[import-untyped]

    key = ("classifier", c)
    if key not in d.cache:
        x, y = d.phrasings.astype(np.float64), d.owner
        n_classes, dims = len(d.entries), x.shape[1]
        onehot = np.zeros((len(x), n_classes))
        onehot[np.arange(len(x)), y] = 1.0

        def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
            w, bias = theta[: dims * n_classes].reshape(dims, n_classes), theta[dims * n_classes:]
            logits = x @ w + bias
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            ce = -float(np.sum(np.log(np.maximum(p[np.arange(len(x)), y], 1e-300))))
            g = c * (p - onehot)
            grad = np.concatenate([(x.T @ g + w).ravel(), g.sum(axis=0)])
            return c * ce + 0.5 * float(np.sum(w * w)), grad

        fit = minimize(loss, np.zeros(dims * n_classes + n_classes), jac=True, method="L-BFGS-B",
                       options={"maxiter": 300})
        w, bias = fit.x[: dims * n_classes].reshape(dims, n_classes), fit.x[dims * n_classes:]
        logits = d.queries.astype(np.float64) @ w + bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        d.cache[key] = p / p.sum(axis=1, keepdims=True)
    return d.cache[key]


def _grid(*axes: Sequence[float]) -> list[Point]:
    return [tuple(float(v) for v in p) for p in np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(axes), -1).T]


CANDIDATES: dict[str, tuple[list[Point], str]] = {
    # name: (grid, what the point's values are), in kb8_rule.md's order of ties
    "weights": (_grid((0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 1.0), (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)), "w, m"),
    "topk": (_grid((2, 3, 5), (0.5, 0.6, 0.7, 0.8), (0.7, 0.75, 0.8)), "k, m, w"),
    "knn": (_grid((10, 20, 50), (0.02, 0.05, 0.1), (0.1, 0.2, 0.3)), "N, t, l"),
    "lexical": (_grid((1.2, 1.5, 2.0), (0.5, 0.75, 1.0), (0.25, 0.5, 0.75)), "k1, b, a"),
    "classifier": (_grid((1, 10, 100), (0.1, 0.2, 0.3)), "C, l"),
}


def candidate_scores(name: str, d: FoldData, p: Point) -> npt.NDArray[np.float64]:
    """The candidate formula ``name`` at grid point ``p`` (kb8_rule.md)."""
    if name == "weights":
        return current(d, p[0], p[1])
    if name == "topk":
        k, m, w = int(p[0]), p[1], p[2]
        sem = np.clip(m * top_mean(d, k) + (1 - m) * d.s["mean"], 0.0, 1.0)
        return _sem_ok(d, (1 - w) * d.s["lexical"] + w * sem)
    if name == "knn":
        return _sem_ok(d, (1 - p[2]) * current(d) + p[2] * knn_vote(d, int(p[0]), p[1]))
    if name == "lexical":
        article, phrasing = lexical_parts(d, p[0], p[1])
        lexical = p[2] * article + (1 - p[2]) * phrasing
        sem = np.clip(REFERENCE[1] * d.s["best"] + (1 - REFERENCE[1]) * d.s["mean"], 0.0, 1.0)
        return _sem_ok(d, (1 - REFERENCE[0]) * lexical + REFERENCE[0] * sem)
    if name == "classifier":
        return _sem_ok(d, (1 - p[1]) * current(d) + p[1] * classifier_probabilities(d, p[0]))
    raise ValueError(name)


Masks = tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]  # per in-scope query: top-1 hit, top-3 hit


def hit_masks(score: npt.NDArray[np.float64], truth: npt.NDArray[Any]) -> Masks:
    """Per in-scope query: its article first, and among the 3 best (stable ties, as the ranker)."""
    order = np.argsort(-score, axis=1, kind="stable")[:, :3]
    inside = truth >= 0
    found = order[inside] == truth[inside, None]
    return found[:, 0], found.any(axis=1)


def nested_choice(grid: Sequence[Any], masks: Callable[[int, int], Masks], base: Sequence[Masks]) -> dict[str, Any]:
    """kb6's nested choice and rule: fold f is ranked with the grid point that has the most top-3 hits (then top-1,
    then the first) on the other folds; ``masks(i, f)`` are point i's hits on fold f, ``base`` the baseline's per
    fold. Also the point best on all folds at once (optimistic: chosen on the queries it is scored on)."""
    folds = len(base)
    hits = {(i, f): masks(i, f) for i in range(len(grid)) for f in range(folds)}
    counts = np.array([[[int(hits[i, f][0].sum()), int(hits[i, f][1].sum())] for f in range(folds)]
                       for i in range(len(grid))])  # (points, folds, top-1 / top-3)
    chosen, nested3, gain, top1_gain, gained, lost = [], [], [], 0, 0, 0
    for f in range(folds):
        totals = counts[:, [g for g in range(folds) if g != f]].sum(axis=1)
        i = max(range(len(grid)), key=lambda j: (totals[j, 1], totals[j, 0], -j))
        chosen.append(grid[i])
        top1, top3 = hits[i, f]
        nested3.append(int(top3.sum()))
        gain.append(int(top3.sum() - base[f][1].sum()))
        top1_gain += int(top1.sum() - base[f][0].sum())
        gained += int((top3 & ~base[f][1]).sum())
        lost += int((~top3 & base[f][1]).sum())
    whole = counts.sum(axis=1)
    best = max(range(len(grid)), key=lambda j: (whole[j, 1], whole[j, 0], -j))
    return {"chosen_per_fold": chosen, "nested_top3_per_fold": nested3, "nested_top3_hits": sum(nested3),
            "top3_gain_per_fold": gain, "gained": gained, "lost": lost,
            "nested_top1_hits": sum(int(b[0].sum()) for b in base) + top1_gain, "top1_gain": top1_gain,
            "passes": sum(gain) >= MIN_GAIN and min(gain) >= 0 and top1_gain >= -TOP1_SLACK,
            "optimistic_best_point": grid[best], "optimistic_top3_hits": int(whole[best, 1]),
            "optimistic_top1_hits": int(whole[best, 0])}


def variants(args: argparse.Namespace) -> None:
    """kb8: each candidate formula's nested CV figures against the shipped formula (bench/kb8_rule.md)."""
    data = [load_fold(Path(args.train), Path(args.out), args.name, f, args.folds) for f in range(args.folds)]
    base = [hit_masks(current(d), d.s["truth"]) for d in data]
    for f, d in enumerate(data):  # the kept vectors give the fold run's own best/mean (and the lexical scores)
        best = np.maximum.reduceat(d.cosines, d.starts, axis=1)
        check = {"fold": f, "best_max_diff": float(np.abs(best - d.s["best"])[d.s["semantic"]].max()),
                 "top3_hits": int(base[f][1].sum()), "top1_hits": int(base[f][0].sum())}
        if not args.only or "lexical" in args.only:
            article, phrasing = lexical_parts(d, 1.5, 0.75)
            check["lexical_max_diff"] = float(np.abs(0.5 * article + 0.5 * phrasing - d.s["lexical"]).max())
        print(json.dumps(check), flush=True)
    print(json.dumps({"candidate": "current", "top3_per_fold": [int(b[1].sum()) for b in base],
                      "top3_hits": sum(int(b[1].sum()) for b in base), "top1_hits": sum(int(b[0].sum()) for b in base),
                      "queries": sum(len(b[1]) for b in base)}), flush=True)
    for name, (grid, axes) in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        started = time.monotonic()

        def masks(i: int, f: int, name: str = name, grid: list[Point] = grid) -> Masks:
            return hit_masks(candidate_scores(name, data[f], grid[i]), data[f].s["truth"])
        row = nested_choice(grid, masks, base)
        print(json.dumps({"candidate": name, "axes": axes, "points": len(grid), **row,
                          "seconds": round(time.monotonic() - started, 1)}), flush=True)


def variant_answers(args: argparse.Namespace) -> None:
    """The automatic-answer rule (threshold x margin) with candidate ``--candidate`` at ``--point``, and with the
    shipped formula, over every fold's in-scope queries and its extra (out-of-scope) ones."""
    point = tuple(args.point)
    for label, name in (("current", "weights"), (args.candidate, args.candidate)):
        p = REFERENCE if label == "current" else point
        parts = []
        for f in range(args.folds):
            for extra in (False, True):
                d = load_fold(Path(args.train), Path(args.out), args.name, f, args.folds, extra=extra)
                parts.append({**d.s, "final": candidate_scores(name, d, p)})
        inside = sum(int((s["truth"] >= 0).sum()) for s in parts)
        for threshold in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
            for margin in (0.1, 0.15, 0.2):
                given = correct = oos = 0
                for s in parts:
                    final = np.minimum(s["final"], 1.0)
                    order = np.argsort(-final, axis=1, kind="stable")
                    rows = np.arange(len(final))
                    first, second = final[rows, order[:, 0]], final[rows, order[:, 1]]
                    ok = (first >= threshold) & (first - second >= margin) & (first > 0)
                    given += int(ok.sum())
                    correct += int((ok & (order[:, 0] == s["truth"])).sum())
                    oos += int((ok & (s["truth"] < 0)).sum())
                print(json.dumps({"formula": label, "point": p, "threshold": threshold, "margin": margin,
                                  "given": given, "correct": correct, "oos_answered": oos,
                                  "precision": round(correct / given, 4) if given else 1.0,
                                  "coverage": round(correct / inside, 4)}), flush=True)


def misses(args: argparse.Namespace) -> None:
    """Where the shipped formula's top-3 misses rank their article, and how many misses and third-place hits are
    within a small score gap of changing sides (what any reweighting can flip either way)."""
    ranks, short, spare = [], [], []
    for f in range(args.folds):
        d = load_fold(Path(args.train), Path(args.out), args.name, f, args.folds)
        score, truth, rows = current(d), d.s["truth"], np.arange(len(d.s["truth"]))
        order = np.argsort(-score, axis=1, kind="stable")
        rank = np.argmax(order == truth[:, None], axis=1)
        mine = score[rows, truth]
        ranks += (rank[rank >= 3] + 1).tolist()
        short += (score[rows, order[:, 2]] - mine)[rank >= 3].tolist()
        spare += (mine - score[rows, order[:, 3]])[rank == 2].tolist()
    print(json.dumps({"misses": len(ranks), "rank": {r: ranks.count(r) for r in sorted(set(ranks)) if r <= 10},
                      "rank_beyond_10": sum(r > 10 for r in ranks)}))
    for gap in (0.005, 0.01, 0.02, 0.05):
        print(json.dumps({"gap": gap, "misses_within": sum(g < gap for g in short),
                          "third_place_hits_within": sum(g < gap for g in spare)}))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    fold = sub.add_parser("fold", help="tune on the other folds, score fold --fold's queries")
    fold.add_argument("train")
    fold.add_argument("out")
    fold.add_argument("--fold", type=int, required=True)
    fold.add_argument("--folds", type=int, default=3)
    fold.add_argument("--name", required=True)
    fold.add_argument("--steps", type=int, default=300, help="0: the packaged model, no tune")
    fold.add_argument("--lr", type=float, default=2e-4)
    fold.add_argument("--layers", type=int, default=1)
    fold.add_argument("--batch", type=int, default=64)
    fold.add_argument("--scale", type=float, default=20.0, help="similarity scale (1 / temperature)")
    fold.add_argument("--hard-negatives", type=int, default=0, help="mine each text's N nearest other-article texts")
    fold.add_argument("--threads", type=int, default=1)
    fold.add_argument("--seed", type=int, default=TuneSettings().seed, help="the tune's seed (kb9: 77, 78, 79)")
    fold.add_argument("--extra", help="also score these queries (e.g. out-of-scope ones): OUT/extra/NAME-foldF.npz")
    fold.add_argument("--only-extra", action="store_true", help="no tune: the model kept for NAME, --extra only")
    fold.add_argument("--keep-vectors", action="store_true",
                      help="also keep the phrasing and query vectors (OUT/vectors/NAME-foldF.npz) for `variants`")
    scores = sub.add_parser("scores", help="score any articles/queries pair (for the threshold grid)")
    scores.add_argument("articles")
    scores.add_argument("queries")
    scores.add_argument("out")
    scores.add_argument("--tuned")
    rep = sub.add_parser("report", help="the CV table and the weight grid")
    rep.add_argument("out")
    rep.add_argument("--baseline", help="the setting the others are compared with (kb6's rule)")
    ans = sub.add_parser("answers", help="automatic-answer threshold/margin grid over a scores file")
    ans.add_argument("scores", nargs="+")
    ans.add_argument("--weight", type=float, default=0.75)
    ans.add_argument("--mix", type=float, default=0.6)
    var = sub.add_parser("variants", help="kb8: other ranking formulas over the kept vectors, nested CV")
    var.add_argument("--only", nargs="*", choices=list(CANDIDATES), help="these candidates only")
    va = sub.add_parser("variant-answers", help="kb8: the automatic-answer grid for one candidate formula")
    va.add_argument("--candidate", required=True, choices=list(CANDIDATES))
    va.add_argument("--point", type=float, nargs="+", required=True)
    mis = sub.add_parser("misses", help="kb8: how near the shipped formula's top-3 misses and hits are")
    for kept in (var, va, mis):  # all three read the fold runs kept with --keep-vectors
        kept.add_argument("--name", default="base")
    ens = sub.add_parser("ensemble", help="kb9: fold runs averaged as one model's members, nested CV")
    ensa = sub.add_parser("ensemble-answers", help="kb9: the automatic-answer grid for an ensemble")
    ensa.add_argument("--weights", type=float, nargs="+", help="the members' relative weights (default: equal)")
    for many in (ens, ensa):
        many.add_argument("--members", nargs="+", default=["s77", "s78", "s79", "packaged"],
                          help="fold run names; the first alone is the baseline")
    second = sub.add_parser("second-model", help="kb12: a second model's similarities added, nested CV")
    second.add_argument("--name", default="base")
    for kept in (var, va, mis, ens, ensa, second):
        kept.add_argument("train")
        kept.add_argument("out")
        kept.add_argument("--folds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command in ("ensemble", "ensemble-answers", "second-model"):
        sys.modules.setdefault("bench.kb_cv", sys.modules[__name__])  # kb_variants imports this module, not a copy
        from bench import kb_variants

        kb_variants.COMMANDS[args.command](args)
        return
    commands = {"fold": run_fold, "scores": run_scores, "report": report, "answers": grid_answers,
                "variants": variants, "variant-answers": variant_answers, "misses": misses}
    commands[args.command](args)


if __name__ == "__main__":
    main()

"""Experiments over the vectors that ``bench/kb_cv.py fold --keep-vectors`` keeps (OUT/vectors/): scored without the
model, on the same tuned fold models. The commands are ``kb_cv.py``'s (``add_commands``):

kb8 (bench/kb8_rule.md): other ranking formulas over the tuned model's per-phrasing cosines: ``variants`` (each
candidate's parameters chosen on two folds and applied to the third), ``variant-answers`` (a candidate's
automatic-answer grid) and ``misses`` (how near the current misses are).

    python bench/kb_cv.py variants /tmp/kb-bench/banking77-train.csv /tmp/kb-cv [--name base] [--only topk knn]

kb9 (bench/kb9_rule.md): ``ensemble``: several fold runs (e.g. tunes with other seeds, ``fold --seed``, and the
packaged model, ``fold --steps 0``) as members of one model, their per-text cosines averaged;
``ensemble-answers``: an ensemble's automatic-answer grid.

    python bench/kb_cv.py ensemble /tmp/kb-bench/banking77-train.csv /tmp/kb-cv --members s77 s78 s79 packaged
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.kb_cv import MIN_GAIN, REFERENCE, TOP1_SLACK, Scores, articles_from_rows, combine, folds, load
from kb.files import read_queries
from kb.ranker import Entry

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


def hit_masks(score: npt.NDArray[np.float64], truth: npt.NDArray[Any]) -> tuple[npt.NDArray[np.bool_], ...]:
    """Per in-scope query: its article first, and among the 3 best (stable ties, as the ranker)."""
    order = np.argsort(-score, axis=1, kind="stable")[:, :3]
    inside = truth >= 0
    found = order[inside] == truth[inside, None]
    return found[:, 0], found.any(axis=1)


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
        counts = np.zeros((len(grid), len(data), 2), dtype=np.int64)  # top-1, top-3 hits
        for i, p in enumerate(grid):
            for f, d in enumerate(data):
                top1, top3 = hit_masks(candidate_scores(name, d, p), d.s["truth"])
                counts[i, f] = top1.sum(), top3.sum()
        chosen, gain, top1_gain, gained, lost, nested3 = [], [], 0, 0, 0, []
        for f, d in enumerate(data):
            others = [g for g in range(len(data)) if g != f]
            totals = counts[:, others].sum(axis=1)  # (points, 2)
            i = max(range(len(grid)), key=lambda j: (totals[j, 1], totals[j, 0], -j))
            chosen.append(grid[i])
            top1, top3 = hit_masks(candidate_scores(name, d, grid[i]), d.s["truth"])
            nested3.append(int(top3.sum()))
            gain.append(int(top3.sum() - base[f][1].sum()))
            top1_gain += int(top1.sum() - base[f][0].sum())
            gained += int((top3 & ~base[f][1]).sum())
            lost += int((~top3 & base[f][1]).sum())
        whole = counts.sum(axis=1)
        best_i = max(range(len(grid)), key=lambda j: (whole[j, 1], whole[j, 0], -j))
        print(json.dumps({
            "candidate": name, "axes": axes, "points": len(grid), "chosen_per_fold": chosen,
            "nested_top3_per_fold": nested3, "nested_top3_hits": sum(nested3), "top3_gain_per_fold": gain,
            "gained": gained, "lost": lost, "top1_gain": top1_gain,
            "passes": sum(gain) >= MIN_GAIN and min(gain) >= 0 and top1_gain >= -TOP1_SLACK,
            "optimistic_best_point": grid[best_i], "optimistic_top3_hits": int(whole[best_i, 1]),
            "optimistic_top1_hits": int(whole[best_i, 0]), "seconds": round(time.monotonic() - started, 1),
        }), flush=True)


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


# ---- kb9: ensembles of fold runs (bench/kb9_rule.md) -------------------------------------------------------------

# name: (members as indices into --members, the grid of their relative weights), in kb9_rule.md's order of ties;
# the diagnostics (one other seed alone) are reported, not candidates.
ENSEMBLES: dict[str, tuple[tuple[int, ...], list[Point]]] = {
    "seeds2": ((0, 1), [(1.0, 1.0)]),
    "seeds3": ((0, 1, 2), [(1.0, 1.0, 1.0)]),
    "seeds3+packaged": ((0, 1, 2, 3), [(1.0, 1.0, 1.0, 0.5), (1.0, 1.0, 1.0, 1.0)]),
}
DIAGNOSTICS: dict[str, tuple[tuple[int, ...], list[Point]]] = {"second alone": ((1,), [(1.0,)]),
                                                               "third alone": ((2,), [(1.0,)])}


def ensemble_score(members: Sequence[FoldData], weights: Point) -> npt.NDArray[np.float64]:
    """S0 over the members' averaged similarities: B = the article's best of the weighted mean of the members' text
    cosines, M = the weighted mean of each member's cosine with its own mean direction (the fold run's ``mean``)."""
    w = np.asarray(weights, dtype=np.float32) / np.float32(sum(weights))
    cosines = sum((wi * d.cosines for wi, d in zip(w, members, strict=True)), np.zeros_like(members[0].cosines))
    first = members[0]
    mean = np.zeros_like(first.s["mean"])
    for wi, d in zip(w, members, strict=True):
        mean += float(wi) * d.s["mean"]
    s = {**first.s, "best": np.maximum.reduceat(cosines, first.starts, axis=1).astype(np.float64), "mean": mean}
    for d in members[1:]:  # the same queries and articles in every member's run
        if not (np.array_equal(d.s["truth"], first.s["truth"]) and np.array_equal(d.owner, first.owner)
                and np.array_equal(d.s["lexical"], first.s["lexical"])):
            raise ValueError("the members' fold runs do not have the same queries and articles")
    return combine(s, *REFERENCE)


def ensemble(args: argparse.Namespace) -> None:
    """kb9: each ensemble's nested CV figures against the first member alone (bench/kb9_rule.md)."""
    data = [[load_fold(Path(args.train), Path(args.out), name, f, args.folds) for name in args.members]
            for f in range(args.folds)]
    base = []
    for f, runs in enumerate(data):  # the first member alone, from its kept vectors: as its fold run ranked
        own = hit_masks(current(runs[0]), runs[0].s["truth"])
        base.append(hit_masks(ensemble_score(runs[:1], (1.0,)), runs[0].s["truth"]))
        print(json.dumps({"fold": f, "members": args.members, "top3_hits": int(own[1].sum()),
                          "top1_hits": int(own[0].sum()), "same_hits_from_vectors": bool(
                              (own[0] == base[f][0]).all() and (own[1] == base[f][1]).all())}), flush=True)
    print(json.dumps({"candidate": f"{args.members[0]} alone (baseline)",
                      "top3_per_fold": [int(b[1].sum()) for b in base], "top3_hits": sum(int(b[1].sum()) for b in base),
                      "top1_hits": sum(int(b[0].sum()) for b in base),
                      "queries": sum(len(b[1]) for b in base)}), flush=True)
    for name, (chosen_members, grid) in {**ENSEMBLES, **DIAGNOSTICS}.items():
        if max(chosen_members) >= len(args.members):
            continue
        counts = np.zeros((len(grid), len(data), 2), dtype=np.int64)  # top-1, top-3 hits
        masks = {}
        for i, p in enumerate(grid):
            for f, runs in enumerate(data):
                masks[i, f] = hit_masks(ensemble_score([runs[m] for m in chosen_members], p), runs[0].s["truth"])
                counts[i, f] = masks[i, f][0].sum(), masks[i, f][1].sum()
        chosen, nested3, gain, top1_gain, gained, lost = [], [], [], 0, 0, 0
        for f in range(len(data)):
            others = [g for g in range(len(data)) if g != f]
            totals = counts[:, others].sum(axis=1)
            i = max(range(len(grid)), key=lambda j: (totals[j, 1], totals[j, 0], -j))
            chosen.append(grid[i])
            top1, top3 = masks[i, f]
            nested3.append(int(top3.sum()))
            gain.append(int(top3.sum() - base[f][1].sum()))
            top1_gain += int(top1.sum() - base[f][0].sum())
            gained += int((top3 & ~base[f][1]).sum())
            lost += int((~top3 & base[f][1]).sum())
        whole = counts.sum(axis=1)
        best_i = max(range(len(grid)), key=lambda j: (whole[j, 1], whole[j, 0], -j))
        print(json.dumps({
            "candidate": name, "members": [args.members[m] for m in chosen_members], "points": len(grid),
            "diagnostic": name in DIAGNOSTICS, "chosen_per_fold": chosen, "nested_top3_per_fold": nested3,
            "nested_top3_hits": sum(nested3), "top3_gain_per_fold": gain, "gained": gained, "lost": lost,
            "nested_top1_hits": sum(int(b[0].sum()) for b in base) + top1_gain, "top1_gain": top1_gain,
            "passes": sum(gain) >= MIN_GAIN and min(gain) >= 0 and top1_gain >= -TOP1_SLACK,
            "optimistic_best_point": grid[best_i], "optimistic_top3_hits": int(whole[best_i, 1]),
            "optimistic_top1_hits": int(whole[best_i, 0]),
        }), flush=True)


def ensemble_answers(args: argparse.Namespace) -> None:
    """The automatic-answer rule (threshold x margin) for the first member alone and for the ensemble of all
    ``--members`` at ``--weights``, over every fold's in-scope queries and its extra (out-of-scope) ones."""
    weights = tuple(args.weights) if args.weights else (1.0,) * len(args.members)
    for label, count, point in (("single", 1, (1.0,)), ("ensemble", len(args.members), weights)):
        parts = []
        for f in range(args.folds):
            for extra in (False, True):
                runs = [load_fold(Path(args.train), Path(args.out), name, f, args.folds, extra=extra)
                        for name in args.members[:count]]
                parts.append((ensemble_score(runs, point), runs[0].s["truth"]))
        _answer_grid(label, point, parts)


def _answer_grid(label: str, point: Point, parts: Sequence[tuple[npt.NDArray[np.float64], npt.NDArray[Any]]]) -> None:
    inside = sum(int((truth >= 0).sum()) for _, truth in parts)
    for threshold in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        for margin in (0.1, 0.15, 0.2):
            given = correct = oos = 0
            for score, truth in parts:
                final = np.minimum(score, 1.0)
                order = np.argsort(-final, axis=1, kind="stable")
                rows = np.arange(len(final))
                first, second = final[rows, order[:, 0]], final[rows, order[:, 1]]
                ok = (first >= threshold) & (first - second >= margin) & (first > 0)
                given += int(ok.sum())
                correct += int((ok & (order[:, 0] == truth)).sum())
                oos += int((ok & (truth < 0)).sum())
            print(json.dumps({"formula": label, "point": point, "threshold": threshold, "margin": margin,
                              "given": given, "correct": correct, "oos_answered": oos,
                              "precision": round(correct / given, 4) if given else 1.0,
                              "coverage": round(correct / inside, 4)}), flush=True)


def add_commands(sub: Any) -> dict[str, Callable[[argparse.Namespace], None]]:
    """Register this module's commands with ``kb_cv.py``'s sub-parsers; returns their functions by name."""
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
    for kept in (var, va, mis, ens, ensa):
        kept.add_argument("train")
        kept.add_argument("out")
        kept.add_argument("--folds", type=int, default=3)
    return {"variants": variants, "variant-answers": variant_answers, "misses": misses, "ensemble": ensemble,
            "ensemble-answers": ensemble_answers}

"""kb9 (bench/kb9_rule.md): several fold runs of ``bench/kb_cv.py fold --keep-vectors`` (e.g. tunes with other seeds,
``fold --seed``, and the packaged model, ``fold --steps 0``) scored as the members of one model, their per-text cosines
averaged, from the kept vectors (no model). The commands are ``kb_cv.py``'s:

    python bench/kb_cv.py ensemble /tmp/kb-bench/banking77-train.csv /tmp/kb-cv --members s77 s78 s79 packaged
    python bench/kb_cv.py ensemble-answers ... --members s77 s78 s79 [--weights 1 1 1]   # automatic-answer grid

kb12 (bench/kb12_rule.md): ``second-model`` adds the similarities of a second, different embedding model (wordllama,
``pip install wordllama``; not a dependency of the project) to the fold runs' shipped score, nested CV.

    python bench/kb_cv.py second-model /tmp/kb-bench/banking77-train.csv /tmp/kb-cv [--name base]
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.kb_cv import REFERENCE, FoldData, Masks, Point, combine, current, hit_masks, load_fold, nested_choice
from kb.ranker import SemanticIndex, semantic_texts

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

        def masks(i: int, f: int, members: tuple[int, ...] = chosen_members, grid: list[Point] = grid) -> Masks:
            return hit_masks(ensemble_score([data[f][m] for m in members], grid[i]), data[f][0].s["truth"])
        row = nested_choice(grid, masks, base)
        print(json.dumps({"candidate": name, "members": [args.members[m] for m in chosen_members], "points": len(grid),
                          "diagnostic": name in DIAGNOSTICS, **row}), flush=True)


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


# kb12_rule.md's grid, in its order of ties: (share l of the second model, its best-phrasing share m).
SECOND_GRID: list[Point] = [(share, mix) for share in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3) for mix in (0.6, 1.0)]


def second_similarities(d: FoldData, encode: Callable[[list[str]], npt.NDArray[np.float32]]
                        ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The second model's (best, mean) per query and article: its best cosine with the article's title or a
    phrasing, and its cosine with their normalized mean direction (``SemanticIndex``, as for MiniLM). ``encode``
    gives unit rows."""
    class Second:
        name, languages = "wordllama", frozenset({"en"})

        def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
            return encode(list(texts))

    second = Second()
    texts = [t for e in d.entries for t in semantic_texts(e)]
    index = SemanticIndex.build(d.entries, second, second.encode(texts), 1.0)
    queries = second.encode([text for text, _ in d.texts])
    best = np.maximum.reduceat(queries @ index.vectors.T, index.starts, axis=1).astype(np.float64)
    return best, (queries @ index.centroids.T).astype(np.float64)


def second_score(d: FoldData, second: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
                 point: Point) -> npt.NDArray[np.float64]:
    """(1 - l) S0 + l clip(m Bw + (1 - m) Mw) for the queries MiniLM reads; S0 elsewhere."""
    share, mix = point
    base = current(d)
    mixed = (1 - share) * base + share * np.clip(mix * second[0] + (1 - mix) * second[1], 0.0, 1.0)
    return np.where(d.s["semantic"][:, None], mixed, base)


def second_model(args: argparse.Namespace) -> None:
    """kb12: the shipped score with a second model's similarities added, nested CV (bench/kb12_rule.md)."""
    import wordllama
    from wordllama import WordLlama

    model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)  # its wheel's weights

    def encode(texts: list[str]) -> npt.NDArray[np.float32]:
        return np.asarray(model.embed(texts, norm=True), dtype=np.float32)

    data = [load_fold(Path(args.train), Path(args.out), args.name, f, args.folds) for f in range(args.folds)]
    base = [hit_masks(current(d), d.s["truth"]) for d in data]
    seconds = [second_similarities(d, encode) for d in data]
    for f, (d, (best, _)) in enumerate(zip(data, seconds, strict=True)):
        alone = hit_masks(best, d.s["truth"])
        print(json.dumps({"fold": f, "top3_hits": int(base[f][1].sum()), "top1_hits": int(base[f][0].sum()),
                          "second_alone_best_top3": int(alone[1].sum()), "second_alone_best_top1": int(alone[0].sum()),
                          "queries": len(base[f][1])}), flush=True)

    @functools.cache  # nested_choice and the diagnostic below ask for the same points
    def masks(i: int, f: int) -> Masks:
        return hit_masks(second_score(data[f], seconds[f], SECOND_GRID[i]), data[f].s["truth"])
    row = nested_choice(SECOND_GRID, masks, base)
    print(json.dumps({"candidate": "wordllama", "points": len(SECOND_GRID), **row}), flush=True)
    for i, point in enumerate(SECOND_GRID):  # every point over all folds (diagnostic)
        hits = [masks(i, f) for f in range(args.folds)]
        print(json.dumps({"point": point, "top3_per_fold": [int(h[1].sum()) for h in hits],
                          "top1_hits": sum(int(h[0].sum()) for h in hits)}), flush=True)


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {"ensemble": ensemble, "ensemble-answers": ensemble_answers,
                                                          "second-model": second_model}

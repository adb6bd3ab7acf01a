"""kb9 (bench/kb9_rule.md): several fold runs of ``bench/kb_cv.py fold --keep-vectors`` (e.g. tunes with other seeds,
``fold --seed``, and the packaged model, ``fold --steps 0``) scored as the members of one model, their per-text cosines
averaged, from the kept vectors (no model). The commands are ``kb_cv.py``'s:

    python bench/kb_cv.py ensemble /tmp/kb-bench/banking77-train.csv /tmp/kb-cv --members s77 s78 s79 packaged
    python bench/kb_cv.py ensemble-answers ... --members s77 s78 s79 [--weights 1 1 1]   # automatic-answer grid
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.kb_cv import REFERENCE, FoldData, Masks, Point, combine, current, hit_masks, load_fold, nested_choice

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


COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {"ensemble": ensemble, "ensemble-answers": ensemble_answers}

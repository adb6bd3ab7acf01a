"""The lexical ranker on BANKING77 (own seeded 80/20 split of train.csv) and CLINC150 out-of-scope queries.

Accuracy only (no timing): the figures of BENCHMARKS.md must not regress.
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

import pytest

from kb.confidence import DEFAULT_MARGIN, DEFAULT_THRESHOLD
from kb.evaluate import entries_from_files, evaluate
from kb.files import ArticleFile, category_title

CORPORA = Path(os.environ.get("CC_KB_CORPORA")
               or Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "kb")
pytestmark = pytest.mark.skipif(not (CORPORA / "banking77" / "train.csv").exists(),
                                reason="../shared/corpora/kb is not here")


def test_banking77_top3_and_automatic_answer_precision() -> None:
    with (CORPORA / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    random.Random(77).shuffle(rows)  # the split of bench/kb_split.py
    cut = int(len(rows) * 0.8)
    grouped: dict[str, list[str]] = {}
    for text, category in rows[:cut]:
        grouped.setdefault(category, []).append(text)
    articles = [ArticleFile(title=category_title(c), category=c, phrasings=p) for c, p in grouped.items()]
    oos = [(q, "oos") for q, _ in json.loads((CORPORA / "clinc150" / "data_full.json").read_text())["oos_test"]]
    report = evaluate(entries_from_files(articles), rows[cut:] + oos, threshold=DEFAULT_THRESHOLD,
                      margin=DEFAULT_MARGIN)
    assert report.in_scope == 2001
    assert report.top3 >= 0.95
    assert report.top1 >= 0.85
    assert report.auto_precision >= 0.95
    assert report.auto_coverage >= 0.5

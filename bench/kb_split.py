"""Write the knowledge-base benchmark's CSV files (outside the project) from ../shared/corpora/kb.

BANKING77 train.csv is shuffled with a fixed seed and cut 80/20: ``banking77-train.csv`` (the
articles' phrasings: one article per intent) and ``banking77-heldout.csv`` (the queries).
``banking77-heldout+oos.csv`` adds CLINC150's out-of-scope test queries (category ``oos``, which
names no article), to measure how precise automatic answers are.

For choosing the ranking's weights and the automatic-answer threshold and margin without looking at
the held-out part, the training part is cut again 90/10: ``banking77-fit.csv`` (phrasings) and
``banking77-validation+oos.csv`` (queries, with CLINC150's out-of-scope *validation* queries).

    python bench/kb_split.py /tmp/kb-bench
"""

from __future__ import annotations

import csv
import json
import os
import random
import sys
from pathlib import Path

# ../shared/corpora/kb beside the repository, or where CC_KB_CORPORA says (a git worktree elsewhere).
CORPORA = Path(os.environ.get("CC_KB_CORPORA")
               or Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "kb")
SEED = 77


def main(out: Path) -> None:
    with (CORPORA / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    random.Random(SEED).shuffle(rows)
    cut = int(len(rows) * 0.8)
    clinc = json.loads((CORPORA / "clinc150" / "data_full.json").read_text())
    oos = [(text, "oos") for text, _ in clinc["oos_test"]]
    oos_val = [(text, "oos") for text, _ in clinc["oos_val"]]
    train, fit_cut = rows[:cut], int(cut * 0.9)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("banking77-train.csv", rows[:cut]), ("banking77-heldout.csv", rows[cut:]),
                       ("banking77-heldout+oos.csv", rows[cut:] + oos), ("banking77-fit.csv", train[:fit_cut]),
                       ("banking77-validation+oos.csv", train[fit_cut:] + oos_val)):
        with (out / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category"])
            writer.writerows(part)
        print(out / name, len(part))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/kb_split.py OUTPUT_FOLDER")
    main(Path(sys.argv[1]))

"""Write the knowledge-base benchmark's CSV files (outside the project) from ../shared/corpora/kb.

BANKING77 train.csv is shuffled with a fixed seed and cut 80/20: ``banking77-train.csv`` (the
articles' phrasings: one article per intent) and ``banking77-heldout.csv`` (the queries).
``banking77-heldout+oos.csv`` adds CLINC150's out-of-scope test queries (category ``oos``, which
names no article), to measure how precise automatic answers are.

    python bench/kb_split.py /tmp/kb-bench
"""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "kb"
SEED = 77


def main(out: Path) -> None:
    with (CORPORA / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    random.Random(SEED).shuffle(rows)
    cut = int(len(rows) * 0.8)
    oos = [(text, "oos") for text, _ in json.loads((CORPORA / "clinc150" / "data_full.json").read_text())["oos_test"]]
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("banking77-train.csv", rows[:cut]), ("banking77-heldout.csv", rows[cut:]),
                       ("banking77-heldout+oos.csv", rows[cut:] + oos)):
        with (out / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["text", "category"])
            writer.writerows(part)
        print(out / name, len(part))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python bench/kb_split.py OUTPUT_FOLDER")
    main(Path(sys.argv[1]))

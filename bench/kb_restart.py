"""What a restart costs the knowledge base's semantic index: every title and phrasing embedded at a first start,
then read back from the kept vectors (``kb/vector_file.py``) as a restarted server does.

    python bench/kb_restart.py /tmp/kb-bench/banking77-train.csv   # needs the embeddings extra

Prints the number of texts, the seconds each start took to have the semantic index ready, and the file's size.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

# The repository, not bench/ (whose email.py would shadow the standard library's).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from kb.embeddings import load_encoder
from kb.evaluate import entries_from_files
from kb.files import read_articles
from kb.library import VectorCache
from kb.ranker import Ranker
from kb.vector_file import VECTORS


def main(articles: Path) -> None:
    encoder = load_encoder("auto")
    if encoder is None:
        sys.exit("the embeddings extra is not installed (pip install -e '.[embeddings]')")
    ranker = Ranker(entries_from_files(read_articles(articles)))
    with tempfile.TemporaryDirectory() as folder:
        file = Path(folder) / VECTORS
        for start in ("first start", "restart"):
            began = time.perf_counter()
            cache = VectorCache(encoder, file)
            cache.semantic(ranker, 0.75, keep_only=True)
            cache.save()
            print(f"{start}: {len(cache)} texts ready in {time.perf_counter() - began:.2f} s "
                  f"({file.stat().st_size / 1e6:.1f} MB kept)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))

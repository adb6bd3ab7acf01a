"""The embedded titles and phrasings kept on disk, so that a restarted server does not embed them again.

One file, ``<data dir>/kb/vectors.npz`` (numpy's archive, read without pickle): the texts (UTF-8 JSON), their
vectors (float32, one row per text) and the *identity* of the encoder that made them (``MiniLM.identity``:
the model, its package, torch's version, and the tuned weights' checksum). A file made by another encoder,
or one that cannot be read, is ignored (logged) and the texts are embedded again. Writes go through a
temporary file and an atomic rename, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["VECTORS", "load_vectors", "save_vectors"]

log = logging.getLogger(__name__)

VECTORS = "vectors.npz"


def load_vectors(path: Path, identity: str) -> dict[str, npt.NDArray[np.float32]]:
    """The vectors kept in ``path`` by the encoder ``identity``; empty when there are none (or another
    encoder's, or the file is broken)."""
    if not path.exists():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            kept_identity = bytes(data["identity"]).decode()
            texts = json.loads(bytes(data["texts"]).decode())
            vectors = np.asarray(data["vectors"], dtype=np.float32)
    except Exception as exc:  # a truncated or foreign file must never stop the server
        log.warning("knowledge base: ignoring the kept vectors in %s (%s)", path, exc)
        return {}
    if kept_identity != identity:
        log.info("knowledge base: the kept vectors were made by another model (%s); embedding again", kept_identity)
        return {}
    if not isinstance(texts, list) or vectors.ndim != 2 or len(texts) != len(vectors):
        log.warning("knowledge base: ignoring the kept vectors in %s (%d texts, shape %s)", path,
                    len(texts) if isinstance(texts, list) else -1, vectors.shape)
        return {}
    return {str(text): vectors[row] for row, text in enumerate(texts)}


def save_vectors(path: Path, identity: str, vectors: Mapping[str, npt.NDArray[np.float32]]) -> None:
    """Keep ``vectors`` (text -> unit row) in ``path`` for the encoder ``identity``."""
    texts = list(vectors)
    rows = np.stack([vectors[t] for t in texts]).astype(np.float32) if texts else np.zeros((0, 0), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.savez(fh, identity=np.frombuffer(identity.encode(), dtype=np.uint8),
                 texts=np.frombuffer(json.dumps(texts, ensure_ascii=False).encode(), dtype=np.uint8), vectors=rows)
    os.replace(tmp, path)

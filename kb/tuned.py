"""The fine-tuned encoder on disk: the weights ``kb tune`` changed, with what they were tuned on.

A tuned model is stored as two files in a folder (the server's ``<data dir>/kb``):

* ``encoder-tuned.safetensors``: only the tensors that fine-tuning changed (the top transformer
  layers of the packaged model), float32, named as in the Hugging Face model's ``state_dict``;
* ``encoder-tuned.json``: the format version, the base model and its package version, the layers, the
  knowledge-base hash and the article/text counts it was tuned on, when, how long it took and with
  which settings.

The encoder applies the tensors over the packaged model, then quantizes and traces it as usual
(``kb/embeddings.py``). A file is *valid* when its format and base model match the installed ones and
every tensor names a parameter of that model with the right shape; anything else (missing, another
base, a broken file) is ignored and the packaged model is used. The knowledge-base hash is kept to
tell whether the articles changed since (``TunedModel.tuned_for``), not to reject the file: a model
tuned on yesterday's articles still reads today's better than the untuned one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FORMAT", "TunedModel", "content_hash", "load_tuned", "save_tuned", "tuned_paths"]

log = logging.getLogger(__name__)

FORMAT = 1
WEIGHTS = "encoder-tuned.safetensors"
META = "encoder-tuned.json"


def tuned_paths(folder: Path) -> tuple[Path, Path]:
    """The weights file and the metadata file of the tuned model kept in ``folder``."""
    return folder / WEIGHTS, folder / META


def content_hash(groups: Sequence[Sequence[str]]) -> str:
    """A hash of the texts a model is tuned on (each article's title and phrasings), independent of the
    articles' order."""
    digest = hashlib.sha256()
    for group in sorted(json.dumps(list(g), ensure_ascii=False) for g in groups):
        digest.update(group.encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class TunedModel:
    """Tuned tensors (name → float32 array) and their metadata."""

    tensors: Mapping[str, npt.NDArray[np.float32]]
    meta: Mapping[str, Any]

    def tuned_for(self, kb_hash: str) -> bool:
        """True when the model was tuned on exactly these texts (``content_hash``)."""
        return self.meta.get("kb_hash") == kb_hash


def save_tuned(folder: Path, tensors: Mapping[str, npt.NDArray[np.float32]], meta: Mapping[str, Any]) -> Path:
    """Write the model (weights first, then metadata, each through a temporary file and an atomic rename,
    so a reader never sees half a file); returns the metadata file's path."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights, meta_path = tuned_paths(folder)
    data = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tensors.items()}
    digest = hashlib.sha256()
    for name in sorted(data):
        digest.update(name.encode())
        digest.update(data[name].tobytes())
    tmp = weights.with_suffix(".tmp")
    save_file(data, str(tmp))
    os.replace(tmp, weights)
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**meta, "format": FORMAT, "weights_sha256": digest.hexdigest()}, indent=1) + "\n",
                   encoding="utf-8")
    os.replace(tmp, meta_path)
    return meta_path


def load_tuned(folder: Path | None, *, base: str, base_version: str,
               shapes: Mapping[str, tuple[int, ...]]) -> TunedModel | None:
    """The tuned model kept in ``folder`` if it is valid for the installed ``base`` model (its name,
    package version and parameter ``shapes``); None (logged) otherwise."""
    if folder is None:
        return None
    weights, meta_path = tuned_paths(folder)
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        reason = _mismatch(meta, base, base_version)
        if reason is None:
            from safetensors.numpy import load_file

            tensors = load_file(str(weights))
            reason = _bad_tensors(tensors, shapes, meta)
    except (OSError, ValueError) as exc:
        reason = f"unreadable ({exc})"
    if reason is not None:
        log.warning("knowledge base: ignoring the tuned model in %s: %s; using the packaged one", folder, reason)
        return None
    return TunedModel(tensors, meta)


def _mismatch(meta: Any, base: str, base_version: str) -> str | None:
    if not isinstance(meta, dict):
        return "not a metadata object"
    if meta.get("format") != FORMAT:
        return f"format {meta.get('format')!r}, this version reads {FORMAT}"
    if (meta.get("base"), meta.get("base_version")) != (base, base_version):
        return f"tuned from {meta.get('base')} {meta.get('base_version')}, installed: {base} {base_version}"
    return None


def _bad_tensors(tensors: Mapping[str, npt.NDArray[Any]], shapes: Mapping[str, tuple[int, ...]],
                 meta: Mapping[str, Any]) -> str | None:
    if not tensors:
        return "no tensors"
    digest = hashlib.sha256()
    for name in sorted(tensors):
        if name not in shapes:
            return f"{name} is not a parameter of the model"
        if tuple(tensors[name].shape) != tuple(shapes[name]) or tensors[name].dtype != np.float32:
            return f"{name} has shape {tensors[name].shape} ({tensors[name].dtype}), the model {shapes[name]}"
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(tensors[name]).tobytes())
    if meta.get("weights_sha256") != digest.hexdigest():
        return "the weights do not match their metadata (another run's file?)"
    return None

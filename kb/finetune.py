"""Fine-tuning the packaged encoder on the knowledge base's own phrasings (``contactcenter kb tune``).

Contrastive, with in-batch negatives (the "multiple negatives ranking" loss): a step takes up to
``batch`` articles, two different texts (title or phrasings) of each, and teaches the model that each
text's nearest neighbour among the other side's texts is its own article's. One pair per article per
step, so no negative is a phrasing of the same article. With ``hard_negatives`` (off by default), each
anchor also meets one of its nearest texts of other articles (mined once, under the untuned model).

Only the top ``layers`` transformer layers learn. The lower layers are frozen, so each text goes
through them once, before training (their output is cached); a step then runs and back-propagates
through the top layers only. On this 2-core machine that makes a tune of the BANKING77 training part
(77 articles, 8,079 texts) a matter of minutes (BENCHMARKS.md). Training is in float32; the result is
quantized and traced like the packaged model when it is loaded (``kb/embeddings.py``).
"""

from __future__ import annotations

import copy
import logging
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kb.embeddings import EmbeddingsUnavailable, MiniLM, base_model, mean_pool_unit
from kb.ranker import Entry, semantic_texts
from kb.tuned import content_hash, save_tuned

__all__ = ["TuneSettings", "Tuned", "groups_for_tuning", "tune", "tune_and_keep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TuneSettings:
    """What a tune does (defaults chosen by 3-fold cross-validation inside BANKING77's training part, BENCHMARKS.md;
    ``batch`` 77 and ``hard_negatives`` 8 were not better there, kb6; nor 600 steps, 2 layers at lr 1e-4 or
    scale 30, kb7)."""

    layers: int = 1  # top transformer layers that learn (of 6)
    steps: int = 300
    batch: int = 64  # articles per step (one pair each)
    learning_rate: float = 2e-4
    scale: float = 20.0  # cosine similarities are multiplied by this before the softmax
    max_tokens: int = 48
    threads: int = 2
    seed: int = 77
    hard_negatives: int = 0  # n > 0: each anchor also meets one of its n nearest texts of other articles


@dataclass(frozen=True)
class Tuned:
    """The tensors a tune changed (Hugging Face ``state_dict`` names) and its metadata."""

    tensors: dict[str, npt.NDArray[np.float32]]
    meta: dict[str, Any]


def groups_for_tuning(entries: Sequence[Entry], languages: frozenset[str]) -> list[list[str]]:
    """Each article's distinct texts (title and phrasings) that the model reads: articles in one of its
    ``languages`` or without a language, with at least two texts (one text makes no pair)."""
    groups = []
    for entry in entries:
        if entry.language is not None and entry.language not in languages:
            continue
        texts = list(dict.fromkeys(t.strip() for t in semantic_texts(entry) if t.strip()))
        if len(texts) >= 2:
            groups.append(texts)
    return groups


def tune(groups: Sequence[Sequence[str]], settings: TuneSettings = TuneSettings(), *,
         progress: Callable[[int, float], object] | None = None) -> Tuned:
    """Fine-tune the packaged model's top layers on ``groups`` (each: one article's texts); ``progress``
    is called with (step, loss) every 10 steps. Raises ``EmbeddingsUnavailable`` without the extra and
    ``ValueError`` with fewer than two groups."""
    if len(groups) < 2:
        raise ValueError("tuning needs at least two articles with two texts (title or phrasings) each")
    try:
        import torch
    except ImportError as exc:
        raise EmbeddingsUnavailable(f"the embeddings extra is not installed ({exc.name})") from exc
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        return _tune(groups, settings, progress, torch)
    finally:
        torch.set_num_threads(threads)


def _tune(groups: Sequence[Sequence[str]], settings: TuneSettings, progress: Callable[[int, float], object] | None,
          torch: Any) -> Tuned:
    started, cpu = time.monotonic(), time.process_time()
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    base = base_model()
    model = base.model.float().eval()
    n_layers = len(model.encoder.layer)
    if not 1 <= settings.layers <= n_layers:
        raise ValueError(f"layers must be between 1 and {n_layers}")
    first = n_layers - settings.layers
    top = model.encoder.layer[first:]
    for param in model.parameters():
        param.requires_grad_(False)
    for param in top.parameters():
        param.requires_grad_(True)

    texts = list(dict.fromkeys(t for g in groups for t in g))
    row = {t: i for i, t in enumerate(texts)}
    cached = _lower_states(_quantized(model, torch), base.tokenize(texts, settings.max_tokens), first, torch)
    group_rows = [[row[t] for t in g] for g in groups]
    owner = [0] * len(texts)
    for number, rows in enumerate(group_rows):
        for r in rows:
            owner[r] = number
    neighbours = (_nearest_others(cached, owner, top, settings.hard_negatives, torch)
                  if settings.hard_negatives > 0 else None)
    prepared = time.monotonic() - started

    optimizer = torch.optim.AdamW([p for p in top.parameters()], lr=settings.learning_rate)
    warmup = max(1, settings.steps // 10)
    decay = max(1, settings.steps - warmup)
    scheduler = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up over a tenth of the steps, then linear decay
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (settings.steps - s) / decay)))
    top.train()
    losses: list[float] = []
    labels = torch.arange(min(settings.batch, len(group_rows)))
    for step in range(settings.steps):
        chosen = rng.sample(group_rows, min(settings.batch, len(group_rows)))
        pairs = [rng.sample(g, 2) for g in chosen]
        anchors = _top_states([cached[a] for a, _ in pairs], top, torch)
        positives = _top_states([cached[p] for _, p in pairs], top, torch)
        similarity = settings.scale * anchors @ positives.T
        forward = similarity
        if neighbours is not None:
            hard = [rng.choice(neighbours[a]) for a, _ in pairs]
            negatives = settings.scale * anchors @ _top_states([cached[h] for h in hard], top, torch).T
            # a hard negative of one anchor may belong to another row's article: not a negative there
            same = torch.tensor([[owner[h] == owner[a] for h in hard] for a, _ in pairs])
            forward = torch.cat([similarity, negatives.masked_fill(same, float("-inf"))], dim=1)
        loss: Any = (torch.nn.functional.cross_entropy(forward, labels)
                     + torch.nn.functional.cross_entropy(similarity.T, labels)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if progress is not None and (step + 1) % 10 == 0:
            progress(step + 1, float(np.mean(losses[-20:])))
    top.eval()
    tensors = {f"encoder.layer.{first + i}.{name}": p.detach().numpy().astype(np.float32, copy=True)
               for i, layer in enumerate(top) for name, p in layer.named_parameters()}
    meta = {
        "base": base.name, "base_version": base.version, "layers": list(range(first, n_layers)),
        "kb_hash": content_hash(groups), "articles": len(groups), "texts": len(texts),
        "seconds": round(time.monotonic() - started, 1), "seconds_preparing": round(prepared, 1),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "settings": asdict(settings),
        "loss_first": round(float(np.mean(losses[:20])), 4), "loss_last": round(float(np.mean(losses[-20:])), 4),
        "tuned_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    log.info("knowledge base: tuned %s on %d articles (%d texts) in %.0f s", base.name, len(groups), len(texts),
             meta["seconds"])
    return Tuned(tensors, meta)


def tune_and_keep(entries: Sequence[Entry], folder: Path, *, steps: int | None = None, layers: int | None = None,
                  progress: Callable[[int, float], object] | None = None) -> dict[str, Any]:
    """Tune on ``entries`` (the articles the model reads, ``groups_for_tuning``) and keep the result in
    ``folder`` (``kb/tuned.py``); returns its metadata."""
    settings = TuneSettings()
    settings = replace(settings, steps=settings.steps if steps is None else steps,
                       layers=settings.layers if layers is None else layers)
    tuned = tune(groups_for_tuning(entries, MiniLM.languages), settings, progress=progress)
    save_tuned(folder, tuned.tensors, tuned.meta)
    return tuned.meta


def _quantized(model: Any, torch: Any) -> Any:
    """An int8 copy of ``model`` (as the ranker runs it) for the frozen layers' pass: faster, and the
    top layers learn from the lower layers' int8 output, which is what they get when deployed."""
    quantize_dynamic: Any = torch.ao.quantization.quantize_dynamic
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear}, dtype=torch.qint8)


def _lower_states(model: Any, ids: Sequence[list[int]], first: int, torch: Any, batch: int = 64) -> list[Any]:
    """Each text's hidden states after the frozen layers (before layer ``first``). Texts go in batches
    of similar length, padded and masked: in float32 a padded text's states equal its states alone (to
    ~1e-7), and batches are many times faster than one text at a time."""
    out: list[Any] = [None] * len(ids)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            chunk = order[start:start + batch]
            length = max(len(ids[i]) for i in chunk)
            tokens = torch.zeros(len(chunk), length, dtype=torch.long)
            mask = torch.zeros(len(chunk), length, dtype=torch.long)
            for row, i in enumerate(chunk):
                tokens[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            hidden = model(input_ids=tokens, attention_mask=mask, output_hidden_states=True,
                           return_dict=True).hidden_states[first]
            for row, i in enumerate(chunk):
                out[i] = hidden[row, : len(ids[i])].clone()
    return out


def _nearest_others(cached: Sequence[Any], owner: Sequence[int], top: Any, n: int, torch: Any,
                    chunk: int = 512) -> list[list[int]]:
    """For each text, the ``n`` texts of other articles nearest to it under the untuned top layers (hard
    negatives, mined once before training)."""
    with torch.no_grad():
        vectors = torch.cat([_top_states(cached[i:i + chunk], top, torch) for i in range(0, len(cached), chunk)])
    groups = torch.tensor(owner)
    out: list[list[int]] = []
    for start in range(0, len(vectors), chunk):
        similarity = vectors[start:start + chunk] @ vectors.T
        similarity[groups[start:start + chunk, None] == groups[None, :]] = float("-inf")
        out.extend(similarity.topk(min(n, len(vectors)), dim=1).indices.tolist())
    return out


def _top_states(states: Sequence[Any], top: Any, torch: Any, bucket: int = 32) -> Any:
    """Unit vectors of texts from their cached lower states, through the learning layers: texts sorted
    by length into buckets of ``bucket``, each padded to its own longest text and masked (an additive
    attention mask), mean-pooled over real tokens; rows in the order of ``states``."""
    order = sorted(range(len(states)), key=lambda i: states[i].shape[0])
    parts = []
    for start in range(0, len(order), bucket):
        chunk = [states[i] for i in order[start:start + bucket]]
        length = max(s.shape[0] for s in chunk)
        hidden = torch.zeros(len(chunk), length, chunk[0].shape[1])
        mask = torch.zeros(len(chunk), length)
        for row, s in enumerate(chunk):
            hidden[row, : s.shape[0]] = s
            mask[row, : s.shape[0]] = 1.0
        additive = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float32).min
        for layer in top:
            out = layer(hidden, additive)
            hidden = out[0] if isinstance(out, tuple) else out
        parts.append(mean_pool_unit(hidden, mask, torch))
    pooled = torch.cat(parts)
    return pooled[torch.argsort(torch.tensor(order))]

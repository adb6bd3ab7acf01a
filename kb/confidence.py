"""When an automatic answer is safe: the best hit is strong and clearly ahead of the next."""

from __future__ import annotations

from collections.abc import Sequence

from kb.ranker import Hit

__all__ = ["DEFAULT_MARGIN", "DEFAULT_THRESHOLD", "confident_answer", "raised_for_tuned"]

# Chosen on BANKING77 (own held-out split) + CLINC150 out-of-scope queries; see BENCHMARKS.md.
DEFAULT_THRESHOLD = 0.5
DEFAULT_MARGIN = 0.15


def confident_answer(hits: Sequence[Hit], threshold: float = DEFAULT_THRESHOLD,
                     margin: float = DEFAULT_MARGIN) -> Hit | None:
    """Return the first hit if its score reaches ``threshold`` and beats the second by ``margin``."""
    if not hits or threshold > 1.0:
        return None
    runner_up = hits[1].score if len(hits) > 1 else 0.0
    best = hits[0]
    return best if best.score >= threshold and best.score - runner_up >= margin else None


def raised_for_tuned(threshold: float, floor: float) -> float:
    """The threshold for hits scored with the fine-tuned model: at least ``floor`` (``[kb] tuned_threshold``: its
    scores run higher, and at 0.5 it answered three times as many out-of-scope questions; BENCHMARKS.md, kb6).
    A threshold above 1 (never) stays."""
    return max(threshold, floor) if threshold <= 1.0 else threshold

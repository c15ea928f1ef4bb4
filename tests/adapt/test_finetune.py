"""Fine-tuning inside a run: resumable to the byte, and a model load_model reads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from galvasr.adapt import finetune
from galvasr.config import AdaptConfig
from galvasr.model import load_model
from galvasr.model.checkpoint import WEIGHTS
from tests.infer_fixtures import save_tiny_model

CFG = AdaptConfig(rounds=1, steps=6, batch_size=2, checkpoint_every=2, learning_rate=3e-3)


def tiny_set(folder: Path, seed: int = 0):
    """Four 1-2 s utterances of tone-and-noise with texts (real words, normalised)."""
    rng = np.random.default_rng(seed)
    pcms, texts = [], ["in the beginning", "and the earth", "was without form", "and void"]
    for i in range(len(texts)):
        n = 16_000 + 4_000 * i
        t = np.arange(n) / 16_000
        wave = 4000 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 500 * rng.standard_normal(n)
        pcms.append(wave.astype(np.int16))
    return finetune.write_set(folder, pcms, texts)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_stopped_and_resumed_round_gives_the_same_weights(tmp_path):
    base = tmp_path / "base"
    base_version = save_tiny_model(base)
    data = tiny_set(tmp_path / "data")
    assert finetune.has_set(tmp_path / "data") and len(data) == 4
    straight = finetune.finetune(
        base, data, CFG, tmp_path / "a", tmp_path / "a" / "model", name="tiny-adapt1", seed=1
    )
    assert straight is not None
    # Stopped after step 3 (a checkpoint at 2 and at the stop), then run again.
    work = tmp_path / "b"
    first = finetune.finetune(
        base, data, CFG, work, work / "model", name="tiny-adapt1", seed=1, stop_after=3
    )
    assert first is None and (work / finetune.CHECKPOINT).exists()
    assert not (work / "model").exists()
    resumed = finetune.finetune(base, data, CFG, work, work / "model", name="tiny-adapt1", seed=1)
    assert resumed is not None
    assert sha256(work / "model" / WEIGHTS) == sha256(tmp_path / "a" / "model" / WEIGHTS)
    assert resumed.model_version == straight.model_version
    assert straight.model_version.startswith("tiny-adapt1-")
    # It trained: other weights than the base, and a checkpoint load_model accepts.
    assert sha256(tmp_path / "a" / "model" / WEIGHTS) != sha256(base / WEIGHTS)
    assert load_model(tmp_path / "a" / "model").info.model_version == straight.model_version
    assert base_version != straight.model_version


def test_another_seed_gives_other_weights(tmp_path):
    base = tmp_path / "base"
    save_tiny_model(base)
    data = tiny_set(tmp_path / "data")
    a = finetune.finetune(base, data, CFG, tmp_path / "a", tmp_path / "ma", name="t", seed=1)
    b = finetune.finetune(base, data, CFG, tmp_path / "b", tmp_path / "mb", name="t", seed=2)
    assert a is not None and b is not None and a.model_version != b.model_version


def test_heldout_cer_is_the_greedy_cer_of_the_set(tmp_path):
    base = tmp_path / "base"
    save_tiny_model(base)
    data = tiny_set(tmp_path / "data")
    _, config, params = finetune.base_params(base)
    cer = finetune.heldout_cer(config, params, data)
    # A random model on tones: far from the text, and the same number every time.
    assert 0.5 < cer <= 10.0
    assert finetune.heldout_cer(config, params, data) == cer

"""The trainer resumes a killed run from its saved step, with the same batches."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from galvasr.model import load_model
from galvasr.model.configs.tiny import get_config
from galvasr.model.train import train
from galvasr.model.trainset import Augment, Utterances, batches, make_example


def _utts() -> Utterances:
    rng = np.random.default_rng(0)
    pcm = (rng.standard_normal(16000 * 3) * 1000).astype(np.int16)
    return Utterances(pcm, np.array([0, 16000, 48000]), ("a b", "cd"), ("v1", "v2"))


def test_batches_are_a_function_of_seed_and_step() -> None:
    kw = dict(seed=3, batch_size=2, max_samples=48000, max_label=20, aug=Augment())
    gen = batches(_utts(), start_step=0, **kw)
    first = [next(gen)[1] for _ in range(3)]
    _, resumed = next(batches(_utts(), start_step=2, **kw))
    for key in resumed:
        np.testing.assert_array_equal(first[2][key], resumed[key])


def test_feature_augmentation_stays_inside_each_example() -> None:
    from galvasr.model.trainset import feature_augmentation

    lengths = np.array([48000, 16000, 1600, 32000])
    aug = Augment(vtlp_p=1.0, specaug_p=1.0, time_masks_per_second=2.0)
    warp, mask = feature_augmentation(
        np.random.default_rng(4), lengths, 48000, aug, hop_samples=160, n_mels=40
    )
    assert mask.shape == (4, 300, 40)
    assert np.all((warp >= 0.85) & (warp <= 1.15)) and len(set(warp.tolist())) == 4
    # Time masks fall inside the valid frames: the padding stays untouched.
    for b, n in enumerate(lengths):
        frames_masked = np.flatnonzero(mask[b].max(axis=1) == 0.0)
        assert frames_masked.size == 0 or frames_masked.max() < -(-n // 160)
    assert (mask == 0).mean() < 0.5
    off = Augment(vtlp_p=0.0, specaug_p=0.0)
    warp, mask = feature_augmentation(
        np.random.default_rng(4), lengths, 48000, off, hop_samples=160, n_mels=40
    )
    assert np.all(warp == 1.0) and np.all(mask == 1.0)


def test_example_fits_and_keeps_texts() -> None:
    audio, text = make_example(_utts(), np.random.default_rng(1), 48000, Augment())
    assert 0 < len(audio) <= 48000
    assert set(text.split(" ")) <= {"a", "b", "cd"}


@pytest.mark.slow
def test_killed_run_resumes_from_saved_step(tmp_path: Path) -> None:
    c = dataclasses.replace(
        get_config(),
        workdir=str(tmp_path / "work"),
        export_dir=str(tmp_path / "export"),
        cache_dir=str(tmp_path / "cache"),
        num_steps=4,
        eval_every=100,
    )
    train(c, stop_after=2)  # as if killed after the checkpoint at step 2
    log = [json.loads(line) for line in (tmp_path / "work" / "log.jsonl").read_text().splitlines()]
    assert max(e["step"] for e in log) == 2
    assert not (tmp_path / "export").exists()
    train(c)
    steps = [
        e["step"] for e in map(json.loads, (tmp_path / "work" / "log.jsonl").open()) if "loss" in e
    ]
    assert steps == [2, 4]  # logged every step-10 multiple or at the end: 2 then 4, no repeat
    model = load_model(tmp_path / "export")
    assert model.info.model_version.startswith("galvasr-tiny-")
    curve = (tmp_path / "export" / "learning_curve.jsonl").read_text()
    assert curve == (tmp_path / "work" / "log.jsonl").read_text()


def test_a_cache_built_under_another_recipe_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from galvasr.model import synth
    from galvasr.model.trainset import StaleCache, build_cache, load_cache

    kw = dict(heldout=False, seed=5, max_seconds=6.0, shard_size=1, workers=1)
    folder = build_cache(tmp_path / "c", ("Rut",), 2, **kw)
    first = (folder / "shard-00001.npz").stat().st_mtime_ns
    build_cache(folder, ("Rut",), 3, **kw)
    assert (folder / "shard-00001.npz").stat().st_mtime_ns == first  # grown, not rebuilt
    assert len(list(folder.glob("shard-*.npz"))) == 3
    assert len(load_cache(folder)) >= 1  # sentences longer than max_seconds are dropped
    with pytest.raises(StaleCache, match="3 utterances, not 2"):
        build_cache(folder, ("Rut",), 2, **kw)
    with pytest.raises(StaleCache, match="changed: seed"):
        build_cache(folder, ("Rut",), 3, **{**kw, "seed": 6})
    monkeypatch.setattr(synth, "HELDOUT_FLITE_VOICES", ("awb",))
    with pytest.raises(StaleCache, match="changed: voices"):
        build_cache(folder, ("Rut",), 3, **kw)

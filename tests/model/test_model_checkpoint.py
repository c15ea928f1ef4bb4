"""Loading checks: a bad checkpoint fails at load time, naming the problem."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization

from galvasr.model import DEFAULT_VOCAB, CheckpointError, load_model
from galvasr.model.checkpoint import save_model
from galvasr.model.convctc import ConvCTC, ConvCTCConfig

TINY = ConvCTCConfig(width=16, num_blocks=1, kernel_size=3, n_mels=16, expansion=1)


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    params = ConvCTC(TINY).init(
        jax.random.PRNGKey(0), jnp.zeros((1, 1600), jnp.int16), jnp.ones(1, jnp.int32)
    )["params"]
    save_model(tmp_path / "m", "tiny", TINY, params, DEFAULT_VOCAB)
    return tmp_path / "m"


def _rewrite_weights(folder: Path, change: object) -> None:
    """Change the weights and re-stamp model_version, so only the change is wrong."""
    from galvasr.model.checkpoint import model_version

    params = serialization.msgpack_restore((folder / "weights.msgpack").read_bytes())
    change(params)  # type: ignore[operator]
    data = serialization.msgpack_serialize(params)
    (folder / "weights.msgpack").write_bytes(data)
    meta = json.loads((folder / "model.json").read_text())
    meta["model_version"] = model_version(meta["name"], data)
    (folder / "model.json").write_text(json.dumps(meta))


def _edit_meta(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / "model.json").read_text())
    meta.update(changes)
    (folder / "model.json").write_text(json.dumps(meta))


def test_round_trip_and_contract(tiny_checkpoint: Path) -> None:
    model = load_model(tiny_checkpoint)
    info = model.info
    assert info.vocab == DEFAULT_VOCAB
    assert info.blank_index == 0
    assert info.frame_stride_samples == 320
    assert info.sample_rate == 16_000
    assert info.model_version.startswith("tiny-") and len(info.model_version) == 13
    pcm = np.zeros((2, 8000), np.int16)
    lp, frames = model(pcm, np.array([8000, 3300]))
    assert lp.shape == (2, 25, 29)
    assert frames.tolist() == [25, model.num_frames(3300)] == [25, 11]
    np.testing.assert_allclose(np.exp(np.asarray(lp)).sum(-1), 1.0, rtol=1e-5)
    assert model.logprobs(pcm[0, :3300]).shape == (11, 29)


def test_bfloat16_runs_close_to_float32(tiny_checkpoint: Path) -> None:
    pcm = (np.random.default_rng(0).standard_normal((1, 8000)) * 3000).astype(np.int16)
    a = np.asarray(load_model(tiny_checkpoint)(pcm, np.array([8000]))[0])
    b = np.asarray(load_model(tiny_checkpoint, precision="bfloat16")(pcm, np.array([8000]))[0])
    assert b.dtype == np.float32
    assert np.abs(a - b).max() < 0.2


def test_missing_tensor(tiny_checkpoint: Path) -> None:
    _rewrite_weights(tiny_checkpoint, lambda p: p["head"].pop("bias"))
    with pytest.raises(CheckpointError, match="missing tensor head/bias"):
        load_model(tiny_checkpoint)


def test_mismatched_tensor(tiny_checkpoint: Path) -> None:
    def change(p: dict) -> None:
        p["block0"]["expand"]["kernel"] = np.zeros((16, 7), np.float32)

    _rewrite_weights(tiny_checkpoint, change)
    with pytest.raises(CheckpointError, match=r"block0/expand/kernel has shape \(16, 7\)"):
        load_model(tiny_checkpoint)


def test_unexpected_tensor(tiny_checkpoint: Path) -> None:
    _rewrite_weights(tiny_checkpoint, lambda p: p.update(extra={"w": np.zeros(3, np.float32)}))
    with pytest.raises(CheckpointError, match="unexpected tensor extra/w"):
        load_model(tiny_checkpoint)


def test_wrong_vocabulary(tiny_checkpoint: Path) -> None:
    _edit_meta(tiny_checkpoint, vocab=["<blank>", " ", *"abc"])
    with pytest.raises(CheckpointError, match="vocabulary has 5 symbols, the model outputs 29"):
        load_model(tiny_checkpoint)


def test_vocabulary_without_blank(tiny_checkpoint: Path) -> None:
    _edit_meta(tiny_checkpoint, blank_index=40)
    with pytest.raises(CheckpointError, match="blank index 40 outside vocabulary"):
        load_model(tiny_checkpoint)


def test_sample_rate_the_model_does_not_take(tiny_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match="takes 16000 Hz audio, not 8000 Hz"):
        load_model(tiny_checkpoint, sample_rate=8000)
    _edit_meta(tiny_checkpoint, sample_rate=8000)
    with pytest.raises(CheckpointError, match="sample_rate 8000 disagrees"):
        load_model(tiny_checkpoint, sample_rate=None)


def test_weights_changed_after_export(tiny_checkpoint: Path) -> None:
    data = bytearray((tiny_checkpoint / "weights.msgpack").read_bytes())
    data[-1] ^= 1
    (tiny_checkpoint / "weights.msgpack").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="weights changed after export"):
        load_model(tiny_checkpoint)


def test_missing_files(tmp_path: Path, tiny_checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match="no such checkpoint folder"):
        load_model(tmp_path / "nope")
    (tiny_checkpoint / "weights.msgpack").unlink()
    with pytest.raises(CheckpointError, match="weights.msgpack is missing"):
        load_model(tiny_checkpoint)

"""wav2vec2 import: parity with transformers, and load-time checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from galvasr.model import CheckpointError, load_model

torch = pytest.importorskip(
    "torch", reason="parity test needs torch: pip install -e '.[test]' (torch==2.13.0 CPU)"
)
transformers = pytest.importorskip("transformers", reason="parity test needs transformers")

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]


def _save_tiny(folder: Path, *, norm: str, stable: bool, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    config = transformers.Wav2Vec2Config(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=48,
        conv_dim=(24, 24, 24),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 4, 2),
        conv_bias=norm == "layer",
        feat_extract_norm=norm,
        do_stable_layer_norm=stable,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        pad_token_id=0,
    )
    model = transformers.Wav2Vec2ForCTC(config).eval()
    with torch.no_grad():  # random weights everywhere, norms included, so nothing is trivially 1/0
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(VOCAB)}))
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {"sampling_rate": 16000, "do_normalize": True, "return_attention_mask": norm == "layer"}
        )
    )
    return folder


def _audio(n: int, seed: int = 1) -> np.ndarray:
    t = np.arange(n) / 16000
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * 220 * t) * 0.3 + rng.standard_normal(n) * 0.05).astype(np.float32)


@pytest.mark.parametrize(("norm", "stable"), [("group", False), ("layer", True)])
def test_logprobs_match_transformers(tmp_path: Path, norm: str, stable: bool) -> None:
    folder = _save_tiny(tmp_path / f"w2v-{norm}", norm=norm, stable=stable)
    hf = transformers.Wav2Vec2ForCTC.from_pretrained(folder).eval()
    audio = _audio(8000)
    normed = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
    with torch.no_grad():
        logits = hf(torch.from_numpy(normed[None, :])).logits
    expected = torch.log_softmax(logits, dim=-1).numpy()[0]

    model = load_model(folder)
    got = model.logprobs(audio)
    assert got.shape == expected.shape
    print(f"max abs difference {norm} stable={stable}: {np.abs(got - expected).max():.2e}")
    assert np.abs(got - expected).max() <= 1e-4
    assert model.num_frames(8000) == expected.shape[0]
    assert model.info.frame_stride_samples == 5 * 4 * 2
    assert model.info.blank_index == 0
    assert model.info.vocab.normalize("It's the end.") == "IT'S|THE|END"


def test_padding_with_attention_mask_matches_unpadded(tmp_path: Path) -> None:
    model = load_model(_save_tiny(tmp_path / "w2v", norm="layer", stable=True))
    audio = _audio(6000)
    padded = np.zeros((1, 9000), np.float32)
    padded[0, :6000] = audio
    lp, frames = model(padded, np.array([6000]))
    alone = model.logprobs(audio)
    assert int(frames[0]) == alone.shape[0]
    assert np.abs(np.asarray(lp[0, : int(frames[0])]) - alone).max() < 1e-4


def test_bad_checkpoints_fail_at_load_naming_the_problem(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    folder = _save_tiny(tmp_path / "w2v", norm="group", stable=False)
    with pytest.raises(CheckpointError, match="takes 16000 Hz audio, not 8000 Hz"):
        load_model(folder, sample_rate=8000)

    vocab = json.loads((folder / "vocab.json").read_text())
    del vocab["Z"]
    (folder / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(CheckpointError, match="vocabulary has 31 symbols, the model outputs 32"):
        load_model(folder)
    (folder / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(VOCAB)}))

    tensors = load_file(str(folder / "model.safetensors"))
    name = "wav2vec2.encoder.layers.1.attention.k_proj.weight"
    save_file({k: v for k, v in tensors.items() if k != name}, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=f"missing tensor {name}"):
        load_model(folder)

    tensors["lm_head.weight"] = tensors["lm_head.weight"][:, :16].copy()
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"lm_head.weight has shape \(32, 16\)"):
        load_model(folder)

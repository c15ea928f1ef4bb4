"""Every Hugging Face CTC family against transformers, on tiny random weights.

Each case builds a folder with ``XForCTC(config).save_pretrained``, runs a
padded batch of two rows through galvasr and through transformers (rows
normalised, padded and masked as the processor would) and compares
log-probabilities on every valid frame: at most 1e-4 apart in float32.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from galvasr.model import CheckpointError, load_model

torch = pytest.importorskip(
    "torch", reason="parity tests need torch: pip install -e '.[test]' (torch==2.13.0 CPU)"
)
transformers = pytest.importorskip("transformers", reason="parity tests need transformers")

from tests.model.hf_tiny import VOCAB, audio, save_tiny, transformers_logprobs  # noqa: E402

LAYER: dict[str, Any] = {
    "feat_extract_norm": "layer",
    "conv_bias": True,
    "do_stable_layer_norm": True,
}
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("wav2vec2-group", "Wav2Vec2ForCTC", {}),
    ("wav2vec2-group-conv-bias", "Wav2Vec2ForCTC", {"conv_bias": True}),
    ("wav2vec2-layer-stable", "Wav2Vec2ForCTC", LAYER),
    (
        "wav2vec2-relu-odd-pos-kernel",
        "Wav2Vec2ForCTC",
        {"hidden_act": "relu", "num_conv_pos_embeddings": 15},
    ),
    ("hubert", "HubertForCTC", {}),
    (
        "hubert-stable-batchnorm-noprojnorm",
        "HubertForCTC",
        {**LAYER, "conv_pos_batch_norm": True, "feat_proj_layer_norm": False},
    ),
    ("wavlm", "WavLMForCTC", {}),
    ("wavlm-stable", "WavLMForCTC", LAYER),
    (
        "data2vec-audio",
        "Data2VecAudioForCTC",
        {"num_conv_pos_embeddings": 3, "conv_pos_kernel_size": 5},
    ),
    (
        "data2vec-audio-even-kernel",
        "Data2VecAudioForCTC",
        {"num_conv_pos_embeddings": 2, "conv_pos_kernel_size": 4},
    ),
    ("conformer-relative", "Wav2Vec2ConformerForCTC", {}),
    (
        "conformer-rotary",
        "Wav2Vec2ConformerForCTC",
        {"position_embeddings_type": "rotary", **LAYER},
    ),
    ("conformer-none", "Wav2Vec2ConformerForCTC", {"position_embeddings_type": None}),
]
ROWS = (8000, 5600)  # 199 and 139 frames: past WavLM's exact buckets (80) into the log ones


# transformers' WavLM passes torch a boolean padding mask next to a float position bias.
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning")
@pytest.mark.parametrize(("case", "arch", "overrides"), CASES, ids=[c[0] for c in CASES])
def test_family_matches_transformers(
    tmp_path: Path, case: str, arch: str, overrides: dict[str, Any]
) -> None:
    folder = save_tiny(tmp_path / case, arch, **overrides)
    masked = json.loads((folder / "preprocessor_config.json").read_text())["return_attention_mask"]
    rows = [audio(n, seed=i) for i, n in enumerate(ROWS)]
    expected = transformers_logprobs(folder, rows, attention_mask=masked)

    model = load_model(folder)
    padded = np.zeros((len(rows), max(ROWS)), np.float32)
    for i, r in enumerate(rows):
        padded[i, : len(r)] = r
    lp, frames = model(padded, np.array(ROWS))
    worst = 0.0
    for i, want in enumerate(expected):
        assert int(frames[i]) == want.shape[0] == model.num_frames(ROWS[i])
        worst = max(worst, float(np.abs(np.asarray(lp[i, : int(frames[i])]) - want).max()))
    print(f"{case}: max abs difference {worst:.2e} (mask={masked})")
    assert worst <= 1e-4
    assert model.info.architecture == json.loads((folder / "config.json").read_text())["model_type"]
    assert model.info.model_version.startswith(model.info.architecture + "-")


def test_wavlm_buckets_match_transformers() -> None:
    from galvasr.model.hf.wavlm import relative_position_buckets

    config = transformers.WavLMConfig(num_attention_heads=4, hidden_size=32)
    attn = transformers.models.wavlm.modeling_wavlm.WavLMAttention(32, 4)
    for frames in (7, 300, 1600):
        pos = torch.arange(frames)
        want = attn._relative_positions_bucket(pos[None, :] - pos[:, None]).numpy()
        got = relative_position_buckets(frames, config.num_buckets, config.max_bucket_distance)
        assert np.array_equal(got, want), frames


def _mms_folder(tmp_path: Path) -> Path:
    """An MMS-style folder: adapters in every pre-norm layer, a multilingual vocabulary,
    ``target_lang`` "fra" in the tokenizer config and ``adapter.fra.safetensors``
    (another adapter and a smaller lm_head than the ones in model.safetensors)."""
    from safetensors.torch import save_file

    fra = VOCAB[:24]
    vocab = {"eng": {s: i for i, s in enumerate(VOCAB)}, "fra": {s: i for i, s in enumerate(fra)}}
    folder = save_tiny(tmp_path / "mms", adapter_attn_dim=8, vocab=vocab, **LAYER)
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), target_lang="fra")
    tokenizer.save_pretrained(folder)
    other = save_tiny(tmp_path / "other", seed=5, adapter_attn_dim=8, vocab_size=len(fra), **LAYER)
    model = transformers.Wav2Vec2ForCTC.from_pretrained(other)
    weights = {k: v.contiguous() for k, v in model._get_adapters().items()}
    save_file(weights, str(folder / "adapter.fra.safetensors"))
    return folder


def test_mms_adapter_of_the_tokenizer_language_matches_transformers(tmp_path: Path) -> None:
    folder = _mms_folder(tmp_path)
    rows = [audio(n, seed=i) for i, n in enumerate(ROWS)]
    expected = transformers_logprobs(folder, rows, attention_mask=True, target_lang="fra")
    model = load_model(folder)
    assert model.info.vocab.symbols == tuple(VOCAB[:24])
    for i, r in enumerate(rows):
        got = model.logprobs(r)
        print(f"mms fra row {i}: max abs difference {np.abs(got - expected[i]).max():.2e}")
        assert np.abs(got - expected[i]).max() <= 1e-4

    # Without the adapter file, the adapter saved in model.safetensors (whose
    # lm_head has the English vocabulary's size) is refused against French.
    (folder / "adapter.fra.safetensors").unlink()
    with pytest.raises(CheckpointError, match="vocabulary has 24 symbols, the model outputs 32"):
        load_model(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["target_lang"] = None
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(
        CheckpointError, match=r"multilingual vocabulary \(eng, fra\) and no target_lang"
    ):
        load_model(folder)


@pytest.mark.parametrize(
    ("arch", "overrides", "message"),
    [
        (
            "Wav2Vec2ConformerForCTC",
            {"position_embeddings_type": "alibi"},
            "position_embeddings_type 'alibi' is not supported",
        ),
        ("Wav2Vec2ForCTC", {"add_adapter": True}, "add_adapter .* is not supported"),
        ("Wav2Vec2ForCTC", {"hidden_act": "mish"}, "hidden_act 'mish' is not supported"),
    ],
)
def test_unsupported_configs_are_refused_in_one_line(
    tmp_path: Path, arch: str, overrides: dict[str, Any], message: str
) -> None:
    folder = save_tiny(tmp_path / "m", arch)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **overrides}))
    with pytest.raises(CheckpointError, match=message) as e:
        load_model(folder)
    assert "\n" not in str(e.value)


def test_other_architectures_are_refused(tmp_path: Path) -> None:
    folder = save_tiny(tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps({**config, "architectures": ["Wav2Vec2ForPreTraining"]})
    )
    with pytest.raises(CheckpointError, match="not a supported CTC model"):
        load_model(folder)


@pytest.mark.parametrize("bias_rows", [None, 1, "full"])
def test_blocked_attention_matches_plain_softmax(
    monkeypatch: pytest.MonkeyPatch, bias_rows: int | str | None
) -> None:
    """Blocks of heads and query chunks (with a padded last chunk) change nothing."""
    import jax.numpy as jnp

    from galvasr.model.hf import layers

    b, t, h, d = 2, 37, 3, 8
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((b, t, h, d)).astype(np.float32) for _ in range(3))
    bias = None
    if bias_rows == 1:
        bias = np.where(np.arange(t) < [[30], [t]], 0.0, -1e30)[:, None, None, :].astype(np.float32)
    elif bias_rows == "full":
        bias = rng.standard_normal((b, h, t, t)).astype(np.float32)
    scores = np.einsum("bqhd,bkhd->bhqk", q, k) + (0 if bias is None else bias)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    want = np.einsum("bhqk,bkhd->bqhd", weights / weights.sum(-1, keepdims=True), v)
    for budget in (layers.ATTENTION_BLOCK_BYTES, 4 * t * 10, 4 * t * t * 2):
        monkeypatch.setattr(layers, "ATTENTION_BLOCK_BYTES", budget)
        group, chunks, _ = layers._attention_blocks(b * h, t)
        jq, jk, jv = (jnp.asarray(a) for a in (q, k, v))
        got = layers.attend(jq, jk, jv, None if bias is None else jnp.asarray(bias))
        assert np.abs(np.asarray(got) - want).max() < 1e-5, (budget, group, chunks)


@pytest.mark.parametrize("arch", ["Wav2Vec2ForCTC", "WavLMForCTC", "Wav2Vec2ConformerForCTC"])
def test_bfloat16_stays_close_to_float32(tmp_path: Path, arch: str) -> None:
    folder = save_tiny(tmp_path / "m", arch)
    signal = audio(8000)
    f32 = load_model(folder).logprobs(signal)
    bf16 = load_model(folder, precision="bfloat16").logprobs(signal)
    print(f"{arch} bfloat16: max abs difference {np.abs(bf16 - f32).max():.3f}")
    assert bf16.shape == f32.shape
    assert np.abs(bf16 - f32).max() < 0.1

"""Hugging Face wav2vec2 CTC checkpoints (``Wav2Vec2ForCTC``) in JAX.

A checkpoint folder as ``save_pretrained`` writes it: ``config.json``,
``model.safetensors``, ``vocab.json`` and, usually, ``preprocessor_config.json``.
The forward pass follows transformers' ``modeling_wav2vec2.py`` exactly
(feature encoder with group- or layer-norm convolutions, feature projection,
weight-normed positional convolution, post- or pre-norm transformer per
``do_stable_layer_norm``, ``lm_head``), written as plain functions over the
checkpoint's own tensor names so that loading is a dictionary lookup.

The input normalisation of the feature extractor (zero mean, unit variance
over the valid samples when ``do_normalize``) happens inside the jitted
function, so the model takes PCM like galvasr's own. The vocabulary keeps its
symbols (upper-case letters, ``|`` between words); ``pad_token_id`` is the
CTC blank.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from galvasr.model.contract import CheckpointError, LoadedModel, ModelInfo
from galvasr.model.vocab import Vocabulary

PREFIX = "wav2vec2."
# Tensors a CTC checkpoint may carry that inference does not use.
_UNUSED_PREFIXES = ("wav2vec2.masked_spec_embed", "quantizer.", "project_q.", "project_hid.")


@dataclass(frozen=True)
class W2V2Config:
    """The ``config.json`` fields the forward pass reads."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    conv_dim: tuple[int, ...]
    conv_kernel: tuple[int, ...]
    conv_stride: tuple[int, ...]
    conv_bias: bool
    feat_extract_norm: str
    feat_extract_activation: str
    hidden_act: str
    num_conv_pos_embeddings: int
    num_conv_pos_embedding_groups: int
    do_stable_layer_norm: bool
    layer_norm_eps: float
    pad_token_id: int

    @classmethod
    def from_json(cls, raw: dict[str, Any], where: Path) -> W2V2Config:
        defaults = {
            "conv_bias": False,
            "feat_extract_norm": "group",
            "feat_extract_activation": "gelu",
            "hidden_act": "gelu",
            "num_conv_pos_embeddings": 128,
            "num_conv_pos_embedding_groups": 16,
            "do_stable_layer_norm": False,
            "layer_norm_eps": 1e-5,
            "pad_token_id": 0,
        }
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            if name in raw and raw[name] is not None:
                values[name] = raw[name]
            elif name in defaults:
                values[name] = defaults[name]
            else:
                raise CheckpointError(f"{where}: config.json lacks {name!r}")
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            values[name] = tuple(int(v) for v in values[name])
        if not len(values["conv_dim"]) == len(values["conv_kernel"]) == len(values["conv_stride"]):
            raise CheckpointError(
                f"{where}: conv_dim, conv_kernel and conv_stride differ in length"
            )
        if values["feat_extract_norm"] not in ("group", "layer"):
            raise CheckpointError(
                f"{where}: feat_extract_norm {values['feat_extract_norm']!r}, "
                "not 'group' or 'layer'"
            )
        for act in (values["feat_extract_activation"], values["hidden_act"]):
            if act not in _ACTIVATIONS:
                raise CheckpointError(f"{where}: activation {act!r} is not supported")
        if raw.get("add_adapter"):
            raise CheckpointError(f"{where}: wav2vec2 models with adapters are not supported")
        return cls(**values)

    @property
    def frame_stride_samples(self) -> int:
        return int(np.prod(self.conv_stride))

    def num_frames(self, num_samples: int) -> int:
        n = num_samples
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            n = max(0, (n - k) // s + 1)
        return n


_ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "swish": jax.nn.silu,
    "silu": jax.nn.silu,
}


def expected_shapes(c: W2V2Config) -> dict[str, tuple[int, ...]]:
    """Every tensor the forward pass reads, by its name in the checkpoint."""
    s: dict[str, tuple[int, ...]] = {}
    fe = PREFIX + "feature_extractor.conv_layers."
    c_in = 1
    for i, (dim, k) in enumerate(zip(c.conv_dim, c.conv_kernel, strict=True)):
        s[f"{fe}{i}.conv.weight"] = (dim, c_in, k)
        if c.conv_bias:
            s[f"{fe}{i}.conv.bias"] = (dim,)
        if c.feat_extract_norm == "layer" or i == 0:
            s[f"{fe}{i}.layer_norm.weight"] = (dim,)
            s[f"{fe}{i}.layer_norm.bias"] = (dim,)
        c_in = dim
    fp = PREFIX + "feature_projection."
    s[fp + "layer_norm.weight"] = s[fp + "layer_norm.bias"] = (c.conv_dim[-1],)
    s[fp + "projection.weight"] = (c.hidden_size, c.conv_dim[-1])
    s[fp + "projection.bias"] = (c.hidden_size,)
    enc = PREFIX + "encoder."
    h = c.hidden_size
    pos_in = h // c.num_conv_pos_embedding_groups
    s[enc + "pos_conv_embed.conv.weight_g"] = (1, 1, c.num_conv_pos_embeddings)
    s[enc + "pos_conv_embed.conv.weight_v"] = (h, pos_in, c.num_conv_pos_embeddings)
    s[enc + "pos_conv_embed.conv.bias"] = (h,)
    s[enc + "layer_norm.weight"] = s[enc + "layer_norm.bias"] = (h,)
    for i in range(c.num_hidden_layers):
        lay = f"{enc}layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s[f"{lay}attention.{proj}.weight"] = (h, h)
            s[f"{lay}attention.{proj}.bias"] = (h,)
        for norm in ("layer_norm", "final_layer_norm"):
            s[f"{lay}{norm}.weight"] = s[f"{lay}{norm}.bias"] = (h,)
        s[f"{lay}feed_forward.intermediate_dense.weight"] = (c.intermediate_size, h)
        s[f"{lay}feed_forward.intermediate_dense.bias"] = (c.intermediate_size,)
        s[f"{lay}feed_forward.output_dense.weight"] = (h, c.intermediate_size)
        s[f"{lay}feed_forward.output_dense.bias"] = (h,)
    s["lm_head.weight"] = (c.vocab_size, h)
    s["lm_head.bias"] = (c.vocab_size,)
    return s


# Newer transformers save weight norm as parametrizations; older as weight_g/weight_v.
_RENAMES = {
    "pos_conv_embed.conv.parametrizations.weight.original0": "pos_conv_embed.conv.weight_g",
    "pos_conv_embed.conv.parametrizations.weight.original1": "pos_conv_embed.conv.weight_v",
}


def _canonical(name: str) -> str:
    for old, new in _RENAMES.items():
        if name.endswith(old):
            return name[: -len(old)] + new
    return name


# ------------------------------------------------------------------ forward


def _conv1d(x: jnp.ndarray, w: jnp.ndarray, stride: int, groups: int, pad: int) -> jnp.ndarray:
    return jax.lax.conv_general_dilated(
        x,
        w.astype(x.dtype),
        window_strides=(stride,),
        padding=[(pad, pad)],
        dimension_numbers=("NCH", "OIH", "NCH"),
        feature_group_count=groups,
        precision=jax.lax.Precision.HIGHEST,
    )


def _layer_norm(x: jnp.ndarray, w: jnp.ndarray, b: jnp.ndarray, eps: float) -> jnp.ndarray:
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = ((x32 - mean) ** 2).mean(-1, keepdims=True)
    return ((x32 - mean) / jnp.sqrt(var + eps) * w + b).astype(x.dtype)


def _linear(x: jnp.ndarray, p: dict[str, jnp.ndarray], name: str) -> jnp.ndarray:
    return (
        jnp.matmul(x, p[name + ".weight"].T, precision=jax.lax.Precision.HIGHEST)
        + p[name + ".bias"]
    )


def forward(
    c: W2V2Config,
    p: dict[str, jnp.ndarray],
    pcm: jnp.ndarray,
    lengths: jnp.ndarray,
    *,
    do_normalize: bool,
    use_attention_mask: bool,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Log-probabilities ``[B, T, vocab]`` and frame counts of PCM ``[B, S]``."""
    dtype = p["lm_head.weight"].dtype
    if jnp.issubdtype(pcm.dtype, jnp.integer):
        x = pcm.astype(jnp.float32) / 32768.0
    else:
        x = pcm.astype(jnp.float32)
    samples = x.shape[1]
    valid = jnp.arange(samples)[None, :] < lengths[:, None]
    if do_normalize:
        n = jnp.maximum(lengths, 1).astype(jnp.float32)[:, None]
        mean = jnp.sum(jnp.where(valid, x, 0.0), axis=1, keepdims=True) / n
        var = jnp.sum(jnp.where(valid, (x - mean) ** 2, 0.0), axis=1, keepdims=True) / n
        x = jnp.where(valid, (x - mean) / jnp.sqrt(var + 1e-7), 0.0)
    else:
        x = jnp.where(valid, x, 0.0)

    act = _ACTIVATIONS[c.feat_extract_activation]
    h = x[:, None, :].astype(dtype)  # [B, 1, S]
    fe = PREFIX + "feature_extractor.conv_layers."
    for i, s in enumerate(c.conv_stride):
        h = _conv1d(h, p[f"{fe}{i}.conv.weight"], s, 1, 0)
        if c.conv_bias:
            h = h + p[f"{fe}{i}.conv.bias"][None, :, None]
        if c.feat_extract_norm == "layer":
            h = _layer_norm(
                h.transpose(0, 2, 1), p[f"{fe}{i}.layer_norm.weight"],
                p[f"{fe}{i}.layer_norm.bias"], 1e-5,
            ).transpose(0, 2, 1)  # fmt: skip
        elif i == 0:  # GroupNorm with one group per channel: normalise each over time
            h32 = h.astype(jnp.float32)
            mean = h32.mean(-1, keepdims=True)
            var = ((h32 - mean) ** 2).mean(-1, keepdims=True)
            h = (
                (h32 - mean) / jnp.sqrt(var + 1e-5) * p[f"{fe}0.layer_norm.weight"][None, :, None]
                + p[f"{fe}0.layer_norm.bias"][None, :, None]
            ).astype(dtype)
        h = act(h)
    h = h.transpose(0, 2, 1)  # [B, T, C]

    frames = lengths
    for k, s in zip(c.conv_kernel, c.conv_stride, strict=True):
        frames = jnp.maximum((frames - k) // s + 1, 0)
    t = h.shape[1]
    frame_valid = jnp.arange(t)[None, :] < frames[:, None]

    fp = PREFIX + "feature_projection."
    h = _layer_norm(h, p[fp + "layer_norm.weight"], p[fp + "layer_norm.bias"], c.layer_norm_eps)
    h = _linear(h, p, fp + "projection")

    enc = PREFIX + "encoder."
    if use_attention_mask:
        h = jnp.where(frame_valid[..., None], h, 0.0)
        bias = jnp.where(frame_valid, 0.0, jnp.finfo(jnp.float32).min)[:, None, None, :]
    else:
        bias = jnp.zeros((1, 1, 1, t), jnp.float32)
    g, v = p[enc + "pos_conv_embed.conv.weight_g"], p[enc + "pos_conv_embed.conv.weight_v"]
    v32 = v.astype(jnp.float32)
    w = g.astype(jnp.float32) * v32 / jnp.sqrt(jnp.sum(v32**2, axis=(0, 1), keepdims=True))
    k = c.num_conv_pos_embeddings
    pos = _conv1d(h.transpose(0, 2, 1), w, 1, c.num_conv_pos_embedding_groups, k // 2)
    pos = pos + p[enc + "pos_conv_embed.conv.bias"][None, :, None]
    if k % 2 == 0:
        pos = pos[:, :, :-1]
    h = h + act(pos).transpose(0, 2, 1)
    if not c.do_stable_layer_norm:
        h = _layer_norm(
            h, p[enc + "layer_norm.weight"], p[enc + "layer_norm.bias"], c.layer_norm_eps
        )

    hidden_act = _ACTIVATIONS[c.hidden_act]
    heads = c.num_attention_heads
    head_dim = c.hidden_size // heads
    b = h.shape[0]

    def attention(x: jnp.ndarray, lay: str) -> jnp.ndarray:
        def split(name: str) -> jnp.ndarray:
            return _linear(x, p, f"{lay}attention.{name}").reshape(b, t, heads, head_dim)

        q = split("q_proj") * head_dim**-0.5
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, split("k_proj"), precision="highest")
        weights = jax.nn.softmax(scores.astype(jnp.float32) + bias, axis=-1).astype(x.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, split("v_proj"), precision="highest")
        return _linear(out.reshape(b, t, c.hidden_size), p, f"{lay}attention.out_proj")

    def feed_forward(x: jnp.ndarray, lay: str) -> jnp.ndarray:
        y = hidden_act(_linear(x, p, f"{lay}feed_forward.intermediate_dense"))
        return _linear(y, p, f"{lay}feed_forward.output_dense")

    def norm(x: jnp.ndarray, name: str) -> jnp.ndarray:
        return _layer_norm(x, p[name + ".weight"], p[name + ".bias"], c.layer_norm_eps)

    for i in range(c.num_hidden_layers):
        lay = f"{enc}layers.{i}."
        if c.do_stable_layer_norm:
            h = h + attention(norm(h, lay + "layer_norm"), lay)
            h = h + feed_forward(norm(h, lay + "final_layer_norm"), lay)
        else:
            h = norm(h + attention(h, lay), lay + "layer_norm")
            h = norm(h + feed_forward(h, lay), lay + "final_layer_norm")
    if c.do_stable_layer_norm:
        h = norm(h, enc + "layer_norm")
    logits = _linear(h, p, "lm_head").astype(jnp.float32)
    return jax.nn.log_softmax(logits, axis=-1), frames.astype(jnp.int32)


# ------------------------------------------------------------------ loading


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None


def load_vocab(path: Path, c: W2V2Config) -> Vocabulary:
    raw = _read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{path}: expected a JSON object of symbol -> index")
    if all(isinstance(v, dict) for v in raw.values()):  # multilingual: {lang: {sym: id}}
        raise CheckpointError(
            f"{path}: multilingual vocabularies ({', '.join(raw)}) are not supported"
        )
    by_index: dict[int, str] = {}
    for sym, idx in raw.items():
        if int(idx) in by_index:
            raise CheckpointError(
                f"{path}: index {idx} given to both {by_index[int(idx)]!r} and {sym!r}"
            )
        by_index[int(idx)] = sym
    if sorted(by_index) != list(range(len(by_index))):
        raise CheckpointError(f"{path}: indices are not 0..{len(by_index) - 1} without gaps")
    if len(by_index) != c.vocab_size:
        raise CheckpointError(
            f"{path}: vocabulary has {len(by_index)} symbols, the model outputs {c.vocab_size} "
            "(config.json vocab_size)"
        )
    symbols = tuple(by_index[i] for i in range(len(by_index)))
    if "|" not in symbols:
        raise CheckpointError(f"{path}: no word separator '|' in the vocabulary")
    if c.pad_token_id >= len(symbols):
        raise CheckpointError(
            f"{path}: pad_token_id {c.pad_token_id} (the blank) outside vocabulary"
        )
    letters = [s for s in symbols if len(s) == 1 and s.isalpha()]
    if not letters:
        raise CheckpointError(f"{path}: the vocabulary has no letters")
    upper = sum(s.isupper() for s in letters) > len(letters) / 2
    return Vocabulary(symbols, blank_index=c.pad_token_id, word_separator="|", upper=upper)


def load_weights(path: Path, c: W2V2Config) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        raw = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None
    tensors = {_canonical(k): v for k, v in raw.items()}
    expected = expected_shapes(c)
    problems = []
    for key in sorted(expected.keys() - tensors.keys()):
        problems.append(f"missing tensor {key} (shape {expected[key]})")
    for key in sorted(expected.keys() & tensors.keys()):
        if tuple(tensors[key].shape) != expected[key]:
            problems.append(
                f"tensor {key} has shape {tuple(tensors[key].shape)}, "
                f"config.json needs {expected[key]}"
            )
    unexpected = [k for k in tensors.keys() - expected.keys() if not k.startswith(_UNUSED_PREFIXES)]
    for key in sorted(unexpected):
        problems.append(f"unexpected tensor {key}")
    if problems:
        raise CheckpointError(f"{path}: " + "; ".join(problems))
    return {k: tensors[k] for k in expected}


def load_wav2vec2(folder: Path, *, sample_rate: int | None, precision: str) -> LoadedModel:
    """Load and check a Hugging Face ``Wav2Vec2ForCTC`` folder."""
    import hashlib

    for name in ("config.json", "model.safetensors", "vocab.json"):
        if not (folder / name).is_file():
            hint = (
                " (convert pytorch_model.bin with safetensors first)" if name.endswith("s") else ""
            )
            raise CheckpointError(f"{folder}: {name} is missing{hint}")
    raw = _read_json(folder / "config.json")
    arch = raw.get("architectures") or ["Wav2Vec2ForCTC"]
    if "Wav2Vec2ForCTC" not in arch:
        raise CheckpointError(f"{folder}: architectures {arch}, expected Wav2Vec2ForCTC")
    c = W2V2Config.from_json(raw, folder)
    vocab = load_vocab(folder / "vocab.json", c)
    pre = folder / "preprocessor_config.json"
    pre_raw = _read_json(pre) if pre.is_file() else {}
    model_rate = int(pre_raw.get("sampling_rate", 16_000))
    if sample_rate is not None and sample_rate != model_rate:
        raise CheckpointError(
            f"{folder}: the model takes {model_rate} Hz audio, not {sample_rate} Hz"
        )
    do_normalize = bool(pre_raw.get("do_normalize", True))
    use_mask = bool(pre_raw.get("return_attention_mask", c.feat_extract_norm == "layer"))
    weights_bytes = (folder / "model.safetensors").read_bytes()
    version = f"{folder.name}-{hashlib.sha256(weights_bytes).hexdigest()[:8]}"
    del weights_bytes
    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    params = {
        k: jnp.asarray(v, dtype=dtype)
        for k, v in load_weights(folder / "model.safetensors", c).items()
    }

    def apply(p: Any, pcm: jnp.ndarray, lengths: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        return forward(c, p, pcm, lengths, do_normalize=do_normalize, use_attention_mask=use_mask)

    info = ModelInfo(
        name=folder.name,
        model_version=version,
        vocab=vocab,
        frame_stride_samples=c.frame_stride_samples,
        sample_rate=model_rate,
        architecture="wav2vec2",
    )
    return LoadedModel(
        info=info, params=params, apply=apply, num_frames=c.num_frames, precision=precision
    )

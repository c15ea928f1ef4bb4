"""A Hugging Face CTC folder as a ``LoadedModel``: tensors checked, forward assembled.

Every family runs the same front end (input normalisation, convolutional
feature encoder, feature projection, padding mask) and ``lm_head``; the
encoder between them is the family's:

==========================  =================================================
``Wav2Vec2ForCTC``          positional conv + post- or pre-norm transformer
                            (pre-norm layers may carry MMS language adapters)
``HubertForCTC``            the same (``feat_proj_layer_norm`` and
                            ``conv_pos_batch_norm`` variants)
``Data2VecAudioForCTC``     a stack of layer-normed positional convolutions,
                            then the post-norm transformer
``WavLMForCTC``             wav2vec2's, with a gated relative position bias
                            (galvasr.model.hf.wavlm)
``Wav2Vec2ConformerForCTC`` conformer blocks (galvasr.model.hf.conformer)
==========================  =================================================

Tensors are read by their checkpoint names less the family prefix
(``wav2vec2.``, ``hubert.`` ...), so loading is a dictionary lookup and a
missing, unexpected or misshapen tensor is named at load time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from galvasr.model.contract import CheckpointError, LoadedModel, ModelInfo
from galvasr.model.hf import conformer, wavlm
from galvasr.model.hf.config import HFConfig, family_of
from galvasr.model.hf.files import (
    SAMPLE_RATE,
    content_version,
    language,
    read_json,
    read_processor,
    read_vocab,
    vocabulary,
)
from galvasr.model.hf.layers import (
    Params,
    dense,
    feature_encoder,
    feature_projection,
    feed_forward,
    mask_bias,
    norm,
    normalise_input,
    output_lengths,
    positional_conv,
    self_attention,
)

WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"  # a sharded checkpoint's name -> shard map
# Tensors a CTC checkpoint may carry that inference does not read.
_UNUSED = ("masked_spec_embed", "quantizer.", "project_q.", "project_hid.")
_UNUSED_BY_FAMILY = {
    # Built by transformers, never called in the forward pass.
    "wav2vec2-conformer": ("encoder.pos_conv_embed.", "encoder.embed_positions."),
}

# Newer transformers save weight norm as parametrizations; older as weight_g/weight_v.
_RENAMES = {
    "pos_conv_embed.conv.parametrizations.weight.original0": "pos_conv_embed.conv.weight_g",
    "pos_conv_embed.conv.parametrizations.weight.original1": "pos_conv_embed.conv.weight_v",
}


# ------------------------------------------------------------------ forward


def _adapter(p: Params, name: str, h: jnp.ndarray) -> jnp.ndarray:
    """An MMS attention adapter: layer norm, down, ReLU, up (added to the residual)."""
    y = jax.nn.relu(dense(p, name + "linear_1", norm(p, name + "norm", h)))
    return dense(p, name + "linear_2", y)


def transformer_encoder(
    c: HFConfig, p: Params, h: jnp.ndarray, frame_valid: jnp.ndarray | None
) -> jnp.ndarray:
    """wav2vec2's encoder (HuBERT's and data2vec-audio's too)."""
    bias = mask_bias(frame_valid)
    eps = c.layer_norm_eps
    h = h + positional_conv(c, p, h)
    if not c.do_stable_layer_norm:
        h = norm(p, "encoder.layer_norm", h, eps)
    for i in range(c.num_hidden_layers):
        lay = f"encoder.layers.{i}."
        att, ff = lay + "attention.", lay + "feed_forward."
        if c.do_stable_layer_norm:
            h = h + self_attention(c, p, att, norm(p, lay + "layer_norm", h, eps), bias)
            h = h + feed_forward(c, p, ff, norm(p, lay + "final_layer_norm", h, eps))
            if c.has_adapters:
                h = h + _adapter(p, lay + "adapter_layer.", h)
        else:
            h = norm(p, lay + "layer_norm", h + self_attention(c, p, att, h, bias), eps)
            h = norm(p, lay + "final_layer_norm", h + feed_forward(c, p, ff, h), eps)
    if c.do_stable_layer_norm:
        h = norm(p, "encoder.layer_norm", h, eps)
    return h


Encoder = Callable[[HFConfig, Params, jnp.ndarray, jnp.ndarray | None], jnp.ndarray]
ENCODERS: dict[str, Encoder] = {
    "wav2vec2": transformer_encoder,
    "hubert": transformer_encoder,
    "data2vec-audio": transformer_encoder,
    "wavlm": wavlm.encoder,
    "wav2vec2-conformer": conformer.encoder,
}


def forward(
    c: HFConfig,
    p: Params,
    pcm: jnp.ndarray,
    lengths: jnp.ndarray,
    *,
    do_normalize: bool,
    use_attention_mask: bool,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Log-probabilities ``[B, T, vocab]`` and frame counts of PCM ``[B, S]``."""
    dtype = p["lm_head.weight"].dtype
    x = normalise_input(pcm, lengths, do_normalize)
    h = feature_encoder(c, p, x.astype(dtype))
    frames = output_lengths(c, lengths)
    h = feature_projection(c, p, h)
    frame_valid = None
    if use_attention_mask:  # padded frames are zeroed and no frame attends to them
        frame_valid = jnp.arange(h.shape[1])[None, :] < frames[:, None]
        h = jnp.where(frame_valid[..., None], h, jnp.zeros((), h.dtype))
    h = ENCODERS[c.family](c, p, h, frame_valid)
    logits = dense(p, "lm_head", h).astype(jnp.float32)
    return jax.nn.log_softmax(logits, axis=-1), frames


# ------------------------------------------------------------------ tensors


def expected_shapes(c: HFConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor the forward pass reads, by its name less the family prefix."""
    s: dict[str, tuple[int, ...]] = {}
    c_in = 1
    for i, (dim, k) in enumerate(zip(c.conv_dim, c.conv_kernel, strict=True)):
        lay = f"feature_extractor.conv_layers.{i}."
        s[lay + "conv.weight"] = (dim, c_in, k)
        if c.conv_bias:
            s[lay + "conv.bias"] = (dim,)
        if c.feat_extract_norm == "layer" or i == 0:
            s[lay + "layer_norm.weight"] = s[lay + "layer_norm.bias"] = (dim,)
        c_in = dim
    h = c.hidden_size
    if c.feat_proj_layer_norm:
        s["feature_projection.layer_norm.weight"] = (c.conv_dim[-1],)
        s["feature_projection.layer_norm.bias"] = (c.conv_dim[-1],)
    s["feature_projection.projection.weight"] = (h, c.conv_dim[-1])
    s["feature_projection.projection.bias"] = (h,)
    s["encoder.layer_norm.weight"] = s["encoder.layer_norm.bias"] = (h,)
    s["lm_head.weight"] = (c.vocab_size, h)
    s["lm_head.bias"] = (c.vocab_size,)
    if c.family == "wav2vec2-conformer":
        return s | conformer.expected_shapes(c)

    pos = "encoder.pos_conv_embed."
    per_group = h // c.num_conv_pos_embedding_groups
    if c.family == "data2vec-audio":
        for j in range(c.num_conv_pos_embeddings):
            s[f"{pos}layers.{j}.conv.weight"] = (h, per_group, c.conv_pos_kernel_size)
            s[f"{pos}layers.{j}.conv.bias"] = (h,)
    else:
        k = c.num_conv_pos_embeddings
        if c.conv_pos_batch_norm:
            for stat in ("weight", "bias", "running_mean", "running_var"):
                s[f"{pos}batch_norm.{stat}"] = (h,)
            s[pos + "conv.weight"] = (h, per_group, k)
        else:
            s[pos + "conv.weight_g"] = (1, 1, k)
            s[pos + "conv.weight_v"] = (h, per_group, k)
        s[pos + "conv.bias"] = (h,)
    for i in range(c.num_hidden_layers):
        lay = f"encoder.layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            s[f"{lay}attention.{proj}.weight"] = (h, h)
            s[f"{lay}attention.{proj}.bias"] = (h,)
        for ln in ("layer_norm", "final_layer_norm"):
            s[f"{lay}{ln}.weight"] = s[f"{lay}{ln}.bias"] = (h,)
        s[f"{lay}feed_forward.intermediate_dense.weight"] = (c.intermediate_size, h)
        s[f"{lay}feed_forward.intermediate_dense.bias"] = (c.intermediate_size,)
        s[f"{lay}feed_forward.output_dense.weight"] = (h, c.intermediate_size)
        s[f"{lay}feed_forward.output_dense.bias"] = (h,)
        if c.has_adapters:
            a, ad = c.adapter_attn_dim or 0, f"{lay}adapter_layer."
            s[ad + "norm.weight"] = s[ad + "norm.bias"] = (h,)
            s[ad + "linear_1.weight"], s[ad + "linear_1.bias"] = (a, h), (a,)
            s[ad + "linear_2.weight"], s[ad + "linear_2.bias"] = (h, a), (h,)
    if c.family == "wavlm":
        s |= wavlm.expected_shapes(c)
    return s


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: not a readable safetensors file ({e})") from None


def _local_name(key: str, prefix: str) -> str:
    if key.startswith(prefix):
        key = key[len(prefix) :]
    for old, new in _RENAMES.items():
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


def check_tensors(
    tensors: dict[str, np.ndarray], c: HFConfig, where: Path
) -> dict[str, np.ndarray]:
    """The tensors the forward pass reads, after checking names and shapes against ``c``."""
    original = {_local_name(k, c.prefix): k for k in tensors}
    local = {name: tensors[key] for name, key in original.items()}
    expected = expected_shapes(c)
    unused = _UNUSED + _UNUSED_BY_FAMILY.get(c.family, ())

    def full(name: str) -> str:
        return original.get(name) or (name if name.startswith("lm_head.") else c.prefix + name)

    problems = [
        f"missing tensor {full(k)} (shape {expected[k]})"
        for k in sorted(expected.keys() - local.keys())
    ]
    for key in sorted(expected.keys() & local.keys()):
        if tuple(local[key].shape) != expected[key]:
            problems.append(
                f"tensor {full(key)} has shape {tuple(local[key].shape)}, "
                f"config.json needs {expected[key]}"
            )
    for key in sorted(local.keys() - expected.keys()):
        if not key.startswith(unused) and not key.endswith(".num_batches_tracked"):
            problems.append(f"unexpected tensor {full(key)}")
    if problems:
        raise CheckpointError(f"{where}: " + "; ".join(problems))
    return {k: local[k] for k in expected}


# ------------------------------------------------------------------ loading


def weight_files(folder: Path) -> list[Path]:
    """``model.safetensors``, or the shards its index names."""
    if (folder / WEIGHTS).is_file():
        return [folder / WEIGHTS]
    if (folder / WEIGHTS_INDEX).is_file():
        index = read_json(folder / WEIGHTS_INDEX)
        shards = (
            sorted(set((index.get("weight_map") or {}).values())) if isinstance(index, dict) else []
        )
        if not shards:
            raise CheckpointError(f"{folder / WEIGHTS_INDEX}: no weight_map of tensor -> shard")
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            raise CheckpointError(f"{folder}: shard {missing[0]} of {WEIGHTS_INDEX} is missing")
        return [folder / s for s in shards]
    raise CheckpointError(
        f"{folder}: {WEIGHTS} is missing (convert pytorch_model.bin with safetensors first)"
    )


def _adapter_file(folder: Path, c: HFConfig, lang: str | None) -> Path | None:
    """MMS: ``adapter.<lang>.safetensors`` of the tokenizer's language, if the folder has it."""
    if not c.has_adapters or lang is None:
        return None
    path = folder / f"adapter.{lang}.safetensors"
    return path if path.is_file() else None


def load_hf(folder: Path, *, sample_rate: int | None, precision: str) -> LoadedModel:
    """Load and check a Hugging Face CTC folder of any supported family."""
    for name in ("config.json", "vocab.json"):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: {name} is missing")
    raw = read_json(folder / "config.json")
    if not isinstance(raw, dict):
        raise CheckpointError(f"{folder / 'config.json'}: expected a JSON object")
    family = family_of(raw, folder)
    c = HFConfig.from_json(raw, family, folder)
    processor = read_processor(folder)
    if sample_rate is not None and sample_rate != processor.sampling_rate:
        raise CheckpointError(
            f"{folder}: the model takes {processor.sampling_rate} Hz audio, not {sample_rate} Hz"
        )
    lang = language(folder)
    files = weight_files(folder)
    where = files[0] if len(files) == 1 else folder / WEIGHTS_INDEX
    tensors: dict[str, np.ndarray] = {}
    for path in files:
        tensors.update(_read_safetensors(path))
    adapter = _adapter_file(folder, c, lang)
    if adapter is not None:  # as transformers' load_adapter(lang): adapters and lm_head replaced
        extra = _read_safetensors(adapter)
        stray = sorted(
            k for k in extra if "adapter_layer." not in k and not k.startswith("lm_head.")
        )
        if stray or "lm_head.weight" not in extra:
            raise CheckpointError(
                f"{adapter}: not an MMS adapter file "
                f"({'unexpected ' + stray[0] if stray else 'no lm_head.weight'})"
            )
        tensors.update(extra)
        files.append(adapter)
        c = dataclasses.replace(c, vocab_size=int(extra["lm_head.weight"].shape[0]))
    vocab_file = read_vocab(folder, lang=lang)
    if len(vocab_file.symbols) != c.vocab_size:
        source = adapter.name if adapter is not None else "config.json vocab_size"
        raise CheckpointError(
            f"{folder / 'vocab.json'}: vocabulary has {len(vocab_file.symbols)} symbols, "
            f"the model outputs {c.vocab_size} ({source})"
        )
    vocab = vocabulary(vocab_file, blank_index=c.pad_token_id, where=folder / "vocab.json")
    checked = check_tensors(tensors, c, where)
    del tensors
    version = content_version(family.model_type, folder, files)
    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    params = {k: jnp.asarray(v, dtype=dtype) for k, v in checked.items()}
    do_normalize = processor.do_normalize
    use_mask = processor.return_attention_mask
    if use_mask is None:  # as transformers' own checkpoints: masks for layer-norm encoders
        use_mask = c.feat_extract_norm == "layer"

    def apply(p: Any, pcm: jnp.ndarray, lengths: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        return forward(c, p, pcm, lengths, do_normalize=do_normalize, use_attention_mask=use_mask)

    info = ModelInfo(
        name=folder.name,
        model_version=version,
        vocab=vocab,
        frame_stride_samples=c.frame_stride_samples,
        sample_rate=SAMPLE_RATE,
        architecture=family.model_type,
        frame_receptive_samples=c.frame_receptive_samples,
    )
    return LoadedModel(
        info=info, params=params, apply=apply, num_frames=c.num_frames, precision=precision
    )

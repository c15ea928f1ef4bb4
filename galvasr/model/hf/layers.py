"""The numerics every family shares, written over the checkpoint's own tensor names.

Activations are channels-last (``[batch, time, channels]``) from the first
convolution on (convolutions take it as it is; only attention regroups by
head); weights stay in PyTorch's layout (``[out, in]``, ``[out, in / groups,
kernel]``) and are contracted as they are. Matrix products run at
``HIGHEST`` precision (float32 stays float32 on GPUs too, for parity with
transformers) and accumulate in float32; statistics of normalisations and
the softmax are float32 whatever the weights' dtype.

Where the time goes (wav2vec2-base, 4 x 30 s, float32 on a 2-core CPU): the
feature encoder's convolutions about a third, the transformer's matrix
products most of the rest; attention is computed in cache-sized blocks
(``attend``), and float32 dense layers on CPU are written as width-1
convolutions (``dense``). See benchmarks/hf_speed.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from galvasr.model.hf.config import HFConfig

Params = dict[str, jnp.ndarray]
PRECISION = jax.lax.Precision.HIGHEST
NEG_INF = float(jnp.finfo(jnp.float32).min)

ACTIVATIONS: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "swish": jax.nn.silu,
    "silu": jax.nn.silu,
}


def layer_norm(
    x: jnp.ndarray, w: jnp.ndarray | None, b: jnp.ndarray | None, eps: float
) -> jnp.ndarray:
    """LayerNorm over the last axis (``w``/``b`` None: no affine part)."""
    x32 = x.astype(jnp.float32)
    mean = x32.mean(-1, keepdims=True)
    var = jnp.square(x32 - mean).mean(-1, keepdims=True)
    y = (x32 - mean) * jax.lax.rsqrt(var + eps)
    if w is not None:
        y = y * w.astype(jnp.float32)
    if b is not None:
        y = y + b.astype(jnp.float32)
    return y.astype(x.dtype)


def norm(p: Params, name: str, x: jnp.ndarray, eps: float = 1e-5) -> jnp.ndarray:
    return layer_norm(x, p[name + ".weight"], p[name + ".bias"], eps)


def batch_norm(p: Params, name: str, x: jnp.ndarray, eps: float = 1e-5) -> jnp.ndarray:
    """BatchNorm1d in eval mode over the last (channel) axis."""
    scale = p[name + ".weight"] * jax.lax.rsqrt(p[name + ".running_var"] + eps)
    return (x - p[name + ".running_mean"]) * scale + p[name + ".bias"]


def dense(p: Params, name: str, x: jnp.ndarray, *, bias: bool = True) -> jnp.ndarray:
    """``nn.Linear``: ``x @ weight.T + bias``, weight ``[out, in]``, accumulated in float32."""
    w = p[name + ".weight"]
    if x.dtype == jnp.float32 and jax.default_backend() == "cpu":
        # XLA:CPU hands float32 dots to its YNNPACK fusions, which run these shapes
        # about 1.3x slower than the Eigen contraction that a width-1 convolution
        # lowers to (benchmarks/hf_speed.py); bfloat16 dots are faster through YNNPACK.
        flat = x.reshape(1, -1, x.shape[-1])
        y = jax.lax.conv_general_dilated(
            flat, w[:, :, None], window_strides=(1,), padding=[(0, 0)],
            dimension_numbers=("NWC", "OIW", "NWC"), precision=PRECISION,
        ).reshape(*x.shape[:-1], w.shape[0])  # fmt: skip
    else:
        y = jnp.einsum(
            "...i,oi->...o", x, w, precision=PRECISION, preferred_element_type=jnp.float32
        )
    return (y + p[name + ".bias"] if bias else y).astype(x.dtype)


def conv1d(
    x: jnp.ndarray,
    w: jnp.ndarray,
    *,
    stride: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> jnp.ndarray:
    """``nn.Conv1d`` on channels-last ``x [B, T, C]``; ``w [out, in / groups, kernel]``."""
    y = jax.lax.conv_general_dilated(
        x,
        w.astype(x.dtype),
        window_strides=(stride,),
        padding=[(padding, padding)],
        dimension_numbers=("NWC", "OIW", "NWC"),
        feature_group_count=groups,
        precision=PRECISION,
        preferred_element_type=jnp.float32,
    )
    return y.astype(x.dtype)


# ------------------------------------------------------------------ input and front end


def normalise_input(pcm: jnp.ndarray, lengths: jnp.ndarray, do_normalize: bool) -> jnp.ndarray:
    """Float PCM ``[B, S]`` as the feature extractor hands it to the model.

    int16 is scaled to [-1, 1); with ``do_normalize`` each row has zero mean
    and unit variance over its valid samples; samples past ``lengths`` are 0
    (the feature extractor's padding value).
    """
    x = pcm.astype(jnp.float32)
    if jnp.issubdtype(pcm.dtype, jnp.integer):
        x = x / 32768.0
    valid = jnp.arange(x.shape[1])[None, :] < lengths[:, None]
    if do_normalize:
        n = jnp.maximum(lengths, 1).astype(jnp.float32)[:, None]
        mean = jnp.sum(jnp.where(valid, x, 0.0), axis=1, keepdims=True) / n
        var = jnp.sum(jnp.where(valid, jnp.square(x - mean), 0.0), axis=1, keepdims=True) / n
        x = (x - mean) / jnp.sqrt(var + 1e-7)
    return jnp.where(valid, x, 0.0)


def output_lengths(c: HFConfig, lengths: jnp.ndarray) -> jnp.ndarray:
    frames = lengths
    for k, s in zip(c.conv_kernel, c.conv_stride, strict=True):
        frames = jnp.maximum((frames - k) // s + 1, 0)
    return frames.astype(jnp.int32)


def _first_conv_group_norm(
    c: HFConfig, p: Params, x: jnp.ndarray, act: Callable[[jnp.ndarray], jnp.ndarray]
) -> jnp.ndarray:
    """The first feature-encoder layer of a group-norm encoder, normalised as it is computed.

    The layer is a 1-channel convolution followed by GroupNorm(C, C), which
    normalises each output channel over time. Its output (``[B, S / 5, 512]``)
    is the largest tensor of the model, so instead of writing it, reading it
    for its statistics and writing it normalised, each channel's mean and
    variance come from the input's windows (``w . mean`` and ``w' Cov w``
    over the ``kernel``-sample windows), are folded into the weights, and the
    normalised, activated output is written once.
    """
    name = "feature_extractor.conv_layers.0."
    w = p[name + "conv.weight"][:, 0, :].astype(jnp.float32)  # [C, kernel]
    kernel, stride = c.conv_kernel[0], c.conv_stride[0]
    frames = (x.shape[1] - kernel) // stride + 1
    x32 = x.astype(jnp.float32)
    taps = [
        jax.lax.slice_in_dim(x32, j, j + stride * (frames - 1) + 1, stride, axis=1)
        for j in range(kernel)
    ]
    windows = jnp.stack(taps, axis=-1)  # [B, T, kernel]
    mean_win = windows.mean(1)  # [B, kernel]
    centred = windows - mean_win[:, None]
    cov = jnp.einsum("btk,btl->bkl", centred, centred, precision=PRECISION) / frames
    mean = jnp.einsum("bk,ck->bc", mean_win, w, precision=PRECISION)
    var = jnp.maximum(jnp.einsum("ck,bkl,cl->bc", w, cov, w, precision=PRECISION), 0.0)
    scale = p[name + "layer_norm.weight"] * jax.lax.rsqrt(var + 1e-5)  # [B, C]
    # (A convolution bias, if any, moves the mean only, which the norm removes again.)
    shift = p[name + "layer_norm.bias"] - mean * scale
    w_eff = (w[None] * scale[:, :, None]).astype(x.dtype)  # [B, C, kernel]
    h = jnp.einsum(
        "btk,bck->btc", windows.astype(x.dtype), w_eff, precision=PRECISION,
        preferred_element_type=jnp.float32,
    )  # fmt: skip
    return act((h + shift[:, None, :]).astype(x.dtype))


def feature_encoder(c: HFConfig, p: Params, x: jnp.ndarray) -> jnp.ndarray:
    """The convolutional feature encoder: ``[B, S]`` samples to ``[B, T, conv_dim[-1]]``."""
    act = ACTIVATIONS[c.feat_extract_activation]
    h = x[:, :, None]
    for i, stride in enumerate(c.conv_stride):
        name = f"feature_extractor.conv_layers.{i}."
        if i == 0 and c.feat_extract_norm == "group":
            h = _first_conv_group_norm(c, p, x, act)
            continue
        h = conv1d(h, p[name + "conv.weight"], stride=stride)
        if c.conv_bias:
            h = h + p[name + "conv.bias"]
        if c.feat_extract_norm == "layer":
            h = norm(p, name + "layer_norm", h)
        h = act(h)
    return h


def feature_projection(c: HFConfig, p: Params, h: jnp.ndarray) -> jnp.ndarray:
    if c.feat_proj_layer_norm:
        h = norm(p, "feature_projection.layer_norm", h, c.layer_norm_eps)
    return dense(p, "feature_projection.projection", h)


def weight_norm(g: jnp.ndarray, v: jnp.ndarray) -> jnp.ndarray:
    """``weight_norm(dim=2)``: ``g * v / ||v||``, the norm over all but the kernel axis."""
    v32 = v.astype(jnp.float32)
    w = g.astype(jnp.float32) * v32 * jax.lax.rsqrt(jnp.sum(v32**2, axis=(0, 1), keepdims=True))
    return w.astype(v.dtype)


def positional_conv(c: HFConfig, p: Params, h: jnp.ndarray) -> jnp.ndarray:
    """The convolutional relative positional embedding added to the projected features."""
    act = ACTIVATIONS[c.feat_extract_activation]
    pre = "encoder.pos_conv_embed."
    groups = c.num_conv_pos_embedding_groups
    if c.family == "data2vec-audio":  # a stack of plain convolutions, each layer-normed
        k = c.conv_pos_kernel_size
        for j in range(c.num_conv_pos_embeddings):
            lay = f"{pre}layers.{j}.conv."
            h = conv1d(h, p[lay + "weight"], padding=k // 2, groups=groups) + p[lay + "bias"]
            if k % 2 == 0:
                h = h[:, :-1]
            h = act(layer_norm(h, None, None, 1e-5))
        return h
    k = c.num_conv_pos_embeddings
    if c.conv_pos_batch_norm:  # HuBERT variant: batch norm first, no weight norm
        h = batch_norm(p, pre + "batch_norm", h)
        w = p[pre + "conv.weight"]
    else:
        w = weight_norm(p[pre + "conv.weight_g"], p[pre + "conv.weight_v"])
    pos = conv1d(h, w, padding=k // 2, groups=groups) + p[pre + "conv.bias"]
    if k % 2 == 0:
        pos = pos[:, :-1]
    return act(pos)


# ------------------------------------------------------------------ transformer parts


def split_heads(x: jnp.ndarray, heads: int) -> jnp.ndarray:
    return x.reshape(*x.shape[:-1], heads, x.shape[-1] // heads)


# Bytes of float32 scores one step of ``attend`` holds: a few MB stay in the CPU's
# caches between the two products and the softmax, where whole [B, H, T, T] score
# tensors (432 MB for 4 x 30 s of wav2vec2-base) stream through memory four times.
ATTENTION_BLOCK_BYTES = 6 << 20


def _attention_blocks(n: int, t: int) -> tuple[int, int, int]:
    """(heads per block, query chunks, chunk length) for ``n`` heads of ``t`` frames."""
    row = 4 * t
    fits = [g for g in range(1, n + 1) if n % g == 0 and g * t * row <= ATTENTION_BLOCK_BYTES]
    group = max(fits, default=1)
    chunks = max(1, math.ceil(group * t * row / ATTENTION_BLOCK_BYTES))
    return group, chunks, math.ceil(t / chunks)


def attend(q: jnp.ndarray, k: jnp.ndarray, v: jnp.ndarray, bias: jnp.ndarray | None) -> jnp.ndarray:
    """Softmax attention of ``[B, T, heads, head_dim]`` (``q`` already scaled).

    ``bias`` (float32, broadcastable to ``[B, heads, T, T]``; its query axis
    1 or T) is added to the scores: the padding mask and any position bias.
    Computed in blocks of heads and query chunks (``ATTENTION_BLOCK_BYTES``)
    in a loop, each block's scores, softmax and product with the values
    fused, with the softmax's division applied to the ``[chunk, head_dim]``
    output rather than to the ``[chunk, T]`` weights.
    """
    b, t, h, d = q.shape
    n = b * h
    qh = q.transpose(0, 2, 1, 3).reshape(n, t, d)
    kt = k.transpose(0, 2, 3, 1).reshape(n, d, t)
    vh = v.transpose(0, 2, 1, 3).reshape(n, t, d)
    group, chunks, c = _attention_blocks(n, t)
    pad = chunks * c - t

    def by_chunk(x: jnp.ndarray) -> jnp.ndarray:
        """``[n, t, ...]`` to ``[n / group, chunks, group, c, ...]``, queries padded."""
        x = jnp.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2))
        x = x.reshape(n // group, group, chunks, c, *x.shape[2:])
        return jnp.swapaxes(x, 1, 2)

    xs: dict[str, jnp.ndarray] = {
        "q": by_chunk(qh),
        "k": kt.reshape(n // group, group, d, t),
        "v": vh.reshape(n // group, group, t, d),
    }
    if bias is not None:
        rows = bias.shape[2]
        full = jnp.broadcast_to(bias, (b, h, rows, t)).reshape(n, rows, t).astype(jnp.float32)
        if rows == 1:
            xs["bias"] = full.reshape(n // group, group, 1, t)
        else:
            xs["qbias"] = by_chunk(full)

    def block(x: dict[str, jnp.ndarray]) -> jnp.ndarray:
        def chunk(qc: dict[str, jnp.ndarray]) -> jnp.ndarray:
            s = jnp.matmul(qc["q"], x["k"], precision=PRECISION, preferred_element_type=jnp.float32)
            if "bias" in x:
                s = s + x["bias"]
            if "qbias" in qc:
                s = s + qc["qbias"]
            e = jnp.exp(s - s.max(-1, keepdims=True))
            out = jnp.matmul(
                e.astype(v.dtype), x["v"], precision=PRECISION, preferred_element_type=jnp.float32
            )
            return (out / e.sum(-1, keepdims=True)).astype(v.dtype)

        per_chunk = {"q": x["q"]} | ({"qbias": x["qbias"]} if "qbias" in x else {})
        return jax.lax.map(chunk, per_chunk)

    out = jax.lax.map(block, xs)  # [n / group, chunks, group, c, d]
    out = jnp.swapaxes(out, 1, 2).reshape(n, chunks * c, d)[:, :t]
    return out.reshape(b, h, t, d).transpose(0, 2, 1, 3)


def self_attention(
    c: HFConfig, p: Params, name: str, x: jnp.ndarray, bias: jnp.ndarray | None
) -> jnp.ndarray:
    """wav2vec2's attention block (``q_proj``/``k_proj``/``v_proj``/``out_proj``)."""
    heads = c.num_attention_heads
    q = split_heads(dense(p, name + "q_proj", x), heads) * c.head_dim**-0.5
    k = split_heads(dense(p, name + "k_proj", x), heads)
    v = split_heads(dense(p, name + "v_proj", x), heads)
    out = attend(q, k, v, bias)
    return dense(p, name + "out_proj", out.reshape(x.shape))


def feed_forward(c: HFConfig, p: Params, name: str, x: jnp.ndarray) -> jnp.ndarray:
    y = ACTIVATIONS[c.hidden_act](dense(p, name + "intermediate_dense", x))
    return dense(p, name + "output_dense", y)


def mask_bias(frame_valid: jnp.ndarray | None) -> jnp.ndarray | None:
    """Additive attention bias ``[B, 1, 1, T]`` that hides padded key frames."""
    if frame_valid is None:
        return None
    return jnp.where(frame_valid, 0.0, NEG_INF)[:, None, None, :]

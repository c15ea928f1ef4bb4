"""wav2vec2-conformer: conformer blocks instead of transformer layers.

Each block is half a feed-forward, self-attention, a convolution module
(pointwise, GLU, depthwise, batch norm, activation, pointwise) and another
half feed-forward, then a layer norm; positions come from the attention,
not from the positional convolution (transformers builds that module but
never calls it, so its tensors are ignored here too). Attention positions,
per ``position_embeddings_type``:

- ``"relative"`` (the default): Transformer-XL relative position scores,
  sinusoidal embeddings through ``linear_pos`` with the biases
  ``pos_bias_u``/``pos_bias_v``;
- ``"rotary"``: rotary embeddings applied to the block's input before the
  query and key projections (as transformers does);
- ``null``: none.

The layer norms inside a block use ``nn.LayerNorm``'s default epsilon, as
transformers does; only the encoder's final one reads ``layer_norm_eps``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from galvasr.model.hf.config import HFConfig
from galvasr.model.hf.layers import (
    ACTIVATIONS,
    PRECISION,
    Params,
    attend,
    batch_norm,
    conv1d,
    dense,
    feed_forward,
    mask_bias,
    norm,
    split_heads,
)


@lru_cache(maxsize=16)
def relative_embeddings(frames: int, dim: int) -> np.ndarray:
    """Sinusoidal embeddings ``[2T - 1, dim]`` of relative positions ``T-1, ..., -(T-1)``."""
    rel = np.arange(frames - 1, -frames, -1, dtype=np.float32)[:, None]
    div = np.exp(np.arange(0, dim, 2, dtype=np.float32) * np.float32(-(math.log(10000.0) / dim)))
    angles = rel * div[None, :]
    pe = np.zeros((2 * frames - 1, dim), np.float32)
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles)
    return pe


@lru_cache(maxsize=16)
def rotary_tables(frames: int, head_dim: int, base: float) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin ``[T, 1, head_dim]`` of the rotary embedding."""
    exponent = np.arange(0, head_dim, 2, dtype=np.float32) / np.float32(head_dim)
    inv_freq = np.float32(1.0) / (np.float32(base) ** exponent)
    freqs = np.arange(frames, dtype=np.float32)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)[:, None, :]
    return np.cos(emb), np.sin(emb)


def _rotate(x: jnp.ndarray, heads: int, cos: np.ndarray, sin: np.ndarray) -> jnp.ndarray:
    xh = split_heads(x, heads)  # [B, T, heads, D]
    half = xh.shape[-1] // 2
    rotated = jnp.concatenate([-xh[..., half:], xh[..., :half]], axis=-1)
    out = xh * jnp.asarray(cos, x.dtype) + rotated * jnp.asarray(sin, x.dtype)
    return out.reshape(x.shape)


def _attention(
    c: HFConfig, p: Params, name: str, x: jnp.ndarray, mask: jnp.ndarray | None
) -> jnp.ndarray:
    heads, t = c.num_attention_heads, x.shape[1]
    scale = c.head_dim**-0.5
    qk_in = x
    if c.position_embeddings_type == "rotary":
        cos, sin = rotary_tables(t, c.head_dim, float(c.rotary_embedding_base))
        qk_in = _rotate(x, heads, cos, sin)
    q = split_heads(dense(p, name + "linear_q", qk_in), heads)
    k = split_heads(dense(p, name + "linear_k", qk_in), heads)
    v = split_heads(dense(p, name + "linear_v", x), heads)
    bias = mask
    if c.position_embeddings_type == "relative":
        pe = jnp.asarray(relative_embeddings(t, c.hidden_size), x.dtype)
        pos = split_heads(dense(p, name + "linear_pos", pe, bias=False), heads)  # [2T-1, h, D]
        q_v = q + p[name + "pos_bias_v"]
        scores = jnp.einsum(
            "bqhd,phd->bhqp", q_v, pos, precision=PRECISION, preferred_element_type=jnp.float32
        )
        # Score of query i and key j is at relative position i - j: column T-1-i+j.
        idx = (t - 1) - np.arange(t)[:, None] + np.arange(t)[None, :]
        rel = jnp.take_along_axis(scores, jnp.asarray(idx)[None, None], axis=-1)
        rel = rel.astype(jnp.float32) * scale
        bias = rel if mask is None else rel + mask
        q = q + p[name + "pos_bias_u"]
    return dense(p, name + "linear_out", attend(q * scale, k, v, bias).reshape(x.shape))


def _pointwise(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    """A kernel-1 ``nn.Conv1d`` without bias (``w [out, in, 1]``) on ``[B, T, C]``."""
    y = jnp.einsum(
        "btc,oc->bto", x, w[:, :, 0], precision=PRECISION, preferred_element_type=jnp.float32
    )
    return y.astype(x.dtype)


def _conv_module(c: HFConfig, p: Params, name: str, x: jnp.ndarray) -> jnp.ndarray:
    x = norm(p, name + "layer_norm", x)
    x = jnp.einsum(
        "btc,oc->bto", x, p[name + "pointwise_conv1.weight"][:, :, 0], precision=PRECISION
    )
    a, gate = jnp.split(x, 2, axis=-1)
    x = a * jax.nn.sigmoid(gate)
    k = c.conv_depthwise_kernel_size
    x = conv1d(x, p[name + "depthwise_conv.weight"], padding=(k - 1) // 2, groups=c.hidden_size)
    x = ACTIVATIONS[c.hidden_act](batch_norm(p, name + "batch_norm", x))
    return _pointwise(x, p[name + "pointwise_conv2.weight"])


def encoder(c: HFConfig, p: Params, h: jnp.ndarray, frame_valid: jnp.ndarray | None) -> jnp.ndarray:
    mask = mask_bias(frame_valid)
    for i in range(c.num_hidden_layers):
        lay = f"encoder.layers.{i}."
        h = h + 0.5 * feed_forward(c, p, lay + "ffn1.", norm(p, lay + "ffn1_layer_norm", h))
        h = h + _attention(c, p, lay + "self_attn.", norm(p, lay + "self_attn_layer_norm", h), mask)
        h = h + _conv_module(c, p, lay + "conv_module.", h)
        h = h + 0.5 * feed_forward(c, p, lay + "ffn2.", norm(p, lay + "ffn2_layer_norm", h))
        h = norm(p, lay + "final_layer_norm", h)
    return norm(p, "encoder.layer_norm", h, c.layer_norm_eps)


def expected_shapes(c: HFConfig) -> dict[str, tuple[int, ...]]:
    """The conformer blocks' tensors."""
    hid, inter, heads = c.hidden_size, c.intermediate_size, c.num_attention_heads
    s: dict[str, tuple[int, ...]] = {}
    for i in range(c.num_hidden_layers):
        lay = f"encoder.layers.{i}."
        for ln in ("ffn1_layer_norm", "self_attn_layer_norm", "ffn2_layer_norm",
                   "final_layer_norm", "conv_module.layer_norm"):  # fmt: skip
            s[f"{lay}{ln}.weight"] = s[f"{lay}{ln}.bias"] = (hid,)
        for ffn in ("ffn1", "ffn2"):
            s[f"{lay}{ffn}.intermediate_dense.weight"] = (inter, hid)
            s[f"{lay}{ffn}.intermediate_dense.bias"] = (inter,)
            s[f"{lay}{ffn}.output_dense.weight"] = (hid, inter)
            s[f"{lay}{ffn}.output_dense.bias"] = (hid,)
        for proj in ("linear_q", "linear_k", "linear_v", "linear_out"):
            s[f"{lay}self_attn.{proj}.weight"] = (hid, hid)
            s[f"{lay}self_attn.{proj}.bias"] = (hid,)
        if c.position_embeddings_type == "relative":
            s[f"{lay}self_attn.linear_pos.weight"] = (hid, hid)
            s[f"{lay}self_attn.pos_bias_u"] = s[f"{lay}self_attn.pos_bias_v"] = (heads, c.head_dim)
        cm = lay + "conv_module."
        s[cm + "pointwise_conv1.weight"] = (2 * hid, hid, 1)
        s[cm + "depthwise_conv.weight"] = (hid, 1, c.conv_depthwise_kernel_size)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            s[f"{cm}batch_norm.{stat}"] = (hid,)
        s[cm + "pointwise_conv2.weight"] = (hid, hid, 1)
    return s

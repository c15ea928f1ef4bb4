"""WavLM: wav2vec2's encoder with a gated relative position bias in every attention.

Layer 0 holds ``rel_attn_embed``, one learnt bias per head for each of
``num_buckets`` relative-distance buckets (T5-style: exact up to a point,
then logarithmic up to ``max_bucket_distance``). That bias, ``[heads, T, T]``,
is shared by all layers; each layer scales it per query frame and head by a
gate computed from the layer's input (``gru_rel_pos_linear``,
``gru_rel_pos_const``), as transformers' ``WavLMAttention`` does.
"""

from __future__ import annotations

import math
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from galvasr.model.hf.config import HFConfig
from galvasr.model.hf.layers import (
    Params,
    attend,
    dense,
    feed_forward,
    mask_bias,
    norm,
    positional_conv,
    split_heads,
)


@lru_cache(maxsize=16)
def relative_position_buckets(frames: int, num_buckets: int, max_distance: int) -> np.ndarray:
    """Bucket ``[T, T]`` of key ``j`` relative to query ``i``, in float32 like transformers."""
    pos = np.arange(frames, dtype=np.int64)
    rel = pos[None, :] - pos[:, None]
    half = num_buckets // 2
    buckets = (rel > 0).astype(np.int64) * half
    rel = np.abs(rel)
    max_exact = half // 2
    with np.errstate(divide="ignore"):
        large = np.log(rel.astype(np.float32) / np.float32(max_exact))
    large = large / np.float32(math.log(max_distance / max_exact))
    large = large * np.float32(half - max_exact)
    large_int = np.where(rel < max_exact, 0, (np.float32(max_exact) + large)).astype(np.int64)
    large_int = np.minimum(large_int, half - 1)
    buckets += np.where(rel < max_exact, rel, large_int)
    return buckets


def _gated_attention(
    c: HFConfig,
    p: Params,
    name: str,
    x: jnp.ndarray,
    position_bias: jnp.ndarray,
    mask: jnp.ndarray | None,
) -> jnp.ndarray:
    heads = c.num_attention_heads
    # The gate of each query frame and head, from the layer's input split into heads.
    proj = dense(p, name + "gru_rel_pos_linear", split_heads(x, heads)).astype(jnp.float32)
    proj = proj.reshape(*proj.shape[:-1], 2, 4).sum(-1)  # [B, T, heads, 2]
    gate_a, gate_b = jax.nn.sigmoid(proj[..., 0]), jax.nn.sigmoid(proj[..., 1])
    const = p[name + "gru_rel_pos_const"].reshape(heads).astype(jnp.float32)
    gate = gate_a * (gate_b * const - 1.0) + 2.0  # [B, T, heads]
    bias = gate.transpose(0, 2, 1)[..., None] * position_bias[None]  # [B, heads, T, T]
    if mask is not None:
        bias = bias + mask
    q = split_heads(dense(p, name + "q_proj", x), heads) * c.head_dim**-0.5
    k = split_heads(dense(p, name + "k_proj", x), heads)
    v = split_heads(dense(p, name + "v_proj", x), heads)
    return dense(p, name + "out_proj", attend(q, k, v, bias).reshape(x.shape))


def encoder(c: HFConfig, p: Params, h: jnp.ndarray, frame_valid: jnp.ndarray | None) -> jnp.ndarray:
    mask = mask_bias(frame_valid)
    eps = c.layer_norm_eps
    h = h + positional_conv(c, p, h)
    if not c.do_stable_layer_norm:
        h = norm(p, "encoder.layer_norm", h, eps)
    buckets = relative_position_buckets(h.shape[1], c.num_buckets, c.max_bucket_distance)
    table = p["encoder.layers.0.attention.rel_attn_embed.weight"].astype(jnp.float32)
    position_bias = table[jnp.asarray(buckets)].transpose(2, 0, 1)  # [heads, T, T]
    for i in range(c.num_hidden_layers):
        lay = f"encoder.layers.{i}."
        att = lay + "attention."
        if c.do_stable_layer_norm:
            x = norm(p, lay + "layer_norm", h, eps)
            h = h + _gated_attention(c, p, att, x, position_bias, mask)
            h = h + feed_forward(
                c, p, lay + "feed_forward.", norm(p, lay + "final_layer_norm", h, eps)
            )
        else:
            h = norm(
                p, lay + "layer_norm", h + _gated_attention(c, p, att, h, position_bias, mask), eps
            )
            h = norm(
                p, lay + "final_layer_norm", h + feed_forward(c, p, lay + "feed_forward.", h), eps
            )
    if c.do_stable_layer_norm:
        h = norm(p, "encoder.layer_norm", h, eps)
    return h


def expected_shapes(c: HFConfig) -> dict[str, tuple[int, ...]]:
    """WavLM's tensors besides those of a wav2vec2 encoder layer."""
    s: dict[str, tuple[int, ...]] = {
        "encoder.layers.0.attention.rel_attn_embed.weight": (c.num_buckets, c.num_attention_heads)
    }
    for i in range(c.num_hidden_layers):
        att = f"encoder.layers.{i}.attention."
        s[att + "gru_rel_pos_const"] = (1, c.num_attention_heads, 1, 1)
        s[att + "gru_rel_pos_linear.weight"] = (8, c.head_dim)
        s[att + "gru_rel_pos_linear.bias"] = (8,)
    return s

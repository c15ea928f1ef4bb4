"""galvasr's own acoustic model: log-mel, a strided conv, ConvNeXt-style 1-D blocks, CTC.

Small and convolutional so that it runs well over 100x real time on a
laptop-class CPU: no recurrence, every layer a matrix product over all frames
at once. Output frame ``t`` covers PCM samples ``[t * stride, (t + 1) * stride)``
with ``stride = hop_samples * 2`` (20 ms by default: fine enough for
sentence boundaries, coarse enough to be cheap).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from galvasr.model.features import log_mel


@dataclass(frozen=True)
class ConvCTCConfig:
    """Architecture hyper-parameters; saved with every checkpoint."""

    vocab_size: int = 29
    sample_rate: int = 16_000
    n_mels: int = 80
    win_samples: int = 400
    hop_samples: int = 160
    subsample: int = 2  # output frame = subsample mel frames
    width: int = 256
    expansion: int = 2
    num_blocks: int = 8
    kernel_size: int = 15
    dropout: float = 0.1

    @property
    def frame_stride_samples(self) -> int:
        return self.hop_samples * self.subsample

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DepthwiseConv1D(nn.Module):
    """``nn.Conv(features, (k,), feature_group_count=features)`` with SAME padding, as k shifted
    multiply-adds.

    Same parameters (``kernel [k, 1, C]``, ``bias [C]``) and the same result as
    ``nn.Conv``, but XLA's CPU backend runs a grouped convolution as a generic
    one: this form is 3x faster forward and 2x faster to train on CPU.
    """

    features: int
    kernel_size: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, 1, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        kernel, bias = kernel.astype(x.dtype), bias.astype(x.dtype)
        steps = x.shape[1]
        # SAME as XLA pads it: an even kernel has one more tap after the centre.
        padded = jnp.pad(x, ((0, 0), ((k - 1) // 2, k // 2), (0, 0)))
        out = padded[:, :steps] * kernel[0, 0]
        for i in range(1, k):
            out = out + padded[:, i : i + steps] * kernel[i, 0]
        return out + bias


class SubsampleConv1D(nn.Module):
    """A strided conv (kernel ``2s + 1``) whose output frame ``t`` is centred on input frame
    ``s*t + s // 2`` whatever the input length: for 10 ms mel frames and ``s = 2``,
    the middle of the 20 ms of samples that output frame covers.

    (``nn.Conv``'s SAME padding moves the centre by one input frame when the
    length's parity changes.) ``kernel [2s + 1, C_in, C_out]`` as in ``nn.Conv``,
    computed as one matrix product over stacked strided slices.
    """

    features: int
    stride: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        s = self.stride
        k = 2 * s + 1
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (k, x.shape[-1], self.features)
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        out_steps = -(-x.shape[1] // s)
        left = s - s // 2  # taps s*t - left + [0, 2s]: centred on input frame s*t + s // 2
        right = s * out_steps + s + 1 - x.shape[1] - left
        padded = jnp.pad(x, ((0, 0), (left, right), (0, 0)))
        taps = jnp.stack(
            [padded[:, i : i + s * out_steps : s] for i in range(k)], axis=2
        )  # [B, T_out, k, C_in]
        out = jnp.einsum("btkc,kcf->btf", taps, kernel.astype(x.dtype))
        return out + bias.astype(x.dtype)


class Block(nn.Module):
    width: int
    expansion: int
    kernel_size: int
    dropout: float

    @nn.compact
    def __call__(self, x: jnp.ndarray, mask: jnp.ndarray, train: bool) -> jnp.ndarray:
        y = DepthwiseConv1D(self.width, self.kernel_size, name="depthwise")(x * mask)
        y = nn.LayerNorm(name="norm")(y)
        y = nn.Dense(self.width * self.expansion, name="expand")(y)
        y = nn.gelu(y)
        y = nn.Dense(self.width, name="project")(y)
        y = nn.Dropout(self.dropout, deterministic=not train)(y)
        return x + y


class ConvCTC(nn.Module):
    """PCM ``[B, S]`` and lengths ``[B]`` to log-probabilities ``[B, T, V]`` and frame counts.

    ``warp`` and ``feature_mask`` are training augmentations (see ``log_mel``).
    """

    config: ConvCTCConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self,
        pcm: jnp.ndarray,
        lengths: jnp.ndarray,
        train: bool = False,
        warp: jnp.ndarray | None = None,
        feature_mask: jnp.ndarray | None = None,
    ) -> tuple[jnp.ndarray, jnp.ndarray]:
        c = self.config
        feats, mel_valid = log_mel(
            pcm,
            lengths,
            sample_rate=c.sample_rate,
            n_mels=c.n_mels,
            win_samples=c.win_samples,
            hop_samples=c.hop_samples,
            warp=warp,
            feature_mask=feature_mask,
        )
        x = feats.astype(self.dtype)
        x = SubsampleConv1D(c.width, c.subsample, name="subsample")(x)
        x = nn.gelu(x)
        x = nn.LayerNorm(name="subsample_norm")(x)
        frames = (mel_valid + c.subsample - 1) // c.subsample
        mask = (jnp.arange(x.shape[1])[None, :] < frames[:, None]).astype(x.dtype)[..., None]
        for i in range(c.num_blocks):
            x = Block(c.width, c.expansion, c.kernel_size, c.dropout, name=f"block{i}")(
                x, mask, train
            )
        x = nn.LayerNorm(name="final_norm")(x)
        logits = nn.Dense(c.vocab_size, name="head")(x).astype(jnp.float32)
        return jax.nn.log_softmax(logits, axis=-1), frames.astype(jnp.int32)


def num_frames(num_samples: int, config: ConvCTCConfig) -> int:
    """Output frames for ``num_samples`` of PCM: ``ceil(num_samples / frame_stride_samples)``."""
    mel = -(-num_samples // config.hop_samples)
    return -(-mel // config.subsample)

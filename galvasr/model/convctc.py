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


class Block(nn.Module):
    width: int
    expansion: int
    kernel_size: int
    dropout: float

    @nn.compact
    def __call__(self, x: jnp.ndarray, mask: jnp.ndarray, train: bool) -> jnp.ndarray:
        y = nn.Conv(
            self.width, (self.kernel_size,), feature_group_count=self.width, name="depthwise"
        )(x * mask)
        y = nn.LayerNorm(name="norm")(y)
        y = nn.Dense(self.width * self.expansion, name="expand")(y)
        y = nn.gelu(y)
        y = nn.Dense(self.width, name="project")(y)
        y = nn.Dropout(self.dropout, deterministic=not train)(y)
        return x + y


class ConvCTC(nn.Module):
    """PCM ``[B, S]`` and lengths ``[B]`` to log-probabilities ``[B, T, V]`` and frame counts."""

    config: ConvCTCConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(
        self, pcm: jnp.ndarray, lengths: jnp.ndarray, train: bool = False
    ) -> tuple[jnp.ndarray, jnp.ndarray]:
        c = self.config
        feats, mel_valid = log_mel(
            pcm,
            lengths,
            sample_rate=c.sample_rate,
            n_mels=c.n_mels,
            win_samples=c.win_samples,
            hop_samples=c.hop_samples,
        )
        x = feats.astype(self.dtype)
        x = nn.Conv(c.width, (2 * c.subsample + 1,), strides=(c.subsample,), name="subsample")(x)
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

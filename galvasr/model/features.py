"""Log-mel features in jnp, computed inside the jitted model function.

PCM in, ``[batch, mel_frames, n_mels]`` out. Mel frame ``m`` is centred on
sample ``m * hop_samples``; a signal of ``n`` samples has ``ceil(n / hop)``
valid frames. Features are normalised per utterance over its valid frames
only (mean per mel bin, one standard deviation), so gain and padding do not
change them, and padded frames are zero.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
import numpy as np


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def _mel_edges(n_mels: int, f_max: float) -> np.ndarray:
    """Lower edge, centre and upper edge of every filter: ``n_mels + 2`` frequencies in Hz."""
    return _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(20.0)), _hz_to_mel(np.array(f_max)), n_mels + 2)
    )


def _triangles(freqs: Any, edges: np.ndarray, xp: Any) -> Any:
    """Triangular filter weights at ``freqs`` (``[..., 1]``, Hz), numpy or jnp as ``xp``."""
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs - lower) / (centre - lower)
    down = (upper - freqs) / (upper - centre)
    return xp.maximum(0.0, xp.minimum(up, down))


@functools.cache
def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int, f_max: float) -> np.ndarray:
    """Triangular HTK-style filters, ``[n_fft // 2 + 1, n_mels]`` float32."""
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    return _triangles(freqs[:, None], _mel_edges(n_mels, f_max), np).astype(np.float32)


def warped_mel_filterbank(
    warp: jnp.ndarray, n_fft: int, n_mels: int, sample_rate: int, f_max: float
) -> jnp.ndarray:
    """Per-example filterbanks ``[B, n_fft // 2 + 1, n_mels]`` for vocal-tract-length warps.

    Training-time augmentation (VTLP, Jaitly & Hinton 2013): filter ``m`` of
    example ``b`` reads the spectrum at frequencies warped by ``warp[b]``, as
    if a speaker with a longer (< 1) or shorter (> 1) vocal tract had spoken.
    The warp is piecewise linear, ``f -> warp * f`` up to a cut-off, then a line
    to Nyquist so no band falls off the spectrum. ``warp == 1`` gives
    :func:`mel_filterbank` exactly.
    """
    nyquist = sample_rate / 2
    freqs = jnp.asarray(np.linspace(0.0, nyquist, n_fft // 2 + 1), jnp.float32)[None, :]
    a = warp.astype(jnp.float32)[:, None]
    cut = 0.8 * nyquist * jnp.minimum(1.0, 1.0 / a)
    warped = jnp.where(
        freqs <= cut, a * freqs, a * cut + (nyquist - a * cut) * (freqs - cut) / (nyquist - cut)
    )[..., None]  # [B, K, 1]
    return _triangles(warped, _mel_edges(n_mels, f_max).astype(np.float32), jnp)


def num_mel_frames(num_samples: jnp.ndarray | int, hop_samples: int) -> jnp.ndarray:
    return (jnp.asarray(num_samples) + hop_samples - 1) // hop_samples


def log_mel(
    pcm: jnp.ndarray,
    lengths: jnp.ndarray,
    *,
    sample_rate: int = 16_000,
    n_mels: int = 80,
    win_samples: int = 400,
    hop_samples: int = 160,
    n_fft: int = 512,
    warp: jnp.ndarray | None = None,
    feature_mask: jnp.ndarray | None = None,
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(features ``[B, F, n_mels]`` float32, valid frame counts ``[B]``).

    ``pcm`` is int16 (full scale 32768) or float (full scale 1.0). ``warp``
    (``[B]``) and ``feature_mask`` (``[B, F, n_mels]``, 1 keeps, 0 masks to the
    utterance mean) are training augmentations; inference leaves them out.
    """
    if jnp.issubdtype(pcm.dtype, jnp.integer):
        x = pcm.astype(jnp.float32) / 32768.0
    else:
        x = pcm.astype(jnp.float32)
    batch, samples = x.shape
    frames = -(-samples // hop_samples)
    # Centre frame m on sample m * hop: pad half a window before, enough after.
    left = win_samples // 2
    total = (frames - 1) * hop_samples + win_samples
    x = jnp.pad(x, ((0, 0), (left, max(0, total - left - samples))))[:, :total]
    # Pre-emphasis sharpens consonants; cheap and standard.
    x = jnp.concatenate([x[:, :1], x[:, 1:] - 0.97 * x[:, :-1]], axis=1)
    # Frames as a strided view: [B, F, win].
    idx = np.arange(frames)[:, None] * hop_samples + np.arange(win_samples)[None, :]
    framed = x[:, idx] * jnp.asarray(np.hanning(win_samples).astype(np.float32))
    spec = jnp.fft.rfft(framed, n=n_fft, axis=-1)
    power = spec.real**2 + spec.imag**2
    if warp is None:
        fb = jnp.asarray(mel_filterbank(n_fft, n_mels, sample_rate, sample_rate / 2))
        mel = jnp.log(power @ fb + 1e-6)
    else:
        fbs = warped_mel_filterbank(warp, n_fft, n_mels, sample_rate, sample_rate / 2)
        mel = jnp.log(jnp.einsum("bfk,bkm->bfm", power, fbs) + 1e-6)

    valid = num_mel_frames(lengths, hop_samples)
    mask = (jnp.arange(frames)[None, :] < valid[:, None]).astype(jnp.float32)[..., None]
    count = jnp.maximum(valid.astype(jnp.float32), 1.0)[:, None, None]
    mean = jnp.sum(mel * mask, axis=1, keepdims=True) / count
    centred = (mel - mean) * mask
    var = jnp.sum(centred**2, axis=(1, 2), keepdims=True) / (count * n_mels)
    feats = centred / jnp.sqrt(var + 1e-5)
    if feature_mask is not None:
        feats = feats * feature_mask
    return feats, valid

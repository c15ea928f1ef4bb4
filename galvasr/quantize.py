"""Compact storage of CTC log-probabilities: the ``encoding`` column of ``logits``.

Two encodings, both row-major ``[num_frames, vocab_size]``, little-endian:

- ``float16``: the log-probabilities rounded to IEEE half precision (2 bytes
  per value; relative error at most 2**-11, i.e. under 0.001 nat near 0 and
  0.008 nat at -16).
- ``uint8q``: 1 byte per value on a fixed scale shared by every model and
  row: ``q = round(-logprob / UINT8Q_STEP)`` clipped to 0..255, decoded as
  ``-q * UINT8Q_STEP``. The scale covers ``[-UINT8Q_FLOOR, 0]``; anything
  less likely than ``exp(-UINT8Q_FLOOR)`` (1.2e-7) reads as that floor.

The accelerator stage encodes on the device (``encode_device``, inside the
jitted step: less to copy back); readers call :func:`decode_logprobs`.
Encoding on the device and with numpy gives the same bytes
(tests/core/test_quantize.py). Which one the pipeline uses, and why, is in
``InferConfig.encoding`` (benchmarks/infer_quantize.py measured both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT16 = "float16"
UINT8Q = "uint8q"
ENCODINGS = (FLOAT16, UINT8Q)

UINT8Q_STEP = 1.0 / 16.0
"""Nats per uint8 step: a fixed scale, so bytes mean the same in every row and run."""

UINT8Q_FLOOR = 255 * UINT8Q_STEP
"""Lowest log-probability uint8q can hold (-15.94 nats); lower values clip to it."""

_DTYPES: dict[str, np.dtype[Any]] = {FLOAT16: np.dtype("<f2"), UINT8Q: np.dtype("u1")}


def _check(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown logprob encoding {encoding!r}; known: {', '.join(ENCODINGS)}")


def bytes_per_value(encoding: str) -> int:
    _check(encoding)
    return _DTYPES[encoding].itemsize


def encode_array(logprobs: np.ndarray, encoding: str) -> np.ndarray:
    """float log-probabilities (any shape) to the encoding's numpy dtype."""
    _check(encoding)
    x = np.asarray(logprobs, dtype=np.float32)
    if encoding == FLOAT16:
        return x.astype(_DTYPES[FLOAT16])
    # Multiply by 16 (exact in float32) rather than divide by the step: the
    # same arithmetic as encode_device, so host and device agree to the bit.
    q = np.rint(np.clip(-x * np.float32(1.0 / UINT8Q_STEP), 0.0, 255.0))
    return q.astype(np.uint8)


def encode_device(logprobs: Any, encoding: str) -> Any:
    """As :func:`encode_array`, in jax.numpy, for use inside a jitted function."""
    import jax.numpy as jnp

    _check(encoding)
    x = logprobs.astype(jnp.float32)
    if encoding == FLOAT16:
        return x.astype(jnp.float16)
    q = jnp.rint(jnp.clip(-x * jnp.float32(1.0 / UINT8Q_STEP), 0.0, 255.0))
    return q.astype(jnp.uint8)


def encode_logprobs(logprobs: np.ndarray, encoding: str) -> bytes:
    """One window's ``[num_frames, vocab_size]`` log-probabilities as ``logits.logprobs`` bytes."""
    return encoded_bytes(encode_array(logprobs, encoding))


def encoded_bytes(encoded: np.ndarray) -> bytes:
    """Bytes of an already encoded ``[num_frames, vocab_size]`` array (C order, little-endian)."""
    return np.ascontiguousarray(encoded).astype(encoded.dtype.newbyteorder("<")).tobytes()


def decode_logprobs(data: bytes, encoding: str, num_frames: int, vocab_size: int) -> np.ndarray:
    """``logits.logprobs`` bytes back to ``[num_frames, vocab_size]`` float32 log-probabilities.

    Raises ValueError if the byte count does not match the shape.
    """
    _check(encoding)
    dtype = _DTYPES[encoding]
    expected = num_frames * vocab_size * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{len(data)} bytes of {encoding} cannot be [{num_frames}, {vocab_size}] "
            f"({expected} bytes)"
        )
    raw = np.frombuffer(data, dtype=dtype).reshape(num_frames, vocab_size)
    if encoding == FLOAT16:
        return raw.astype(np.float32)
    return raw.astype(np.float32) * np.float32(-UINT8Q_STEP)


__all__ = [
    "ENCODINGS",
    "FLOAT16",
    "UINT8Q",
    "UINT8Q_FLOOR",
    "UINT8Q_STEP",
    "bytes_per_value",
    "decode_logprobs",
    "encode_array",
    "encode_device",
    "encode_logprobs",
    "encoded_bytes",
]

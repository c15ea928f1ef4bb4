"""Log-probability encodings: bounds on their error, and host and device agreeing to the bit."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from galvasr import quantize
from galvasr.quantize import (
    FLOAT16,
    UINT8Q,
    UINT8Q_FLOOR,
    UINT8Q_STEP,
    decode_logprobs,
    encode_array,
    encode_device,
    encode_logprobs,
)


def random_logprobs(frames: int, vocab: int, seed: int) -> np.ndarray:
    logits = np.random.default_rng(seed).standard_normal((frames, vocab)).astype(np.float32) * 6
    return np.array(jax.nn.log_softmax(logits, axis=-1), dtype=np.float32)


logprob_arrays = hnp.arrays(
    np.float32,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
    elements=st.floats(-40.0, 0.0, width=32),
)


@given(logprob_arrays)
def test_float16_round_trip_is_within_half_precision(lp: np.ndarray) -> None:
    frames, vocab = lp.shape
    back = decode_logprobs(encode_logprobs(lp, FLOAT16), FLOAT16, frames, vocab)
    assert back.dtype == np.float32 and back.shape == lp.shape
    assert np.all(np.abs(back - lp) <= np.abs(lp) * 2.0**-11 + 1e-7)


@given(logprob_arrays)
def test_uint8q_round_trip_is_within_half_a_step_above_the_floor(lp: np.ndarray) -> None:
    frames, vocab = lp.shape
    data = encode_logprobs(lp, UINT8Q)
    assert len(data) == frames * vocab
    back = decode_logprobs(data, UINT8Q, frames, vocab)
    inside = lp >= -UINT8Q_FLOOR
    assert np.all(np.abs(back - lp)[inside] <= UINT8Q_STEP / 2 + 1e-6)
    assert np.all(back[~inside] == np.float32(-UINT8Q_FLOOR))
    assert np.all(back <= 0) and np.all(back >= -UINT8Q_FLOOR)


def test_uint8q_fixed_scale_values() -> None:
    lp = np.array([[0.0, -UINT8Q_STEP, -1.0, -UINT8Q_FLOOR, -100.0, 0.5]], np.float32)
    assert list(encode_array(lp, UINT8Q)[0]) == [0, 1, 16, 255, 255, 0]


@pytest.mark.parametrize("encoding", quantize.ENCODINGS)
def test_device_and_host_encodings_give_the_same_bytes(encoding: str) -> None:
    lp = random_logprobs(300, 29, seed=1)
    lp[0, :6] = [0.0, -UINT8Q_STEP / 2, -UINT8Q_STEP * 1.5, -UINT8Q_FLOOR, -50.0, -1e-8]
    device = np.asarray(jax.jit(lambda x: encode_device(x, encoding))(lp))
    assert device.dtype == encode_array(lp, encoding).dtype
    assert quantize.encoded_bytes(device) == encode_logprobs(lp, encoding)


@pytest.mark.parametrize("encoding", quantize.ENCODINGS)
def test_bytes_are_row_major_little_endian(encoding: str) -> None:
    lp = random_logprobs(3, 5, seed=2)
    data = encode_logprobs(lp, encoding)
    dtype = "<f2" if encoding == FLOAT16 else "u1"
    assert len(data) == 3 * 5 * quantize.bytes_per_value(encoding)
    assert np.array_equal(np.frombuffer(data, dtype).reshape(3, 5), encode_array(lp, encoding))


def test_decode_refuses_a_size_that_does_not_match_the_shape() -> None:
    data = encode_logprobs(random_logprobs(4, 29, 0), FLOAT16)
    with pytest.raises(ValueError, match="cannot be"):
        decode_logprobs(data, FLOAT16, 5, 29)
    with pytest.raises(ValueError, match="unknown logprob encoding"):
        decode_logprobs(data, "int4", 4, 29)

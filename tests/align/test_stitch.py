"""Stitching windows back into one file: every frame and sample exactly once."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galvasr import quantize
from galvasr.align.oracle import cut_windows
from galvasr.align.stitch import (
    StitchError,
    Window,
    check_pcm,
    slice_pcm,
    stitch_logprobs,
    stitch_pcm,
    window_logprobs,
)

STRIDE = 320


def numbered_frames(num_samples: int, vocab: int = 3) -> np.ndarray:
    """Frames whose column 0 is their own global index."""
    frames = -(-num_samples // STRIDE)
    out = np.zeros((frames, vocab), np.float32)
    out[:, 0] = np.arange(frames)
    return out


@settings(max_examples=60, deadline=None)
@given(
    num_samples=st.integers(1, 40 * STRIDE),
    window_frames=st.integers(1, 12),
    context_frames=st.integers(0, 4),
)
def test_frames_tile_the_file_exactly(num_samples, window_frames, context_frames):
    pcm = (np.arange(num_samples) % 30_000).astype(np.int16)
    lp = numbered_frames(num_samples)
    windows = cut_windows(lp, pcm, STRIDE, window_frames * STRIDE, context_frames * STRIDE)
    stitched = stitch_logprobs(windows, STRIDE)
    assert stitched.shape == (-(-num_samples // STRIDE), 3)
    np.testing.assert_array_equal(stitched[:, 0], np.arange(stitched.shape[0]))
    np.testing.assert_array_equal(stitch_pcm(windows), pcm)
    check_pcm(windows)
    for start, stop in ((0, num_samples), (num_samples // 3, num_samples // 2 + 7), (5, 5)):
        np.testing.assert_array_equal(slice_pcm(windows, start, stop), pcm[start:stop])


@settings(max_examples=40, deadline=None)
@given(
    num_samples=st.integers(1, 30 * STRIDE),
    window_samples=st.integers(STRIDE // 2, 8 * STRIDE),
    context_samples=st.integers(0, 3 * STRIDE),
)
def test_windows_not_on_frame_boundaries_still_cover_each_frame_once(
    num_samples, window_samples, context_samples
):
    # Each window's model output starts at its own first sample.
    windows = []
    for k, start in enumerate(range(0, num_samples, window_samples)):
        owned = min(window_samples, num_samples - start)
        before = min(context_samples, start)
        after = min(context_samples, num_samples - start - owned)
        frames = -(-(before + owned + after) // STRIDE)
        lp = np.zeros((frames, 2), np.float32)
        lp[:, 0] = (start - before) / STRIDE + np.arange(frames)  # fractional global position
        windows.append(Window(k, start, owned, before, lp))
    stitched = stitch_logprobs(windows, STRIDE)
    assert stitched.shape[0] == -(-num_samples // STRIDE)
    # Each frame comes from the local frame nearest to it (within half a frame),
    # or, where rounding asks for one past a window's end, its last frame.
    assert np.abs(stitched[:, 0] - np.arange(stitched.shape[0])).max() < 1.0


def test_a_missing_chunk_is_an_error():
    lp = numbered_frames(10 * STRIDE)
    windows = cut_windows(lp, np.zeros(10 * STRIDE, np.int16), STRIDE, 3 * STRIDE, STRIDE)
    with pytest.raises(StitchError) as e:
        stitch_logprobs(windows[:1] + windows[2:], STRIDE)
    assert e.value.reason == "logits:missing-chunk"


def test_too_few_frames_is_an_error_but_one_short_is_repeated():
    lp = numbered_frames(6 * STRIDE)
    w = Window(0, 0, 6 * STRIDE, 0, lp[:5])
    np.testing.assert_array_equal(stitch_logprobs([w], STRIDE)[:, 0], [0, 1, 2, 3, 4, 4])
    with pytest.raises(StitchError) as e:
        stitch_logprobs([Window(0, 0, 6 * STRIDE, 0, lp[:4])], STRIDE)
    assert e.value.reason == "logits:too-few-frames"


@pytest.mark.parametrize("encoding", quantize.ENCODINGS)
def test_window_logprobs_decodes_the_stored_encodings(encoding):
    lp = np.log(np.random.default_rng(0).dirichlet(np.ones(5), size=7)).astype(np.float32)
    data = quantize.encode_logprobs(lp, encoding)
    back = window_logprobs(data, 7, 5, encoding)
    assert back.shape == (7, 5)
    assert np.abs(np.maximum(back, -15) - np.maximum(lp, -15)).max() <= quantize.UINT8Q_STEP
    with pytest.raises(StitchError) as e:
        window_logprobs(data[:-1], 7, 5, encoding)
    assert e.value.reason == "logits:bad-size"
    with pytest.raises(StitchError):
        window_logprobs(data, 7, 5, "bfloat17")


def test_a_wav2vec2_style_model_loses_no_window_to_its_frame_count():
    """An unpadded conv stack (400-sample frames every 320) is up to 2 frames short of
    ceil(n / 320): every window length still stitches, and to ceil(N / 320) frames."""
    from galvasr.model.contract import ModelInfo
    from galvasr.model.vocab import DEFAULT_VOCAB

    info = ModelInfo("w2v2", "w2v2-0", DEFAULT_VOCAB, 320, 16_000, "wav2vec2", 400)
    assert info.max_missing_frames == 3
    shortfalls = set()
    for n in range(400, 320 * 40, 37):
        short = -(-n // 320) - info.num_frames(n)
        shortfalls.add(short)
        assert 0 <= short <= info.max_missing_frames
        lp = numbered_frames(n)[: info.num_frames(n)]
        stitched = stitch_logprobs([Window(0, 0, n, 0, lp)], 320, info.max_missing_frames)
        assert stitched.shape[0] == -(-n // 320)
        np.testing.assert_array_equal(stitched[: lp.shape[0]], lp)
    assert shortfalls == {1, 2}  # floor((n - 400) / 320) + 1 is 1 or 2 short of ceil(n / 320)
    # The galvasr model pads: never short.
    own = ModelInfo("own", "own-0", DEFAULT_VOCAB, 320, 16_000, "convctc")
    assert all(own.num_frames(n) == -(-n // 320) for n in range(1, 5000, 7))

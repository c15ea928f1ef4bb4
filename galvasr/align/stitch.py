"""Windows of one file back into one frame sequence and one PCM signal.

Decode cuts a file into windows that each own ``num_samples`` samples from
``start_sample`` and carry context on both sides; the model sees the whole
window. Stitching keeps, of each window, only the frames of the samples it
owns, so every frame of the file appears exactly once:

    global frame g covers samples [g * stride, (g + 1) * stride) and is taken
    from the window that owns sample g * stride; inside that window it is
    local frame round((g * stride - window_start) / stride), where
    window_start = start_sample - context_before_samples.

A file of N samples therefore stitches to ceil(N / stride) frames, which is
what the model gives for the unwindowed file. The bytes of a ``logits`` row
are decoded by galvasr.quantize, which defines the encodings.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from galvasr import quantize


class StitchError(ValueError):
    """Windows that cannot be stitched; ``reason`` is a short machine-readable reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def window_logprobs(data: bytes, num_frames: int, vocab_size: int, encoding: str) -> np.ndarray:
    """``[num_frames, vocab_size]`` float32 log-probabilities of one ``logits`` row."""
    if encoding not in quantize.ENCODINGS:
        raise StitchError("logits:unknown-encoding", f"{encoding!r}; known: {quantize.ENCODINGS}")
    try:
        return quantize.decode_logprobs(data, encoding, num_frames, vocab_size)
    except ValueError as e:
        raise StitchError("logits:bad-size", str(e)) from None


@dataclass(frozen=True)
class Window:
    """One window of a file: its place in the file and what the model made of it."""

    chunk_index: int
    start_sample: int
    num_samples: int
    context_before_samples: int
    logprobs: np.ndarray  # [frames, vocab] of the whole window, context included
    pcm: bytes | None = None  # int16 LE of the whole window (context and padding included)


def owned_frames(window: Window, stride: int) -> tuple[int, int, int]:
    """(first global frame, first local frame, frame count) that ``window`` contributes."""
    first = -(-window.start_sample // stride)
    end = -(-(window.start_sample + window.num_samples) // stride)
    origin = window.start_sample - window.context_before_samples
    local = (first * stride - origin + stride // 2) // stride
    return first, local, end - first


def check_windows(windows: Sequence[Window]) -> None:
    """Raise StitchError unless the windows are chunks 0..n-1 owning adjacent sample ranges."""
    if not windows:
        raise StitchError("logits:no-windows", "no windows to stitch")
    position = 0
    for k, w in enumerate(windows):
        if w.chunk_index != k:
            raise StitchError("logits:missing-chunk", f"expected chunk {k}, got {w.chunk_index}")
        if w.start_sample != position:
            raise StitchError(
                "chunks:not-adjacent",
                f"chunk {k} starts at sample {w.start_sample}, expected {position}",
            )
        if w.num_samples <= 0 or w.context_before_samples < 0:
            raise StitchError("chunks:bad-geometry", f"chunk {k}: {w.num_samples} owned samples")
        position += w.num_samples


def stitch_logprobs(windows: Sequence[Window], stride: int, max_missing: int = 1) -> np.ndarray:
    """``[ceil(total_samples / stride), vocab]`` float32 log-probabilities of the file.

    ``windows`` must be in ``chunk_index`` order. A window whose model output
    is up to ``max_missing`` frames short at its end (a model that rounds down,
    or whose frames need more samples than one stride: ``ModelInfo.max_missing_frames``)
    repeats its last frame; more missing frames are an error. Only a file's
    last window can be short where it owns samples: the others end in context.
    """
    check_windows(windows)
    pieces = []
    for w in windows:
        _, local, count = owned_frames(w, stride)
        if count == 0:  # a window shorter than a frame may own no frame's first sample
            continue
        have = w.logprobs.shape[0]
        if local < 0 or local + count > have + max_missing or have == 0:
            raise StitchError(
                "logits:too-few-frames",
                f"chunk {w.chunk_index} has {have} frames, needs {local}..{local + count}",
            )
        if local + count > have:
            kept = w.logprobs[min(local, have) : have]
            pieces.append(kept)
            pieces.append(np.repeat(w.logprobs[have - 1 : have], count - kept.shape[0], axis=0))
        else:
            pieces.append(w.logprobs[local : local + count])
    return np.ascontiguousarray(np.concatenate(pieces, axis=0), dtype=np.float32)


def check_pcm(windows: Sequence[Window]) -> None:
    """Raise StitchError unless every window has PCM covering the samples it owns."""
    check_windows(windows)
    for w in windows:
        if w.pcm is None:
            raise StitchError("chunks:missing-pcm", f"chunk {w.chunk_index} has no PCM")
        if len(w.pcm) < 2 * (w.context_before_samples + w.num_samples):
            raise StitchError(
                "chunks:short-pcm",
                f"chunk {w.chunk_index} has {len(w.pcm) // 2} samples, owns up to "
                f"{w.context_before_samples + w.num_samples}",
            )


def slice_pcm(windows: Sequence[Window], start: int, stop: int) -> np.ndarray:
    """int16 samples ``start:stop`` of the file, gathered from the windows that own them.

    The same samples as ``stitch_pcm(windows)[start:stop]`` without building
    the whole file (a three-hour file is 350 MB); ``check_pcm`` first.
    """
    return PcmSlicer(windows)(start, stop)


class PcmSlicer:
    """``slice_pcm`` for many slices of one file: finds the first window by bisection."""

    def __init__(self, windows: Sequence[Window]) -> None:
        self.windows = windows
        self.starts = [w.start_sample for w in windows]
        self.end = windows[-1].start_sample + windows[-1].num_samples if windows else 0

    def __call__(self, start: int, stop: int) -> np.ndarray:
        stop = min(stop, self.end)
        out = np.empty(max(0, stop - start), dtype=np.int16)
        i = max(0, bisect.bisect_right(self.starts, start) - 1)
        for w in itertools.islice(self.windows, i, None):
            if w.start_sample >= stop:
                break
            lo, hi = max(start, w.start_sample), min(stop, w.start_sample + w.num_samples)
            if lo >= hi:
                continue
            offset = w.context_before_samples + lo - w.start_sample
            pcm = np.frombuffer(w.pcm or b"", dtype="<i2", count=hi - lo, offset=2 * offset)
            out[lo - start : hi - start] = pcm
        return out


def stitch_pcm(windows: Sequence[Window]) -> np.ndarray:
    """int16 samples of the whole file: the owned part of every window, in order."""
    check_windows(windows)
    total = sum(w.num_samples for w in windows)
    out = np.empty(total, dtype=np.int16)
    for w in windows:
        if w.pcm is None:
            raise StitchError("chunks:missing-pcm", f"chunk {w.chunk_index} has no PCM")
        pcm = np.frombuffer(w.pcm, dtype="<i2")
        owned = pcm[w.context_before_samples : w.context_before_samples + w.num_samples]
        if owned.size != w.num_samples:
            raise StitchError(
                "chunks:short-pcm",
                f"chunk {w.chunk_index} has {pcm.size} samples, owns up to "
                f"{w.context_before_samples + w.num_samples}",
            )
        out[w.start_sample : w.start_sample + w.num_samples] = owned
    return out

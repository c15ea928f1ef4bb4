"""Oracle log-probabilities: a file whose every character is spoken at known frames.

Shared by the aligner tests and benchmarks/align_speed.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from galvasr.align.stitch import Window
from galvasr.model.contract import ModelInfo
from galvasr.model.vocab import DEFAULT_VOCAB, Vocabulary

ORACLE_INFO = ModelInfo(
    name="oracle",
    model_version="oracle-00000000",
    vocab=DEFAULT_VOCAB,
    frame_stride_samples=320,
    sample_rate=16_000,
    architecture="oracle",
)
"""The contract of oracle log-probabilities: galvasr's alphabet, 20 ms frames."""


@dataclass(frozen=True)
class OracleCue:
    text: str  # already in the alphabet
    start_frame: int  # first frame of the first character
    end_frame: int  # one past the last frame of the last character
    # (word, first frame of its first character, one past its last character's frames)
    words: tuple[tuple[str, int, int], ...] = ()


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=1, keepdims=True))).astype(np.float32)


def speak(
    texts: Sequence[str],
    vocab: Vocabulary,
    rng: np.random.Generator,
    *,
    pause_frames: tuple[int, int] = (10, 60),
    lead_frames: int = 50,
    tail_frames: int = 50,
    peak: float = 10.0,
    noise: float = 1.0,
    word_pauses: Mapping[int, Mapping[int, int]] | None = None,
) -> tuple[np.ndarray, list[OracleCue]]:
    """(``[frames, vocab]`` log-probabilities, where each text was spoken).

    Each character is one or two frames on which its symbol dominates, with
    0-2 blank frames between characters (at least one between two equal
    ones, as CTC needs); texts are separated by pauses of blank frames.
    ``word_pauses[n][w]`` blank frames are added after the separator that
    follows word ``w`` of text ``n``.
    """
    index = vocab.index
    sep = vocab.word_separator
    frames: list[int] = [vocab.blank_index] * lead_frames
    truth = []
    for n, text in enumerate(texts):
        if n:
            frames += [vocab.blank_index] * int(rng.integers(*pause_frames, endpoint=True))
        start = len(frames)
        previous = None
        pauses = (word_pauses or {}).get(n, {})
        words: list[tuple[str, int, int]] = []
        names = text.split(sep)
        word_start = start
        for k, c in enumerate(text):
            label = index[c]
            if k:
                gap = int(rng.integers(0, 2, endpoint=True))
                frames += [vocab.blank_index] * max(gap, 1 if label == previous else 0)
            if c != sep and (k == 0 or text[k - 1] == sep):
                word_start = len(frames)
            frames += [label] * int(rng.integers(1, 2, endpoint=True))
            if c != sep and (k + 1 == len(text) or text[k + 1] == sep):
                words.append((names[len(words)], word_start, len(frames)))
            if c == sep:
                frames += [vocab.blank_index] * pauses.get(len(words) - 1, 0)
            previous = label
        truth.append(OracleCue(text, start, len(frames), tuple(words)))
    frames += [vocab.blank_index] * tail_frames
    logits = rng.normal(0.0, noise, size=(len(frames), len(vocab.symbols)))
    logits[np.arange(len(frames)), frames] += peak
    return log_softmax(logits), truth


def cut_windows(
    logprobs: np.ndarray,
    pcm: np.ndarray,
    stride: int,
    window_samples: int,
    context_samples: int,
) -> list[Window]:
    """The file cut as decode cuts it: owned windows with context, padded PCM.

    The model output of a window is the file's frames over the window's
    samples (as a model whose receptive field fits in the context would give).
    """
    windows = []
    total = pcm.shape[0]
    for k, start in enumerate(range(0, total, window_samples)):
        owned = min(window_samples, total - start)
        before = min(context_samples, start)
        after = min(context_samples, total - start - owned)
        origin = start - before
        samples = before + owned + after
        first = -(-origin // stride)
        frames = logprobs[first : first + -(-samples // stride)]
        padded = np.zeros(window_samples + 2 * context_samples, dtype="<i2")
        padded[:samples] = pcm[origin : origin + samples]
        windows.append(Window(k, start, owned, before, frames, padded.tobytes()))
    return windows

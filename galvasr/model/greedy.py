"""Greedy CTC decoding: best symbol per frame, repeats collapsed, blanks dropped.

The one greedy decoder of galvasr: training's held-out CER, the benchmarks
and the aligner's per-cue and per-segment checks all decode with it.
"""

from __future__ import annotations

import numpy as np

from galvasr.model.vocab import Vocabulary


def greedy_ids(logprobs: np.ndarray, blank_index: int) -> list[int]:
    """Label ids of ``[frames, vocab]`` log-probabilities (only the valid frames)."""
    best = np.asarray(logprobs).argmax(axis=-1)
    if best.size == 0:
        return []
    keep = np.ones(best.shape, dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    ids = best[keep]
    result: list[int] = ids[ids != blank_index].tolist()
    return result


def greedy_decode(logprobs: np.ndarray, vocab: Vocabulary) -> str:
    """Text of ``[frames, vocab]`` log-probabilities, words separated by single spaces."""
    text = vocab.decode(greedy_ids(logprobs, vocab.blank_index))
    return " ".join(text.split())


def greedy_decode_batch(
    logprobs: np.ndarray, num_frames: np.ndarray, vocab: Vocabulary
) -> list[str]:
    """Texts of a ``[batch, frames, vocab]`` array with ``[batch]`` valid frame counts."""
    lp = np.asarray(logprobs)
    return [greedy_decode(lp[b, : int(n)], vocab) for b, n in enumerate(np.asarray(num_frames))]

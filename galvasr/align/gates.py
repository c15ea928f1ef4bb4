"""Was a cue's text spoken where it was placed? A likelihood ratio against what the model hears.

Forced alignment always puts a cue somewhere, spoken or not. Over the frames
it was placed on, compare two explanations: the cue's text (the best CTC path
through its letters, every frame counted) and no text at all (the model's own
best symbol on every frame, the free path: a "star" that absorbs anything).
Their difference per character of the text is the log-likelihood ratio

    llr = (log P(best path of the text) - sum_t max_k log p_t(k)) / characters

which is 0 when the model hears exactly the text and falls as the text fits
the audio worse. It compares the text with the same model on the same
frames, so a voice the model hears poorly lowers both sides together: a
poorly recognised but spoken cue keeps a ratio near its voice's, while text
nobody says has to pay for every letter on frames that hold something else.

The gate is chance: a cue is heard when, per character, its text is at least
as likely as a character drawn uniformly from the model's alphabet, i.e.
``llr >= -ln(number of non-blank symbols)`` (-3.33 nats for galvasr's 28
letters; -3.43 for a 31-letter wav2vec2 vocabulary). It needs no constant
fitted to any voice. Measured with galvasr-small-dc340e47 (gates off, every
cue placed): on the sample corpus the 21 planted unspoken cues score -6.9 or
less and 461 of 484 spoken ones pass; on the real-speech benchmark
(benchmarks/realspeech_pipeline.py) the unspoken lines score -3.3 to -5.6,
and 102 of 121 spoken cues pass, against 54 under the former absolute gates
(score >= -2, CER <= 0.5) tuned on synthetic voices.
"""

from __future__ import annotations

import math

import numpy as np
from ctc_segmentation.ctc_segmentation_dyn import cython_fill_table

_NO_PATH = np.float32(-1e10)


def chance_llr(num_symbols: int) -> float:
    """``-ln(V)``: the per-character log-likelihood of a uniform guess among V non-blank symbols."""
    return -math.log(max(2, num_symbols))


def text_llr(logprobs: np.ndarray, labels: np.ndarray, blank: int) -> float:
    """Per-character log-likelihood ratio of ``labels`` against the free path over ``logprobs``.

    ``logprobs`` are the frames the text was placed on, with two frames before
    its first letter (ctc-segmentation's table spends the first frame on its
    start symbol, free, and enters a blank before the first label) and a
    frame or more after its last. Both paths are counted from the second
    frame on. -inf when the frames are too few to hold the text.
    """
    frames, count = logprobs.shape[0], int(labels.shape[0])
    if count == 0:
        return 0.0
    path_labels = np.concatenate([[-1, blank], labels, [blank]]).astype(np.int64)
    if frames < path_labels.shape[0]:
        return float("-inf")
    lpz = np.ascontiguousarray(logprobs, dtype=np.float32)
    table = np.full((frames, path_labels.shape[0]), _NO_PATH, dtype=np.float32)
    offsets = np.zeros(path_labels.shape[0], dtype=np.int64)
    # Flags 0: every frame of the path costs its log-probability, as the free path's do.
    cython_fill_table(table, lpz, path_labels[:, None], offsets, blank, 0)
    best = float(max(table[-1, -1], table[-1, -2]))
    if best <= _NO_PATH / 2:
        return float("-inf")
    free = float(lpz[1:].max(axis=1).sum(dtype=np.float64))
    return (best - free) / count

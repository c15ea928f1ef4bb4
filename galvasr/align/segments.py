"""Aligned cues into ~15 s segments of audio with their text.

A segment is a run of consecutive *good* cues (see galvasr.align), cut only
at cue boundaries. A run ends at a bad cue, at a pause longer than
``max_pause_s``, and at a pause in which the model hears letters (speech
that no subtitle covers): a segment never contains audio whose words are
not in its text. Each run is then split by dynamic programming into
segments of ``min_segment_s``..``max_segment_s``, closest to
``target_segment_s``, preferring to cut at long pauses and sentence ends; a
piece that cannot reach ``min_segment_s`` (or a single cue longer than
``max_segment_s``) is dropped and its cues are rejected with the reason.

A good cue longer than ``max_segment_s`` is first split between its words
(``split_long_cue``) into pieces of ``min_segment_s``..``max_segment_s``,
cut at its longest pauses; the pieces then enter the runs as cues do (each
with its words and its part of the text). Only a cue that has no such split
is dropped as too long.

``segment_id`` is a hash of (audio_id, start_ms, end_ms), the same on every
run; ``flac`` encodes a PCM slice as 16 kHz mono 16-bit FLAC, byte-identical
for identical samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from galvasr.align.ctc import AlignedCue, AlignedWord, CueReject
from galvasr.config import AlignConfig

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s*$")

# Costs of a cut, in the unit of "seconds of speech lost": dropping audio
# always costs more than any segment length or cut position.
_LENGTH_COST = 0.5  # per target length of distance from the target
_PAUSE_COST = 0.3  # cutting where the pause is 0 ms (1 s or more: free)
_MID_SENTENCE_COST = 0.2
_DROP_COST_PER_S = 1.0
# Splitting a long cue between words: a cut costs (1 - pause / 1 s)^2 (a
# pause of 1 s or more is free, one of 0 ms costs 1), plus a little for the
# cut itself, so the split cuts at the longest pauses and no more often than
# they are worth.
_WORD_PAUSE_FREE_MS = 1000
_WORD_CUT_COST = 0.01


@dataclass(frozen=True)
class Segment:
    start_ms: int
    end_ms: int
    cues: tuple[AlignedCue, ...]

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def text(self) -> str:
        return " ".join(c.text.strip() for c in self.cues)

    @property
    def score(self) -> float:
        return min(c.score for c in self.cues)

    @property
    def llr(self) -> float:
        return min(c.llr for c in self.cues)

    def text_normalized(self, word_separator: str = " ") -> str:
        return word_separator.join(c.text_normalized for c in self.cues)


def segment_id(audio_id: int, start_ms: int, end_ms: int) -> int:
    """A signed 64-bit id of a segment, stable across runs and machines."""
    digest = hashlib.blake2b(f"{audio_id}:{start_ms}:{end_ms}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def flac(pcm: np.ndarray, sample_rate: int) -> bytes:
    """16-bit mono FLAC of int16 samples."""
    out = io.BytesIO()
    sf.write(out, np.asarray(pcm, dtype=np.int16), sample_rate, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def runs(cues: Sequence[AlignedCue], config: AlignConfig) -> list[list[AlignedCue]]:
    """Maximal runs of consecutive good cues that may share a segment (cues in time order)."""
    out: list[list[AlignedCue]] = []
    current: list[AlignedCue] = []
    for cue in cues:
        if cue.problem is not None:
            if current:
                out.append(current)
            current = []
            continue
        if current:
            previous = current[-1]
            pause_ms = cue.start_ms - previous.end_ms
            if (
                pause_ms > 1000 * config.max_pause_s
                or previous.gap_letters_after >= config.gap_speech_chars
            ):
                out.append(current)
                current = []
        current.append(cue)
    if current:
        out.append(current)
    return out


def cut_segments(
    cues: Sequence[AlignedCue], config: AlignConfig, word_separator: str = " "
) -> tuple[list[Segment], list[CueReject]]:
    """Segments of a file's aligned cues (in time order), and the good cues left out.

    ``word_separator`` is the model's (it joins the normalized words of the
    pieces of a long cue).
    """
    cues = [
        piece
        for c in cues
        for piece in (split_long_cue(c, config, word_separator) if c.problem is None else [c])
    ]
    segments: list[Segment] = []
    dropped: list[CueReject] = []
    for run in runs(cues, config):
        for piece, keep in _split(run, config):
            if keep:
                segments.append(Segment(piece[0].start_ms, piece[-1].end_ms, tuple(piece)))
                continue
            duration_s = (piece[-1].end_ms - piece[0].start_ms) / 1000
            reason = (
                "segment:too-long" if duration_s > config.max_segment_s else "segment:too-short"
            )
            dropped.extend(
                CueReject(i, reason, f"{duration_s:.2f} s of cues that cannot be split")
                for i in dict.fromkeys(c.cue_index for c in piece)  # a split cue's pieces: once
            )
    return segments, dropped


def split_long_cue(
    cue: AlignedCue, config: AlignConfig, word_separator: str = " "
) -> list[AlignedCue]:
    """A cue longer than ``max_segment_s`` as pieces that each fit in a segment; else [cue].

    The pieces are cut between words, each ``min_segment_s``..``max_segment_s``
    long, and of all such splits the one whose cuts cost least (see
    ``_WORD_CUT_COST``: the longest pauses between one word's end and the
    next one's start). Where a piece ends and the next starts, the cut is
    padded as a cue's edges are (``pad_after_ms``, ``pad_before_ms``), never
    past the middle of the pause. A piece keeps its cue's index, score, CER,
    raw and decoded text; its ``text`` is its words as the cue's text writes
    them when the words pair (``AlignedWord.text``), else its normalized
    words; its frames are its words'. A cue without words, or with no split
    in bounds, is returned whole.
    """
    lo, hi = 1000 * config.min_segment_s, 1000 * config.max_segment_s
    words = cue.words
    n = len(words)
    if cue.end_ms - cue.start_ms <= hi or n < 2:
        return [cue]
    # The piece that ends before word j ends at ends[j]; the one from word j starts at starts[j].
    starts, ends = [cue.start_ms] * (n + 1), [cue.end_ms] * (n + 1)
    for j in range(1, n):
        a, b = words[j - 1].end_ms, max(words[j - 1].end_ms, words[j].start_ms)
        middle = (a + b) // 2
        ends[j] = min(a + config.pad_after_ms, middle)
        starts[j] = max(b - config.pad_before_ms, middle)
    best = [0.0] + [float("inf")] * n
    back = [0] * (n + 1)
    for j in range(1, n + 1):
        cut = _word_cut_cost(words[j - 1], words[j]) if j < n else 0.0
        for i in range(j - 1, -1, -1):
            duration = ends[j] - starts[i]
            if duration > hi:
                break  # longer pieces only get longer
            if duration >= lo and best[i] + cut < best[j]:
                best[j], back[j] = best[i] + cut, i
    if best[n] == float("inf"):
        return [cue]
    bounds = []
    j = n
    while j > 0:
        bounds.append((back[j], j))
        j = back[j]
    pieces = []
    for i, j in reversed(bounds):
        part = words[i:j]
        originals = [w.text for w in part if w.text is not None]
        text = " ".join(originals if len(originals) == len(part) else [w.word for w in part])
        pieces.append(
            dataclasses.replace(
                cue,
                start_ms=starts[i],
                end_ms=ends[j],
                start_frame=part[0].start_frame,
                end_frame=part[-1].end_frame,
                text=text,
                text_normalized=word_separator.join(w.word for w in part),
                gap_letters_after=cue.gap_letters_after if j == n else 0,
                words=part,
            )
        )
    return pieces


def _word_cut_cost(before: AlignedWord, after: AlignedWord) -> float:
    pause_ms = min(max(0, after.start_ms - before.end_ms), _WORD_PAUSE_FREE_MS)
    return (1 - pause_ms / _WORD_PAUSE_FREE_MS) ** 2 + _WORD_CUT_COST


def _split(run: list[AlignedCue], config: AlignConfig) -> list[tuple[list[AlignedCue], bool]]:
    """Best split of a run into (cues, kept) pieces, by dynamic programming over cut points."""
    n = len(run)
    lo, hi, target = (1000 * x for x in (config.min_segment_s, config.max_segment_s,
                                         config.target_segment_s))  # fmt: skip
    best = [0.0] + [float("inf")] * n
    choice: list[tuple[int, bool]] = [(0, False)] * (n + 1)
    for j in range(1, n + 1):
        cut = _cut_cost(run, j) if j < n else 0.0
        for i in range(j - 1, -1, -1):
            duration = run[j - 1].end_ms - run[i].start_ms
            if duration > hi and i < j - 1:
                break  # longer pieces only get longer
            if lo <= duration <= hi:
                cost, keep = _LENGTH_COST * abs(duration - target) / target, True
            else:
                cost, keep = _DROP_COST_PER_S * duration / 1000, False
            total = best[i] + cost + cut
            if total < best[j]:
                best[j], choice[j] = total, (i, keep)
    pieces = []
    j = n
    while j > 0:
        i, keep = choice[j]
        pieces.append((run[i:j], keep))
        j = i
    return pieces[::-1]


def _cut_cost(run: list[AlignedCue], j: int) -> float:
    """Cost of a cut between ``run[j - 1]`` and ``run[j]``."""
    pause_ms = max(0, run[j].start_ms - run[j - 1].end_ms)
    cost = _PAUSE_COST * (1 - min(pause_ms, 1000) / 1000)
    if not _SENTENCE_END.search(run[j - 1].text):
        cost += _MID_SENTENCE_COST
    return cost

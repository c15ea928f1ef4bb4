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

``segment_id`` is a hash of (audio_id, start_ms, end_ms), the same on every
run; ``flac`` encodes a PCM slice as 16 kHz mono 16-bit FLAC, byte-identical
for identical samples.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from galvasr.align.ctc import AlignedCue, CueReject
from galvasr.config import AlignConfig

_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s*$")

# Costs of a cut, in the unit of "seconds of speech lost": dropping audio
# always costs more than any segment length or cut position.
_LENGTH_COST = 0.5  # per target length of distance from the target
_PAUSE_COST = 0.3  # cutting where the pause is 0 ms (1 s or more: free)
_MID_SENTENCE_COST = 0.2
_DROP_COST_PER_S = 1.0


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
    cues: Sequence[AlignedCue], config: AlignConfig
) -> tuple[list[Segment], list[CueReject]]:
    """Segments of a file's aligned cues (in time order), and the good cues left out."""
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
                CueReject(c.cue_index, reason, f"{duration_s:.2f} s of cues that cannot be split")
                for c in piece
            )
    return segments, dropped


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

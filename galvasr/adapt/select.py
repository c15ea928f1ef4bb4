"""Which segments train a round, and which files are held out (pure: no Spark, no JAX).

A file is held out by a hash of its ``audio_id`` (chosen once, among the files
the first round finds segments in, and kept for every round): the same files
in every run of the same corpus, never trained on. A training segment
must pass every rule, each the stage's own acceptance rule made stricter:

- ``release``: kept by ``[release]`` (CER at most ``dirty_max_cer``, score at
  least ``min_score``), so it is data the run would ship (skipped when
  ``[adapt] only_released`` is false);
- ``cer``: the segment's greedy decode within ``[adapt] max_cer`` of its text;
- ``cue-cer``, ``cue-score``: every cue inside it too, and every cue's
  ctc-segmentation confidence at least ``[adapt] min_cue_score``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from galvasr.config import AdaptConfig, ReleaseConfig


@dataclass(frozen=True)
class Cue:
    """An aligned cue, as ``alignments`` holds it (file time)."""

    audio_id: int
    start_ms: int
    end_ms: int
    score: float
    cer: float


@dataclass(frozen=True)
class Candidate:
    """A segment, as ``segments`` holds it (its audio left out)."""

    segment_id: int
    audio_id: int
    start_ms: int
    end_ms: int
    score: float
    cer: float


def heldout_unit(audio_id: int) -> float:
    """A file's place in [0, 1): a hash of its audio_id."""
    digest = hashlib.sha256(f"galvasr-adapt:{audio_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def heldout_files(audio_ids: Iterable[int], fraction: float) -> frozenset[int]:
    """Files whose hash falls below ``fraction``; with two files or more, at least one
    held out and at least one left to train on (the lowest and highest hashes)."""
    ranked = sorted(set(audio_ids), key=heldout_unit)
    held = [a for a in ranked if heldout_unit(a) < fraction]
    if len(ranked) >= 2:
        held = held or ranked[:1]
        held = held[: len(ranked) - 1]
    return frozenset(held)


def cues_in(segment: Candidate, cues: Sequence[Cue]) -> list[Cue]:
    """The cues whose middle lies inside the segment (a segment is cut at cue edges)."""
    return [
        c
        for c in cues
        if c.audio_id == segment.audio_id
        and segment.start_ms <= (c.start_ms + c.end_ms) // 2 < segment.end_ms
    ]


def verdict(
    segment: Candidate, cues: Sequence[Cue], adapt: AdaptConfig, release: ReleaseConfig
) -> str:
    """``"train"``, or the first rule the segment fails."""
    if adapt.only_released and (
        segment.cer > release.dirty_max_cer or segment.score < release.min_score
    ):
        return "release"
    if segment.cer > adapt.max_cer:
        return "cer"
    if not cues:
        return "no-cues"
    if any(c.cer > adapt.max_cer for c in cues):
        return "cue-cer"
    if any(c.score < adapt.min_cue_score for c in cues):
        return "cue-score"
    return "train"


@dataclass(frozen=True)
class Selection:
    train: tuple[int, ...]  # segment_ids, sorted
    heldout: tuple[int, ...]  # every segment of a held-out file, sorted
    reasons: dict[str, int]  # segments of training files not selected, by rule


def select(
    segments: Sequence[Candidate],
    cues: Sequence[Cue],
    held: frozenset[int],
    adapt: AdaptConfig,
    release: ReleaseConfig,
) -> Selection:
    """Training segments (of files not in ``held``) and the held-out files' segments."""
    by_file: dict[int, list[Cue]] = {}
    for c in cues:
        by_file.setdefault(c.audio_id, []).append(c)
    train: list[int] = []
    heldout: list[int] = []
    reasons: Counter[str] = Counter()
    for s in segments:
        if s.audio_id in held:
            heldout.append(s.segment_id)
            continue
        v = verdict(s, cues_in(s, by_file.get(s.audio_id, [])), adapt, release)
        if v == "train":
            train.append(s.segment_id)
        else:
            reasons[v] += 1
    return Selection(tuple(sorted(train)), tuple(sorted(heldout)), dict(sorted(reasons.items())))

"""Cue edges moved from CTC's letters to where the speech starts and stops, by a speech detector.

CTC places a cue's first letter a little after its speech starts and its last
letter often well before it ends (the last spike can come 0.1 to 0.4 s early,
and soft endings, final consonants and breathy offsets get no spike at all).
A voice activity detector trained on real speech (galvasr.align.vad) says
where the speech around those letters really begins and ends, in 32 ms
chunks, whatever the noise floor: unlike an energy rule, it does not mistake a
noise floor 25 dB under the voice for silence, nor a quiet consonant for it.

For each good cue: the speech run that holds its first (last) letter is
followed outwards while Silero's probability stays at or above
``vad_neg_threshold`` (the detector's own hysteresis: speech starts at
``vad_threshold`` and continues until the probability drops under the lower
threshold), never past a neighbouring good cue's letters nor more than
``snap_search_ms`` from the letter. The edge goes to the run's end plus
``snap_pad_ms``, and never inside the letters CTC found. Where the detector
hears no speech at the letters, or the speech runs on into the neighbour's
letters (no pause to find), CTC's padded time stays.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import numpy as np

from galvasr.align import vad
from galvasr.align.ctc import AlignedCue
from galvasr.align.stitch import PcmSlicer
from galvasr.config import AlignConfig
from galvasr.model.contract import FrameClock

CHUNK_MS = 1000 * vad.CHUNK_SAMPLES / vad.SAMPLE_RATE  # 32 ms


@dataclasses.dataclass(frozen=True)
class _Bounds:
    char_start: float  # ms of the first letter's first frame
    char_end: float  # ms just past the last letter's last frame
    lo: float  # the start may not move before this
    hi: float  # the end may not move after this


def _bounds(
    good: Sequence[AlignedCue], clock: FrameClock, config: AlignConfig, duration_ms: float
) -> list[_Bounds]:
    out = []
    for i, a in enumerate(good):
        char_start, char_end = clock.ms(a.start_frame), clock.ms(a.end_frame)
        lo = max(0.0, char_start - config.snap_search_ms)
        if i:
            lo = max(lo, clock.ms(good[i - 1].end_frame))
        hi = min(duration_ms, char_end + config.snap_search_ms)
        if i + 1 < len(good):
            hi = min(hi, clock.ms(good[i + 1].start_frame))
        out.append(_Bounds(char_start, char_end, lo, hi))
    return out


def regions(
    aligned: Sequence[AlignedCue], clock: FrameClock, config: AlignConfig, duration_ms: float
) -> list[tuple[int, int]]:
    """The VAD chunk ranges the edges of the good cues need."""
    good = [a for a in aligned if a.problem is None]
    out = []
    for b in _bounds(good, clock, config, duration_ms):
        out.append((int(b.lo // CHUNK_MS), int(b.char_start // CHUNK_MS) + 2))
        out.append((int(b.char_end // CHUNK_MS) - 2, math.ceil(b.hi / CHUNK_MS) + 1))
    return out


def snap_to_speech(
    aligned: Sequence[AlignedCue],
    probs: np.ndarray,
    clock: FrameClock,
    config: AlignConfig,
    duration_ms: float,
) -> list[AlignedCue]:
    """Good cues' times moved to the detector's speech onset and offset; see the module doc.

    ``probs`` holds the speech probability of each 32 ms chunk of the file
    (NaN where it was not computed: those edges keep CTC's times).
    """
    good = [a for a in aligned if a.problem is None]
    out: dict[int, AlignedCue] = {}
    onset_at = config.vad_neg_threshold
    for a, b in zip(good, _bounds(good, clock, config, duration_ms), strict=True):
        start_ms, end_ms = float(a.start_ms), float(a.end_ms)
        onset = _edge(probs, b.char_start, b.lo, -1, onset_at, config.vad_threshold)
        if onset is not None:
            start_ms = max(b.lo, min(onset, b.char_start) - config.snap_pad_ms)
        offset = _edge(probs, b.char_end - 1, b.hi, +1, onset_at, config.vad_threshold)
        if offset is not None:
            end_ms = min(b.hi, max(offset, b.char_end) + config.snap_pad_ms)
        if (start_ms, end_ms) != (a.start_ms, a.end_ms):
            out[id(a)] = dataclasses.replace(
                a, start_ms=int(round(start_ms)), end_ms=int(round(end_ms))
            )
    return [out.get(id(a), a) for a in aligned]


def _edge(
    probs: np.ndarray, letter_ms: float, bound_ms: float, step: int, keep: float, start: float
) -> float | None:
    """Where the speech run holding ``letter_ms`` ends going in direction ``step``, in ms.

    None when the detector hears no speech at the letter (no chunk of the run
    at ``start`` or more within one chunk of it), when the run reaches
    ``bound_ms`` (no pause before the bound), or where it was not computed.
    """
    n = probs.shape[0]
    k = int(letter_ms // CHUNK_MS)
    near = probs[max(0, k - 1) : min(n, k + 2)]
    if near.size == 0 or np.isnan(near).any() or not (near >= start).any():
        return None
    if step < 0:
        limit = int(math.ceil(bound_ms / CHUNK_MS))  # first chunk wholly after the bound
        j = k
        while j - 1 >= limit and probs[j - 1] >= keep:
            j -= 1
        if j - 1 < limit or np.isnan(probs[j - 1]):
            return None
        return j * CHUNK_MS
    limit = int(bound_ms // CHUNK_MS)  # last chunk wholly before the bound, plus one
    j = k
    while j + 1 < min(n, limit) and probs[j + 1] >= keep:
        j += 1
    if j + 1 >= min(n, limit) or np.isnan(probs[j + 1]):
        return None
    return (j + 1) * CHUNK_MS


def snap(
    aligned: Sequence[AlignedCue],
    pcm: PcmSlicer,
    clock: FrameClock,
    config: AlignConfig,
) -> list[AlignedCue]:
    """Cue edges from the audio, by ``config.snap_with``.

    ``"energy"``: galvasr.align.ctc.snap_to_audio, where the pause is clearly
    quieter than the cue. ``"energy+vad"``: the same, and the speech detector
    for the good cues the energy rule left alone (a pause too noisy for it).
    ``"vad"``: the speech detector for every good cue. ``pcm`` is the file's
    PcmSlicer (``pcm(a, b)`` gives samples ``a:b``, ``pcm.end`` the length).
    """
    from galvasr.align.ctc import snap_to_audio

    num_samples = int(pcm.end)
    duration_ms = 1000.0 * num_samples / clock.sample_rate
    if config.snap_with == "vad":
        probs = probabilities_for(aligned, pcm, num_samples, clock, config)
        return snap_to_speech(aligned, probs, clock, config, duration_ms)
    snapped = snap_to_audio(aligned, pcm, clock, config)
    if config.snap_with == "energy":
        return snapped
    # Cues the energy rule did not move keep their CTC times; hand those to the detector.
    unmoved = [
        a if a.problem is None and (a.start_ms, a.end_ms) == (s.start_ms, s.end_ms) else None
        for a, s in zip(aligned, snapped, strict=True)
    ]
    todo = [a for a in unmoved if a is not None]
    if not todo:
        return snapped
    probs = probabilities_for(todo, pcm, num_samples, clock, config)
    # Bounds come from every good cue's letters, so the detector never crosses a neighbour.
    by_vad = snap_to_speech(aligned, probs, clock, config, duration_ms)
    return [v if u is not None else s for u, s, v in zip(unmoved, snapped, by_vad, strict=True)]


def probabilities_for(
    aligned: Sequence[AlignedCue],
    pcm_slice: Callable[[int, int], np.ndarray],
    num_samples: int,
    clock: FrameClock,
    config: AlignConfig,
) -> np.ndarray:
    """The detector's probabilities over the regions the good cues' edges need."""
    duration_ms = 1000.0 * num_samples / clock.sample_rate
    return vad.speech_probabilities(
        pcm_slice, num_samples, regions(aligned, clock, config, duration_ms)
    )

"""One audio file's speech: sentences synthesized one by one, placed with known pauses.

Every sentence (or, for a sentence a subtitle will split, each of its two
halves) is synthesized on its own, trimmed (galvasr.synth.voices.TRIM_DB), resampled to the
file's rate, peak-normalized to its reader's level and placed after a pause
drawn from the RNG, so its first and last samples in the file are known
exactly. Some pauses are planted long, for the non-speech cues a subtitle
puts there (unspoken text, ♪, [sound]).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from galvasr.corpus.items import AudioPlan
from galvasr.synth.voices import Voice, resample, trimmed_speech

# Pauses, in seconds.
LEAD_S = (0.6, 2.0)  # silence before the first sentence (more when subtitles run early)
PAUSE_S = (0.3, 1.5)  # between sentences
PART_PAUSE_S = (0.12, 0.25)  # between the two halves of a split sentence
GAP_S = (1.6, 3.0)  # a planted long pause that a non-speech cue covers
TAIL_S = (0.8, 2.0)  # silence after the last sentence
CREDIT_TAIL_S = (3.0, 4.0)  # ... when a credit line is shown there

P_SPLIT = 0.10  # a sentence with a comma near its middle is spoken (and subtitled) in halves
SPLIT_CHARS = 90  # ... always, when it is longer than this (a cue holds two lines of 42)
# Sentences between two planted gaps, drawn anew after each: a pause where the
# subtitle shows text nobody speaks (about 1 sentence in 19, so about 5 % of
# the cue text), a [sound] cue (files with sounds), a ♪ cue (files with music).
EVERY_UNSPOKEN = (12, 26)
EVERY_SOUND = (15, 30)
EVERY_MUSIC = (20, 40)
TURN_SENTENCES = (3, 8)  # a reader speaks this many sentences before the next one takes over
LEVEL = (0.35, 0.85)  # peak level of a file's loudest reader


@dataclass(frozen=True)
class Utterance:
    """One synthesized piece: a sentence, or half of one."""

    sentence_index: int  # in the file, from 0
    part: int  # 0, or 1 for the second half of a split sentence
    num_parts: int
    text: str
    start_sample: int  # first sample of speech, at the file's rate
    end_sample: int  # one past the last sample of speech
    voice: str  # Voice.id
    speaker: int  # index into the item's voices


@dataclass(frozen=True)
class Gap:
    """A planted pause that a non-speech cue covers."""

    after_sentence: int  # the sentence before it; -1: the leading silence
    kind: str  # "unspoken", "music", "sound", "credit"
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class Track:
    rate: int
    samples: np.ndarray  # float32, shape (channels, n)
    utterances: tuple[Utterance, ...]
    gaps: tuple[Gap, ...]
    sentences_used: int  # how many sentences of the item's range this file spoke

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_ms(self) -> float:
        return self.num_samples * 1000 / self.rate


Synthesizer = Callable[[str, Voice], tuple[np.ndarray, int]]


def split_point(text: str) -> int | None:
    """Where a sentence is cut in two: after the comma nearest its middle, if any lies
    in the middle half and leaves at least three words on each side."""
    best: int | None = None
    for m in re.finditer(r",\s+", text):
        cut = m.end()
        if not 0.25 <= cut / len(text) <= 0.75:
            continue
        if len(text[:cut].split()) < 3 or len(text[cut:].split()) < 3:
            continue
        if best is None or abs(cut - len(text) / 2) < abs(best - len(text) / 2):
            best = cut
    return best


def build_track(
    plan: AudioPlan,
    texts: list[str],
    voices: tuple[Voice, ...],
    rng: np.random.Generator,
    synth: Synthesizer = trimmed_speech,
) -> Track:
    """Speak ``texts`` in order until ``plan.seconds`` of audio have passed."""
    rate = plan.rate
    sub = plan.subtitle

    def samples(bounds: tuple[float, float]) -> int:
        return int(round(rng.uniform(*bounds) * rate))

    level = rng.uniform(*LEVEL)
    speaker_levels = [level] + [level * rng.uniform(0.75, 1.0) for _ in voices[1:]]
    pieces: list[np.ndarray] = []
    utterances: list[Utterance] = []
    gaps: list[Gap] = []
    pos = 0

    def silence(n: int) -> None:
        nonlocal pos
        pieces.append(np.zeros(n, np.float32))
        pos += n

    # Subtitles that run early (negative offset) still need every time >= 0.
    early = max(0, -sub.offset_ms) * rate // 1000
    if sub.music:
        lead = early + samples(GAP_S)
        gaps.append(Gap(-1, "music", early, lead))
    else:
        lead = early + samples(LEAD_S)
    silence(lead)

    gaps_due = _GapSchedule(rng, sounds=sub.sounds, music=sub.music)
    speaker = 0
    turn_left = int(rng.integers(*TURN_SENTENCES, endpoint=True))
    target = int(plan.seconds * rate)
    index = 0
    while pos < target:
        if index >= len(texts):
            raise ValueError(f"{plan.name}: the item's sentence range ran out")
        text = texts[index]
        if len(voices) > 1 and turn_left == 0:
            speaker = (speaker + 1) % len(voices)
            turn_left = int(rng.integers(*TURN_SENTENCES, endpoint=True))
        turn_left -= 1
        voice = voices[speaker]
        split = rng.random() < P_SPLIT or len(text) > SPLIT_CHARS
        cut = split_point(text) if split else None
        parts = [text] if cut is None else [text[:cut].rstrip(), text[cut:].strip()]
        for part_index, part in enumerate(parts):
            if part_index:
                silence(samples(PART_PAUSE_S))
            audio, source_rate = synth(part, voice)
            audio = resample(audio, source_rate, rate)
            audio *= speaker_levels[speaker] / float(np.abs(audio).max())
            utterances.append(
                Utterance(index, part_index, len(parts), part, pos, pos + audio.size,
                          voice.id, speaker)
            )  # fmt: skip
            pieces.append(audio)
            pos += audio.size
        index += 1
        if pos >= target:
            break
        kind = gaps_due.next(rng)
        if kind is None:
            silence(samples(PAUSE_S))
        else:
            n = samples(GAP_S)
            gaps.append(Gap(index - 1, kind, pos, pos + n))
            silence(n)
    if sub.credit:
        n = samples(CREDIT_TAIL_S)
        gaps.append(Gap(index - 1, "credit", pos, pos + n))
        silence(n)
    else:
        silence(samples(TAIL_S))

    mono = np.concatenate(pieces)
    if plan.channels == 1:
        stacked = mono[None, :]
    else:
        # the reader stands a little off centre
        weaker = rng.uniform(0.6, 0.95)
        gains = (1.0, weaker) if rng.random() < 0.5 else (weaker, 1.0)
        stacked = np.stack([mono * gains[0], mono * gains[1]])
    return Track(rate, stacked.astype(np.float32), tuple(utterances), tuple(gaps), index)


class _GapSchedule:
    """Counts sentences down to the next planted gap of each kind."""

    def __init__(self, rng: np.random.Generator, *, sounds: bool, music: bool):
        self.every = {"unspoken": EVERY_UNSPOKEN}
        if sounds:
            self.every["sound"] = EVERY_SOUND
        if music:
            self.every["music"] = EVERY_MUSIC
        self.left = {k: int(rng.integers(1, v[1])) for k, v in self.every.items()}

    def next(self, rng: np.random.Generator) -> str | None:
        """The kind of gap after this sentence, if one is due (one gap at a time)."""
        for kind in self.left:
            self.left[kind] -= 1
        for kind, left in self.left.items():
            if left <= 0:
                self.left[kind] = int(rng.integers(*self.every[kind], endpoint=True))
                return kind
        return None

"""Word timing and long-cue splitting on oracle log-probabilities (every letter at known frames)."""

from __future__ import annotations

import numpy as np
import pytest

from galvasr.align.ctc import Cue, align_cues
from galvasr.align.oracle import OracleCue, cut_windows, speak
from galvasr.align.stage import FileInput, align_file
from galvasr.config import AlignConfig
from galvasr.model.contract import FrameClock, ModelInfo
from galvasr.model.vocab import DEFAULT_VOCAB

CLOCK = FrameClock(320, 16_000)  # 20 ms frames
EXACT = AlignConfig(pad_before_ms=0, pad_after_ms=0)
CONTRACT = ModelInfo("oracle", "oracle-0", DEFAULT_VOCAB, 320, 16_000, "oracle")
WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven",
         "old", "men", "sing", "about", "rivers", "and", "distant", "hills", "in",
         "summer")  # fmt: skip


def sentences(rng: np.random.Generator, n: int, words: tuple[int, int] = (2, 12)) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(*words)))) for _ in range(n)]


def cues_of(truth: list[OracleCue], offset_ms: int = 300) -> list[Cue]:
    """Subtitles a little late, their text capitalised and with a full stop."""
    return [
        Cue(i, CLOCK.ms(t.start_frame) + offset_ms, CLOCK.ms(t.end_frame) + offset_ms,
            t.text.capitalize() + ".")
        for i, t in enumerate(truth)
    ]  # fmt: skip


def word_errors(aligned, truth: list[OracleCue]) -> np.ndarray:
    """(start, end) frame errors of every word of every aligned cue, checking names and order."""
    errors = []
    for a in aligned:
        t = truth[a.cue_index]
        assert [w.word for w in a.words] == [name for name, _, _ in t.words]
        assert a.words[0].start_frame == a.start_frame and a.words[-1].end_frame == a.end_frame
        for w, v in zip(a.words, a.words[1:], strict=False):
            assert w.start_frame < w.end_frame <= v.start_frame
        for w, (_, start, end) in zip(a.words, t.words, strict=True):
            assert (w.start_ms, w.end_ms) == (CLOCK.ms(w.start_frame), CLOCK.ms(w.end_frame))
            errors.append((w.start_frame - start, w.end_frame - end))
    return np.array(errors)


@pytest.mark.parametrize("unspoken_separator", [False, True])
def test_word_times_are_the_oracles_within_a_frame(unspoken_separator):
    rng = np.random.default_rng(21)
    pauses = {n: {1: 15, 3: 30} for n in range(0, 40, 3)}  # some long pauses between words
    logprobs, truth = speak(sentences(rng, 40), DEFAULT_VOCAB, rng, word_pauses=pauses)
    if unspoken_separator:  # a model that emits no word separator: it wins no frame
        spoken = logprobs.argmax(axis=1) == DEFAULT_VOCAB.index[" "]
        logprobs[spoken, 0], logprobs[spoken, 1] = logprobs[spoken, 1], logprobs[spoken, 0].copy()
    aligned, rejects = align_cues(logprobs, cues_of(truth), DEFAULT_VOCAB, CLOCK, EXACT)
    assert rejects == [] and len(aligned) == len(truth)
    errors = word_errors(aligned, truth)
    assert len(errors) > 200
    assert np.abs(errors).max() <= 1, np.unique(errors, return_counts=True)
    for a in aligned:
        assert all(-0.5 < w.score <= 0.0 for w in a.words)
        # The cue's text pairs word for word with its normalized text.
        assert [w.text for w in a.words] == a.text.split()


def test_a_word_text_that_does_not_pair_is_left_out():
    rng = np.random.default_rng(22)
    logprobs, truth = speak(["self evident men", "we sing"], DEFAULT_VOCAB, rng)
    cues = [Cue(0, 1000, 1900, "Self-evident men."), Cue(1, 2100, 2600, "We sing!")]
    cues = [Cue(i, CLOCK.ms(t.start_frame), CLOCK.ms(t.end_frame), c.text)
            for i, (t, c) in enumerate(zip(truth, cues, strict=True))]  # fmt: skip
    aligned, _ = align_cues(logprobs, cues, DEFAULT_VOCAB, CLOCK, EXACT)
    assert [[(w.word, w.text) for w in a.words] for a in aligned] == [
        [("self", None), ("evident", None), ("men", None)],  # two text words, three spoken
        [("we", "We"), ("sing", "sing!")],
    ]
    assert np.abs(word_errors(aligned, truth)).max() <= 1


def test_a_42_second_cue_is_split_at_its_longest_pauses_and_released():
    rng = np.random.default_rng(23)
    texts = sentences(rng, 2, (6, 10))
    texts.append(" ".join(rng.choice(WORDS, size=150)))  # one sentence of 42 s
    texts += sentences(rng, 2, (6, 10))
    # 0.8 s pauses after words 49 and 99 of the long sentence; shorter ones elsewhere.
    long_pauses = {49: 40, 99: 40}
    pauses = {2: {**long_pauses, 20: 10, 75: 12, 120: 8}}
    logprobs, truth = speak(texts, DEFAULT_VOCAB, rng, word_pauses=pauses, pause_frames=(20, 30))
    assert 40_000 <= CLOCK.ms(truth[2].end_frame - truth[2].start_frame) <= 44_000
    pcm = rng.integers(-1000, 1000, size=logprobs.shape[0] * 320).astype(np.int16)
    windows = cut_windows(logprobs, pcm, 320, 8 * 16_000, 16_000)
    file = FileInput(7, "item", "a.mp3", "cc-by", windows, cues_of(truth))
    config = AlignConfig()
    out = align_file(file, CONTRACT, config)

    assert [r for r in out.rejects if r.cue_index == 2] == []
    row = next(a for a in out.alignments if a.cue_index == 2)
    assert row.end_ms - row.start_ms > 1000 * config.max_segment_s
    # The alignment carries the words in the file's time, as the oracle spoke them.
    assert [w.word for w in row.words] == [name for name, _, _ in truth[2].words]
    for w, (_, start, end) in zip(row.words, truth[2].words, strict=True):
        assert abs(w.start_ms - CLOCK.ms(start)) <= 20 and abs(w.end_ms - CLOCK.ms(end)) <= 20
    assert [w.text for w in row.words] == row.text.split()

    # Each of its words is in exactly one segment; the segments cut it at the two long pauses.
    times = {(w.start_ms, w.end_ms): k for k, w in enumerate(row.words)}
    holders: dict[int, int] = {}
    for n, s in enumerate(out.segments):
        assert 1000 * config.min_segment_s <= s.duration_ms <= 1000 * config.max_segment_s
        assert s.cer == 0.0
        for w in s.words:
            assert 0 <= w.start_ms < w.end_ms <= s.duration_ms
            k = times.get((s.start_ms + w.start_ms, s.start_ms + w.end_ms))
            if k is not None:
                assert k not in holders
                holders[k] = n
        mine = [w for w in s.words if (s.start_ms + w.start_ms, s.start_ms + w.end_ms) in times]
        if mine:  # its text holds the cue's own words of the piece
            assert " ".join(w.text for w in mine) in s.text
    assert sorted(holders) == list(range(len(row.words)))
    cuts = [k for k in range(1, len(row.words)) if holders[k] != holders[k - 1]]
    assert cuts == [w + 1 for w in sorted(long_pauses)]
    gaps = [b.start_ms - a.end_ms for a, b in zip(row.words, row.words[1:], strict=False)]
    assert sorted(np.argsort(gaps)[-2:] + 1) == cuts  # the two longest pauses
    # The same file gives the same output.
    assert align_file(file, CONTRACT, config) == out

"""Cutting aligned cues into segments: properties that hold for any file."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from galvasr.align.ctc import AlignedCue, AlignedWord
from galvasr.align.segments import cut_segments, flac, runs, segment_id, split_long_cue
from galvasr.config import AlignConfig

CONFIG = AlignConfig()


def cue(i: int, start_ms: int, end_ms: int, *, text: str = "words.", problem: str | None = None,
        gap_letters_after: int = 0) -> AlignedCue:  # fmt: skip
    return AlignedCue(
        cue_index=i, start_ms=start_ms, end_ms=end_ms, start_frame=start_ms // 20,
        end_frame=end_ms // 20, score=-0.1, cer=0.0, text=text, text_raw=text,
        text_normalized="words", decoded="words", subtitle_start_ms=start_ms, problem=problem,
        gap_letters_after=gap_letters_after,
    )  # fmt: skip


@st.composite
def files(draw):
    """Cues in time order: durations 0.2-20 s, pauses 0-4 s, some bad, some with speech after."""
    t = draw(st.integers(0, 5000))
    cues = []
    for i in range(draw(st.integers(0, 40))):
        t += draw(st.integers(0, 4000))
        duration = draw(st.integers(200, 20_000))
        problem = draw(st.sampled_from([None] * 4 + ["align:low-score", "align:high-cer"]))
        text = draw(st.sampled_from(["and so on.", "and then", "what?"]))
        letters = draw(st.sampled_from([0] * 5 + [3]))
        cues.append(cue(i, t, t + duration, text=text, problem=problem, gap_letters_after=letters))
        t += duration
    return cues


@settings(max_examples=300, deadline=None)
@given(files())
def test_segments_are_ordered_disjoint_bounded_and_made_of_good_cues(cues):
    segments, dropped = cut_segments(cues, CONFIG)
    good = {c.cue_index for c in cues if c.problem is None}
    used = [c.cue_index for s in segments for c in s.cues]
    assert len(used) == len(set(used))
    assert set(used) <= good
    assert set(used) | {r.cue_index for r in dropped} == good
    assert not set(used) & {r.cue_index for r in dropped}
    for a, b in zip(segments, segments[1:], strict=False):
        assert a.end_ms <= b.start_ms
    for s in segments:
        assert 1000 * CONFIG.min_segment_s <= s.duration_ms <= 1000 * CONFIG.max_segment_s
        assert s.start_ms == s.cues[0].start_ms and s.end_ms == s.cues[-1].end_ms
        indices = [c.cue_index for c in s.cues]
        assert indices == list(range(indices[0], indices[-1] + 1))  # consecutive cues
        for a, b in zip(s.cues, s.cues[1:], strict=False):
            assert a.gap_letters_after < CONFIG.gap_speech_chars  # no unsubtitled speech inside
            assert b.start_ms - a.end_ms <= 1000 * CONFIG.max_pause_s
    assert cut_segments(cues, CONFIG) == (segments, dropped)


def test_a_bad_cue_splits_the_run_and_never_enters_a_segment():
    cues = [cue(0, 0, 5000), cue(1, 5100, 6000, problem="align:high-cer"), cue(2, 6100, 9000)]
    assert [[c.cue_index for c in r] for r in runs(cues, CONFIG)] == [[0], [2]]
    segments, dropped = cut_segments(cues, CONFIG)
    assert [s.cues[0].cue_index for s in segments] == [0, 2]
    assert dropped == []


def test_cuts_prefer_a_long_pause_and_a_sentence_end():
    # 3 s cues with 100 ms pauses, except a 900 ms pause after a full stop at
    # 12 s: two segments either way, and the cut goes there, not at 15 s.
    cues, t = [], 0
    for i in range(8):
        text = "the end." if i == 3 else "and then"
        cues.append(cue(i, t, t + 3000, text=text))
        t += 3000 + (900 if i == 3 else 100)
    segments, _ = cut_segments(cues, CONFIG)
    assert [len(s.cues) for s in segments] == [4, 4]


def test_a_lone_short_cue_and_a_long_cue_are_dropped_with_reasons():
    cues = [cue(0, 0, 500), cue(1, 10_000, 30_000)]
    segments, dropped = cut_segments(cues, CONFIG)
    assert segments == []
    assert {(r.cue_index, r.reason) for r in dropped} == {
        (0, "segment:too-short"),
        (1, "segment:too-long"),
    }


def test_segment_ids_are_stable_and_distinct():
    assert segment_id(42, 1000, 2000) == segment_id(42, 1000, 2000)
    ids = {segment_id(a, s, s + 1000) for a in range(20) for s in range(0, 20_000, 500)}
    assert len(ids) == 20 * 40
    assert all(-(2**63) <= i < 2**63 for i in ids)


def test_flac_is_lossless_and_byte_identical():
    pcm = np.random.default_rng(1).normal(0, 3000, 16_000).astype(np.int16)
    data = flac(pcm, 16_000)
    assert data == flac(pcm.copy(), 16_000)
    back, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 16_000
    np.testing.assert_array_equal(back, pcm)


# ------------------------------------------------------------- long cues, split


def worded(i: int, durations: list[int], gaps: list[int], *, start_ms: int = 1000,
           pad: tuple[int, int] = (40, 170), texts: bool = True) -> AlignedCue:  # fmt: skip
    """A good cue of ``len(durations)`` words with the given pauses between them.

    Word ``k`` is ``w<k>`` (normalized) and ``W<k>,`` in the cue's text (the
    last one ``W<n>.``) when ``texts``; the cue is padded by ``pad`` as the
    aligner pads, and its frames are its words' (20 ms frames).
    """
    words, t = [], start_ms
    for k, d in enumerate(durations):
        last = k + 1 == len(durations)
        text = f"W{k}{'.' if last else ','}" if texts else None
        words.append(AlignedWord(f"w{k}", text, t // 20, (t + d) // 20, t, t + d, -0.1))
        t += d + (0 if last else gaps[k])
    return AlignedCue(
        cue_index=i, start_ms=words[0].start_ms - pad[0], end_ms=words[-1].end_ms + pad[1],
        start_frame=words[0].start_frame, end_frame=words[-1].end_frame, score=-0.1, cer=0.0,
        text=" ".join(f"W{k}{'.' if k + 1 == len(words) else ','}" for k in range(len(words))),
        text_raw="raw", text_normalized=" ".join(w.word for w in words), decoded="decoded",
        subtitle_start_ms=start_ms, problem=None, gap_letters_after=1, words=tuple(words),
    )  # fmt: skip


def forty_two_seconds() -> AlignedCue:
    """100 words of 360 ms, 40 ms apart but for pauses of 500 ms after word 10, 700 ms after
    words 32 and 65 and 300 ms after word 80: 42 s in all."""
    gaps = [40] * 99
    gaps[10], gaps[32], gaps[65], gaps[80] = 500, 700, 700, 300
    cue = worded(0, [360] * 100, gaps, pad=(0, 0))
    assert cue.end_ms - cue.start_ms == 42_000
    return cue


def test_a_long_cue_is_split_at_its_longest_pauses_into_pieces_in_bounds():
    cue = forty_two_seconds()
    pieces = split_long_cue(cue, CONFIG)
    # Two cuts are enough (three pieces of ~14 s), and the two 700 ms pauses make them.
    assert [len(p.words) for p in pieces] == [33, 33, 34]
    assert [w for p in pieces for w in p.words] == list(cue.words)
    for p in pieces:
        assert 1000 * CONFIG.min_segment_s <= p.end_ms - p.start_ms <= 1000 * CONFIG.max_segment_s
        assert p.start_ms <= p.words[0].start_ms and p.words[-1].end_ms <= p.end_ms
        assert (p.start_frame, p.end_frame) == (p.words[0].start_frame, p.words[-1].end_frame)
        assert p.text == " ".join(w.text for w in p.words)  # the cue's own words
        assert p.text_normalized == " ".join(w.word for w in p.words)
        assert (p.cue_index, p.score, p.problem) == (0, cue.score, None)
    assert pieces[0].start_ms == cue.start_ms and pieces[-1].end_ms == cue.end_ms
    # Cut inside the pause, padded as a cue's edges are, never past its middle.
    assert pieces[0].end_ms == pieces[0].words[-1].end_ms + CONFIG.pad_after_ms
    assert pieces[1].start_ms == pieces[1].words[0].start_ms - CONFIG.pad_before_ms
    assert [p.gap_letters_after for p in pieces] == [0, 0, cue.gap_letters_after]
    assert pieces[0].text.startswith("W0, W1,") and pieces[-1].text.endswith("W99.")
    # Then cut into segments as cues are: one per piece here, none dropped.
    segments, dropped = cut_segments([cue], CONFIG)
    assert dropped == []
    assert [s.cues for s in segments] == [(p,) for p in pieces]
    assert " ".join(s.text for s in segments) == cue.text
    assert split_long_cue(cue, CONFIG) == pieces  # deterministic


def test_a_split_piece_carries_normalized_words_when_the_text_does_not_pair():
    cue = dataclasses.replace(forty_two_seconds(), text="Forty-two words, or so.")
    cue = dataclasses.replace(cue, words=tuple(dataclasses.replace(w, text=None)
                                               for w in cue.words))  # fmt: skip
    pieces = split_long_cue(cue, CONFIG, word_separator="|")
    assert [p.text for p in pieces] == [" ".join(w.word for w in p.words) for p in pieces]
    assert [p.text_normalized for p in pieces] == ["|".join(w.word for w in p.words)
                                                   for p in pieces]  # fmt: skip


def test_a_long_cue_without_words_or_without_a_split_in_bounds_stays_too_long():
    no_words = dataclasses.replace(forty_two_seconds(), words=())
    one_long_word = worded(1, [500, 17_000, 500], [100, 100], start_ms=60_000)
    for cue in (no_words, one_long_word):
        assert split_long_cue(cue, CONFIG) == [cue]
        segments, dropped = cut_segments([cue], CONFIG)
        assert segments == []
        assert [(r.cue_index, r.reason) for r in dropped] == [(cue.cue_index, "segment:too-long")]
    short = worded(2, [300] * 10, [50] * 9)
    assert split_long_cue(short, CONFIG) == [short]


@st.composite
def long_cues(draw):
    """Good cues of 2-150 words, 0.1-3 s each, pauses 0-1.5 s: many too long for a segment."""
    n = draw(st.integers(2, 150))
    durations = draw(st.lists(st.integers(100, 3000), min_size=n, max_size=n))
    gaps = draw(st.lists(st.integers(0, 1500), min_size=n - 1, max_size=n - 1))
    return worded(0, durations, gaps, texts=draw(st.booleans()))


@settings(max_examples=200, deadline=None)
@given(long_cues())
def test_split_pieces_are_in_bounds_ordered_and_hold_every_word_once(cue):
    pieces = split_long_cue(cue, CONFIG)
    lo, hi = 1000 * CONFIG.min_segment_s, 1000 * CONFIG.max_segment_s
    if cue.end_ms - cue.start_ms <= hi:
        assert pieces == [cue]
    if len(pieces) == 1:
        assert pieces == [cue]
    else:
        assert all(lo <= p.end_ms - p.start_ms <= hi for p in pieces)
        assert [w for p in pieces for w in p.words] == list(cue.words)
        assert pieces[0].start_ms == cue.start_ms and pieces[-1].end_ms == cue.end_ms
        for a, b in zip(pieces, pieces[1:], strict=False):
            assert a.words[-1].end_ms <= a.end_ms <= b.start_ms <= b.words[0].start_ms
    segments, dropped = cut_segments([cue], CONFIG)
    assert all(lo <= s.duration_ms <= hi for s in segments)
    assert [w for s in segments for c in s.cues for w in c.words] == (
        [] if dropped else list(cue.words)
    )

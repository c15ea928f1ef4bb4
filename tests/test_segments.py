"""Cutting aligned cues into segments: properties that hold for any file."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from galvasr.align.ctc import AlignedCue
from galvasr.align.segments import cut_segments, flac, runs, segment_id
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

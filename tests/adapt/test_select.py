"""Which segments train a round and which files are held out: galvasr.adapt.select."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from galvasr.adapt.select import Candidate, Cue, cues_in, heldout_files, select, verdict
from galvasr.config import AdaptConfig, ReleaseConfig

ADAPT = AdaptConfig(rounds=1, max_cer=0.3, min_cue_score=-2.0)
RELEASE = ReleaseConfig(dirty_max_cer=0.5, min_score=-5.0)


def seg(segment_id: int, audio_id: int = 1, cer: float = 0.1, score: float = -1.0) -> Candidate:
    start = 20_000 * segment_id
    return Candidate(segment_id, audio_id, start, start + 10_000, score, cer)


def cue(s: Candidate, cer: float = 0.1, score: float = -1.0) -> Cue:
    return Cue(s.audio_id, s.start_ms + 500, s.end_ms - 500, score, cer)


@pytest.mark.parametrize(
    ("segment", "cue_kw", "expected"),
    [
        (seg(1), {}, "train"),
        (seg(1, cer=0.6), {}, "release"),  # the release would refuse it
        (seg(1, score=-6.0), {}, "release"),
        (seg(1, cer=0.4), {}, "cer"),  # shipped, but not sure enough to learn from
        (seg(1), {"cer": 0.4}, "cue-cer"),  # one of its cues decodes far from its text
        (seg(1), {"score": -2.5}, "cue-score"),
    ],
)
def test_each_rule_refuses_what_it_names(segment, cue_kw, expected):
    assert verdict(segment, [cue(segment, **cue_kw)], ADAPT, RELEASE) == expected


def test_a_segment_without_its_cues_is_not_trained_on():
    assert verdict(seg(1), [], ADAPT, RELEASE) == "no-cues"


def test_a_cue_belongs_to_the_segment_holding_its_middle():
    a, b = seg(1), seg(2)
    other_file = Cue(9, a.start_ms + 100, a.start_ms + 900, -1.0, 0.0)
    assert cues_in(a, [cue(a), cue(b), other_file]) == [cue(a)]


def test_held_out_files_are_never_trained_on_and_all_their_segments_are_measured():
    segments = [seg(i, audio_id=i % 5, cer=0.1 if i % 3 else 0.45) for i in range(30)]
    cues = [cue(s) for s in segments]
    held = heldout_files((s.audio_id for s in segments), 0.25)
    chosen = select(segments, cues, held, ADAPT, RELEASE)
    by_id = {s.segment_id: s for s in segments}
    assert held and not any(by_id[i].audio_id in held for i in chosen.train)
    assert {i for i in chosen.heldout} == {s.segment_id for s in segments if s.audio_id in held}
    assert all(by_id[i].cer <= ADAPT.max_cer for i in chosen.train)
    refused = sum(chosen.reasons.values())
    assert len(chosen.train) + refused + len(chosen.heldout) == len(segments)
    assert chosen.reasons.get("cer", 0) > 0


@given(st.sets(st.integers(-(2**63), 2**63 - 1), min_size=2, max_size=40), st.floats(0.01, 0.99))
def test_heldout_is_a_fixed_proper_subset(ids, fraction):
    held = heldout_files(ids, fraction)
    assert held and held < ids  # something to measure on, something to train on
    assert heldout_files(sorted(ids, reverse=True), fraction) == held  # order does not matter
    assert held <= heldout_files(ids, min(0.99, fraction + 0.3))  # more held out: a superset


def test_only_released_false_trains_on_what_the_release_refuses_but_keeps_the_other_rules():
    loose = dataclasses.replace(ADAPT, only_released=False, max_cer=1.0)
    refused = seg(1, cer=0.6)
    assert verdict(refused, [cue(refused)], ADAPT, RELEASE) == "release"
    assert verdict(refused, [cue(refused)], loose, RELEASE) == "train"
    assert verdict(refused, [cue(refused, score=-2.5)], loose, RELEASE) == "cue-score"

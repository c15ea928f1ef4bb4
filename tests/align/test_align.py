"""The aligner on oracle log-probabilities: every character spoken at known frames."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from galvasr.align.ctc import Cue, align_cues, min_mean_score
from galvasr.align.oracle import speak
from galvasr.config import AlignConfig
from galvasr.model.contract import FrameClock, ModelInfo
from galvasr.model.greedy import greedy_decode
from galvasr.model.vocab import DEFAULT_VOCAB

CLOCK = FrameClock(320, 16_000)  # 20 ms frames
GATE_REASONS = ("align:low-score", "align:high-cer", "align:not-heard")
EXACT = AlignConfig(pad_before_ms=0, pad_after_ms=0)
WORDS = ("the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven",
         "old", "men", "sing", "about", "rivers", "and", "distant", "hills", "in",
         "summer")  # fmt: skip


def sentences(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(2, 12)))) for _ in range(n)]


def subtitles(truth, rng, *, offset_ms=0, drift=0.0, jitter_ms=100) -> list[Cue]:
    """Cues timed like real subtitles: shifted, drifting and jittered, still in order."""
    cues = []
    for i, t in enumerate(truth):
        start = CLOCK.ms(t.start_frame) * (1 + drift) + offset_ms
        end = CLOCK.ms(t.end_frame) * (1 + drift) + offset_ms
        start += int(rng.integers(-jitter_ms, jitter_ms + 1))
        cues.append(Cue(i, max(0, int(start)), max(1, int(end)), t.text.capitalize() + "."))
    return cues


def assert_boundaries_within_one_frame(aligned, truth):
    assert [a.cue_index for a in aligned] == list(range(len(truth)))
    for a in aligned:
        t = truth[a.cue_index]
        assert abs(a.start_frame - t.start_frame) <= 1, (a, t)
        assert abs(a.end_frame - t.end_frame) <= 1, (a, t)
        assert a.problem is None and a.cer == 0.0 and a.decoded == t.text


@pytest.mark.parametrize(
    "offset_ms, drift", [(0, 0.0), (2500, 0.0), (-3000, 0.0), (1000, 0.01), (0, -0.01)]
)
def test_oracle_boundaries_are_recovered_within_one_frame(offset_ms, drift):
    rng = np.random.default_rng(7)
    logprobs, truth = speak(sentences(rng, 60), DEFAULT_VOCAB, rng)
    cues = subtitles(truth, rng, offset_ms=offset_ms, drift=drift)
    aligned, rejects = align_cues(logprobs, cues, DEFAULT_VOCAB, CLOCK, EXACT)
    assert rejects == []
    assert_boundaries_within_one_frame(aligned, truth)


def test_many_small_pieces_and_a_table_bound_give_the_same_boundaries():
    rng = np.random.default_rng(3)
    logprobs, truth = speak(sentences(rng, 40), DEFAULT_VOCAB, rng)
    cues = subtitles(truth, rng, offset_ms=1500)
    config = dataclasses.replace(EXACT, piece_max_s=8.0, max_table_mb=1)
    aligned, rejects = align_cues(logprobs, cues, DEFAULT_VOCAB, CLOCK, config)
    assert rejects == []
    assert_boundaries_within_one_frame(aligned, truth)


def test_a_cue_too_big_for_the_table_is_rejected_not_aligned():
    rng = np.random.default_rng(4)
    logprobs, truth = speak(sentences(rng, 3), DEFAULT_VOCAB, rng)
    cues = subtitles(truth, rng)
    config = dataclasses.replace(EXACT, max_table_mb=1, margin_s=300.0)
    long = np.concatenate([logprobs] * 40)  # 40 x the audio, so the window is huge
    aligned, rejects = align_cues(long, cues, DEFAULT_VOCAB, CLOCK, config)
    assert aligned == []
    assert {r.reason for r in rejects} == {"align:cue-too-long"}


def test_unspoken_cues_are_flagged_and_their_neighbours_keep_exact_boundaries():
    rng = np.random.default_rng(11)
    logprobs, truth = speak(sentences(rng, 50), DEFAULT_VOCAB, rng, pause_frames=(30, 60))
    cues = subtitles(truth, rng)
    planted = []
    for k in (5, 17, 30, 42):  # subtitle text nobody says, in the pause after cue k
        end = cues[k].end_ms
        planted.append(Cue(1000 + k, end + 100, end + 900, "Completely different words here."))
    aligned, rejects = align_cues(logprobs, cues + planted, DEFAULT_VOCAB, CLOCK, EXACT)
    by_index = {a.cue_index: a for a in aligned}
    for p in planted:
        assert by_index[p.cue_index].problem in GATE_REASONS
    good = [a for a in aligned if a.problem is None]
    # Every placed cue carries its likelihood ratio: spoken ones near 0, planted ones far below.
    assert min(a.llr for a in good) > max(by_index[p.cue_index].llr for p in planted)
    assert all(-1.0 < a.llr <= 1e-3 for a in good)
    assert len(good) >= len(truth) - len(planted)  # at most one neighbour lost per plant
    for a in good:
        t = truth[a.cue_index]
        assert abs(a.start_frame - t.start_frame) <= 1
        assert abs(a.end_frame - t.end_frame) <= 1


def test_speech_without_a_subtitle_is_seen_in_the_pause():
    rng = np.random.default_rng(5)
    logprobs, truth = speak(sentences(rng, 12), DEFAULT_VOCAB, rng)
    cues = subtitles(truth, rng)
    del cues[6]  # spoken, but the subtitle file lacks it
    aligned, _ = align_cues(logprobs, cues, DEFAULT_VOCAB, CLOCK, EXACT)
    by_index = {a.cue_index: a for a in aligned}
    assert by_index[5].gap_letters_after >= len(truth[6].text.replace(" ", "")) // 2
    assert all(a.gap_letters_after == 0 for a in aligned if a.cue_index != 5)
    for a in aligned:
        if a.problem is None:
            assert abs(a.start_frame - truth[a.cue_index].start_frame) <= 1


def test_cues_without_speakable_text_and_after_the_audio_are_rejected():
    rng = np.random.default_rng(6)
    logprobs, truth = speak(sentences(rng, 4), DEFAULT_VOCAB, rng)
    cues = subtitles(truth, rng)
    after = int(CLOCK.ms(logprobs.shape[0])) + 60_000
    extra = [Cue(10, 100, 900, "♪ ♪"), Cue(11, after, after + 2000, "Too late.")]
    aligned, rejects = align_cues(logprobs, cues + extra, DEFAULT_VOCAB, CLOCK, EXACT)
    assert {(r.cue_index, r.reason) for r in rejects} == {
        (10, "align:no-speech-text"),
        (11, "align:outside-audio"),
    }
    assert_boundaries_within_one_frame(aligned, truth)


def test_padding_widens_cues_but_never_past_the_middle_of_a_pause():
    rng = np.random.default_rng(8)
    logprobs, truth = speak(sentences(rng, 10), DEFAULT_VOCAB, rng, pause_frames=(2, 4))
    cues = subtitles(truth, rng)
    config = dataclasses.replace(EXACT, pad_before_ms=200, pad_after_ms=200)
    aligned, _ = align_cues(logprobs, cues, DEFAULT_VOCAB, CLOCK, config)
    for a, b in zip(aligned, aligned[1:], strict=False):
        assert a.end_ms <= b.start_ms
        assert a.start_ms < CLOCK.ms(a.start_frame) or a.start_ms == 0


def test_greedy_decode_and_score():
    lp = np.full((6, 3), -10.0, np.float32)
    for t, label in enumerate([0, 1, 1, 0, 1, 2]):
        lp[t, label] = 0.0
    vocab = type(DEFAULT_VOCAB)(symbols=("<b>", " ", "a"), blank_index=0)
    assert greedy_decode(lp[:, [0, 2, 1]], vocab) == "aa"
    assert min_mean_score(np.array([0.0, -1, -2, -3]), 2) == -2.5
    assert min_mean_score(np.array([-1.0, -2]), 30) == -1.5


def test_align_file_accounts_for_every_cue_without_spark():
    from galvasr.align.oracle import cut_windows
    from galvasr.align.stage import FileInput, align_file

    rng = np.random.default_rng(12)
    logprobs, truth = speak(sentences(rng, 30), DEFAULT_VOCAB, rng, pause_frames=(20, 50))
    pcm = rng.integers(-1000, 1000, size=logprobs.shape[0] * 320).astype(np.int16)
    cues = subtitles(truth, rng, offset_ms=800)
    cues.append(Cue(99, cues[10].end_ms + 50, cues[10].end_ms + 600, "Never said at all."))
    cues.append(Cue(100, 0, 500, "♪"))
    windows = cut_windows(logprobs, pcm, 320, 8 * 16_000, 16_000)
    contract = ModelInfo("oracle", "oracle-0", DEFAULT_VOCAB, 320, 16_000, "oracle")
    file = FileInput(7, "item", "a.mp3", "cc-by-sa", windows, cues)
    out = align_file(file, contract, AlignConfig())
    rejected = {r.cue_index: r.reason for r in out.rejects}
    assert rejected[100] == "align:no-speech-text"
    assert rejected[99] in GATE_REASONS
    kept = set()
    for s in out.segments:
        inside = [
            a.cue_index
            for a in out.alignments
            if s.start_ms <= a.start_ms and a.end_ms <= s.end_ms and a.cue_index not in rejected
        ]
        kept |= set(inside)
        assert s.text == " ".join(cues[i].text for i in inside)
        assert s.llr == min(a.llr for a in out.alignments if a.cue_index in inside)
    assert kept | set(rejected) == {c.cue_index for c in cues}
    assert not kept & set(rejected)
    # Deterministic, and a missing window fails the file's every cue with one reason.
    assert align_file(file, contract, AlignConfig()) == out
    broken = FileInput(7, "item", "a.mp3", "cc-by-sa", windows[:2] + windows[3:], cues)
    reasons = {r.reason for r in align_file(broken, contract, AlignConfig()).rejects}
    assert reasons == {"logits:missing-chunk"}


def test_an_absurdly_long_cue_is_refused_alone():
    """A cue with far more letters than its time can hold does not take its neighbours down."""
    rng = np.random.default_rng(11)
    logprobs, truth = speak(sentences(rng, 8), DEFAULT_VOCAB, rng)
    cues = subtitles(truth, rng)
    huge = dataclasses.replace(cues[3], text=" ".join(["lazy"] * 6_000))
    aligned, rejects = align_cues(
        logprobs, [*cues[:3], huge, *cues[4:]], DEFAULT_VOCAB, CLOCK, EXACT
    )
    assert [(r.cue_index, r.reason) for r in rejects] == [(3, "align:text-longer-than-audio")]
    assert sorted(a.cue_index for a in aligned if a.problem is None) == [0, 1, 2, 4, 5, 6, 7]

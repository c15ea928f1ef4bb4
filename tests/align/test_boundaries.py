"""galvasr.align.boundaries and galvasr.align.vad: cue edges from a speech detector."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from galvasr.align import boundaries, vad
from galvasr.align.ctc import AlignedCue
from galvasr.config import AlignConfig
from galvasr.model.contract import FrameClock

CLOCK = FrameClock(320, 16_000)  # 20 ms frames
CONFIG = AlignConfig()
CHUNK = boundaries.CHUNK_MS  # 32 ms
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _cue(index: int, first_ms: int, last_ms: int, problem: str | None = None) -> AlignedCue:
    """A cue whose letters span ``first_ms``..``last_ms``, padded as CTC's times are."""
    return AlignedCue(
        cue_index=index, start_ms=first_ms - 40, end_ms=last_ms + 170,
        start_frame=first_ms // 20, end_frame=last_ms // 20, score=-0.5, cer=0.0,
        text="x", text_raw="x", text_normalized="x", decoded="x",
        subtitle_start_ms=first_ms, problem=problem, gap_letters_after=0,
    )  # fmt: skip


def _probs(duration_ms: int, speech: list[tuple[int, int]], level: float = 0.95) -> np.ndarray:
    p = np.full(int(duration_ms // CHUNK), 0.02, np.float32)
    for a, b in speech:
        p[int(a // CHUNK) : int(b // CHUNK)] = level
    return p


def test_edges_move_out_to_the_detected_speech_and_never_into_the_letters() -> None:
    # Speech 1,024..3,008 ms; CTC's letters 1,100..2,700 (the last spike 300 ms early).
    probs = _probs(6_000, [(1_024, 3_008)])
    (snapped,) = boundaries.snap_to_speech([_cue(0, 1_100, 2_700)], probs, CLOCK, CONFIG, 6_000)
    assert snapped.start_ms == 1_024 - CONFIG.snap_pad_ms
    assert snapped.end_ms == 3_008 + CONFIG.snap_pad_ms
    # A detector that ends the speech inside the letters cannot cut them.
    probs = _probs(6_000, [(1_024, 2_400)])
    (snapped,) = boundaries.snap_to_speech([_cue(0, 1_100, 2_700)], probs, CLOCK, CONFIG, 6_000)
    assert snapped.end_ms >= 2_700


def test_an_edge_without_a_pause_or_without_speech_keeps_ctc_times() -> None:
    a, b = _cue(0, 1_100, 2_000), _cue(1, 2_300, 3_500)
    # Speech runs from the first cue straight into the second: no pause to find between them.
    probs = _probs(6_000, [(1_024, 3_616)])
    first, second = boundaries.snap_to_speech([a, b], probs, CLOCK, CONFIG, 6_000)
    assert first.end_ms == a.end_ms and second.start_ms == b.start_ms
    assert first.start_ms == 1_024 - CONFIG.snap_pad_ms  # the outer edges still move
    assert second.end_ms == 3_616 + CONFIG.snap_pad_ms
    # The detector hears nothing at the letters (music, a voice it misses): no move.
    quiet = _probs(6_000, [])
    assert boundaries.snap_to_speech([a], quiet, CLOCK, CONFIG, 6_000) == [a]
    # Not computed there (NaN): no move.
    unknown = np.full_like(quiet, np.nan)
    assert boundaries.snap_to_speech([a], unknown, CLOCK, CONFIG, 6_000) == [a]


def test_bad_cues_are_left_alone_and_bound_nobody() -> None:
    bad = _cue(1, 2_000, 2_500, problem="align:high-cer")
    probs = _probs(6_000, [(1_024, 2_304)])
    good = _cue(0, 1_100, 1_900)
    out = boundaries.snap_to_speech([good, bad], probs, CLOCK, CONFIG, 6_000)
    assert out[1] is bad
    assert out[0].end_ms == 2_304 + CONFIG.snap_pad_ms  # the bad cue's letters bound nothing


def test_the_search_stops_at_the_limit() -> None:
    # Speech from 0 s: the run reaches snap_search_ms before the letter without a pause.
    probs = _probs(8_000, [(0, 5_000)])
    cue = _cue(0, 3_000, 4_000)
    (snapped,) = boundaries.snap_to_speech([cue], probs, CLOCK, CONFIG, 8_000)
    assert snapped.start_ms == cue.start_ms


def test_regions_cover_every_good_edge_and_merge() -> None:
    cues = [_cue(0, 1_000, 2_000), _cue(1, 2_200, 3_000), _cue(2, 9_000, 9_500, "align:low-score")]
    regions = boundaries.regions(cues, CLOCK, CONFIG, 20_000)
    merged = vad.merge_regions(regions, 20_000 // 32)
    assert merged[0][0] <= (1_000 - CONFIG.snap_search_ms) // 32
    assert merged[-1][1] >= (3_000 + CONFIG.snap_search_ms) // 32
    assert all(b < 9_000 // 32 for _, b in merged)  # nothing for the bad cue


def test_the_pinned_model_hears_the_sample_corpus_speech_and_its_pauses() -> None:
    """Silero on a real file of the sample corpus: high inside sentences, low between."""
    import av

    truth_path = SAMPLE / "ground_truth.jsonl"
    if not truth_path.exists():
        pytest.skip("no sample corpus")
    rows = [json.loads(line) for line in truth_path.read_text().splitlines() if line.strip()]
    first = (rows[0]["identifier"], rows[0]["audio_file"])
    sentences = [r for r in rows if (r["identifier"], r["audio_file"]) == first]
    path = SAMPLE / "items" / first[0] / first[1]
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        pcm = np.concatenate(
            [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
             for f in resampler.resample(frame)]
        )  # fmt: skip
    speech = [(int(s["start_ms"]), int(s["end_ms"])) for s in sentences][:6]
    regions = [(a // 32, b // 32 + 1) for a, b in speech]
    probs = vad.speech_probabilities(lambda a, b: pcm[a:b], pcm.size, regions)
    inside = np.concatenate([probs[(a + 200) // 32 : (b - 200) // 32] for a, b in speech])
    assert np.nanmean(inside) > 0.8
    assert np.isnan(probs[: max(0, regions[0][0] - 16)]).all()  # nothing computed elsewhere
    # The same call twice gives the same bytes.
    again = vad.speech_probabilities(lambda a, b: pcm[a:b], pcm.size, regions)
    assert np.array_equal(np.nan_to_num(probs), np.nan_to_num(again))

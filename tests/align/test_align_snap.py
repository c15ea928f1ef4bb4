"""galvasr.align.ctc.snap_to_audio: cue boundaries moved to the speech onsets and offsets."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from galvasr.align.ctc import AlignedCue, frame_energy_db, snap_to_audio
from galvasr.config import AlignConfig
from galvasr.model.contract import FrameClock

RATE = 16_000
CLOCK = FrameClock(320, RATE)  # 20 ms frames
CONFIG = AlignConfig()


def _burst(ms: int, level: float, rng: np.random.Generator) -> np.ndarray:
    """Speech-like sound: noise shaped by a slow envelope, at ``level`` (int16 RMS)."""
    n = ms * RATE // 1000
    env = 0.6 + 0.4 * np.sin(np.linspace(0, 12 * np.pi, n)) ** 2
    return rng.standard_normal(n) * level * env


def _track(parts: list[tuple[str, int, float]], noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """("s"ilence | "b"urst, duration ms, level) joined, plus white noise of RMS ``noise``."""
    rng = np.random.default_rng(seed)
    pieces = [
        _burst(ms, level, rng) if kind == "b" else np.zeros(ms * RATE // 1000)
        for kind, ms, level in parts
    ]
    x = np.concatenate(pieces)
    x = x + rng.standard_normal(x.size) * noise
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _cue(
    index: int, start_ms: int, end_ms: int, problem: str | None = None, pad: int = 0
) -> AlignedCue:
    """A cue whose letters span ``start_ms:end_ms``, padded by ``pad``."""
    return AlignedCue(
        cue_index=index,
        start_ms=start_ms - pad,
        end_ms=end_ms + pad,
        start_frame=CLOCK.frame(start_ms),
        end_frame=CLOCK.frame(end_ms),
        score=-0.2,
        cer=0.0,
        text="t",
        text_raw="t",
        text_normalized="t",
        decoded="t",
        subtitle_start_ms=start_ms,
        problem=problem,
        gap_letters_after=0,
    )


def _snap(pcm: np.ndarray, cues: list[AlignedCue], **config: object) -> list[AlignedCue]:
    c = dataclasses.replace(CONFIG, **config)  # type: ignore[arg-type]
    return snap_to_audio(cues, lambda a, b: pcm[max(0, a) : max(0, b)], CLOCK, c)


def test_energy_of_digital_silence_is_zero_db() -> None:
    e = frame_energy_db(np.zeros(1600, np.int16), 160)
    assert e.shape == (10,) and np.all(e == 0.0)
    assert frame_energy_db(np.full(1600, 1000, np.int16), 160)[1:].max() < 40  # DC pre-emphasised


def test_late_letters_and_early_end_move_to_the_speech() -> None:
    # Speech 1000-3000 ms and 3500-5000 ms; CTC put the letters late and ended them early.
    pcm = _track(
        [("s", 1000, 0), ("b", 2000, 3000), ("s", 500, 0), ("b", 1500, 3000), ("s", 1000, 0)]
    )
    first, second = _snap(pcm, [_cue(0, 1100, 2600), _cue(1, 3560, 4640)])
    pad = CONFIG.snap_pad_ms
    assert abs(first.start_ms - (1000 - pad)) <= 10
    assert abs(first.end_ms - (3000 + pad)) <= 10  # the CTC end was 400 ms early
    assert abs(second.start_ms - (3500 - pad)) <= 10
    assert abs(second.end_ms - (5000 + pad)) <= 10
    assert first.end_ms <= second.start_ms


def test_a_quiet_onset_stays_with_its_word() -> None:
    # A soft consonant 44 dB under the vowel, 140 ms of near-silence 48 dB under it (above
    # the digital silence around), then the loud part: all of it is speech.
    pcm = _track([("s", 1000, 0), ("b", 80, 20), ("b", 140, 12), ("b", 1500, 3000), ("s", 800, 0)])
    (cue,) = _snap(pcm, [_cue(0, 1200, 2500)])
    assert abs(cue.start_ms - (1000 - CONFIG.snap_pad_ms)) <= 10


def test_noise_keeps_the_ctc_times() -> None:
    # 10 dB between the speech and the noise under it: too little to trust.
    pcm = _track([("s", 1000, 0), ("b", 2000, 3000), ("s", 1000, 0)], noise=1000)
    cue = _cue(0, 1100, 2600, pad=100)
    assert _snap(pcm, [cue]) == [cue]


def test_bad_cues_and_disabled_snapping_are_left_alone() -> None:
    pcm = _track([("s", 1000, 0), ("b", 2000, 3000), ("s", 1000, 0)])
    bad = _cue(0, 1100, 2600, problem="align:high-cer")
    assert _snap(pcm, [bad]) == [bad]


def test_continuous_speech_keeps_the_ctc_times() -> None:
    # No pause at all around the cue within the search range.
    pcm = _track([("b", 6000, 3000)])
    cue = _cue(0, 2000, 4000)
    assert _snap(pcm, [cue], snap_search_ms=800) == [cue]


@pytest.mark.parametrize("gap_ms", [60, 120, 400])
def test_never_past_the_neighbours_letters(gap_ms: int) -> None:
    pcm = _track(
        [("s", 500, 0), ("b", 1500, 3000), ("s", gap_ms, 0), ("b", 1500, 3000), ("s", 500, 0)]
    )
    second_start = 2000 + gap_ms
    first, second = _snap(
        pcm, [_cue(0, 560, 1900), _cue(1, second_start + 40, second_start + 1400)]
    )
    assert first.end_ms <= second.start_ms
    assert first.end_ms <= CLOCK.ms(second.start_frame)
    assert second.start_ms >= CLOCK.ms(first.end_frame)

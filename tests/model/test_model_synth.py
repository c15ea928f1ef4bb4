"""The synthesizers the model trains and is measured on, run for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galvasr.model import synth
from galvasr.model.synth import (
    FESTIVAL_VOICES,
    HELDOUT_ESPEAK_VARIANTS,
    HELDOUT_FLITE_VOICES,
    Voice,
    random_voice,
    synthesize,
)


@pytest.mark.parametrize("voice", FESTIVAL_VOICES)
def test_festival_voices_speak_at_16_khz(voice: str) -> None:
    pcm = synthesize("The fig tree putteth forth her green figs.", Voice("festival", voice))
    assert pcm.dtype == np.int16
    assert 1.0 < len(pcm) / 16_000 < 6.0
    assert 1000 < int(np.abs(pcm.astype(np.int32)).max()) < 32767  # audible, not clipped


def test_festival_text_is_never_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    hostile = 'x") (system "touch pwned") ("'
    pcm = synthesize(hostile, Voice("festival", "ked_diphone"))
    assert len(pcm) > 0
    assert not (tmp_path / "pwned").exists()


def test_unknown_festival_voice_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown festival voice"):
        synthesize("hello", Voice("festival", 'kal_diphone) (system "id"'))


def test_rate_changes_festival_duration() -> None:
    slow = synthesize("one two three four", Voice("festival", "ked_diphone", rate=0.8))
    fast = synthesize("one two three four", Voice("festival", "ked_diphone", rate=1.25))
    assert len(slow) > 1.3 * len(fast)


def _f0_hz(pcm: np.ndarray) -> float:
    """Median autocorrelation pitch over the loud 40 ms frames."""
    x = pcm.astype(np.float64)
    frame, lo, hi = 640, 16_000 // 400, 16_000 // 50
    f0s = []
    for start in range(0, len(x) - frame, frame):
        w = x[start : start + frame]
        if np.sqrt(np.mean(w**2)) < 0.3 * np.sqrt(np.mean(x**2)):
            continue
        ac = np.correlate(w, w, "full")[frame - 1 :]
        f0s.append(16_000 / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0s))


def test_pitch_moves_ked_f0() -> None:
    text = "Many waters cannot quench love, neither can the floods drown it."
    low = _f0_hz(synthesize(text, Voice("festival", "ked_diphone", pitch=0.7)))
    high = _f0_hz(synthesize(text, Voice("festival", "ked_diphone", pitch=1.4)))
    assert high > 1.4 * low


def test_training_draws_festival_and_the_heldout_set_never_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(7)
    train = [random_voice(rng, heldout=False) for _ in range(3000)]
    engines = {v.engine for v in train}
    assert engines == {"espeak-ng", "flite", "festival"}
    assert {v.voice for v in train if v.engine == "festival"} == set(FESTIVAL_VOICES)
    assert not any(v.voice in HELDOUT_FLITE_VOICES for v in train if v.engine == "flite")
    assert not any(v.variant in HELDOUT_ESPEAK_VARIANTS for v in train)

    def heldout() -> list[Voice]:
        rng = np.random.default_rng(7)
        return [random_voice(rng, heldout=True) for _ in range(500)]

    with_festival = heldout()
    assert {v.engine for v in with_festival} == {"espeak-ng", "flite"}
    # The held-out set is the one measured before festival joined training.
    monkeypatch.setattr(synth, "FESTIVAL_SHARE", 0.0)
    assert heldout() == with_festival

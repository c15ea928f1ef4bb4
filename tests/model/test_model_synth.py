"""The synthesizers the model trains and is measured on, run for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galvasr.model import synth
from galvasr.model.synth import HELDOUT_ESPEAK_VARIANTS, HELDOUT_FLITE_VOICES, random_voice
from galvasr.synth import voices
from galvasr.synth.voices import (
    FESTIVAL_VOICES,
    PIPER_VOICES,
    Voice,
    piper_phoneme_ids,
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


def test_piper_phoneme_ids_pad_every_phoneme_and_join_clauses() -> None:
    ids = {"^": 1, "$": 2, "_": 0, " ": 3, ",": 4, ".": 5, "a": 10, "b": 11, "ˈ": 12}
    # Two clauses (espeak-ng prints one a line); "x" is unknown to the voice.
    out = piper_phoneme_ids("ˈab\n\n xa \n", ids)
    assert out == [1, 0, 12, 0, 10, 0, 11, 0, 4, 0, 3, 0, 10, 0, 5, 0, 2]
    assert piper_phoneme_ids("", ids) == [1, 0, 5, 0, 2]


@pytest.mark.parametrize("voice", sorted(PIPER_VOICES))
def test_piper_voices_speak_at_16_khz_and_follow_the_rate(voice: str) -> None:
    text = "The fig tree putteth forth her green figs."
    pcm = synthesize(text, Voice("piper", voice))
    assert pcm.dtype == np.int16
    assert 1.0 < len(pcm) / 16_000 < 6.0
    assert 1000 < int(np.abs(pcm.astype(np.int32)).max()) < 32767
    slow = synthesize(text, Voice("piper", voice, rate=0.8))
    fast = synthesize(text, Voice("piper", voice, rate=1.25))
    assert len(slow) > 1.3 * len(fast)


def test_a_piper_model_with_other_weights_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    name = sorted(PIPER_VOICES)[0]
    module, _ = PIPER_VOICES[name]
    monkeypatch.setitem(voices.PIPER_VOICES, name, (module, "0" * 64))
    voices._piper_voice.cache_clear()
    try:
        with pytest.raises(voices.SynthesizerMissing, match="not the pinned"):
            synthesize("hello", Voice("piper", name))
    finally:
        voices._piper_voice.cache_clear()
    with pytest.raises(ValueError, match="unknown piper voice"):
        synthesize("hello", Voice("piper", "../../etc/passwd"))


def test_training_draws_festival_and_piper_and_the_heldout_set_never_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def training(n: int = 3000) -> list[Voice]:
        rng = np.random.default_rng(7)
        return [random_voice(rng, heldout=False) for _ in range(n)]

    monkeypatch.setattr(synth, "PIPER_SHARE", 0.0)
    assert {v.engine for v in training()} == {"espeak-ng", "flite", "festival"}
    monkeypatch.setattr(synth, "PIPER_SHARE", 0.2)
    train = training()
    engines = {v.engine for v in train}
    assert engines == {"espeak-ng", "flite", "festival", "piper"}
    assert {v.voice for v in train if v.engine == "festival"} == set(FESTIVAL_VOICES)
    assert {v.voice for v in train if v.engine == "piper"} == set(PIPER_VOICES)
    assert not any(v.voice in HELDOUT_FLITE_VOICES for v in train if v.engine == "flite")
    assert not any(v.variant in HELDOUT_ESPEAK_VARIANTS for v in train)

    def heldout() -> list[Voice]:
        rng = np.random.default_rng(7)
        return [random_voice(rng, heldout=True) for _ in range(500)]

    with_festival = heldout()
    assert {v.engine for v in with_festival} == {"espeak-ng", "flite"}
    # The held-out set is the one measured before festival and piper joined training.
    monkeypatch.setattr(synth, "FESTIVAL_SHARE", 0.0)
    monkeypatch.setattr(synth, "PIPER_SHARE", 0.0)
    assert heldout() == with_festival


@pytest.mark.parametrize("voice", [Voice("espeak-ng", "en-us"), Voice("piper", "joe")])
def test_text_that_looks_like_an_option_is_spoken(
    voice: Voice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pcm = synthesize("-w pwned.wav", voice)
    assert len(pcm) > 8_000  # spoken ("double-u pwned dot wav"), not swallowed as -w
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("voice", [Voice("espeak-ng", "en-us", "m1"), Voice("piper", "joe")])
def test_the_same_call_gives_the_same_audio(voice: Voice) -> None:
    text = "Many waters cannot quench love."
    assert np.array_equal(synthesize(text, voice), synthesize(text, voice))

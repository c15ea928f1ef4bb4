"""The synthesizers the model trains and is measured on, run for real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from galvasr.model.synth import FESTIVAL_VOICES, Voice, synthesize


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

"""The committed checkpoint loads, keeps its contract and recognises speech."""

from __future__ import annotations

import jiwer
import pytest

from galvasr.model import DEFAULT_MODEL, DEFAULT_VOCAB, greedy_decode, load_model
from galvasr.synth.voices import Voice, synthesize


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    if not (DEFAULT_MODEL / "model.json").exists():
        pytest.skip("models/galvasr-small is not in this checkout")
    return load_model(DEFAULT_MODEL)


def test_contract(model) -> None:  # type: ignore[no-untyped-def]
    assert model.info.vocab == DEFAULT_VOCAB
    assert model.info.frame_stride_samples == 320
    assert model.info.sample_rate == 16_000
    assert model.info.model_version.startswith("galvasr-small-")


def test_transcribes_a_held_out_voice(model) -> None:  # type: ignore[no-untyped-def]
    text = "grace be unto you and peace from god our father"
    pcm = synthesize(text, Voice("espeak-ng", "en-us", "m3"))
    hyp = greedy_decode(model.logprobs(pcm), model.info.vocab)
    assert jiwer.cer(text, hyp) < 0.35, hyp

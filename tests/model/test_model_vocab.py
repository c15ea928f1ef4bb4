from __future__ import annotations

import numpy as np
import pytest

from galvasr.model import DEFAULT_VOCAB, Vocabulary, greedy_decode
from galvasr.model.greedy import greedy_ids
from galvasr.model.normalize import to_alphabet


def test_default_vocab_layout() -> None:
    assert DEFAULT_VOCAB.symbols[0] == "<blank>"
    assert DEFAULT_VOCAB.blank_index == 0
    assert DEFAULT_VOCAB.symbols[1] == " "
    assert len(DEFAULT_VOCAB) == 29


def test_normalize_lowercases_spells_numbers_and_drops_marks() -> None:
    assert (
        DEFAULT_VOCAB.normalize("The LORD's 12 tribes; -- Amen!") == "the lord's twelve tribes amen"
    )


def test_training_labels_are_spelled_as_the_aligner_spells_cues() -> None:
    # One normalizer: labels drop a word-final apostrophe and spell ordinals,
    # exactly as cue text does when it is aligned.
    text = "Thy sons' wives, on the 3rd day: for I am the LORD."
    label = DEFAULT_VOCAB.normalize(text)
    assert label == "thy sons wives on the third day for i am the lord"
    assert label == to_alphabet(text, DEFAULT_VOCAB)


def test_normalize_to_wav2vec2_alphabet() -> None:
    vocab = Vocabulary(("<pad>", "|", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "'"), 0, "|", upper=True)
    assert vocab.normalize("Hello, world's end") == "HELLO|WORLD'S|END"
    assert vocab.decode(vocab.encode("HI|YOU")) == "HI YOU"


def test_encode_rejects_unknown_symbol() -> None:
    with pytest.raises(ValueError, match="not in the vocabulary"):
        DEFAULT_VOCAB.encode("hé")


def test_greedy_collapses_repeats_and_drops_blanks() -> None:
    ids = [0, 2, 2, 0, 2, 1, 1, 3, 0]  # _ a a _ a ␣ ␣ b _
    lp = np.log(np.eye(29)[ids] * 0.97 + 0.001)
    assert greedy_ids(lp, 0) == [2, 2, 1, 3]
    assert greedy_decode(lp, DEFAULT_VOCAB) == "aa b"
    assert greedy_decode(np.zeros((0, 29)), DEFAULT_VOCAB) == ""

"""Cue text to the model's alphabet."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galvasr.model.normalize import to_alphabet
from galvasr.model.vocab import DEFAULT_VOCAB, Vocabulary

WAV2VEC = Vocabulary(
    symbols=("<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"),
    blank_index=0,
    word_separator="|",
    upper=True,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", "hello world"),
        ("<i>Don't</i> go", "i don't i go"),  # markup is ingest's job; here it is only letters
        ("'Quoted' words", "quoted words"),
        ("Café déjà vu, naïve Zoë", "cafe deja vu naive zoe"),
        ("Straße", "strasse"),
        ("It was 1984.", "it was nineteen eighty four"),
        ("In 2000 and 2023", "in two thousand and twenty twenty three"),
        ("the 21st and 3rd", "the twenty first and third"),
        ("3.14 and 1,000,000", "three point one four and one million"),
        ("007", "zero zero seven"),
        ("$5.50 or £1", "five dollars fifty cents or one pound"),
        ("100% & more @ home", "one hundred percent and more at home"),
        ("well-known — isn't it", "well known isn't it"),
        ("♪ la la ♪", "la la"),
        ("[MUSIC]", "music"),
        ("...", ""),
        ("", ""),
    ],
)
def test_examples(text, expected):
    assert to_alphabet(text, DEFAULT_VOCAB) == expected


def test_an_upper_case_alphabet_with_bars_between_words():
    assert to_alphabet("It's 2 o'clock, Zoë!", WAV2VEC) == "IT'S|TWO|O'CLOCK|ZOE"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
@pytest.mark.parametrize("vocab", [DEFAULT_VOCAB, WAV2VEC], ids=["galvasr", "wav2vec2"])
def test_output_is_in_the_alphabet_well_spaced_and_idempotent(vocab, text):
    out = to_alphabet(text, vocab)
    allowed = set(vocab.symbols) - {vocab.symbols[vocab.blank_index]}
    assert set(out) <= allowed
    sep = vocab.word_separator
    assert not out.startswith(sep) and not out.endswith(sep) and sep * 2 not in out
    assert to_alphabet(out, vocab) == out


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10**18))
def test_every_number_is_spelled(n):
    out = to_alphabet(f"{n}", DEFAULT_VOCAB)
    assert out and set(out) <= set("abcdefghijklmnopqrstuvwxyz '")

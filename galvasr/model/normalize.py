"""Text to a CTC model's alphabet, as the words would be spoken.

The one text normalizer of galvasr: ``Vocabulary.normalize`` calls it, and
with it the aligner normalizes subtitle cues and training normalizes the
labels of its synthetic speech, so a model learns the spelling it is later
aligned with.

``to_alphabet`` spells numbers out (cardinals, ordinals, decimals, years,
currency and percentages, with num2words), turns the common symbols into
words, transliterates accented and foreign letters to ASCII (unidecode),
folds case to the model's, and drops everything else. An apostrophe is kept
only inside a word ("don't"; not "sons' wives", nor a quotation mark). Words
are separated by the vocabulary's word separator. The result contains only
symbols of the vocabulary (blank excluded), never starts or ends with a
separator nor has two in a row, and normalizing it again changes nothing. The
original cue text is not touched: stages keep it next to the normalized one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

from num2words import num2words
from unidecode import unidecode

if TYPE_CHECKING:
    from galvasr.model.vocab import Vocabulary

# Bumped whenever a rule changes what text normalizes to: training caches record it.
RULES_VERSION = 2

_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "sen", "sen"),
}
_SYMBOLS = {
    "&": " and ", "@": " at ", "+": " plus ", "=": " equals ", "%": " percent ",
    "°": " degrees ", "#": " number ", "×": " times ", "½": " one half ",
    "¼": " one quarter ", "¾": " three quarters ",
}  # fmt: skip
_QUOTES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'"})

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
_CURRENCY = re.compile(r"([$£€¥])\s?(" + _NUM + r")")
# Not from inside a digit run, nor from a group of a longer "1,000,000,...": each
# such try would scan to the run's end again (quadratic in a long run), and
# can only match where the try from the run's first digit already did.
_PERCENT = re.compile(r"(?<!\d)(?!(?<=\d,)\d{3},)(" + _NUM + r")\s?%")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = re.compile(_NUM)
_WORD_BREAKS = re.compile(r"[-‐‑‒–—―_/\\|~]")
_SPACES = re.compile(r"\s+")
# Longer digit strings (from 10**15 on) are read digit by digit, and never go
# through int(): Python refuses to convert a string of more than 4,300 digits.
_MAX_SPELLED_DIGITS = 15


def to_alphabet(text: str, vocab: Vocabulary) -> str:
    """``text`` as a model with ``vocab`` would spell it (may be empty)."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    if vocab.word_separator != " ":
        text = text.replace(vocab.word_separator, " ")
    text = _CURRENCY.sub(_spell_currency, text)
    text = _PERCENT.sub(lambda m: f" {_spell_number(m.group(1))} percent ", text)
    text = _ORDINAL.sub(lambda m: f" {_spell_ordinal(m.group(1))} ", text)
    text = _NUMBER.sub(lambda m: f" {_spell_number(m.group())} ", text)
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = unidecode(text)
    text = text.upper() if vocab.upper else text.lower()
    text = _WORD_BREAKS.sub(" ", text)
    return _keep_known(text, vocab)


def _keep_known(text: str, vocab: Vocabulary) -> str:
    blank = vocab.symbols[vocab.blank_index]
    special = {vocab.symbols[i] for i in vocab.special_indices}
    known = {s for s in vocab.symbols if len(s) == 1 and s not in (blank, vocab.word_separator)}
    known -= special
    keep_apostrophe = "'" in known
    known.discard("'")
    chars = []
    for i, c in enumerate(text):
        if c in known:
            chars.append(c)
        elif c == "'" and keep_apostrophe:
            # Only inside a word ("don't"); quotation marks are not spoken.
            before = text[i - 1] if i > 0 else ""
            after = text[i + 1] if i + 1 < len(text) else ""
            chars.append("'" if before in known and after in known else " ")
        else:
            chars.append(" ")
    words = _SPACES.sub(" ", "".join(chars)).split()
    return vocab.word_separator.join(words)


_DIGIT_WORDS = tuple(str(num2words(d)) for d in range(10))


def _by_digit(digits: str) -> str:
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits)


def _too_long(digits: str) -> bool:
    """Read digit by digit: 10**15 or more, without converting the whole string."""
    return len(digits.lstrip("0")) > _MAX_SPELLED_DIGITS


def _spell_number(digits: str) -> str:
    digits = digits.replace(",", "")
    if "." in digits:
        whole, frac = digits.split(".", 1)
        return f"{_spell_number(whole)} point {_by_digit(frac)}"
    if _too_long(digits) or (len(digits) > 1 and digits.startswith("0")):
        return _by_digit(digits)
    n = int(digits)
    if len(digits) == 4 and 1100 <= n <= 2099 and n % 1000 != 0:
        return str(num2words(n, to="year"))
    return str(num2words(n))


def _spell_ordinal(digits: str) -> str:
    if _too_long(digits):
        return _spell_number(digits)
    return str(num2words(int(digits), to="ordinal"))


def _spell_currency(m: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[m.group(1)]
    amount = m.group(2).replace(",", "")
    whole, _, frac = amount.partition(".")
    words = f"{_spell_number(whole)} {one if whole.lstrip('0') == '1' else many}"
    nonzero_frac = frac.strip("0") != ""
    if len(frac) == 2 and nonzero_frac:
        cents = int(frac)
        words += f" {num2words(cents)} {sub_one if cents == 1 else sub_many}"
    elif nonzero_frac:
        words = f"{_spell_number(amount)} {many}"
    return f" {words} "

"""A CTC vocabulary: the symbols of the log-probability columns, in order.

The project's own model uses ``DEFAULT_VOCAB``: blank, space, ``a``-``z`` and
the apostrophe. Imported wav2vec2 models bring their own (upper-case letters,
``|`` between words); ``Vocabulary.normalize`` maps text to whichever
alphabet the model has (galvasr.model.normalize), so neither training nor
the aligner needs to know which it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from galvasr.model.normalize import to_alphabet

BLANK = "<blank>"


@dataclass(frozen=True)
class Vocabulary:
    """Symbols of a CTC model's output columns.

    ``word_separator`` is the symbol that stands for a space between words
    (``" "`` for galvasr models, ``"|"`` for wav2vec2). ``upper`` says whether
    letters are upper-case symbols.
    """

    symbols: tuple[str, ...]
    blank_index: int = 0
    word_separator: str = " "
    upper: bool = False
    # Columns that are no text (<s>, </s>, <unk>, <pad>, ...): never decoded into
    # text, never part of a normalized transcript.
    special_indices: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("vocabulary has duplicate symbols")
        if not 0 <= self.blank_index < len(self.symbols):
            raise ValueError(f"blank index {self.blank_index} outside vocabulary")
        if self.word_separator not in self.symbols:
            raise ValueError(f"word separator {self.word_separator!r} is not in the vocabulary")
        if any(not 0 <= i < len(self.symbols) for i in self.special_indices):
            raise ValueError("special index outside vocabulary")

    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def index(self) -> dict[str, int]:
        return {s: i for i, s in enumerate(self.symbols)}

    def normalize(self, text: str) -> str:
        """Text in this alphabet, as it would be spoken (galvasr.model.normalize).

        Numbers, currency and symbols spelt out, letters transliterated and
        case folded, other marks dropped; words separated by
        ``word_separator``. The labels of training and the cue text of the
        aligner both come from here.
        """
        return to_alphabet(text, self)

    def encode(self, text: str) -> list[int]:
        """Label ids of already normalised text; raises on a symbol outside the vocabulary."""
        index = self.index
        try:
            return [index[c] for c in text]
        except KeyError as e:
            raise ValueError(f"symbol {e.args[0]!r} is not in the vocabulary") from None

    @property
    def num_letters(self) -> int:
        """Symbols that can be text: neither the blank nor a special token."""
        return len(self.symbols) - len({self.blank_index, *self.special_indices})

    def decode(self, ids: list[int]) -> str:
        """Symbols of label ids (no CTC collapsing), word separators as spaces; blank and
        special tokens dropped."""
        skip = {self.blank_index, *self.special_indices}
        out = "".join(self.symbols[i] for i in ids if i not in skip)
        return out.replace(self.word_separator, " ") if self.word_separator != " " else out


DEFAULT_VOCAB = Vocabulary(
    symbols=(BLANK, " ", *"abcdefghijklmnopqrstuvwxyz", "'"), blank_index=0, word_separator=" "
)

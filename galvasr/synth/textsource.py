"""English text for synthetic speech, from a package that ships offline.

The text is the King James Version of the Bible (1611; public domain), as
Debian's ``bible-kjv-text`` package ships it and its ``bible`` program prints
it. Books are split into disjoint sets so that the sample corpus, the model's
training text and its held-out evaluation text never share a sentence.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess

# Disjoint book sets. The acoustic model trains on TRAIN_BOOKS, reports CER on
# HELDOUT_BOOKS; the sample corpus speaks CORPUS_BOOKS.
TRAIN_BOOKS: tuple[str, ...] = (
    "Gen", "Exo", "Lev", "Num", "Deu", "Jos", "Jdg", "Rut", "1Sa", "2Sa", "1Ki", "2Ki",
    "1Ch", "2Ch", "Ezr", "Neh", "Est", "Job", "Psa", "Pro", "Ecc", "Isa", "Jer", "Eze",
    "Dan", "Hos", "Amo", "Mic", "Zec", "Mat", "Mar", "Act", "Rom", "1Co", "2Co", "Heb",
)  # fmt: skip
HELDOUT_BOOKS: tuple[str, ...] = ("Luk", "Gal", "Eph", "Jam", "1Pe", "Nah", "Hab")
CORPUS_BOOKS: tuple[str, ...] = ("Joh", "Rev", "Phi", "Col", "1Th", "Tit", "Jon", "Joe")

SOURCE_NAME = "King James Version of the Bible (1611), via Debian package bible-kjv-text"
SOURCE_LICENSE = "public domain"

_VERSE = re.compile(r"^(?P<ref>[0-9A-Za-z]+\d+:\d+) (?P<text>.+)$")


class TextSourceMissing(RuntimeError):
    pass


@functools.cache
def verses(book: str) -> tuple[tuple[str, str], ...]:
    """(reference, text) of every verse of one book, in order."""
    program = shutil.which("bible")
    if program is None:
        raise TextSourceMissing(
            "the `bible` program is missing: apt-get install bible-kjv (scripts/setup.sh does)"
        )
    out = subprocess.run(
        [program, "-f", f"{book}1:1-999:999"], capture_output=True, text=True, check=True
    ).stdout
    result = []
    for line in out.splitlines():
        m = _VERSE.match(line.strip())
        if m:
            result.append((m["ref"], m["text"].strip()))
    if not result:
        raise TextSourceMissing(f"no verses for book {book!r}")
    return tuple(result)


def sentences(books: tuple[str, ...]) -> list[str]:
    """Sentences of the given books, split at . ; : ? ! and stripped of verse markup."""
    out: list[str] = []
    for book in books:
        for _, text in verses(book):
            for piece in re.split(r"(?<=[.;:?!])\s+", text):
                piece = piece.strip()
                if len(piece.split()) >= 3:
                    out.append(piece)
    return out

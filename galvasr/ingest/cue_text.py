"""Subtitle cue text as a reader would see it: markup and non-speech removed.

:func:`clean_cue_text` is the one place that decides what of a cue is speech.
It removes HTML and WebVTT tags (after which HTML entities are decoded),
SubStation override blocks (``{\\an8}``), speaker labels (``JOHN:``,
``- Speaker 1:``, ``>>``), lines with music notes (sung lyrics and
``♪ music ♪``), bracketed sound descriptions (``[applause]``, and
``(laughs)`` but not parenthetical speech, see :func:`_is_parenthetical_speech`),
control and invisible format characters; then joins lines with single
spaces (a word hyphenated across a line break is joined back) and collapses
whitespace. Its output holds no
tag, no control character, no leading or trailing or double space, and
cleaning it again changes nothing (tests check each with hypothesis).

Normalization for alignment (case, numbers, the model's alphabet) is a
different step and lives elsewhere.
"""

from __future__ import annotations

import html
import re
import unicodedata

MUSIC_NOTES = frozenset("♪♫♩♬🎵🎶🎼")
MAX_PASSES = 8
MAX_BRACKET_DEPTH = 8

_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_ASS_SPACES = re.compile(r"\\[Nnh]")
# <i>, </font>, <c.yellow>, <v Roger Bingham>, <00:01:02.500> (WebVTT karaoke timestamps)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")
_CLOSING = {"[": "]", "(": ")", "（": "）", "【": "】"}
# Words that sound descriptions ("(birds chirping)", "(clears throat)") lack
# and parenthetical speech ("(but thou art rich)") has.
_SPEECH_WORDS = frozenset({
    "i", "me", "my", "you", "your", "he", "him", "his", "she", "her", "we", "us", "our", "they",
    "them", "their", "thou", "thee", "thy", "ye", "but", "that", "which", "who", "whom",
    "because", "if", "is", "are", "was", "were", "art", "am", "not",
})  # fmt: skip
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])-$")
# At the start of a line: a dialogue dash, a caption's speaker-change marker
# (">>"), a colon left behind by "[JOHN]:", a "Speaker 1:"-style label, or a
# label in capitals ("JOHN:", "DR. SMITH:", "MAN 2:", "JOSÉ:").
_DASH_OR_MARKER = re.compile(r"^\s*(?:[-‐‑‒–—―]+(?=\s|$)|>>+|:)\s*")
_SPEAKER_WORD = re.compile(r"^\s*(?:speaker|narrator|interviewer|host)(?:\s*\d+)?\s*:\s*", re.I)
_LABEL = re.compile(r"^\s*([^\s:]+(?:[ \t]+[^\s:]+){0,3})\s*:(?:\s+|$)")
_WHITESPACE = re.compile(r"\s+")
# Format characters are invisible and dropped, except the zero-width joiner and
# non-joiner, which some scripts spell words with.
_KEEP_FORMAT = frozenset("\u200c\u200d")


def clean_cue_text(raw: str) -> str:
    """The spoken text of one subtitle cue; "" when nothing in it is speech."""
    text = raw
    # A pass can reveal markup ("&lt;i&gt;" is a tag only once the entities
    # are decoded), so passes repeat up to a fixed point, which makes the
    # result idempotent. Real cues need two passes; a cue still changing
    # after MAX_PASSES is crafted, not captioned, and counts as no speech.
    for _ in range(MAX_PASSES):
        cleaned = _clean_once(text)
        if cleaned == text:
            return text
        text = cleaned
    return ""


def _clean_once(text: str) -> str:
    text = _ASS_OVERRIDE.sub("", text)
    text = _ASS_SPACES.sub(lambda m: "\n" if m.group(0) != "\\h" else " ", text)
    text = _TAG.sub("", text)
    text = html.unescape(text)
    text = _TAG.sub("", text)
    text = _remove_bracketed(text)
    text = _remove_invisible(text)
    # Each line as its pieces: a line joined to the next at a hyphen grows by
    # appending, and only its last two characters are looked at, so a cue of
    # thousands of hyphenated lines costs no more than their length.
    lines: list[list[str]] = []
    for line in text.splitlines():
        if any(ch in MUSIC_NOTES for ch in line):
            continue
        line = _strip_speaker(line)
        # What is left of markup that never closed, and ">>" inside a line.
        line = line.replace("<", " ").replace(">", " ").strip()
        if not line:
            continue
        # "God-" at the end of a line and "ward" on the next are one word.
        if lines and _HYPHEN_BREAK.search(lines[-1][-1][-2:]) and line[0].isalpha():
            lines[-1].append(line)
        else:
            lines.append([line])
    return _WHITESPACE.sub(" ", " ".join("".join(pieces) for pieces in lines)).strip()


def _remove_bracketed(text: str) -> str:
    """Bracketed descriptions removed, nested ones too, in one linear scan.

    Square (and CJK) brackets always hold descriptions; parentheses may hold
    speech (:func:`_is_parenthetical_speech`), decided innermost first.
    Brackets that never close stay as they are. Brackets nested deeper than
    MAX_BRACKET_DEPTH make the whole text "" (and keep the scan linear).
    """
    buffers: list[list[str]] = [[]]
    opened: list[str] = []
    for ch in text:
        if ch in _CLOSING:
            if len(opened) == MAX_BRACKET_DEPTH:
                return ""  # crafted, not captioned: no speech
            buffers.append([])
            opened.append(ch)
        elif opened and ch == _CLOSING[opened[-1]]:
            inner = "".join(buffers.pop())
            opening = opened.pop()
            keep = opening == "(" and _is_parenthetical_speech(inner)
            buffers[-1].append(f"({inner})" if keep else " ")
        else:
            buffers[-1].append(ch)
    while opened:
        inner = "".join(buffers.pop())
        buffers[-1].append(opened.pop() + inner)
    return "".join(buffers[0])


def _is_parenthetical_speech(inner: str) -> bool:
    """Whether parenthesized text is speech rather than a sound description.

    Speech: at least four words, one of them a pronoun, conjunction or form of
    "to be" ("(but thou art rich)"); all-capital text ("(APPLAUSE)") never is.
    """
    words = [w.lower() for w in _WORD.findall(inner)]
    is_upper = inner == inner.upper() != inner.lower()
    return len(words) >= 4 and not is_upper and any(w in _SPEECH_WORDS for w in words)


def _strip_speaker(line: str) -> str:
    while True:
        stripped = _DASH_OR_MARKER.sub("", line, count=1)
        stripped = _SPEAKER_WORD.sub("", stripped, count=1)
        label = _LABEL.match(stripped)
        if label and _is_capitalized_label(label.group(1)):
            stripped = stripped[label.end() :]
        if stripped == line:
            return line
        line = stripped


def _is_capitalized_label(label: str) -> bool:
    """'JOHN', 'DR. SMITH', 'MAN 2': letters all capitals, at least one of them."""
    return any(ch.isalpha() for ch in label) and label == label.upper() != label.lower()


def _remove_invisible(text: str) -> str:
    """Control characters become spaces (tabs, stray CRs); format characters go."""
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\n":
            out.append(ch)
        elif category == "Cc" or category == "Zl" or category == "Zp":
            out.append(" ")
        elif category in ("Cf", "Cs", "Co") and ch not in _KEEP_FORMAT:
            continue
        else:
            out.append(ch)
    return "".join(out)

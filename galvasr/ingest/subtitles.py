"""Subtitle files (SubRip and WebVTT) to timed cues, whatever their encoding.

:func:`parse_subtitle` takes the file's bytes and gives either a
:class:`Subtitle` (its cues in start order, each with the text as the file
had it and the cleaned text, and the cues it dropped, each with a reason) or
an :class:`Unusable` with the reason the whole file is refused:

- ``subtitle:empty``: nothing but whitespace or a WebVTT header, or cues of
  which none has any speech text once markup is removed;
- ``subtitle:unparsable``: text in which no cue can be found.

Cues are numbered from 0 in start order (ties keep file order) *before* any
is dropped, so a dropped cue keeps its number in ``rejects`` and the kept
ones may skip numbers. A cue is dropped as ``cue:no-speech-text`` when
cleaning leaves nothing (``[MUSIC]``, ``♪ ... ♪``) and as ``cue:bad-timing``
when it does not end after it starts; a cue whose cleaning raises what no
rule foresaw is dropped as ``internal:<ExceptionType>``
(:func:`galvasr.schemas.unforeseen`).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import pysubs2

from galvasr.ingest.cue_text import clean_cue_text
from galvasr.schemas import unforeseen

FORMATS = {"srt": "srt", "vtt": "vtt"}
"""Subtitle file extension to pysubs2 format name."""

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16: FF FE 00 00 starts with FF FE
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_WEBVTT_NON_CUE = re.compile(r"^(?:WEBVTT|NOTE|STYLE|REGION)(?:[ \t\n]|$)")


@dataclass(frozen=True)
class Cue:
    """One cue: ``index`` counts from 0 in start order; times in milliseconds."""

    index: int
    start_ms: int
    end_ms: int
    text_raw: str  # as the file had it (tags and all), lines joined by "\n"
    text: str  # clean_cue_text(text_raw)


@dataclass(frozen=True)
class DroppedCue:
    index: int
    reason: str  # cue:no-speech-text, cue:bad-timing, internal:<ExceptionType>
    detail: str


@dataclass(frozen=True)
class Subtitle:
    encoding: str  # the encoding the bytes were decoded with
    cues: tuple[Cue, ...]  # kept cues, in start order
    dropped: tuple[DroppedCue, ...]


@dataclass(frozen=True)
class Unusable:
    reason: str  # subtitle:empty, subtitle:unparsable
    detail: str


def subtitle_format(file_name: str) -> str | None:
    """The pysubs2 format of a file name ("srt", "vtt"), or None if not a subtitle."""
    _, dot, ext = file_name.rpartition(".")
    return FORMATS.get(ext.lower()) if dot else None


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``: the bytes decoded, never failing.

    A UTF-16 or UTF-32 byte order mark decides; else NUL bytes in every
    other position mean UTF-16 without a mark; else (after any UTF-8 byte
    order mark) UTF-8 if the bytes are valid UTF-8; else cp1252 (Windows
    Western, the usual legacy encoding of subtitles); else Latin-1 (for the
    five bytes cp1252 leaves undefined).
    Line ends become "\\n".
    """
    text, encoding = _decode(data)
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _decode(data: bytes) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            data = data[len(bom) :]
            if encoding == "utf-8":
                break  # a UTF-8 mark is no promise: editors put it before cp1252 text too
            return data.decode(encoding, errors="replace"), encoding
    sniffed = _sniff_utf16(data)
    if sniffed:
        return data.decode(sniffed, errors="replace"), sniffed
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1"), "latin-1"


def _sniff_utf16(data: bytes) -> str | None:
    """UTF-16 without a byte order mark: mostly-ASCII text has NULs in every other byte."""
    sample = data[:4096]
    if len(sample) < 4 or len(sample) % 2:
        return None
    half = len(sample) // 2
    nul_even = sample[0::2].count(0)
    nul_odd = sample[1::2].count(0)
    if nul_odd > 0.4 * half and nul_even < 0.05 * half:
        return "utf-16-le"
    if nul_even > 0.4 * half and nul_odd < 0.05 * half:
        return "utf-16-be"
    return None


def parse_subtitle(data: bytes, file_name: str) -> Subtitle | Unusable:
    """The cues of one SubRip or WebVTT file; the format comes from the name or a WEBVTT header."""
    text, encoding = decode_text(data)
    body = text.strip()
    is_vtt = body.startswith("WEBVTT") or subtitle_format(file_name) == "vtt"
    if is_vtt:
        body, other_blocks = _webvtt_cue_blocks(body)
        if not body and other_blocks:
            return Unusable("subtitle:unparsable", f"no WebVTT cue in {len(text)} characters")
    if not body:
        return Unusable("subtitle:empty", f"no text ({len(data)} bytes, {encoding})")
    try:
        events = pysubs2.SSAFile.from_string(
            body, format_="vtt" if is_vtt else "srt", keep_html_tags=True
        ).events
    except (pysubs2.exceptions.Pysubs2Error, ValueError) as e:
        return Unusable("subtitle:unparsable", f"{type(e).__name__}: {e}")
    if not events:
        return Unusable("subtitle:unparsable", f"no cue found in {len(body)} characters")

    order = sorted(range(len(events)), key=lambda i: (events[i].start, events[i].end, i))
    cues: list[Cue] = []
    dropped: list[DroppedCue] = []
    for index, position in enumerate(order):
        event = events[position]
        raw = event.text.replace("\\N", "\n")
        if event.end <= event.start or event.start < 0:
            dropped.append(
                DroppedCue(index, "cue:bad-timing", f"{event.start} ms to {event.end} ms")
            )
            continue
        try:
            clean = clean_cue_text(raw)
        except Exception as e:  # no rule foresaw it: this cue is dropped, the file kept
            dropped.append(DroppedCue(index, *unforeseen(e)))
            continue
        if not clean:
            dropped.append(DroppedCue(index, "cue:no-speech-text", f"text {raw[:200]!r}"))
            continue
        cues.append(Cue(index, int(event.start), int(event.end), raw, clean))
    if not cues:
        reasons = sorted({d.reason for d in dropped})
        return Unusable("subtitle:empty", f"none of {len(events)} cues kept ({', '.join(reasons)})")
    return Subtitle(encoding, tuple(cues), tuple(dropped))


def _webvtt_cue_blocks(text: str) -> tuple[str, int]:
    """Only the cue blocks of a WebVTT file, each from its timing line on.

    pysubs2 reads WebVTT as SubRip does: any line that is not a timing line
    belongs to the cue before it. So the header, NOTE, STYLE and REGION
    blocks and cue identifiers would end up in some cue's text; a block is a
    cue if its first or second line is the timing line ("-->"). Also
    returned: how many blocks are neither cues nor one of those.
    """
    cues = []
    other = 0
    for block in _BLANK_LINE.split(text):
        lines = block.strip("\n").split("\n")
        timing = [i for i, line in enumerate(lines[:2]) if "-->" in line]
        if timing:
            cues.append("\n".join(lines[timing[0] :]))
        elif block.strip() and not _WEBVTT_NON_CUE.match(block.strip()):
            other += 1
    return "\n\n".join(cues), other

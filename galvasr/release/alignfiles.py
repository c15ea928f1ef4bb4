"""Alignment files of one source audio file: SRT, WebVTT, CTM and Praat TextGrid, as bytes.

Pure functions from the ``alignments`` rows of a file's *kept* cues (dicts
with the fields of :class:`galvasr.schemas.AlignmentRow`; times in the
file's time) to file contents. A cue is kept when the released segments of
its file cover its whole span (:func:`covered`); a cue split across several
segments is kept when all of its pieces were released.

- ``.srt`` and ``.vtt``: the kept cues, re-timed to where the aligner found
  them (not the subtitle's own times), with their text as the subtitle has
  it (markup removed). Cues are in start order; blank lines inside a cue are
  dropped (a blank line ends a cue) and ``-->`` becomes ``->`` (it would
  start a timing line); WebVTT escapes ``&`` and ``<``, as its syntax requires.
- ``.ctm``: one line per word of the kept cues,
  ``<name> 1 <start s> <duration s> <word> <confidence>``; the word is in the
  acoustic model's alphabet (``words.word``), the confidence is
  ``exp(score)`` of the word's mean log-probability, in [0, 1].
- ``.TextGrid``: Praat's long text format, two interval tiers, ``cues`` and
  ``words``, each tiling ``[0, duration]`` with empty intervals between
  labels, as Praat requires. Where two cues (or words) overlap, the later
  one starts where the earlier one ends (one wholly inside another is left
  out of the tier; the SRT and CTM keep it).

Times are whole milliseconds, written as exact decimals. The same rows give
the same bytes.

File names come from the source's identifier and audio file name, both
untrusted: :func:`file_name` keeps ASCII letters, digits, ``.``, ``_`` and
``-`` of them and appends the ``audio_id``, so a name is one safe path part
(no ``/``, never ``.``, ``..`` or hidden) and unique per audio file.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from galvasr.schemas import ALIGNMENTS

EXTENSIONS: tuple[str, ...] = ("srt", "vtt", "ctm", "TextGrid")
CUE_TIER = "cues"
WORD_TIER = "words"
NAME_PART_CHARS = 60  # of the identifier, and of the audio file's name

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EDGE = "._-"

Row = Mapping[str, Any]


# ------------------------------------------------------------------ names


def _slug(text: str, limit: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = _UNSAFE.sub("_", ascii_text).strip(_EDGE)
    return slug[:limit].rstrip(_EDGE)


def file_name(identifier: str | None, audio_file: str | None, audio_id: int) -> str:
    """The name (without extension) of a source audio file's alignment files.

    ``<identifier>__<audio file without extension>__<audio_id as 16 hex digits>``,
    each part reduced to ``[A-Za-z0-9._-]`` and at most :data:`NAME_PART_CHARS`
    characters; a part with nothing left is left out.
    """
    stem = audio_file or ""
    base = stem.rsplit("/", 1)[-1]
    if "." in base.lstrip("."):
        stem = stem[: len(stem) - len(base)] + base.rsplit(".", 1)[0]
    parts = [_slug(identifier or "", NAME_PART_CHARS), _slug(stem, NAME_PART_CHARS)]
    return "__".join([p for p in parts if p] + [f"{audio_id & 0xFFFF_FFFF_FFFF_FFFF:016x}"])


# --------------------------------------------------------------- kept cues


def covered(start_ms: int, end_ms: int, spans: Iterable[Sequence[int]]) -> bool:
    """Whether ``[start_ms, end_ms]`` lies within the union of ``spans`` ([start, end] pairs)."""
    at = start_ms
    for s, e in sorted((int(s), int(e)) for s, e in spans):
        if s > at:
            break
        at = max(at, e)
        if at >= end_ms:
            return True
    return False


def _cue_order(cue: Row) -> tuple[int, int, int]:
    a = ALIGNMENTS.c
    return (int(cue[a.start_ms]), int(cue[a.end_ms]), int(cue[a.cue_index]))


def _words(cues: Sequence[Row]) -> list[Row]:
    """Every word of ``cues`` in time order (cue order breaks ties)."""
    a = ALIGNMENTS.c
    out = []
    for n, cue in enumerate(sorted(cues, key=_cue_order)):
        for k, w in enumerate(cue.get(a.words) or ()):
            out.append((int(w["start_ms"]), int(w["end_ms"]), n, k, w))
    return [w for *_, w in sorted(out, key=lambda t: t[:4])]


# ------------------------------------------------------------ time formats


def _clock(ms: int, separator: str) -> str:
    ms = max(0, int(ms))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, rest = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{rest:03d}"


def _seconds(ms: int) -> str:
    """Milliseconds as exact decimal seconds: 1234 -> "1.234"."""
    ms = max(0, int(ms))
    return f"{ms // 1000}.{ms % 1000:03d}"


# --------------------------------------------------------------- subtitles


def _cue_lines(text: str) -> list[str]:
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    return [line.replace("-->", "->") for line in lines if line]


def _subtitle_cues(cues: Sequence[Row]) -> list[tuple[int, int, list[str]]]:
    a = ALIGNMENTS.c
    out = []
    for cue in sorted(cues, key=_cue_order):
        lines = _cue_lines(cue[a.text] or "") or _cue_lines(cue[a.text_normalized] or "")
        if lines:
            out.append((int(cue[a.start_ms]), int(cue[a.end_ms]), lines))
    return out


def srt(cues: Sequence[Row]) -> bytes:
    """SubRip: numbered cues, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, text, a blank line."""
    blocks = []
    for n, (start, end, lines) in enumerate(_subtitle_cues(cues), 1):
        timing = f"{_clock(start, ',')} --> {_clock(end, ',')}"
        blocks.append("\n".join([str(n), timing, *lines]) + "\n")
    return "\n".join(blocks).encode()


def _vtt_escape(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;")


def webvtt(cues: Sequence[Row]) -> bytes:
    """WebVTT: the ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` and text."""
    blocks = ["WEBVTT\n"]
    for start, end, lines in _subtitle_cues(cues):
        timing = f"{_clock(start, '.')} --> {_clock(end, '.')}"
        blocks.append("\n".join([timing, *map(_vtt_escape, lines)]) + "\n")
    return "\n".join(blocks).encode()


# --------------------------------------------------------------------- CTM


def _token(word: str) -> str:
    return "_".join((word or "").split())


def _confidence(score: float | None) -> float:
    if score is None or math.isnan(score):
        return 0.0
    return min(1.0, math.exp(min(0.0, score)))


def ctm(name: str, cues: Sequence[Row]) -> bytes:
    """NIST CTM: ``<name> 1 <start> <duration> <word> <confidence>`` per word, in time order."""
    lines = []
    for w in _words(cues):
        token = _token(w["word"])
        if not token:
            continue
        start, end = int(w["start_ms"]), int(w["end_ms"])
        duration = _seconds(max(0, end - start))
        conf = _confidence(w["score"])
        lines.append(f"{name} 1 {_seconds(start)} {duration} {token} {conf:.4f}\n")
    return "".join(lines).encode()


# ---------------------------------------------------------------- TextGrid


def _tg_text(text: str) -> str:
    return '"' + " ".join((text or "").split()).replace('"', '""') + '"'


def _tiling(entries: Iterable[tuple[int, int, str]], end_ms: int) -> list[tuple[int, int, str]]:
    """Intervals tiling ``[0, end_ms]``: the entries (clipped to follow each other), gaps empty."""
    out: list[tuple[int, int, str]] = []
    at = 0
    for start, end, label in entries:
        start, end = max(start, at), min(end, end_ms)
        if end <= start:
            continue
        if start > at:
            out.append((at, start, ""))
        out.append((start, end, label))
        at = end
    if at < end_ms:
        out.append((at, end_ms, ""))
    return out


def _tier(name: str, intervals: Sequence[tuple[int, int, str]], end_ms: int, n: int) -> list[str]:
    lines = [
        f"    item [{n}]:",
        '        class = "IntervalTier" ',
        f"        name = {_tg_text(name)} ",
        "        xmin = 0 ",
        f"        xmax = {_seconds(end_ms)} ",
        f"        intervals: size = {len(intervals)} ",
    ]
    for k, (start, end, label) in enumerate(intervals, 1):
        lines += [
            f"        intervals [{k}]:",
            f"            xmin = {_seconds(start)} ",
            f"            xmax = {_seconds(end)} ",
            f"            text = {_tg_text(label)} ",
        ]
    return lines


def textgrid(cues: Sequence[Row], duration_ms: int | None) -> bytes:
    """A Praat TextGrid (long text format) with a ``cues`` and a ``words`` interval tier.

    The grid spans ``[0, duration_ms]`` (the decoded file's length), or to the
    last cue's end when that is later or the length is unknown.
    """
    a = ALIGNMENTS.c
    ordered = sorted(cues, key=_cue_order)
    words = _words(ordered)
    ends = [int(c[a.end_ms]) for c in ordered] + [int(w["end_ms"]) for w in words]
    end_ms = max([int(duration_ms or 0), *ends, 1])
    cue_tier = _tiling(
        ((int(c[a.start_ms]), int(c[a.end_ms]), c[a.text] or "") for c in ordered), end_ms
    )
    word_tier = _tiling(((int(w["start_ms"]), int(w["end_ms"]), w["word"]) for w in words), end_ms)
    lines = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0 ",
        f"xmax = {_seconds(end_ms)} ",
        "tiers? <exists> ",
        "size = 2 ",
        "item []: ",
        *_tier(CUE_TIER, cue_tier, end_ms, 1),
        *_tier(WORD_TIER, word_tier, end_ms, 2),
    ]
    return ("\n".join(lines) + "\n").encode()


def files(name: str, cues: Sequence[Row], duration_ms: int | None) -> list[tuple[str, bytes]]:
    """(extension, bytes) of every alignment file of one source audio file, in EXTENSIONS order."""
    return [
        ("srt", srt(cues)),
        ("vtt", webvtt(cues)),
        ("ctm", ctm(name, cues)),
        ("TextGrid", textgrid(cues, duration_ms)),
    ]

"""An archive.org-style catalog: one JSON item per line, and the files it names.

A line is ``{"metadata": {"identifier": ..., "licenseurl": ..., ...},
"files": [{"name": ..., "source": ..., "format": ...}, ...]}`` (the shape of
archive.org's metadata API); an item's files live at
``<corpus>/<items_dir>/<identifier>/<name>`` (``items_dir`` is ``items`` by
default, ``.`` for items at the corpus root as ``ia download`` puts them).
Everything in a line is untrusted:
:func:`parse_catalog_line` refuses a malformed line, :func:`safe_name`
refuses any name that could point outside its item's folder, and
:func:`pair_files` decides which audio file goes with which subtitle file.

Pairing, per item:

- audio and subtitle files are told apart by extension; other files (images,
  XML metadata, torrents) are ignored, and counted;
- a file listed twice (``catalog:duplicate-file``) or with an unsafe name
  (``catalog:unsafe-path``) is refused;
- an audio file that the item marks as a derivative of another of its audio
  files (archive.org's ``"source": "derivative"``, ``"original": ...``) is
  the same recording again: refused as ``audio:derivative``;
- each audio file is paired with the subtitle of the same stem (the name
  without its extension, compared case-insensitively; SRT before WebVTT when
  both exist); an audio file with no such subtitle takes the item's only
  subtitle file if it is the only audio file left without one;
- an audio file left without a subtitle is refused as ``subtitle:none``, a
  subtitle file that no audio file takes as ``subtitle:unpaired``.

A subtitle may serve several audio files of one stem (``talk.mp3`` and
``talk.ogg``, both originals). Every audio and subtitle file ends in exactly
one pair or one refusal.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from galvasr.ingest.subtitles import FORMATS

AUDIO_EXTENSIONS: tuple[str, ...] = (
    "flac", "wav", "mp3", "ogg", "oga", "opus", "m4a", "aac", "wma", "aif", "aiff", "mp2",
)  # fmt: skip
"""Extensions of audio files (lower case, without the dot)."""

VIDEO_EXTENSIONS: tuple[str, ...] = (
    "mp4",
    "m4v",
    "mov",
    "mkv",
    "webm",
    "ogv",
    "avi",
    "mpg",
    "mpeg",
)
"""Video containers: much subtitled speech on archive.org is video, and decode
uses its first audio stream (a video without one is rejected there)."""

SUBTITLE_EXTENSIONS: tuple[str, ...] = tuple(FORMATS)

# archive.org identifiers: letters, digits, '_', '-', '.', starting with a
# letter or digit (so never '.' or '..'), at most 100 characters. Always
# fullmatch: with match, '$' also matches before a trailing newline.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
MAX_NAME_CHARS = 1024


@dataclass(frozen=True)
class CatalogFile:
    name: str
    source: str | None = None  # archive.org: "original", "derivative", "metadata"
    original: str | None = None  # for a derivative: the file it was made from


@dataclass(frozen=True)
class Item:
    """One catalog line that parsed: its identifier is safe to use as a folder name."""

    line_number: int
    identifier: str
    license_url: object  # as the catalog had it: normalize with galvasr.licenses
    title: str | None
    creator: str | None
    language: str | None
    date: str | None
    files: tuple[CatalogFile, ...]
    bad_entries: tuple[str, ...] = ()  # descriptions of unusable entries of "files"


@dataclass(frozen=True)
class LineReject:
    """A catalog line that gives no item; ``identifier`` if one could be read."""

    line_number: int
    reason: str  # catalog:malformed-line, catalog:unsafe-path
    detail: str
    identifier: str | None = None
    file_names: tuple[str, ...] = ()  # names of audio and subtitle files the line lists


@dataclass(frozen=True)
class Pair:
    audio: CatalogFile
    subtitle: CatalogFile


@dataclass(frozen=True)
class FileReject:
    name: str
    is_audio: bool
    reason: str
    detail: str


@dataclass(frozen=True)
class Pairing:
    pairs: tuple[Pair, ...]  # sorted by audio file name
    rejects: tuple[FileReject, ...]
    ignored: tuple[str, ...]  # names of files that are neither audio nor subtitle


# ------------------------------------------------------------------ lines


def parse_catalog_line(line_number: int, line: str) -> Item | LineReject | None:
    """The item on one catalog line (numbered from 1); None for a blank line."""
    text = line.strip().lstrip("\ufeff")
    if not text:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError is a ValueError
        return LineReject(line_number, "catalog:malformed-line", f"not JSON: {e}")
    if not isinstance(value, dict):
        return LineReject(
            line_number, "catalog:malformed-line", f"a JSON {type(value).__name__}, not an object"
        )
    metadata = value.get("metadata", {})
    if not isinstance(metadata, dict):
        return LineReject(line_number, "catalog:malformed-line", "metadata is not an object")
    identifier = metadata.get("identifier", value.get("identifier"))
    if not isinstance(identifier, str) or not identifier:
        return LineReject(line_number, "catalog:malformed-line", "no identifier")
    top = value.get("identifier", identifier)
    if top != identifier:
        return LineReject(
            line_number, "catalog:malformed-line",
            f"identifier {top!r} disagrees with metadata.identifier {identifier!r}",
            identifier=printable(identifier),
        )  # fmt: skip
    files_value = value.get("files", [])
    if not isinstance(files_value, list):
        return LineReject(
            line_number, "catalog:malformed-line", "files is not a list",
            identifier=printable(identifier),
        )  # fmt: skip
    files, bad = _files(files_value)
    if not is_identifier(identifier):
        return LineReject(
            line_number, "catalog:unsafe-path",
            f"identifier {printable(identifier)!r} is not a plain archive.org identifier",
            identifier=printable(identifier),
            file_names=tuple(f.name for f in files if kind_of(f.name) is not None),
        )  # fmt: skip
    return Item(
        line_number=line_number,
        identifier=identifier,
        license_url=metadata.get("licenseurl"),
        title=_text(metadata.get("title")),
        creator=_text(metadata.get("creator")),
        language=_text(metadata.get("language")),
        date=_text(metadata.get("date")),
        files=tuple(files),
        bad_entries=tuple(bad),
    )


def _files(entries: list[Any]) -> tuple[list[CatalogFile], list[str]]:
    files, bad = [], []
    for position, entry in enumerate(entries):
        if isinstance(entry, str):
            entry = {"name": entry}
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name:
            bad.append(f"files[{position}] has no name: {printable(repr(entry))[:200]}")
            continue
        source, original = entry.get("source"), entry.get("original")
        files.append(
            CatalogFile(
                name=name,
                source=source if isinstance(source, str) else None,
                original=original if isinstance(original, str) else None,
            )
        )
    return files, bad


def _text(value: object) -> str | None:
    """A metadata value as text: archive.org gives a string or a list of strings."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        joined = "; ".join(p for p in parts if p)
        return joined or None
    if isinstance(value, str | int | float):
        text = printable(str(value)).strip()
        return text or None
    return None


def printable(text: str) -> str:
    """``text`` with control characters and lone surrogates replaced by U+FFFD."""
    return "".join(
        "\ufffd" if unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t\n" else ch
        for ch in text
    )


# ------------------------------------------------------------------ names


def kind_of(name: str) -> str | None:
    """ "audio", "subtitle" or None, from the file name's extension."""
    _, dot, ext = name.rpartition(".")
    ext = ext.lower() if dot else ""
    if ext in AUDIO_EXTENSIONS or ext in VIDEO_EXTENSIONS:
        return "audio"
    if ext in SUBTITLE_EXTENSIONS:
        return "subtitle"
    return None


def safe_name(name: str) -> str | None:
    """Why ``name`` is not a safe path inside an item's folder, or None if it is.

    Safe: relative, '/'-separated, no empty, '.' or '..' component, no
    backslash (a Windows separator), no control character (NUL included),
    at most :data:`MAX_NAME_CHARS` characters.
    """
    if len(name) > MAX_NAME_CHARS:
        return f"name longer than {MAX_NAME_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return "control character in name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "empty, '.' or '..' path component"
    return None


def is_identifier(identifier: str) -> bool:
    """Whether ``identifier`` is a plain archive.org identifier, safe as a folder name."""
    return _IDENTIFIER.fullmatch(identifier) is not None


def item_path(items_dir: str, identifier: str, name: str) -> str:
    """Where a file of an item lives, relative to the corpus root.

    ``items_dir`` is relative to the corpus root; ``"."`` (or ``""``) puts
    items at the root itself, as ``ia download`` lays them out.
    """
    if not is_identifier(identifier) or safe_name(name) is not None:
        raise ValueError(f"unsafe item path {identifier!r}/{name!r}")
    folder = [part for part in items_dir.split("/") if part not in ("", ".")]
    return "/".join([*folder, identifier, name])


def stem(name: str) -> str:
    """The name without its extension, case-folded: what pairs audio with subtitles."""
    base, dot, _ = name.rpartition(".")
    return (base if dot else name).casefold()


# ---------------------------------------------------------------- pairing


def pair_files(files: Iterable[CatalogFile]) -> Pairing:
    """Pair an item's audio files with its subtitle files (rules in the module docstring)."""
    rejects: list[FileReject] = []
    ignored: list[str] = []
    audio: dict[str, CatalogFile] = {}
    subtitles: dict[str, CatalogFile] = {}
    seen: Counter[str] = Counter()
    for f in files:
        kind = kind_of(f.name)
        if kind is None:
            ignored.append(f.name)
            continue
        seen[f.name] += 1
        problem = safe_name(f.name)
        if seen[f.name] > 1:
            rejects.append(
                FileReject(f.name, kind == "audio", "catalog:duplicate-file", "listed again")
            )
        elif problem:
            rejects.append(
                FileReject(printable(f.name), kind == "audio", "catalog:unsafe-path", problem)
            )
        else:
            (audio if kind == "audio" else subtitles)[f.name] = f

    for name in sorted(audio):
        f = audio[name]
        if f.source == "derivative" and f.original in audio and f.original != name:
            rejects.append(FileReject(name, True, "audio:derivative", f"derived from {f.original}"))
            del audio[name]

    by_stem: dict[str, list[str]] = {}
    for name in subtitles:
        by_stem.setdefault(stem(name), []).append(name)
    pairs: dict[str, str] = {}
    for name in sorted(audio):
        candidates = by_stem.get(stem(name), [])
        if candidates:
            pairs[name] = min(candidates, key=lambda s: (s.rpartition(".")[2].lower(), s))
    unpaired_audio = [name for name in sorted(audio) if name not in pairs]
    if len(subtitles) == 1 and len(unpaired_audio) == 1:
        (only,) = subtitles
        if only not in pairs.values():
            pairs[unpaired_audio.pop()] = only

    for name in unpaired_audio:
        if len(subtitles) == 1 and len(unpaired_audio) > 1:
            detail = f"the item's only subtitle could belong to any of {len(unpaired_audio)} files"
        else:
            detail = f"no subtitle named {stem(name)}.srt or .vtt among {len(subtitles)}"
        rejects.append(FileReject(name, True, "subtitle:none", detail))
    used = set(pairs.values())
    for name in sorted(subtitles):
        if name not in used:
            same = [a for a, s in pairs.items() if stem(a) == stem(name)]
            detail = f"{same[0]} is paired with {pairs[same[0]]}" if same else "no audio file"
            rejects.append(FileReject(name, False, "subtitle:unpaired", detail))
    return Pairing(
        pairs=tuple(Pair(audio[a], subtitles[s]) for a, s in sorted(pairs.items())),
        rejects=tuple(rejects),
        ignored=tuple(ignored),
    )

"""Writes the sample corpus: catalog, item files, ground truth, manifest, README.

Run as ``galvasr sample-corpus data/sample`` (seed ``DEFAULT_SEED``). The
output is byte-identical on every run with the same seed and the same
synthesizer and codec library versions (recorded in manifest.json). Each
file's randomness comes from its own generator seeded with (seed, item
number, file number), so generating a few items (``only``) gives exactly the
bytes those items have in the full corpus.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import scipy
import soundfile as sf

from galvasr.corpus import readme
from galvasr.corpus.encode import encode
from galvasr.corpus.items import (
    AUDIO_EMPTY,
    AUDIO_MISSING,
    AUDIO_UNDECODABLE,
    ITEMS,
    KEEP,
    AudioPlan,
    ItemPlan,
)
from galvasr.corpus.subtitles_faults import Cue, build_cues, ms, render
from galvasr.corpus.track import Track, build_track
from galvasr.synth.textsource import CORPUS_BOOKS, SOURCE_NAME, sentences
from galvasr.synth.voices import TRIM_DB, tool_versions

DEFAULT_SEED = 2024
SMALL_ITEMS = ("thessalonians-phone-recording", "sunday-broadcast-john-excerpt")
"""Two short items (a WAV with a UTF-16 subtitle; an MP3 refused for its license)."""

CATALOG = "catalog.jsonl"
GROUND_TRUTH = "ground_truth.jsonl"
CUE_TRUTH = "cue_truth.jsonl"
MANIFEST = "manifest.json"
README = "README.md"
ITEMS_DIR = "items"
OUTPUTS = (CATALOG, GROUND_TRUTH, CUE_TRUTH, MANIFEST, README)

FILE_FORMATS = {"ogg": "Ogg Vorbis", "flac": "Flac", "wav": "WAVE",
                "srt": "SubRip", "vtt": "Web Video Text Tracks"}  # fmt: skip


@dataclass(frozen=True)
class Summary:
    items: int
    audio_files: int
    audio_minutes: float
    total_bytes: int


@dataclass(frozen=True)
class _FileResult:
    plan: AudioPlan
    expected: str
    track: Track
    cues: list[Cue]
    unsubtitled: set[int]
    audio_bytes: bytes  # as it would be; what is on disk follows the fault
    disk_bytes: bytes | None  # None: the file is missing
    subtitle_bytes: bytes


def generate(
    out: Path,
    seed: int = DEFAULT_SEED,
    only: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Write the corpus (or the items named in ``only``) under ``out``."""
    plans = [(n, p) for n, p in enumerate(ITEMS) if only is None or p.identifier in only]
    if only is not None and len(plans) != len(set(only)):
        known = ", ".join(p.identifier for p in ITEMS)
        raise ValueError(f"unknown item in {list(only)}; known: {known}")
    _prepare(out)
    catalog_lines, truth_lines, cue_lines, manifest_items = [], [], [], []
    for item_no, plan in plans:
        if progress:
            progress(plan.identifier)
        results = _generate_item(item_no, plan, seed)
        for r in results:
            folder = out / ITEMS_DIR / plan.identifier
            folder.mkdir(parents=True, exist_ok=True)
            if r.disk_bytes is not None:
                (folder / r.plan.name).write_bytes(r.disk_bytes)
            (folder / r.plan.subtitle_name).write_bytes(r.subtitle_bytes)
        catalog_lines.append(_catalog_entry(plan, results))
        for r in results:
            if r.plan.fault is None:
                truth_lines += _truth_lines(plan, r)
                cue_lines += _cue_lines(plan, r)
        manifest_items.append(_manifest_item(plan, results))

    manifest = _manifest(seed, only, manifest_items)
    _write_jsonl(out / CATALOG, catalog_lines)
    _write_jsonl(out / GROUND_TRUTH, truth_lines)
    _write_jsonl(out / CUE_TRUTH, cue_lines)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    (out / README).write_text(readme.render(manifest))
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return Summary(
        items=len(plans),
        audio_files=manifest["totals"]["audio_files"],
        audio_minutes=manifest["totals"]["audio_minutes"],
        total_bytes=total,
    )


def _prepare(out: Path) -> None:
    """An empty folder, or a previous corpus whose generated files are removed first."""
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).exists() and not (out / CATALOG).exists():
            raise FileExistsError(f"{out} is neither empty nor a sample corpus; not touching it")
        shutil.rmtree(out / ITEMS_DIR, ignore_errors=True)
        for name in OUTPUTS:
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def _generate_item(item_no: int, plan: ItemPlan, seed: int) -> list[_FileResult]:
    first, stop = plan.sentence_range
    texts = sentences((plan.book,))[first:stop]
    used_unspoken = 0

    def unspoken() -> Iterator[str]:
        nonlocal used_unspoken
        once = _said_once()
        for text in reversed(texts):
            used_unspoken += 1
            if _words(text) in once:  # never a sentence that is also spoken elsewhere
                yield text

    pool = unspoken()
    used = 0
    results = []
    for file_no, fplan in enumerate(plan.files):
        track = build_track(
            fplan, texts[used:], plan.voices, np.random.default_rng([seed, item_no, file_no, 0])
        )
        used += track.sentences_used
        rng = np.random.default_rng([seed, item_no, file_no, 1])
        if fplan.subtitle.fault is None:
            cues, unsubtitled = build_cues(track, fplan.subtitle, pool, rng)
        else:
            cues, unsubtitled = [], {u.sentence_index for u in track.utterances}
        subtitle_bytes = render(cues, fplan.subtitle, rng)
        audio_bytes = encode(track.samples, fplan.rate, fplan.fmt, fplan.bit_rate)
        disk: bytes | None = audio_bytes
        if fplan.fault == AUDIO_UNDECODABLE:
            disk = corrupt(audio_bytes, np.random.default_rng([seed, item_no, file_no, 2]))
        elif fplan.fault == AUDIO_EMPTY:
            disk = b""
        elif fplan.fault == AUDIO_MISSING:
            disk = None
        expected = (
            plan.item_reject or fplan.fault or fplan.subtitle.fault or KEEP
        )  # the first reason that applies
        results.append(
            _FileResult(fplan, expected, track, cues, unsubtitled, audio_bytes, disk,
                        subtitle_bytes)
        )  # fmt: skip
    if used + used_unspoken > len(texts):
        raise ValueError(f"{plan.identifier}: spoken and unspoken sentences overlap")
    return results


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z]+", text.lower()))


@functools.cache
def _said_once() -> frozenset[str]:
    """Sentences (as lowercase words) that occur once in all of CORPUS_BOOKS."""
    counts = Counter(_words(t) for t in sentences(CORPUS_BOOKS))
    return frozenset(t for t, n in counts.items() if n == 1)


def corrupt(data: bytes, rng: np.random.Generator) -> bytes:
    """An MP3 that keeps its ID3 tag and length but none of its audio.

    Every byte after the tag is random and never 0xFF, so no MPEG frame sync
    (eleven set bits) can occur anywhere: no decoder finds a frame.
    """
    tag = 10 + int.from_bytes(data[6:10], "big") if data[:3] == b"ID3" else 0
    noise = rng.integers(0, 255, size=len(data) - tag, dtype=np.uint8)  # 0..254
    return data[:tag] + noise.tobytes()


# ------------------------------------------------------------------ outputs


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _audio_format(plan: AudioPlan) -> str:
    if plan.fmt == "mp3":
        return f"{(plan.bit_rate or 0) // 1000}Kbps MP3"
    return FILE_FORMATS[plan.fmt]


def _catalog_entry(plan: ItemPlan, results: list[_FileResult]) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "identifier": plan.identifier,
        "mediatype": "audio",
        "collection": ["opensource_audio"],
        "title": plan.title,
        "creator": list(plan.creator) if isinstance(plan.creator, tuple) else plan.creator,
        "date": plan.date,
        "language": plan.language,
    }
    if plan.license_url is not None:
        metadata["licenseurl"] = plan.license_url
    if plan.rights is not None:
        metadata["rights"] = plan.rights
    files = []
    for r in results:
        # archive.org lists sizes as strings; a missing file keeps its listed size
        audio = r.audio_bytes if r.disk_bytes is None else r.disk_bytes
        for name, fmt, data in (
            (r.plan.name, _audio_format(r.plan), audio),
            (r.plan.subtitle_name, FILE_FORMATS[r.plan.subtitle.fmt], r.subtitle_bytes),
        ):
            md5 = hashlib.md5(data).hexdigest()
            files.append({"name": name, "source": "original", "format": fmt,
                          "size": str(len(data)), "md5": md5})  # fmt: skip
    return {"metadata": metadata, "files": files}


def _truth_lines(plan: ItemPlan, r: _FileResult) -> list[dict[str, Any]]:
    cues_of: dict[int, list[int]] = {}
    for c in r.cues:
        for s in c.sentence_indices:
            cues_of.setdefault(s, []).append(c.index)
    by_sentence: dict[int, list[Any]] = {}
    for u in r.track.utterances:
        by_sentence.setdefault(u.sentence_index, []).append(u)
    rate = r.track.rate
    lines = []
    for s, parts in sorted(by_sentence.items()):
        lines.append({
            "identifier": plan.identifier,
            "audio_file": r.plan.name,
            "sentence_index": s,
            "start_ms": ms(parts[0].start_sample, rate),
            "end_ms": ms(parts[-1].end_sample, rate),
            "start_sample": parts[0].start_sample,
            "end_sample": parts[-1].end_sample,
            "sample_rate": rate,
            "text": " ".join(p.text for p in parts),
            "subtitled": s not in r.unsubtitled,
            "cue_indices": sorted(cues_of.get(s, [])),
            "num_parts": len(parts),
            "voice": parts[0].voice,
            "speaker": parts[0].speaker,
        })  # fmt: skip
    return lines


def _cue_lines(plan: ItemPlan, r: _FileResult) -> list[dict[str, Any]]:
    return [
        {
            "identifier": plan.identifier,
            "audio_file": r.plan.name,
            "subtitle_file": r.plan.subtitle_name,
            "cue_index": c.index,
            "start_ms": c.start_ms,
            "end_ms": c.end_ms,
            "text_raw": c.text_raw,
            "kind": c.kind,
            "spoken_text": c.spoken_text,
            "true_start_ms": c.true_start_ms,
            "true_end_ms": c.true_end_ms,
            "sentence_indices": list(c.sentence_indices),
            "tags": list(c.tags),
        }
        for c in r.cues
    ]


def _cues_tagged(cues: list[Cue], tag: str) -> list[int]:
    return [c.index for c in cues if tag in c.tags]


def _overlapping_pairs(cues: list[Cue]) -> list[list[int]]:
    pairs = []
    for a in cues:
        for b in cues[a.index + 1 :]:
            if b.start_ms >= a.end_ms:
                break
            pairs.append([a.index, b.index])
    return pairs


def unspoken_chars(cues: list[Cue]) -> tuple[int, int]:
    """(characters of unspoken cue text, characters of speech and unspoken cue text)."""
    unspoken = sum(len(c.text_raw.replace("\n", " ")) for c in cues if c.kind == "unspoken")
    spoken = sum(len(c.spoken_text or "") for c in cues if c.kind == "speech")
    return unspoken, unspoken + spoken


def _subtitle_facts(r: _FileResult) -> dict[str, Any]:
    sub = r.plan.subtitle
    facts: dict[str, Any] = {
        "format": sub.fmt,
        "encoding": sub.encoding,
        "newline": "crlf" if sub.crlf else "lf",
        "size_bytes": len(r.subtitle_bytes),
        "fault": sub.fault,
    }
    if sub.fault is not None:
        return facts
    unspoken, total = unspoken_chars(r.cues)
    facts.update({
        "num_cues": len(r.cues),
        "offset_ms": sub.offset_ms,
        "drift_ms": sub.drift_ms,
        "cues_by_kind": {k: sum(c.kind == k for c in r.cues)
                         for k in ("speech", "unspoken", "music", "sound")},
        "unsubtitled_sentences": sorted(r.unsubtitled),
        "unspoken_cues": [c.index for c in r.cues if c.kind == "unspoken"],
        "unspoken_text_fraction": round(unspoken / total, 4) if total else 0.0,
        "music_cues": [c.index for c in r.cues if c.kind == "music"],
        "sound_cues": [c.index for c in r.cues if c.kind == "sound"],
        "split_cues": _cues_tagged(r.cues, "split"),
        "merged_cues": _cues_tagged(r.cues, "merged"),
        "overlapping_cue_pairs": _overlapping_pairs(r.cues),
        "html_cues": _cues_tagged(r.cues, "html"),
        "italic_cues": _cues_tagged(r.cues, "italics"),
        "speaker_label_style": sub.speaker_labels,
        "speaker_label_cues": _cues_tagged(r.cues, "speaker_label"),
        "inline_sound_cues": _cues_tagged(r.cues, "inline_sound"),
        "credit_cues": _cues_tagged(r.cues, "credit"),
    })  # fmt: skip
    return facts


def _manifest_item(plan: ItemPlan, results: list[_FileResult]) -> dict[str, Any]:
    files = []
    for r in results:
        track = r.track
        files.append({
            "audio_file": r.plan.name,
            "subtitle_file": r.plan.subtitle_name,
            "expected": r.expected,
            "audio": {
                "format": r.plan.fmt,
                "sample_rate": r.plan.rate,
                "channels": r.plan.channels,
                "bit_rate": r.plan.bit_rate,
                "num_samples": track.num_samples,
                "duration_ms": round(track.duration_ms, 3),
                "size_bytes": None if r.disk_bytes is None else len(r.disk_bytes),
                "fault": r.plan.fault,
                "num_sentences": len({u.sentence_index for u in track.utterances}),
                "voices": sorted({u.voice for u in track.utterances}),
            },
            "subtitle": _subtitle_facts(r),
        })  # fmt: skip
    return {
        "identifier": plan.identifier,
        "license_url": plan.license_url,
        "rights": plan.rights,
        "expected_license": plan.expected_license,
        "expected": plan.item_reject or KEEP,
        "files": files,
    }


def tools() -> dict[str, str]:
    """Versions of everything the bytes depend on, beyond this code and the seed."""
    return {
        **tool_versions(),
        "libsndfile": sf.__libsndfile_version__,
        "libavcodec": ".".join(map(str, av.library_versions["libavcodec"])),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


REASONS = {
    KEEP: "kept: the file and its subtitle go on to the next stages",
    "license:cc-by-nc": "the item's licenseurl is a NonCommercial license",
    "license:cc-by-nd": "the item's licenseurl is a NoDerivatives license",
    "license:missing": "the item has no licenseurl",
    "license:all-rights-reserved": "licenseurl is rightsstatements.org In Copyright; "
    "rights says all rights reserved",
    AUDIO_UNDECODABLE: "the audio file's bytes hold no decodable audio (corrupt MP3)",
    AUDIO_EMPTY: "the audio file has 0 bytes",
    AUDIO_MISSING: "the catalog names the audio file; the item folder lacks it",
    "subtitle:empty": "the subtitle file has 0 bytes",
    "subtitle:unparsable": "the subtitle file is an HTML error page, no cue in it",
}


def _manifest(seed: int, only: Sequence[str] | None, items: list[dict[str, Any]]) -> dict[str, Any]:
    faults: dict[str, list[str]] = {}

    def add(name: str, where: str) -> None:
        faults.setdefault(name, []).append(where)

    audio_ms = 0.0
    audio_files = 0
    for item in items:
        if item["expected"] != KEEP:
            add(item["expected"], item["identifier"])
        for f in item["files"]:
            audio_where = f"{item['identifier']}/{f['audio_file']}"
            where = f"{item['identifier']}/{f['subtitle_file']}"
            audio_files += 1
            if f["audio"]["fault"]:
                add(f["audio"]["fault"], audio_where)
            else:
                audio_ms += f["audio"]["duration_ms"]
            if f["audio"]["channels"] == 2:
                add("audio:stereo", audio_where)
            s = f["subtitle"]
            if s["fault"]:
                add(s["fault"], where)
            if s["fault"] or f["audio"]["fault"]:
                continue  # cue faults are indexed where cue_truth.jsonl has the cues
            if s["encoding"] != "utf-8":
                add(f"encoding:{s['encoding']}", where)
            if s["newline"] == "crlf":
                add("newline:crlf", where)
            if s["offset_ms"]:
                add("timing:offset", where)
            if s["drift_ms"]:
                add("timing:drift", where)
            for name, key in (
                ("cues:split", "split_cues"), ("cues:merged", "merged_cues"),
                ("cues:overlapping", "overlapping_cue_pairs"), ("text:unspoken", "unspoken_cues"),
                ("speech:unsubtitled", "unsubtitled_sentences"), ("markup:html", "html_cues"),
                ("markup:italics", "italic_cues"), ("markup:speaker-label", "speaker_label_cues"),
                ("markup:music", "music_cues"), ("markup:sound", "sound_cues"),
                ("markup:inline-sound", "inline_sound_cues"),
            ):  # fmt: skip
                if s[key]:
                    add(name, where)
    return {
        "format_version": 1,
        "generator": {
            "command": f"galvasr sample-corpus OUT --seed {seed}"
            + "".join(f" --item {i}" for i in only or ()),
            "seed": seed,
            "items": list(only) if only is not None else "all",
            "text_source": SOURCE_NAME,
            "trim_db": TRIM_DB,
            "tools": tools(),
        },
        "reasons": REASONS,
        "totals": {
            "items": len(items),
            "kept_items": sum(i["expected"] == KEEP for i in items),
            "audio_files": audio_files,
            "kept_audio_files": sum(f["expected"] == KEEP for i in items for f in i["files"]),
            "audio_minutes": round(audio_ms / 60_000, 2),
        },
        "faults": faults,
        "items": items,
    }

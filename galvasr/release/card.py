"""The dataset card (``README.md``) and ``ATTRIBUTION`` of a release, as text.

Pure functions of the release's figures, so the same figures give the same
bytes. Titles and creators come from the internet: in ``ATTRIBUTION`` (plain
text) they are reduced to one line and quoted as JSON strings, so a title can
neither start a new entry nor pose as another field; the card itself shows no
source metadata, and every value it does show goes through :func:`md`, which
backslash-escapes Markdown and HTML syntax.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from galvasr import __version__

SPLITS: tuple[str, ...] = ("train", "validation", "test")  # Hugging Face's split names
SUBSETS: tuple[str, ...] = ("clean", "dirty", "clean_sa", "dirty_sa")
LICENSE_NAMES = {
    "public-domain": "Public Domain Mark",
    "cc0": "CC0 1.0 (public domain dedication)",
    "cc-by": "Creative Commons Attribution (CC BY)",
    "cc-by-sa": "Creative Commons Attribution-ShareAlike (CC BY-SA)",
}


@dataclass(frozen=True)
class Cell:
    """Segments, milliseconds and distinct sources of one group of segments."""

    segments: int = 0
    duration_ms: int = 0
    sources: int = 0

    @property
    def hours(self) -> float:
        return self.duration_ms / 3_600_000


@dataclass(frozen=True)
class Source:
    """One released source item, with what its license asks to be credited."""

    identifier: str
    license: str
    title: str | None
    creator: str | None
    source_url: str | None
    license_url: str | None


@dataclass(frozen=True)
class ReleaseFigures:
    name: str
    model_version: str
    by_split_subset: Mapping[tuple[str, str], Cell]
    by_split_license: Mapping[tuple[str, str], Cell]
    by_split: Mapping[str, Cell]
    total: Cell
    filters: Sequence[tuple[str, str, int]]  # (filter, threshold, segments rejected)
    upstream_rejects: Sequence[tuple[str, str, int]]  # (stage, reason, rows)
    settings: Mapping[str, Any]  # the run's configuration, section by section
    files: Sequence[str] = field(default_factory=tuple)  # data files, relative paths
    galvasr_version: str = __version__


_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Characters that can start markup anywhere in a line (":" and "www." for autolinks).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~&:]|(?<=www)\.)")


def one_line(text: str) -> str:
    """``text`` with control characters and line breaks turned into single spaces."""
    cleaned = "".join(" " if unicodedata.category(ch).startswith(("C", "Z")) else ch for ch in text)
    return " ".join(cleaned.split())


def md(value: object) -> str:
    """Any value as inert Markdown text: no links, emphasis, HTML or table breaks."""
    text = one_line(str(value))
    if _NUMBER.fullmatch(text):
        return text
    return _MD_SPECIAL.sub(r"\\\1", text)


def _hours(ms: int) -> str:
    return f"{ms / 3_600_000:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(md(v) for v in row) + " |" for row in rows]
    return out


def _front_matter(fig: ReleaseFigures) -> list[str]:
    """YAML for the Hugging Face Hub: one config per subset, one data file pattern per split."""
    lines = [
        "---",
        f"pretty_name: {json.dumps(fig.name)}",
        "task_categories:",
        "- automatic-speech-recognition",
        "license: other",
        "license_name: cc-by-and-cc-by-sa-and-public-domain",
        "license_link: ATTRIBUTION",
    ]
    present = {(split, subset) for (split, subset), c in fig.by_split_subset.items() if c.segments}
    if present:
        lines.append("configs:")
    for subset in SUBSETS:
        splits = [s for s in SPLITS if (s, subset) in present]
        if not splits:
            continue
        lines.append(f"- config_name: {subset}")
        if subset == "clean":
            lines.append("  default: true")
        lines.append("  data_files:")
        for split in splits:
            lines.append(f"  - split: {split}")
            lines.append(f"    path: parquet/{subset}/{split}-*.parquet")
    lines.append("---")
    return lines


def dataset_card(fig: ReleaseFigures, config: Mapping[str, Any]) -> str:
    """The release's README.md; ``config`` is the release section of the run's settings."""
    lines = _front_matter(fig)
    t = fig.total
    lines += [
        "",
        f"# {md(fig.name)}",
        "",
        "A speech recognition training set: audio segments of about 15 seconds with "
        "their transcripts, cut from public-domain, CC0, CC-BY and CC-BY-SA recordings "
        "that have human subtitles, by forced alignment with a CTC acoustic model "
        "(built like The People's Speech).",
        "",
        f"- **{t.segments}** segments, **{_hours(t.duration_ms)}** hours, "
        f"from **{t.sources}** sources",
        f"- acoustic model version: {md(fig.model_version)}",
        f"- built by galvasr {md(fig.galvasr_version)}",
        "- audio: 16 kHz mono FLAC",
        "",
        "## Splits",
        "",
        "Splits are by source: a source item goes to `test` or `validation` when the first "
        "52 bits of the SHA-256 of its identifier, as a fraction of 2^52, fall below "
        f"{md(config['test_fraction'])} (test) or below "
        f"{md(config['test_fraction'] + config['validation_fraction'])} (validation); every other "
        "source is in `train`. No source is in two splits.",
        "",
    ]
    lines += _table(
        ["split", "segments", "hours", "sources"],
        [
            (
                s,
                fig.by_split[s].segments,
                _hours(fig.by_split[s].duration_ms),
                fig.by_split[s].sources,
            )
            for s in SPLITS
            if s in fig.by_split
        ],
    )
    lines += [
        "",
        "## Subsets",
        "",
        f"- `clean`: character error rate of the aligned segment at most "
        f"{md(config['clean_max_cer'])}; sources in the public domain, CC0 or CC-BY",
        f"- `dirty`: character error rate above {md(config['clean_max_cer'])} and at most "
        f"{md(config['dirty_max_cer'])}; the same licenses",
        "- `clean_sa`, `dirty_sa`: the same, for CC-BY-SA sources",
        "",
        "Take only the subsets whose license you can follow: `clean` and `dirty` need "
        "attribution (CC-BY); the `_sa` subsets also require that what you share from "
        "them stays under CC-BY-SA.",
        "",
    ]
    lines += _table(
        ["split", "subset", "segments", "hours", "sources"],
        [
            (split, subset, c.segments, _hours(c.duration_ms), c.sources)
            for (split, subset), c in sorted(fig.by_split_subset.items(), key=_split_order)
        ],
    )
    lines += ["", "By license:", ""]
    lines += _table(
        ["split", "license", "segments", "hours", "sources"],
        [
            (split, lic, c.segments, _hours(c.duration_ms), c.sources)
            for (split, lic), c in sorted(fig.by_split_license.items(), key=_split_order)
        ],
    )
    lines += ["", "## Filters", "", "Applied by the release to the aligned segments:", ""]
    lines += _table(["filter", "threshold", "segments rejected"], fig.filters)
    lines += ["", "Rows that earlier stages dropped, by reason (table `rejects`):", ""]
    lines += _table(["stage", "reason", "rows"], fig.upstream_rejects)
    lines += ["", "Every setting of the run that built this release:", ""]
    lines += _table(["setting", "value"], _flatten(fig.settings))
    lines += [
        "",
        "## Files and how to load them",
        "",
        "- `parquet/<subset>/<split>-NNNNN-of-MMMMM.parquet`: Hugging Face `datasets`:",
        "",
        "  ```python",
        "  from datasets import load_dataset",
        '  ds = load_dataset("path/to/this/folder", "clean", split="train")',
        '  ds[0]["audio"]  # {"array": ..., "sampling_rate": 16000}',
        "  ```",
        "",
        "- `webdataset/<subset>/<split>-NNNNN.tar`: `<id>.flac` and `<id>.json` per segment:",
        "",
        "  ```python",
        "  import webdataset as wds",
        '  ds = wds.WebDataset("webdataset/clean/train-{00000..00000}.tar", shardshuffle=False)',
        "  ```",
        "",
        "- `nemo/<subset>/<split>-NNNNN.jsonl`: NeMo manifests (`audio_filepath`, `duration`, "
        "`text`); the audio paths are relative to the manifest, under "
        "`nemo/<subset>/<split>/<id>.flac`.",
        "",
        "- `lhotse/<subset>/<split>/`: Lhotse Shar (`cuts.NNNNNN.jsonl.gz` and "
        "`recording.NNNNNN.tar`): one cut per segment, its supervision with the text, the "
        'other columns under `custom` and the word alignment (`alignment["word"]`, times '
        "from the segment's start):",
        "",
        "  ```python",
        "  from lhotse import CutSet",
        '  cuts = CutSet.from_shar(in_dir="lhotse/clean/train")',
        "  ```",
        "",
        "- `alignments/<split>/<name>.{srt,vtt,ctm,TextGrid}`: per source audio file, its "
        "released subtitle cues re-timed to where they are spoken (SRT, WebVTT), their words "
        "(CTM) and both as tiers of a Praat TextGrid; `alignments/index.jsonl` names the "
        "source (identifier, audio file, license) of each.",
        "",
        "Every segment has `text` (the subtitle as written, markup removed) and "
        "`text_normalized` (in the acoustic model's alphabet), its source `identifier`, "
        "`start_ms` and `end_ms` in the source audio, the alignment `score`, the `cer` of "
        "the model's transcription against the text, and its `license`.",
        "",
        "## Licenses and attribution",
        "",
        "Each segment carries the license of its source. `ATTRIBUTION` credits every "
        "CC-BY and CC-BY-SA source (title, creator, URL, license), as those licenses "
        "require; keep it with any copy. `SHA256SUMS` lists a checksum for every file "
        "(`sha256sum -c SHA256SUMS`).",
        "",
    ]
    return "\n".join(lines)


def _split_order(item: tuple[tuple[str, str], Cell]) -> tuple[int, str]:
    split, other = item[0]
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), other)


def _flatten(settings: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key in sorted(settings):
        value = settings[key]
        if isinstance(value, Mapping):
            rows += _flatten(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", json.dumps(value, default=str)))
    return rows


def _quoted(value: str | None) -> str:
    text = one_line(value or "")
    return json.dumps(text, ensure_ascii=False) if text else "(not given)"


def _url(value: str | None) -> str | None:
    """``value`` if it is a plain http(s) URL, else None."""
    text = (value or "").strip()
    parts = urlsplit(text)
    if parts.scheme in ("http", "https") and parts.netloc and not re.search(r"[\s<>\"]", text):
        return text
    return None


def attribution(name: str, sources: Sequence[Source]) -> str:
    """``ATTRIBUTION``: title, creator, source and license of every CC-BY(-SA) source."""
    lines = [
        f"Attribution for the dataset {json.dumps(one_line(name))}",
        "",
        "This dataset contains audio and subtitles from the works below, used under the",
        "Creative Commons license named with each. Changes made: the audio was decoded,",
        "resampled to 16 kHz mono and cut into segments; the subtitles were aligned to",
        "the audio, cut with it and normalized. Titles and creators are quoted from the",
        "source's own metadata.",
        "",
    ]
    credited = sorted(
        (s for s in sources if s.license in ("cc-by", "cc-by-sa")),
        key=lambda s: (s.identifier, s.license),
    )
    for n, s in enumerate(credited, 1):
        page = _url(s.source_url) or f"https://archive.org/details/{quote(s.identifier, safe='')}"
        license_url = _url(s.license_url)
        license_text = LICENSE_NAMES[s.license] + (f", {license_url}" if license_url else "")
        lines += [
            f"[{n}] title: {_quoted(s.title)}",
            f"    creator: {_quoted(s.creator)}",
            f"    source: {page}",
            f"    license: {license_text}",
            f"    identifier: {_quoted(s.identifier)}",
            "",
        ]
    lines.append(f"{len(credited)} sources credited.")
    return "\n".join(lines) + "\n"

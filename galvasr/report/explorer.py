"""The report's explorer: listen to what a run released and to what it refused.

``<report>/explorer/index.html`` shows, for every subset of the release
(``clean``, ``dirty``, ...), a sample of its segments, and for every reason
of the ``align`` and ``release`` rejects a sample of the refused cues or
segments. Each entry has an ``<audio>`` player, a waveform PNG with the cue
boundaries, the text and the figures (CER, score). The audio and images sit
beside the page (``explorer/audio/<key>.flac``, ``explorer/img/<key>.png``),
so the report folder can be copied or served as it is.

- A segment plays its own FLAC (from ``segments``); its marks are the
  aligned cues (``alignments``) inside it.
- A cue that align refused plays the span align searched it in: its subtitle
  times plus ``align.margin_s`` on each side (at most :data:`MAX_SPAN_MS`),
  cut from the decoded windows (``chunks``); its marks are the subtitle's
  times. A file-level reject (no cues) and a cue of a file without decoded
  windows (``align:no-audio``) have no audio to play.

The sample is the first rows by MD5 of their ids (the release's ``id``; a
reject's ``audio_id:cue_index:segment_id``), computed in the query engine
itself, so the same run gives the same page byte for byte, in DuckDB or in
Spark. Every text from the tables is HTML-escaped, and the page forbids
scripts outright (a Content-Security-Policy of ``script-src 'none'``).
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from galvasr.report import sqlviews
from galvasr.report.plot import png
from galvasr.schemas import SAMPLE_RATE

DIR = "explorer"
SEGMENTS_PER_SUBSET = 5
CUES_PER_REASON = 5
REJECT_STAGES = ("align", "release")
MAX_SPAN_MS = 60_000
SUBSET_ORDER = ("clean", "dirty", "clean_sa", "dirty_sa")
SAMPLES_PER_MS = SAMPLE_RATE // 1000
CSP = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'"
)
"""The page loads its own images and audio and inline style; nothing else, no script."""


@dataclass(frozen=True)
class Mark:
    """A cue shown on a clip's waveform, in ms from the clip's start."""

    start_ms: int
    end_ms: int
    kind: str  # "aligned" (where align placed it) or "subtitle" (the subtitle file's times)


@dataclass
class Clip:
    """One entry of the page: audio, its waveform, text and figures."""

    key: str  # file stem under audio/ and img/: hex digits, letters and dashes only
    heading: str
    text: str
    facts: list[tuple[str, str]]
    marks: list[Mark] = field(default_factory=list)
    flac: bytes | None = None  # the audio as stored, or None (then pcm, if any)
    pcm: np.ndarray | None = None  # int16 at SAMPLE_RATE


@dataclass
class Explorer:
    release: str | None
    subsets: list[tuple[str, list[Clip]]] = field(default_factory=list)
    rejects: list[tuple[str, str, int, list[Clip]]] = field(default_factory=list)
    """stage, reason, rows rejected, the sample"""


def hex_id(value: int) -> str:
    """An int64 id as 16 lowercase hex digits (unsigned), as the release names segments."""
    return f"{value & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def subset_anchor(subset: str) -> str:
    return "subset-" + _slug(subset)


def reject_anchor(stage: str, reason: str) -> str:
    return f"reject-{_slug(stage)}-{_slug(reason)}"


def _slug(text: str) -> str:
    """``text`` reduced to ``[A-Za-z0-9_-]``, plus a hash when that changed it (no clashes)."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", text)
    if slug == text:
        return slug
    import hashlib

    return f"{slug[:40]}-{hashlib.md5(text.encode()).hexdigest()[:8]}"


# ------------------------------------------------------------------ sample


def _rows(views: sqlviews.Views, text: str) -> list[dict[str, Any]]:
    return views.query(text).dicts()


def _ids(values: Iterable[int]) -> str:
    return ", ".join(str(int(v)) for v in sorted(set(values))) or "NULL"


def collect(
    views: sqlviews.Views,
    margin_s: float,
    per_subset: int = SEGMENTS_PER_SUBSET,
    per_reason: int = CUES_PER_REASON,
) -> Explorer:
    """The sample of the page, with its audio, from the views of one run root."""
    found = Explorer(release=views.release)
    released = _rows(
        views,
        f"""SELECT id, segment_id, audio_id, identifier, start_ms, end_ms, text, score, cer,
                   subset, split
            FROM (SELECT *, row_number() OVER (PARTITION BY subset ORDER BY md5(id), id) AS n
                  FROM release) sampled
            WHERE n <= {int(per_subset)} ORDER BY subset, n""",
    )
    stages = ", ".join(f"'{s}'" for s in REJECT_STAGES)
    rejected = _rows(
        views,
        f"""SELECT stage, reason, detail, identifier, file_name, audio_id, cue_index,
                   segment_id, total
            FROM (SELECT *,
                    row_number() OVER (PARTITION BY stage, reason ORDER BY md5(concat(
                        coalesce(CAST(audio_id AS STRING), ''), ':',
                        coalesce(CAST(cue_index AS STRING), ''), ':',
                        coalesce(CAST(segment_id AS STRING), ''))),
                      coalesce(audio_id, 0), coalesce(cue_index, -1),
                      coalesce(segment_id, 0), coalesce(detail, '')) AS n,
                    count(*) OVER (PARTITION BY stage, reason) AS total
                  FROM rejects WHERE stage IN ({stages})) sampled
            WHERE n <= {int(per_reason)} ORDER BY stage, reason, n""",
    )
    segment_ids = [r["segment_id"] for r in released]
    segment_ids += [r["segment_id"] for r in rejected if r["segment_id"] is not None]
    segments = {
        r["segment_id"]: r
        for r in _rows(
            views,
            f"""SELECT segment_id, audio_id, identifier, start_ms, end_ms, text, score, cer, flac
                FROM segments WHERE segment_id IN ({_ids(segment_ids)})""",
        )
    }
    cue_rejects = [r for r in rejected if r["segment_id"] is None and r["cue_index"] is not None]
    audio_ids = {s["audio_id"] for s in segments.values()} | {r["audio_id"] for r in cue_rejects}
    aligned = _by_audio(
        _rows(
            views,
            f"""SELECT audio_id, cue_index, start_ms, end_ms FROM alignments
                WHERE audio_id IN ({_ids(audio_ids)}) ORDER BY audio_id, start_ms, cue_index""",
        )
    )
    cues = {
        (r["audio_id"], r["cue_index"]): r
        for r in _rows(
            views,
            f"""SELECT t.audio_id, t.cue_index, t.start_ms, t.end_ms, t.text, a.duration_ms
                FROM transcripts t LEFT JOIN audio a ON t.audio_id = a.audio_id
                WHERE t.audio_id IN ({_ids(r["audio_id"] for r in cue_rejects)})""",
        )
    }
    spans = {}
    for r in cue_rejects:
        cue = cues.get((r["audio_id"], r["cue_index"]))
        if cue is not None:
            spans[(r["audio_id"], r["cue_index"])] = _span(cue, margin_s)
    pcm = _span_pcm(views, spans)

    by_subset: dict[str, list[Clip]] = {}
    for r in released:
        seg = segments.get(r["segment_id"])
        clip = _segment_clip(r["id"], r, seg, aligned)
        clip.facts.insert(0, ("split", str(r["split"])))
        by_subset.setdefault(r["subset"], []).append(clip)
    order = {name: i for i, name in enumerate(SUBSET_ORDER)}
    found.subsets = sorted(by_subset.items(), key=lambda kv: (order.get(kv[0], 99), kv[0]))

    groups: dict[tuple[str, str], tuple[int, list[Clip]]] = {}
    for r in rejected:
        key = (r["stage"], r["reason"])
        clips = groups.setdefault(key, (int(r["total"]), []))[1]
        clips.append(_reject_clip(r, segments, aligned, cues, spans, pcm))
    found.rejects = [(s, reason, n, clips) for (s, reason), (n, clips) in groups.items()]
    return found


def _by_audio(rows: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["audio_id"], []).append(r)
    return out


def _span(cue: dict[str, Any], margin_s: float) -> tuple[int, int, int, int]:
    """(span start, span end, cue start, cue end) in ms of the file: where align searched."""
    margin = int(round(margin_s * 1000))
    start = max(0, int(cue["start_ms"]) - margin)
    end = int(cue["end_ms"]) + margin
    if cue["duration_ms"] is not None:
        end = min(end, int(cue["duration_ms"]))
    end = max(start, min(end, start + MAX_SPAN_MS))
    return start, end, int(cue["start_ms"]), int(cue["end_ms"])


def _span_pcm(
    views: sqlviews.Views, spans: dict[tuple[int, int], tuple[int, int, int, int]]
) -> dict[tuple[int, int], np.ndarray]:
    """The audio of every span, from the owned part of the windows that cover it.

    A span no window covers (a file that decode refused) has no audio.
    """
    if not spans:
        return {}
    where = " OR ".join(
        f"(audio_id = {int(a)} AND start_sample < {e * SAMPLES_PER_MS}"
        f" AND start_sample + num_samples > {s * SAMPLES_PER_MS})"
        for (a, _), (s, e, _, _) in sorted(spans.items())
    )
    windows = _by_audio(
        _rows(
            views,
            f"""SELECT audio_id, start_sample, num_samples, context_before_samples, pcm
                FROM chunks WHERE {where} ORDER BY audio_id, start_sample""",
        )
    )
    out = {}
    for (audio_id, cue_index), (start_ms, end_ms, _, _) in spans.items():
        s0, s1 = start_ms * SAMPLES_PER_MS, end_ms * SAMPLES_PER_MS
        pcm = np.zeros(s1 - s0, dtype=np.int16)
        covered = False
        for w in windows.get(audio_id, []):
            data = np.frombuffer(bytes(w["pcm"]), dtype="<i2")
            before = int(w["context_before_samples"])
            owned = data[before : before + int(w["num_samples"])]
            first = int(w["start_sample"])
            a, b = max(s0, first), min(s1, first + len(owned))
            if a < b:
                pcm[a - s0 : b - s0] = owned[a - first : b - first]
                covered = True
        if covered:
            out[(audio_id, cue_index)] = pcm
    return out


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{float(value):.3f}"


def _segment_clip(
    key: str,
    row: dict[str, Any],
    seg: dict[str, Any] | None,
    aligned: dict[int, list[dict[str, Any]]],
) -> Clip:
    start, end = int(row["start_ms"]), int(row["end_ms"])
    marks = [
        Mark(max(0, c["start_ms"] - start), min(end, c["end_ms"]) - start, "aligned")
        for c in aligned.get(row["audio_id"], [])
        if start <= (c["start_ms"] + c["end_ms"]) // 2 < end
    ]
    return Clip(
        key=key,
        heading=f"{row['identifier']} {start / 1000:.2f}–{end / 1000:.2f} s",
        text=str(row["text"]),
        facts=[
            ("CER", _fmt(row["cer"])),
            ("score", _fmt(row["score"])),
            ("seconds", f"{(end - start) / 1000:.2f}"),
        ],
        marks=marks,
        flac=None if seg is None else bytes(seg["flac"]),
    )


def _reject_clip(
    r: dict[str, Any],
    segments: dict[int, dict[str, Any]],
    aligned: dict[int, list[dict[str, Any]]],
    cues: dict[tuple[int, int], dict[str, Any]],
    spans: dict[tuple[int, int], tuple[int, int, int, int]],
    pcm: dict[tuple[int, int], np.ndarray],
) -> Clip:
    detail = ("detail", str(r["detail"] or ""))
    if r["segment_id"] is not None and r["segment_id"] in segments:
        seg = segments[r["segment_id"]]
        clip = _segment_clip(f"{r['stage']}-{hex_id(seg['segment_id'])}", seg, seg, aligned)
        clip.facts.append(detail)
        return clip
    audio_id, cue_index = r["audio_id"], r["cue_index"]
    name = f"{r['identifier'] or ''} {r['file_name'] or ''}".strip() or "(unknown file)"
    key = f"{r['stage']}-{hex_id(audio_id or 0)}-{'x' if cue_index is None else cue_index}"
    if r["segment_id"] is not None:
        key += f"-{hex_id(r['segment_id'])}"
    span = spans.get((audio_id, cue_index))
    if span is None:
        where = "" if cue_index is None else f" cue {cue_index}"
        return Clip(key=_slug(key), heading=f"{name}{where}", text="", facts=[detail])
    if (audio_id, cue_index) not in pcm:  # cues of a file without decoded audio
        cue = cues[(audio_id, cue_index)]
        return Clip(key=_slug(key), heading=f"{name} cue {cue_index}", text=str(cue["text"]),
                    facts=[detail])  # fmt: skip
    start, end, cue_start, cue_end = span
    cue = cues[(audio_id, cue_index)]
    return Clip(
        key=_slug(key),
        heading=f"{name} cue {cue_index}: searched {start / 1000:.2f}–{end / 1000:.2f} s",
        text=str(cue["text"]),
        facts=[("subtitle", f"{cue_start / 1000:.2f}–{cue_end / 1000:.2f} s"), detail],
        marks=[Mark(cue_start - start, cue_end - start, "subtitle")],
        pcm=pcm.get((audio_id, cue_index)),
    )


# ------------------------------------------------------------------- files


def clip_audio(clip: Clip) -> tuple[bytes | None, np.ndarray | None]:
    """The clip's FLAC bytes and its samples (int16), either None where it has no audio."""
    import soundfile as sf

    if clip.flac is not None:
        samples, _ = sf.read(io.BytesIO(clip.flac), dtype="int16")
        return clip.flac, samples
    if clip.pcm is None or not len(clip.pcm):
        return None, None
    out = io.BytesIO()
    sf.write(out, clip.pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return out.getvalue(), clip.pcm


def waveform_png(samples: np.ndarray, marks: Sequence[Mark]) -> bytes:
    """A small waveform (min and max per column) with the marks as shaded spans."""
    columns = 600
    x = samples.astype(np.float32) / 32768.0
    seconds = len(x) / SAMPLE_RATE
    pad = (-len(x)) % columns
    blocks = np.pad(x, (0, pad)).reshape(columns, -1)
    t = np.linspace(0.0, seconds, columns)

    def draw(ax: Any) -> None:
        ax.fill_between(t, blocks.min(axis=1), blocks.max(axis=1), color="#4c72b0", lw=0)
        colors = {"aligned": "#55a868", "subtitle": "#dd8452"}
        for m in marks:
            color = colors.get(m.kind, "#999999")
            ax.axvspan(m.start_ms / 1000, m.end_ms / 1000, color=color, alpha=0.25, lw=0)
            for edge in (m.start_ms, m.end_ms):
                ax.axvline(edge / 1000, color=color, lw=1)
        ax.set_xlim(0, max(seconds, 1e-3))
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_xlabel("seconds", fontsize=8)
        ax.tick_params(labelsize=8)

    # Fixed labels (x ticks and "seconds", no y ticks): margins instead of a fitted layout.
    return png(draw, size=(6.0, 1.3), margins=(0.03, 0.36, 0.97, 0.96))


def files(found: Explorer) -> dict[str, bytes]:
    """Every file of the explorer, by path under the report folder (the page included)."""
    out: dict[str, bytes] = {}
    media: dict[str, tuple[str, str]] = {}  # key -> (audio path, image path), relative
    for clip in _clips(found):
        if clip.key in media:
            continue
        flac, samples = clip_audio(clip)
        if flac is None or samples is None:
            continue
        audio, image = f"audio/{clip.key}.flac", f"img/{clip.key}.png"
        out[f"{DIR}/{audio}"] = flac
        out[f"{DIR}/{image}"] = waveform_png(samples, clip.marks)
        media[clip.key] = (audio, image)
    out[f"{DIR}/index.html"] = render(found, media).encode()
    return out


def _clips(found: Explorer) -> Iterable[Clip]:
    for _, clips in found.subsets:
        yield from clips
    for *_, clips in found.rejects:
        yield from clips


# -------------------------------------------------------------------- page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1em; }
.clip { border-top: 1px solid #ddd; padding: 0.6em 0; }
.clip img { max-width: 100%; display: block; }
.clip audio { width: 100%; }
.text { font-size: 1.05em; }
.facts { color: #555; font-size: 0.9em; }
.meta { color: #666; }
"""


def _clip_html(clip: Clip, media: dict[str, tuple[str, str]]) -> str:
    e = html.escape
    parts = [f'<div class="clip"><h3>{e(clip.heading)}</h3>']
    if clip.key in media:
        audio, image = media[clip.key]
        parts.append(
            f'<img src="{e(image)}" alt="waveform of {e(clip.heading)}" width="600" height="130">'
            f'<audio controls preload="metadata" src="{e(audio)}"></audio>'
        )
    else:
        parts.append('<p class="facts">no audio to play</p>')
    if clip.text:
        parts.append(f'<p class="text">{e(clip.text)}</p>')
    facts = "; ".join(f"{e(k)}: {e(v)}" for k, v in clip.facts if v)
    parts.append(f'<p class="facts">{facts}</p></div>')
    return "".join(parts)


def render(found: Explorer, media: dict[str, tuple[str, str]]) -> str:
    """The page; ``media`` maps a clip's key to its audio and image paths."""
    e = html.escape
    body = [
        "<h1>galvasr run explorer</h1>",
        f'<p class="meta">Release: {e(found.release or "(none)")}. A sample of each subset and'
        " of each reason align and release refused, chosen by a hash of the ids (the same run"
        " shows the same sample). Green: where align placed the cues; orange: the subtitle's"
        " times inside the span align searched. "
        '<a href="../index.html">Back to the report</a>.</p>',
        '<h2 id="subsets">Released segments by subset</h2>',
    ]
    if not found.subsets:
        body.append("<p>No released segments.</p>")
    for subset, clips in found.subsets:
        body.append(f'<h2 id="{subset_anchor(subset)}">{e(subset)}</h2>')
        body += [_clip_html(c, media) for c in clips]
    body.append('<h2 id="rejects">Refused by align and release</h2>')
    if not found.rejects:
        body.append("<p>No rejects from align or release.</p>")
    for stage, reason, total, clips in found.rejects:
        body.append(
            f'<h2 id="{reject_anchor(stage, reason)}">{e(stage)}: {e(reason)}</h2>'
            f'<p class="meta">{total:,} rows; {len(clips)} shown.</p>'
        )
        body += [_clip_html(c, media) for c in clips]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>galvasr run explorer</title><style>{STYLE}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )

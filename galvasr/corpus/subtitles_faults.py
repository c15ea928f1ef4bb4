"""Subtitles with the faults real ones have, and the truth about every cue.

From a file's ``Track`` (where each sentence is spoken) this writes an SRT or
WebVTT file the way people and tools write them, wrong in known ways:

- cues split and merged differently from the speech: a sentence spoken in
  two halves gets two cues; neighbouring short sentences share one;
- sentences with no cue at all (``P_DROP``, and one run of consecutive ones);
- text nobody speaks over planted long pauses (``unspoken``: sentences from
  elsewhere in the book, and credit lines), ``♪`` lines and ``[sound]`` lines;
- cues that start a little early and end a little late, some that overlap
  the next (``P_OVERLAP``), then a constant offset and a linear drift;
- HTML-style markup, speaker labels, inline ``[sighs]``, two- and three-line cues;
- UTF-8 (with or without BOM), cp1252 behind a UTF-8 BOM, UTF-16 LE, CRLF.

Each cue's truth (what it carries, where that is spoken) goes with it.
"""

from __future__ import annotations

import codecs
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from galvasr.corpus.items import (
    CP1252_BOM,
    SUBTITLE_EMPTY,
    SUBTITLE_UNPARSABLE,
    UTF8,
    UTF8_BOM,
    UTF16_BOM,
    SubtitlePlan,
)
from galvasr.corpus.track import Track, Utterance

P_DROP = 0.04  # a whole sentence gets no cue
P_MERGE = 0.25  # a short sentence shares its cue with the next one(s)
MERGE_MAX_CHARS = 100
P_OVERLAP = 0.06  # a cue is stretched past the start of the next one
P_HTML = 0.2  # a cue of a file with markup carries a tag
P_INLINE_SOUND = 0.05  # a speech cue of a file with sounds starts with "[sighs]"
LEAD_S = (0.0, 0.25)  # cues start this much before the speech...
LAG_S = (0.05, 0.5)  # ...and end this much after it (before offset and drift)
LINE_CHARS = 42

MUSIC_LINES = ("\u266a \u266a", "\u266a (soft organ music) \u266a", "\u266b instrumental \u266b",
               "\u266a [MUSIC] \u266a")  # fmt: skip
SOUND_LINES = ("[door closes]", "[COUGHING]", "(bell rings)", "[pages turning]",
               "[APPLAUSE]", "(birds chirping)")  # fmt: skip
INLINE_SOUNDS = ("[sighs]", "(clears throat)", "[laughs softly]")
SPEAKER_NAMES = ("NARRATOR", "READER", "SECOND READER")
HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    "<body><h1>Service Unavailable</h1>\n<p>The server is temporarily unable to "
    "service your request. Please try again later.</p>\n</body></html>\n"
)


@dataclass(frozen=True)
class Cue:
    """A written cue and its truth. Times: ``start_ms``/``end_ms`` as written
    (integer ms); ``true_*_ms`` where its spoken text really is (ms, exact to
    the sample, 3 decimals), None for a cue whose text is not spoken."""

    index: int  # position in the file, from 0; the file lists cues in start order
    start_ms: int
    end_ms: int
    text_raw: str  # as written: markup, labels and line breaks ("\n") included
    kind: str  # "speech", "unspoken", "music", "sound"
    spoken_text: str | None  # the exact words spoken, for a speech cue
    true_start_ms: float | None
    true_end_ms: float | None
    sentence_indices: tuple[int, ...]  # sentences (ground_truth) whose words it carries
    tags: tuple[str, ...]  # split, merged, overlap, html, italics, speaker_label, inline_sound,
    #                        credit


@dataclass
class _Draft:
    kind: str
    text: str
    start_s: float  # before offset and drift
    end_s: float
    utterances: tuple[Utterance, ...] = ()
    tags: tuple[str, ...] = ()
    speaker: int = -1


def ms(sample: int, rate: int) -> float:
    """A sample position as milliseconds, rounded to the microsecond."""
    return round(sample * 1000 / rate, 3)


def build_cues(
    track: Track, plan: SubtitlePlan, unspoken: Iterator[str], rng: np.random.Generator
) -> tuple[list[Cue], set[int]]:
    """The cues of one subtitle file, and the sentences left without a cue."""
    by_sentence: dict[int, list[Utterance]] = {}
    for u in track.utterances:
        by_sentence.setdefault(u.sentence_index, []).append(u)
    order = sorted(by_sentence)
    dropped = _dropped(by_sentence, rng)
    gap_after = {g.after_sentence for g in track.gaps}

    drafts: list[_Draft] = []
    i = 0
    while i < len(order):
        s = order[i]
        parts = by_sentence[s]
        i += 1
        if s in dropped:
            continue
        if len(parts) > 1:
            drafts += [_Draft("speech", u.text, 0, 0, (u,), ("split",), u.speaker) for u in parts]
            continue
        group = list(parts)
        while (
            i < len(order)
            and rng.random() < (P_MERGE if len(group) == 1 else P_MERGE * 2)
            and order[i] not in dropped
            and len(by_sentence[order[i]]) == 1
            and group[-1].sentence_index not in gap_after
            and by_sentence[order[i]][0].speaker == group[0].speaker
            and sum(len(u.text) + 1 for u in group) + len(by_sentence[order[i]][0].text)
            <= MERGE_MAX_CHARS
        ):
            group.append(by_sentence[order[i]][0])
            i += 1
        tags = ("merged",) if len(group) > 1 else ()
        text = " ".join(u.text for u in group)
        drafts.append(_Draft("speech", text, 0, 0, tuple(group), tags, group[0].speaker))

    for gap in track.gaps:
        start = gap.start_sample / track.rate + rng.uniform(0.1, 0.3)
        end = gap.end_sample / track.rate - rng.uniform(0.1, 0.3)
        if gap.kind == "music":
            drafts.append(_Draft("music", str(rng.choice(MUSIC_LINES)), start, end))
        elif gap.kind == "sound":
            drafts.append(_Draft("sound", str(rng.choice(SOUND_LINES)), start, end))
        elif gap.kind == "credit":
            drafts.append(_Draft("unspoken", plan.credit or "", start, end, tags=("credit",)))
        else:
            drafts.append(_Draft("unspoken", next(unspoken), start, end))

    _time_speech(drafts, track, rng)
    drafts.sort(key=lambda d: d.start_s)
    _plant_overlaps(drafts, rng)
    return _finish(drafts, track, plan, rng), dropped


def _dropped(by_sentence: dict[int, list[Utterance]], rng: np.random.Generator) -> set[int]:
    """Sentences left without a cue: spoken in one piece, and with words that no other
    sentence of the file repeats (so which speech has no subtitle is unambiguous)."""
    said = {s: " ".join(re.findall(r"[a-z]+", " ".join(u.text for u in us).lower()))
            for s, us in by_sentence.items()}  # fmt: skip
    whole = [
        s for s in sorted(by_sentence) if len(by_sentence[s]) == 1
        and not any(said[s] in said[t] for t in by_sentence if t != s)
    ]  # fmt: skip
    dropped = {s for s in whole if rng.random() < P_DROP}
    if len(whole) >= 30:  # and one stretch of three sentences nobody subtitled
        start = int(rng.integers(len(whole) // 3, len(whole) - 3))
        dropped |= set(whole[start : start + 3])
    if not dropped and len(whole) >= 8:
        dropped.add(whole[int(rng.integers(1, len(whole)))])
    return dropped


def _time_speech(drafts: list[_Draft], track: Track, rng: np.random.Generator) -> None:
    """Speech cues: a little early and late, never reaching into the neighbours' speech."""
    rate = track.rate
    starts = [u.start_sample / rate for u in track.utterances]
    ends = [u.end_sample / rate for u in track.utterances]
    position = {(u.sentence_index, u.part): k for k, u in enumerate(track.utterances)}
    gaps = [(g.start_sample / rate, g.end_sample / rate) for g in track.gaps]
    for d in drafts:
        if d.kind != "speech":
            continue
        first = position[d.utterances[0].sentence_index, d.utterances[0].part]
        last = position[d.utterances[-1].sentence_index, d.utterances[-1].part]
        # the neighbours: the speech or planted gap before and after
        before = max(
            [ends[first - 1] if first > 0 else 0.0] + [e for s, e in gaps if e <= starts[first]]
        )
        after = min([starts[last + 1] if last + 1 < len(starts) else track.num_samples / rate]
                    + [s for s, e in gaps if s >= ends[last]])  # fmt: skip
        d.start_s = max(starts[first] - rng.uniform(*LEAD_S), starts[first] - 0.6 * (
            starts[first] - before))  # fmt: skip
        d.end_s = min(ends[last] + rng.uniform(*LAG_S), ends[last] + 0.3 * (after - ends[last]))


def _plant_overlaps(drafts: list[_Draft], rng: np.random.Generator) -> None:
    for a, b in zip(drafts, drafts[1:], strict=False):
        if rng.random() < P_OVERLAP:
            a.end_s = min(b.start_s + rng.uniform(0.3, 1.2), b.end_s - 0.1)
            if a.end_s > b.start_s:
                a.tags += ("overlap",)


def _finish(
    drafts: list[_Draft], track: Track, plan: SubtitlePlan, rng: np.random.Generator
) -> list[Cue]:
    duration_ms = track.duration_ms

    def written(t_s: float) -> int:
        t = t_s * 1000
        return int(round(t + plan.offset_ms + plan.drift_ms * t / duration_ms))

    cues: list[Cue] = []
    last_speaker = -1
    last_start = -1
    for d in drafts:
        start, end = written(d.start_s), written(d.end_s)
        if start < 0 or end <= start:
            raise ValueError(f"bad cue times {start}..{end} for {d.text!r}")
        start = max(start, last_start + 1)  # keep start order strict
        last_start = start
        tags = list(d.tags)
        text = d.text
        if plan.encoding == CP1252_BOM:  # typographic apostrophes, as a word processor makes
            text = text.replace("'", "\u2019")
        lines = textwrap.wrap(text, LINE_CHARS) or [text]
        if d.kind == "speech" and plan.sounds and rng.random() < P_INLINE_SOUND:
            lines[0] = f"{rng.choice(INLINE_SOUNDS)} {lines[0]}"
            tags.append("inline_sound")
        if plan.html and d.kind == "speech" and rng.random() < P_HTML:
            lines = _markup(lines, plan.fmt, rng, tags)
        if d.kind == "speech" and plan.speaker_labels and d.speaker != last_speaker:
            lines[0] = _label(plan.speaker_labels, d.speaker) + lines[0]
            tags.append("speaker_label")
        if d.kind == "speech":
            last_speaker = d.speaker
        first, last = (d.utterances[0], d.utterances[-1]) if d.utterances else (None, None)
        cues.append(
            Cue(
                index=len(cues),
                start_ms=start,
                end_ms=end,
                text_raw="\n".join(lines),
                kind=d.kind,
                spoken_text=" ".join(u.text for u in d.utterances) if d.utterances else None,
                true_start_ms=ms(first.start_sample, track.rate) if first else None,
                true_end_ms=ms(last.end_sample, track.rate) if last else None,
                sentence_indices=tuple(sorted({u.sentence_index for u in d.utterances})),
                tags=tuple(tags),
            )
        )
    return cues


def _markup(lines: list[str], fmt: str, rng: np.random.Generator, tags: list[str]) -> list[str]:
    style = str(rng.choice(["italics", "italics", "bold_word", "colour", "underline_word"]))
    tags.append("html")
    if style == "italics":
        tags.append("italics")
        return [f"<i>{line}</i>" for line in lines]
    if style == "colour":
        if fmt == "vtt":
            return [f"<c.yellow>{line}</c>" for line in lines]
        return [f'<font color="#ffff00">{line}</font>' for line in lines]
    tag = "b" if style == "bold_word" else "u"
    words = lines[0].split(" ")
    k = int(rng.integers(len(words)))
    words[k] = f"<{tag}>{words[k]}</{tag}>"
    return [" ".join(words), *lines[1:]]


def _label(style: str, speaker: int) -> str:
    name = SPEAKER_NAMES[speaker % len(SPEAKER_NAMES)]
    if style == "colon":
        return f"{name}: "
    if style == "chevron":
        return f">> {name}: "
    if style == "voice":
        return f"<v {name.title()}>"
    raise ValueError(f"unknown speaker label style {style!r}")


# ------------------------------------------------------------------ writing


def _srt_time(t: int) -> str:
    h, rest = divmod(t, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{milli:03d}"


def _vtt_time(t: int, hours: bool) -> str:
    text = _srt_time(t).replace(",", ".")
    return text if hours or t >= 3_600_000 else text[3:]


def render(cues: list[Cue], plan: SubtitlePlan, rng: np.random.Generator) -> bytes:
    """The subtitle file's bytes, in the plan's format, newlines and encoding."""
    if plan.fault == SUBTITLE_EMPTY:
        return b""
    if plan.fault == SUBTITLE_UNPARSABLE:
        return HTML_PAGE.encode("utf-8")
    if plan.fmt == "srt":
        blocks = [
            f"{c.index + 1}\n{_srt_time(c.start_ms)} --> {_srt_time(c.end_ms)}\n{c.text_raw}\n"
            for c in cues
        ]
        text = "\n".join(blocks)
    elif plan.fmt == "vtt":
        hours = bool(rng.random() < 0.5)
        ids = bool(rng.random() < 0.5)
        header = "WEBVTT\nKind: captions\nLanguage: en\n" if rng.random() < 0.5 else "WEBVTT\n"
        blocks = [header, "NOTE\nCaptions prepared by volunteers; corrections welcome.\n"]
        for c in cues:
            settings = " align:start position:10%" if "speaker_label" in c.tags else ""
            ident = f"cue-{c.index + 1}\n" if ids else ""
            timing = f"{_vtt_time(c.start_ms, hours)} --> {_vtt_time(c.end_ms, hours)}"
            blocks.append(f"{ident}{timing}{settings}\n{c.text_raw}\n")
        text = "\n".join(blocks)
    else:
        raise ValueError(f"unknown subtitle format {plan.fmt!r}")
    if plan.crlf:
        text = text.replace("\n", "\r\n")
    return encode_text(text, plan.encoding)


def encode_text(text: str, encoding: str) -> bytes:
    if encoding == UTF8:
        return text.encode("utf-8")
    if encoding == UTF8_BOM:
        return codecs.BOM_UTF8 + text.encode("utf-8")
    if encoding == CP1252_BOM:
        return codecs.BOM_UTF8 + text.encode("cp1252")
    if encoding == UTF16_BOM:
        return codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    raise ValueError(f"unknown subtitle encoding {encoding!r}")

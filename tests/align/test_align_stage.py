"""The align stage through Spark, on a small run root of oracle log-probabilities."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf

from galvasr import quantize
from galvasr.align.oracle import ORACLE_INFO, cut_windows, speak
from galvasr.align.stage import CO_PARTITION_CONF, joined_frame, run_align
from galvasr.config import AlignConfig
from galvasr.model.vocab import DEFAULT_VOCAB
from galvasr.schemas import (
    ALIGNMENTS,
    CATALOG,
    CHUNKS,
    LOGITS,
    REJECTS,
    SEGMENTS,
    TRANSCRIPTS,
    CatalogRow,
    ChunkRow,
    LogitsRow,
    TranscriptRow,
)
from galvasr.tables import read_table, write_table

STRIDE = 320
CONTRACT = ORACLE_INFO
WORDS = [
    "we",
    "hold",
    "these",
    "truths",
    "to",
    "be",
    "self",
    "evident",
    "that",
    "all",
    "men",
    "are",
    "created",
    "equal",
]
PLANTED = "Nobody ever says this line."


@dataclass
class Run:
    root: str
    transcripts: list[TranscriptRow]
    pcm: dict[int, np.ndarray]
    planted: set[tuple[int, int]]  # (audio_id, cue_index)


def _file(audio_id: int, n_sentences: int, seed: int, encoding: str, rows: dict, run: Run):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 14)))) for _ in range(n_sentences)]
    logprobs, truth = speak(texts, DEFAULT_VOCAB, rng, pause_frames=(15, 40))
    pcm = rng.integers(-2000, 2000, size=logprobs.shape[0] * STRIDE).astype(np.int16)
    run.pcm[audio_id] = pcm
    rows["catalog"].append(
        CatalogRow(audio_id, f"item{audio_id}", "a.mp3", f"items/item{audio_id}/a.mp3", "a.srt",
                   None, None, None, "cc-by", "https://creativecommons.org/licenses/by/4.0/",
                   "en", None, None)
    )  # fmt: skip
    cue_index = 0
    for k, t in enumerate(truth):
        start_ms, end_ms = t.start_frame * 20 + 300, t.end_frame * 20 + 300  # subtitles late
        text = t.text.capitalize() + "."
        rows["transcripts"].append(
            TranscriptRow(audio_id, cue_index, start_ms, end_ms, f"<i>{text}</i>", text)
        )
        cue_index += 1
        if k in (3, 9):  # subtitle text nobody speaks, in the pause that follows
            rows["transcripts"].append(
                TranscriptRow(audio_id, cue_index, end_ms + 50, end_ms + 400, PLANTED, PLANTED)
            )
            run.planted.add((audio_id, cue_index))
            cue_index += 1
    windows = cut_windows(logprobs, pcm, STRIDE, 10 * 16_000, 16_000)
    for w in windows:
        rows["chunks"].append(
            ChunkRow(audio_id, w.chunk_index, 0, len(w.pcm) // 2, w.start_sample, w.num_samples,
                     w.context_before_samples, 0, w.pcm)
        )  # fmt: skip
        data = quantize.encode_logprobs(w.logprobs, encoding)
        rows["logits"].append(
            LogitsRow(audio_id, w.chunk_index, 0, CONTRACT.model_version, w.logprobs.shape[0],
                      len(CONTRACT.vocab), encoding, data)
        )  # fmt: skip


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory) -> Run:
    root = str(tmp_path_factory.mktemp("align-run"))
    rows: dict[str, list] = {"catalog": [], "transcripts": [], "chunks": [], "logits": []}
    out = Run(root, [], {}, set())
    _file(101, 14, 1, "float16", rows, out)
    _file(202, 8, 2, "uint8q", rows, out)
    _file(303, 3, 3, "float16", rows, out)
    rows["logits"] = [r for r in rows["logits"] if (r.audio_id, r.chunk_index) != (303, 1)]
    rows["transcripts"].append(TranscriptRow(404, 0, 0, 1000, "No audio.", "No audio."))
    out.transcripts = rows["transcripts"]
    for name, table in (("catalog", CATALOG), ("transcripts", TRANSCRIPTS), ("chunks", CHUNKS)):
        write_table(spark.createDataFrame(table.to_arrow(rows[name]).to_pylist(), table.spark),
                    root, table)  # fmt: skip
    logits = spark.createDataFrame(LOGITS.to_arrow(rows["logits"]).to_pylist(), LOGITS.spark)
    write_table(logits, root, LOGITS, model_version=CONTRACT.model_version)
    run_align(spark, root, CONTRACT, AlignConfig())
    return out


def broadcast_subtrees(plan: str) -> list[str]:
    """The text of every subtree of ``plan`` under a BroadcastExchange."""
    lines = plan.splitlines()
    out = []
    for i, line in enumerate(lines):
        if "BroadcastExchange" in line:
            depth = line.index("BroadcastExchange")
            sub = [line]
            for below in lines[i + 1 :]:
                if len(below) - len(below.lstrip(" :+-")) <= depth:
                    break
                sub.append(below)
            out.append("\n".join(sub))
    return out


def test_the_big_joins_are_sort_merge_joins_and_never_broadcast(spark, run):
    spark.conf.set(CO_PARTITION_CONF, "false")  # as run_align does
    try:
        df = joined_frame(spark, run.root, CONTRACT.model_version, partitions=0)
        plan = df._jdf.queryExecution().executedPlan().toString()
    finally:
        spark.conf.set(CO_PARTITION_CONF, "true")
    joins = [ln.strip(" :+-") for ln in plan.splitlines() if "Join" in ln]
    # logits x chunks on (audio_id, chunk_index); windows x per-file cues on audio_id.
    assert any(j.startswith("SortMergeJoin") and "LeftOuter" in j for j in joins), plan
    assert any(j.startswith("SortMergeJoin") and "FullOuter" in j for j in joins), plan
    for sub in broadcast_subtrees(plan):  # only the small catalog may be broadcast
        assert "logprobs" not in sub and "pcm" not in sub and "cues" not in sub, sub
    # PCM and log-probabilities are shuffled once each, by audio_id alone.
    exchanges = [ln for ln in plan.splitlines() if "Exchange hashpartitioning" in ln]
    assert all("chunk_index" not in ln for ln in exchanges), plan


def test_every_cue_ends_in_a_segment_or_in_rejects(spark, run):
    alignments = read_table(spark, run.root, ALIGNMENTS).collect()
    segments = read_table(spark, run.root, SEGMENTS).collect()
    rejects = read_table(spark, run.root, REJECTS).where("stage = 'align'").collect()
    rejected = {(r.audio_id, r.cue_index) for r in rejects}
    spans = {(a.audio_id, a.cue_index): (a.start_ms, a.end_ms) for a in alignments}
    for t in run.transcripts:
        key = (t.audio_id, t.cue_index)
        inside = [s for s in segments if s.audio_id == t.audio_id and key in spans
                  and s.start_ms <= spans[key][0] and spans[key][1] <= s.end_ms]  # fmt: skip
        assert (key in rejected) != (len(inside) == 1), key
    assert run.planted <= rejected
    reasons = {(r.audio_id, r.reason) for r in rejects}
    assert (303, "logits:missing") in reasons
    assert (404, "align:no-audio") in reasons
    assert {a.audio_id for a in alignments} == {101, 202}


def test_segments_carry_their_audio_and_text(spark, run):
    segments = read_table(spark, run.root, SEGMENTS).collect()
    assert {s.audio_id for s in segments} == {101, 202}
    for s in segments:
        assert 1000 <= s.duration_ms == s.end_ms - s.start_ms <= 16_700
        audio, rate = sf.read(io.BytesIO(s.flac), dtype="int16")
        assert rate == 16_000
        np.testing.assert_array_equal(audio, run.pcm[s.audio_id][s.start_ms * 16 : s.end_ms * 16])
        assert PLANTED not in s.text and s.cer == 0.0
        assert s.license == "cc-by" and s.identifier == f"item{s.audio_id}"
    assert len({s.segment_id for s in segments}) == len(segments)


def test_words_survive_the_round_trip(spark, run):
    """Word lists leave the workers through mapInArrow and come back from Parquet."""
    alignments = read_table(spark, run.root, ALIGNMENTS).collect()
    assert alignments
    for a in alignments:
        assert [w.word for w in a.words] == a.text_normalized.split(" ")
        assert [w.text for w in a.words] == a.text.split()  # "Truths to be." pairs
        assert all(w.start_ms < w.end_ms and w.score <= 0 for w in a.words)
    segments = read_table(spark, run.root, SEGMENTS).collect()
    assert segments
    by_cue = {(a.audio_id, a.start_ms): a for a in alignments}
    for s in segments:
        assert [w.word for w in s.words] == s.text_normalized.split(" ")
        assert all(0 <= w.start_ms < w.end_ms <= s.duration_ms for w in s.words)
        first = by_cue[(s.audio_id, s.start_ms)].words[0]  # a segment starts with a cue
        assert s.start_ms + s.words[0].start_ms == first.start_ms  # relative to the segment

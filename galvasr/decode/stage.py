"""Stage 2, decode: every catalog file to bucketed 16 kHz windows in `chunks`.

Reads ``catalog``; writes ``chunks`` (partitioned by bucket), ``audio`` (the
measured length of every decoded file) and ``rejects`` (stage=decode). Every
catalog row ends in exactly one of ``audio`` (with its chunks) or ``rejects``.

Row shapes::

    chunks   (audio_id, chunk_index, bucket, bucket_samples, start_sample,
              num_samples, context_before_samples, context_after_samples,
              pcm: bucket_samples int16 LE)                     ~1.09 MB a row
    audio    (audio_id, num_samples, duration_ms, source_sample_rate,
              source_channels, source_codec, num_chunks)
    rejects  (stage="decode", reason in galvasr.decode.audio.REASONS or BAD_PATH,
              or internal:<ExceptionType> for what no rule foresaw, ...)

Each file is read from the corpus at the catalog's ``audio_path`` (where
ingest found it) through galvasr.corpus_files, which checks that untrusted
path again: nothing outside the corpus, no link out of it, no FIFO or device.

How the memory stays bounded: a Python worker decodes one file at a time
into a spool (memory up to ``spool_memory_bytes``, then a local temporary
file), so a file's fate is known before any chunk of it leaves the worker,
and then emits its chunks one window at a time. Chunks go to the JVM through
PySpark's pickled RDD path, whose auto-batching keeps a batch near 64 KB,
i.e. one ~1 MB chunk per batch; no Arrow batch of chunks is ever built
(ARROW_MAX_RECORDS_PER_BATCH does not apply here).

One decode, one pass over the PCM: the chunks are the only rows that travel
as a DataFrame, written as they are made. Each file's outcome (an AudioRow
or a RejectRow, a few hundred bytes) travels back to the driver in an
accumulator; a task that runs twice (retry, speculation) adds the same
deterministic rows again, so the driver keeps one per audio_id, checks that
every catalog file has exactly one, and writes ``audio`` and ``rejects``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.accumulators import AccumulatorParam

from galvasr import corpus_files
from galvasr.config import DecodeConfig
from galvasr.context import StageContext, Summary
from galvasr.decode import audio
from galvasr.decode.buckets import PaddingReport, bucket_for, bucket_lengths, plan_windows
from galvasr.schemas import (
    AUDIO,
    CATALOG,
    CHUNKS,
    INTERNAL,
    REJECTS,
    SAMPLE_RATE,
    AudioRow,
    ChunkRow,
    RejectRow,
    Table,
    reject_row,
    unforeseen,
)
from galvasr.tables import read_table, write_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

STAGE = "decode"
BAD_PATH = "catalog:unsafe-path"  # the catalog names a path outside the corpus
MAX_PARTITIONS = 4096


def _samples(ms: int) -> int:
    return ms * SAMPLE_RATE // 1000


@dataclass(frozen=True)
class DecodePlan:
    """DecodeConfig in samples, as the per-file code uses it."""

    window_samples: int
    context_samples: int
    lengths: tuple[int, ...]  # bucket i is lengths[i] samples long
    max_samples: int
    silence_peak: int
    formats: tuple[str, ...]
    spool_memory_bytes: int

    @classmethod
    def from_config(cls, config: DecodeConfig) -> DecodePlan:
        window, context = _samples(config.window_ms), _samples(config.context_ms)
        return cls(
            window_samples=window,
            context_samples=context,
            lengths=bucket_lengths(window, context, (_samples(e) for e in config.bucket_edges_ms)),
            max_samples=_samples(config.max_duration_ms),
            silence_peak=audio.peak_threshold(config.silence_peak_dbfs),
            formats=tuple(config.formats),
            spool_memory_bytes=config.spool_memory_bytes,
        )


def _reject(audio_id: int, identifier: str, audio_file: str, reason: str, detail: str) -> RejectRow:
    return reject_row(
        STAGE, reason, detail, identifier=identifier, file_name=audio_file, audio_id=audio_id
    )


def decode_file(
    audio_id: int,
    identifier: str,
    audio_file: str,
    audio_path: str,
    corpus: corpus_files.CorpusFiles,
    plan: DecodePlan,
) -> Iterator[ChunkRow | AudioRow | RejectRow]:
    """The chunks of one catalog file, then its AudioRow; or one RejectRow.

    ``audio_path`` is the catalog's: where the file is, relative to the corpus
    root. Only what the file itself causes is a RejectRow; an I/O error of the
    store (a network hiccup) propagates, so that Spark retries the task. Any
    other exception while the file is decoded and measured (a case no rule
    foresaw) rejects the file as ``internal:<ExceptionType>``
    (:func:`galvasr.schemas.unforeseen`); once its chunks are planned, only
    reading back its local spool can fail, and that propagates.
    """
    try:
        # A local file goes to FFmpeg by name (its own I/O is fastest); one
        # on GCS through the store's seekable file object.
        with corpus.media_source(audio_path) as source:
            decoded = audio.spool_pcm16k(
                source,
                max_samples=plan.max_samples,
                silence_peak=plan.silence_peak,
                formats=plan.formats,
                spool_memory_bytes=plan.spool_memory_bytes,
            )
    except corpus_files.UnsafePath as e:
        yield _reject(audio_id, identifier, audio_file, BAD_PATH, str(e))
        return
    except FileNotFoundError as e:
        yield _reject(audio_id, identifier, audio_file, audio.MISSING, str(e))
        return
    except corpus_files.Unreadable as e:  # as FFmpeg says of a file it may not open
        yield _reject(audio_id, identifier, audio_file, audio.UNDECODABLE, f"cannot open: {e}")
        return
    except audio.DecodeFailure as e:
        yield _reject(audio_id, identifier, audio_file, e.reason, e.detail)
        return
    except OSError:
        raise  # the store's or the machine's (a full disk): Spark retries the task
    except Exception as e:  # what no rule foresaw: this file is refused, the run goes on
        yield _reject(audio_id, identifier, audio_file, *unforeseen(e))
        return
    with decoded:
        # Every window is planned before the first chunk leaves: a file is
        # refused whole or emitted whole, never in part.
        try:
            windows = [
                (w, bucket_for(w.length_samples, plan.lengths))
                for w in plan_windows(decoded.num_samples, plan.window_samples,
                                      plan.context_samples)
            ]  # fmt: skip
        except Exception as e:
            yield _reject(audio_id, identifier, audio_file, *unforeseen(e))
            return
        num_chunks = 0
        for w, bucket in windows:
            padding = plan.lengths[bucket] - w.length_samples
            yield ChunkRow(
                audio_id=audio_id,
                chunk_index=w.chunk_index,
                bucket=bucket,
                bucket_samples=plan.lengths[bucket],
                start_sample=w.start_sample,
                num_samples=w.num_samples,
                context_before_samples=w.context_before_samples,
                context_after_samples=w.context_after_samples,
                pcm=decoded.read(w.first_sample, w.length_samples) + bytes(2 * padding),
            )
            num_chunks += 1
        yield AudioRow(
            audio_id=audio_id,
            num_samples=decoded.num_samples,
            duration_ms=decoded.duration_ms,
            source_sample_rate=decoded.info.sample_rate,
            source_channels=decoded.info.channels,
            source_codec=decoded.info.codec,
            num_chunks=num_chunks,
        )


class _ListAccumulator(AccumulatorParam[list[Any]]):
    """Lists, concatenated: the outcome rows of every task, gathered on the driver."""

    def zero(self, value: list[Any]) -> list[Any]:
        return []

    def addInPlace(self, value1: list[Any], value2: list[Any]) -> list[Any]:  # noqa: N802
        value1.extend(value2)
        return value1


def _decode_partition(
    rows: Iterable[Any], corpus: str, plan: DecodePlan, outcomes: Any
) -> Iterator[tuple[Any, ...]]:
    """Chunk rows (as tuples) of every file of a partition; outcomes to the accumulator."""
    files = corpus_files.open_corpus(corpus)
    c = CATALOG.c
    for r in rows:
        for out in decode_file(r[c.audio_id], r[c.identifier], r[c.audio_file], r[c.audio_path],
                               files, plan):  # fmt: skip
            if isinstance(out, ChunkRow):
                yield astuple(out)
            else:
                outcomes.add([out])


@dataclass
class DecodeSummary:
    """What the stage did; the job logs it as JSON."""

    files: int
    decoded: int
    rejected: dict[str, int]
    chunks: int
    audio_ms: int
    padding: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


COMMITTER_ALGORITHM = "mapreduce.fileoutputcommitter.algorithm.version"


def plan_tasks(rows: list[Any], partitions: int) -> list[list[Any]]:
    """The catalog rows of each decode task: largest files first, about one per task.

    Long files start early and do not queue behind short ones
    (longest-processing-time-first). The rows are ordered by (audio size
    descending, null as 0; audio_id) and cut into ``partitions`` ranges of
    (nearly) equal counts, exactly as Spark's ``repartitionByRange`` on that
    order cuts a catalog it samples whole (its bounds:
    ``RangePartitioner.determineBounds``, every row of weight 1): the same
    tasks, without the two Spark jobs of sampling and shuffling a few rows.
    Rows of one task are in that order too.
    """
    c = CATALOG.c
    order = sorted(rows, key=lambda r: (-(r[c.audio_size_bytes] or 0), r[c.audio_id]))
    keys = [(-(r[c.audio_size_bytes] or 0), r[c.audio_id]) for r in order]
    bounds: list[tuple[int, int]] = []
    parts = min(partitions, len(keys))
    if partitions > 1 and keys:
        step = len(keys) / parts
        target, weight = step, 0.0
        for key in keys:
            if len(bounds) >= parts - 1:
                break
            weight += 1.0
            if weight >= target and (not bounds or key > bounds[-1]):
                bounds.append(key)
                target += step
    tasks: list[list[Any]] = [[] for _ in range(len(bounds) + 1)]
    task = 0
    for key, row in zip(keys, order, strict=True):
        while task < len(bounds) and key > bounds[task]:
            task += 1
        tasks[task].append(row)
    return tasks


def run_decode(spark: SparkSession, corpus: str, root: str, config: DecodeConfig) -> DecodeSummary:
    """Decode every catalog file under ``root`` from ``corpus``; write chunks, audio, rejects."""
    corpus = str(corpus)
    if "://" not in corpus:  # executors may not share the driver's working directory
        corpus = os.path.abspath(corpus)
    plan = DecodePlan.from_config(config)
    c = CATALOG.c
    # The few columns of every file, on the driver (one Spark job): they count
    # the files and plan the tasks (plan_tasks), as the outcomes come back here too.
    rows = (
        read_table(spark, root, CATALOG)
        .select(c.audio_id, c.identifier, c.audio_file, c.audio_path, c.audio_size_bytes)
        .collect()
    )
    files = len(rows)
    partitions = config.partitions or max(1, min(files, MAX_PARTITIONS))
    tasks = plan_tasks(rows, partitions)
    outcomes = spark.sparkContext.accumulator([], _ListAccumulator())
    # One element (a task's list of rows) per partition: parallelize slices a
    # list of n elements into n partitions of one each.
    chunk_rows = (
        spark.sparkContext.parallelize(tasks, len(tasks))
        .flatMap(_rows_of_task)
        .mapPartitions(
            functools.partial(_decode_partition, corpus=corpus, plan=plan, outcomes=outcomes)
        )
    )
    chunks = spark.createDataFrame(chunk_rows, CHUNKS.spark, verifySchema=False)
    # Each task's shards are moved into chunks/ as the task ends (Hadoop's
    # committer algorithm 2), so that inference can start on them while the
    # other files decode (galvasr run, infer.overlap_decode); chunks/_SUCCESS
    # still appears only once the whole job has committed.
    write_table(
        chunks,
        root,
        CHUNKS,
        max_records_per_file=config.chunks_per_file,
        options={COMMITTER_ALGORITHM: "2"},
    )

    by_id: dict[int, AudioRow | RejectRow] = {}
    for row in outcomes.value:
        first = by_id.setdefault(row.audio_id, row)
        if first != row and not _same_unforeseen(first, row):
            raise RuntimeError(
                f"decode: two outcomes for audio_id {row.audio_id}: not deterministic"
            )
    if len(by_id) != files:
        raise RuntimeError(f"decode: {files} catalog files but {len(by_id)} outcomes")
    kept = [r for _, r in sorted(by_id.items()) if isinstance(r, AudioRow)]
    rejected = [r for _, r in sorted(by_id.items()) if isinstance(r, RejectRow)]
    write_table(_frame(spark, AUDIO, kept), root, AUDIO)
    write_table(_frame(spark, REJECTS, rejected), root, REJECTS, stage=STAGE)
    summary = summarize(files, kept, rejected, plan)
    log.info("decode done: %s", summary.to_json())
    return summary


def _rows_of_task(task: list[Any]) -> list[Any]:
    return task


def _same_unforeseen(a: AudioRow | RejectRow, b: AudioRow | RejectRow) -> bool:
    """Two refusals of one file for the same unforeseen exception: its message may
    differ between a task and its re-run (a temporary name), its reason does not."""
    return (
        isinstance(a, RejectRow)
        and isinstance(b, RejectRow)
        and a.reason == b.reason
        and a.reason.startswith(f"{INTERNAL}:")
    )


def _frame(spark: SparkSession, table: Table, rows: list[Any]) -> DataFrame:
    return spark.createDataFrame([astuple(r) for r in rows], table.spark, verifySchema=False)


def summarize(
    files: int, kept: list[AudioRow], rejected: list[RejectRow], plan: DecodePlan
) -> DecodeSummary:
    """Counts, and the padding of the chunks the kept files were cut into."""
    padding = PaddingReport(plan.lengths)
    for row in kept:
        padding.add_file(row.num_samples, plan.window_samples, plan.context_samples)
    return DecodeSummary(
        files=files,
        decoded=len(kept),
        rejected=dict(sorted(Counter(r.reason for r in rejected).items())),
        chunks=sum(r.num_chunks for r in kept),
        audio_ms=sum(r.num_samples for r in kept) * 1000 // SAMPLE_RATE,
        padding=padding.to_dict(),
    )


def run(ctx: StageContext) -> Summary:
    """The registry's entry: decode every catalog file with the ``[decode]`` settings."""
    summary = run_decode(ctx.spark, ctx.require_corpus(), ctx.root, ctx.config.decode)
    return dataclasses.asdict(summary)

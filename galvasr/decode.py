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
    rejects  (stage="decode", reason in galvasr.audio.REASONS or BAD_PATH, ...)

How the memory stays bounded: a Python worker decodes one file at a time
into a spool (memory up to ``spool_memory_bytes``, then a local temporary
file), so a file's fate is known before any chunk of it leaves the worker,
and then emits its chunks one window at a time. Rows go to the JVM through
PySpark's pickled RDD path, whose auto-batching keeps a batch near 64 KB,
i.e. one ~1 MB chunk per batch; no Arrow batch of chunks is ever built
(ARROW_MAX_RECORDS_PER_BATCH does not apply here). The worker's output is
persisted on local disk once (DISK_ONLY) so that chunks, audio and rejects
come from a single decode, and then written as three tables.
"""

from __future__ import annotations

import functools
import json
import logging
import operator
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import astuple, dataclass, field
from typing import IO, TYPE_CHECKING, Any

from galvasr import audio, catalog, storage
from galvasr.buckets import PaddingReport, bucket_for, bucket_lengths, plan_windows
from galvasr.config import DecodeConfig
from galvasr.schemas import (
    AUDIO,
    CATALOG,
    CHUNKS,
    REJECTS,
    SAMPLE_RATE,
    AudioRow,
    ChunkRow,
    RejectRow,
)
from galvasr.tables import read_table, write_table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

STAGE = "decode"
BAD_PATH = "catalog:unsafe-path"  # the catalog names a path outside the item's folder
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


def audio_path(items_dir: str, identifier: str, audio_file: str) -> str:
    """Where a catalog file lives under the corpus root (as ingest found it); ValueError
    if the identifier or name could point outside the item's folder."""
    return storage.check_path(catalog.item_path(items_dir, identifier, audio_file))


def _reject(audio_id: int, identifier: str, audio_file: str, reason: str, detail: str) -> RejectRow:
    return RejectRow(
        stage=STAGE,
        reason=reason,
        detail=detail[:1000],
        identifier=identifier,
        file_name=audio_file,
        audio_id=audio_id,
        cue_index=None,
        line_number=None,
    )


def decode_file(
    audio_id: int,
    identifier: str,
    audio_file: str,
    corpus: str,
    plan: DecodePlan,
    items_dir: str = "items",
) -> Iterator[ChunkRow | AudioRow | RejectRow]:
    """The chunks of one catalog file, then its AudioRow; or one RejectRow."""
    try:
        path = audio_path(items_dir, identifier, audio_file)
    except ValueError as e:
        yield _reject(audio_id, identifier, audio_file, BAD_PATH, str(e))
        return
    store = storage.open_store(corpus)
    url = store.url(path)
    handle: IO[bytes] | None = None
    try:
        # A local file goes to FFmpeg by name (its own I/O is fastest); any
        # other store is read through the store's seekable file object.
        if "://" not in url:
            source: audio.Source = url
        else:
            handle = source = store.open_input(path)
        decoded = audio.spool_pcm16k(
            source,
            max_samples=plan.max_samples,
            silence_peak=plan.silence_peak,
            formats=plan.formats,
            spool_memory_bytes=plan.spool_memory_bytes,
        )
    except FileNotFoundError as e:
        yield _reject(audio_id, identifier, audio_file, audio.MISSING, str(e))
        return
    except audio.DecodeFailure as e:
        yield _reject(audio_id, identifier, audio_file, e.reason, e.detail)
        return
    finally:
        if handle is not None:
            handle.close()
    with decoded:
        num_chunks = 0
        for w in plan_windows(decoded.num_samples, plan.window_samples, plan.context_samples):
            bucket = bucket_for(w.length_samples, plan.lengths)
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


# Rows cross from the Python workers to the JVM as (kind, values) pairs.
_KINDS = {ChunkRow: "chunk", AudioRow: "audio", RejectRow: "reject"}


def _decode_partition(
    rows: Iterable[Any], corpus: str, plan: DecodePlan, items_dir: str
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    for r in rows:
        for out in decode_file(r.audio_id, r.identifier, r.audio_file, corpus, plan, items_dir):
            yield _KINDS[type(out)], astuple(out)


def _is_kind(kind: str, row: tuple[str, tuple[Any, ...]]) -> bool:
    return row[0] == kind


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


def run_decode(
    spark: SparkSession, corpus: str, root: str, config: DecodeConfig, *, items_dir: str = "items"
) -> DecodeSummary:
    """Decode every catalog file under ``root`` from ``corpus``; write chunks, audio, rejects.

    ``items_dir`` is the corpus folder of the items, the ingest config's.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    plan = DecodePlan.from_config(config)
    catalog_df = read_table(spark, root, CATALOG)
    c = CATALOG.c
    files = catalog_df.count()
    partitions = config.partitions or max(1, min(files, MAX_PARTITIONS))
    # Largest files first, about one per task: long files start early and
    # do not queue behind short ones (longest-processing-time-first).
    todo = catalog_df.select(c.audio_id, c.identifier, c.audio_file, c.audio_size_bytes)
    todo = todo.repartitionByRange(
        partitions, F.coalesce(F.col(c.audio_size_bytes), F.lit(0)).desc(), F.col(c.audio_id)
    )
    out = todo.rdd.mapPartitions(
        functools.partial(_decode_partition, corpus=str(corpus), plan=plan, items_dir=items_dir),
        preservesPartitioning=False,
    ).persist(StorageLevel.DISK_ONLY)
    try:
        for table, kind in ((CHUNKS, "chunk"), (AUDIO, "audio"), (REJECTS, "reject")):
            rows = out.filter(functools.partial(_is_kind, kind)).map(operator.itemgetter(1))
            df = spark.createDataFrame(rows, table.spark, verifySchema=False)
            if table is CHUNKS:
                write_table(df, root, table, max_records_per_file=config.chunks_per_file)
            elif table is REJECTS:
                write_table(df, root, table, stage=STAGE)
            else:
                write_table(df, root, table)
    finally:
        out.unpersist()
    return summarize(spark, root, files, plan.lengths)


def summarize(
    spark: SparkSession, root: str, files: int, lengths: tuple[int, ...]
) -> DecodeSummary:
    """Counts and padding, read back from the written tables (PCM is never read)."""
    from pyspark.sql import functions as F

    k = CHUNKS.c
    audio_samples = F.col(k.context_before_samples) + F.col(k.num_samples)
    audio_samples = audio_samples + F.col(k.context_after_samples)
    per_bucket = (
        read_table(spark, root, CHUNKS)
        .groupBy(k.bucket)
        .agg(F.count(F.lit(1)).alias("n"), F.sum(audio_samples).alias("audio_samples"))
        .collect()
    )
    report = PaddingReport(lengths)
    for row in per_bucket:
        report.add(row[k.bucket], int(row["audio_samples"]), chunks=int(row["n"]))
    audio_rows = read_table(spark, root, AUDIO)
    decoded, audio_samples_total = audio_rows.agg(
        F.count(F.lit(1)), F.coalesce(F.sum(AUDIO.c.num_samples), F.lit(0))
    ).first()  # type: ignore[misc]
    rejects = read_table(spark, root, REJECTS).where(F.col(REJECTS.c.stage) == STAGE)
    rejected = Counter(
        {r[0]: int(r[1]) for r in rejects.groupBy(REJECTS.c.reason).count().collect()}
    )
    return DecodeSummary(
        files=files,
        decoded=int(decoded),
        rejected=dict(sorted(rejected.items())),
        chunks=sum(t.chunks for t in report.buckets.values()),
        audio_ms=int(audio_samples_total) * 1000 // SAMPLE_RATE,
        padding=report.to_dict(),
    )

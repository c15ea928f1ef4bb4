"""Stage 4, align: ``logits`` + ``chunks`` + ``transcripts`` -> ``alignments``, ``segments``.

    galvasr align --root runs/sample [--model-version V]
    spark-submit jobs/align.py --root gs://bucket/run [--model-version V]

Wiring (the logic is ``align_file``, a pure function of one file):

1. ``chunks`` (geometry and PCM) LEFT JOIN ``logits/<model_version>`` on
   (audio_id, chunk_index), both sides partitioned by audio_id (see
   ``joined_frame``): one row per window; a window the accelerator did not
   cover keeps null log-probabilities and fails its file.
2. ``transcripts`` collected to one row of cues per file, with the file's
   identifier and license from ``catalog``.
3. (1) FULL OUTER JOIN (2) on ``audio_id`` as a sort-merge join: the
   log-probabilities come back from the accelerator ordered by bucket, not
   by key, and both sides are big, so neither is broadcast ("merge" hint).
   The cue list rides only on the file's first window (chunk 0, or the
   null-window row of a file without chunks), so it reaches Python once.
4. Rows are sorted by (audio_id, chunk_index) inside the join's partitions
   (no further shuffle: the join put every row of a file in one partition;
   adaptive execution never splits a full outer join's skewed partitions),
   and ``mapInArrow`` streams each partition, holding one file at a time:
   a three-hour file is ~350 MB of PCM and ~65 MB of float32 frames.
5. The output (one row shape for the three tables, ``kind`` telling which)
   is persisted on disk once and written out as ``alignments``, ``segments``
   and the ``align`` partition of ``rejects``; the summary's counts come back
   with the tasks that made the rows (an accumulator, one tally per partition).

Every cue ends in ``segments`` (through its segment) or in ``rejects`` with
a reason; every aligned cue is also a row of ``alignments``. A file whose
alignment raises what no rule foresaw has each of its cues rejected as
``internal:<ExceptionType>`` (``align_rows``), and the stage goes on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from pyspark.accumulators import AccumulatorParam

from galvasr.align import boundaries
from galvasr.align.ctc import AlignedCue, AlignedWord, Cue, CueReject, align_cues, cer
from galvasr.align.segments import Segment, cut_segments, flac, segment_id
from galvasr.align.stitch import (
    PcmSlicer,
    StitchError,
    Window,
    check_pcm,
    stitch_logprobs,
    window_logprobs,
)
from galvasr.config import AlignConfig
from galvasr.context import StageContext, Summary
from galvasr.model.contract import ModelInfo
from galvasr.model.greedy import greedy_decode
from galvasr.schemas import (
    ALIGNMENTS,
    CATALOG,
    CHUNKS,
    LOGITS,
    REJECTS,
    SEGMENTS,
    TRANSCRIPTS,
    AlignmentRow,
    RejectRow,
    SegmentRow,
    WordRow,
    reject_row,
    unforeseen,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = "align"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileInput:
    audio_id: int
    identifier: str | None
    audio_file: str | None
    license: str | None
    windows: list[Window]
    cues: list[Cue]
    problem: tuple[str, str] | None = None  # (reason, detail) found while reading the rows


@dataclass
class FileOutput:
    alignments: list[AlignmentRow] = dataclasses.field(default_factory=list)
    segments: list[SegmentRow] = dataclasses.field(default_factory=list)
    rejects: list[RejectRow] = dataclasses.field(default_factory=list)


def align_file(file: FileInput, contract: ModelInfo, config: AlignConfig) -> FileOutput:
    """Alignments, segments and rejects of one file (pure: no Spark, no I/O).

    ``contract`` is the model's ``ModelInfo``, as loaded on the driver
    (``load_contract``) and shipped to the workers; they never import JAX.
    """
    out = FileOutput()

    def reject(cue_index: int | None, reason: str, detail: str, seg: int | None = None) -> None:
        out.rejects.append(
            reject_row(
                STAGE,
                reason,
                detail,
                identifier=file.identifier,
                file_name=file.audio_file,
                audio_id=file.audio_id,
                cue_index=cue_index,
                segment_id=seg,
            )
        )

    if not file.cues:
        if file.windows or file.problem:
            reject(None, "align:no-cues", "audio with logits but no transcript cues")
        return out
    problem = file.problem
    if problem is None and (file.license is None or file.identifier is None):
        problem = ("align:not-in-catalog", "cues of an audio_id the catalog lacks")
    if problem is None:
        try:
            logprobs = stitch_logprobs(
                file.windows, contract.frame_stride_samples, contract.max_missing_frames
            )
            check_pcm(file.windows)
        except StitchError as e:
            problem = (e.reason, e.detail)
    if problem is not None:
        for cue in file.cues:
            reject(cue.cue_index, *problem)
        return out

    clock = contract.clock
    aligned, cue_rejects = align_cues(logprobs, file.cues, contract.vocab, clock, config)
    pcm = PcmSlicer(file.windows)
    if config.snap_to_audio:
        aligned = boundaries.snap(aligned, pcm, clock, config)
    for r in cue_rejects:
        reject(r.cue_index, r.reason, r.detail)
    for a in aligned:
        out.alignments.append(_alignment_row(file.audio_id, a))
        if a.problem is not None:
            reject(a.cue_index, a.problem, f"score {a.score:.3f}, cer {a.cer:.3f}")
    segments, dropped = cut_segments(aligned, config, contract.vocab.word_separator)
    for r in dropped:
        reject(r.cue_index, r.reason, r.detail)
    for seg in segments:
        row = _segment_row(file, seg, logprobs, pcm, contract, config)
        if isinstance(row, CueReject):
            seg_id = segment_id(file.audio_id, seg.start_ms, seg.end_ms)
            for i in dict.fromkeys(c.cue_index for c in seg.cues):  # a split cue's pieces: once
                reject(i, row.reason, row.detail, seg_id)
        else:
            out.segments.append(row)
    return out


def _alignment_row(audio_id: int, a: AlignedCue) -> AlignmentRow:
    return AlignmentRow(
        audio_id=audio_id,
        cue_index=a.cue_index,
        start_ms=a.start_ms,
        end_ms=a.end_ms,
        score=a.score,
        cer=a.cer,
        llr=a.llr,
        text_raw=a.text_raw,
        text=a.text,
        text_normalized=a.text_normalized,
        decoded=a.decoded,
        words=_word_rows(a.words),
    )


def _word_rows(
    words: Iterable[AlignedWord], origin_ms: int = 0, end_ms: int | None = None
) -> tuple[WordRow, ...]:
    """Words as rows, their times from ``origin_ms`` (clipped to ``end_ms``, in the same time)."""
    last = float("inf") if end_ms is None else end_ms - origin_ms
    return tuple(
        WordRow(
            word=w.word,
            text=w.text,
            start_ms=int(min(last, max(0, w.start_ms - origin_ms))),
            end_ms=int(min(last, max(0, w.end_ms - origin_ms))),
            score=w.score,
        )
        for w in words
    )


def _segment_row(
    file: FileInput,
    seg: Segment,
    logprobs: np.ndarray,
    pcm: PcmSlicer,
    contract: ModelInfo,
    config: AlignConfig,
) -> SegmentRow | CueReject:
    # The segment's frames decoded piece by piece (cue, pause, cue, ...): a
    # word break at every cue boundary, as the text has one, whether or not
    # the model emitted a space in the pause.
    clock = contract.clock
    edges = [clock.frame(seg.start_ms)]
    for c in seg.cues:
        edges += [c.start_frame, c.end_frame]
    edges.append(clock.frame_after(seg.end_ms))
    vocab = contract.vocab
    pieces = (greedy_decode(logprobs[a:b], vocab) for a, b in zip(edges, edges[1:], strict=False))
    decoded = " ".join(p for p in pieces if p)
    text_normalized = seg.text_normalized(vocab.word_separator)
    error = cer(text_normalized.replace(vocab.word_separator, " "), decoded)
    if error > config.max_segment_cer:
        return CueReject(-1, "segment:high-cer", f"segment cer {error:.3f}")
    per_ms = contract.sample_rate // 1000
    audio = pcm(seg.start_ms * per_ms, seg.end_ms * per_ms)
    return SegmentRow(
        segment_id=segment_id(file.audio_id, seg.start_ms, seg.end_ms),
        audio_id=file.audio_id,
        identifier=str(file.identifier),
        start_ms=seg.start_ms,
        end_ms=seg.end_ms,
        duration_ms=seg.duration_ms,
        text=seg.text,
        text_normalized=text_normalized,
        score=seg.score,
        cer=error,
        llr=seg.llr,
        license=str(file.license),
        flac=flac(audio, contract.sample_rate),
        words=_word_rows((w for c in seg.cues for w in c.words), seg.start_ms, seg.end_ms),
    )


# -------------------------------------------------------------- Spark wiring

_KIND = "kind"


def output_schema() -> pa.Schema:
    """The three output tables' columns in one nullable row shape, plus ``kind``."""
    fields: dict[str, pa.Field] = {}
    for table in (ALIGNMENTS, SEGMENTS, REJECTS):
        for f in table.arrow:
            fields.setdefault(f.name, f.with_nullable(True))
    return pa.schema([pa.field(_KIND, pa.string(), nullable=False), *fields.values()])


CO_PARTITION_CONF = "spark.sql.requireAllClusterKeysForCoPartition"
"""Set to false while the stage runs: see ``joined_frame``."""


PARTITION_TARGET_BYTES = 64 * 2**20
"""Stored bytes of ``chunks`` + ``logits`` per partition of the join (``align.partitions`` 0).

Each task sorts its partition (PCM and log-probabilities) in the JVM and
streams it to Python: with a partition count fixed while the corpus grows
(8, ``spark.sql.shuffle.partitions``), a task's share grows with the corpus
and a cluster's parallelism does not. 64 MiB is Spark's own advisory
partition size, about 0.75 h of the sample corpus's audio.
"""


def join_partitions(spark: SparkSession, partitions: int, *tables: DataFrame) -> int:
    """Partitions of the join: ``partitions`` if set, else one per
    ``PARTITION_TARGET_BYTES`` of ``tables``' files, and never fewer than
    ``spark.sql.shuffle.partitions`` (so a small corpus is cut as before)."""
    if partitions:
        return partitions
    floor = int(spark.conf.get("spark.sql.shuffle.partitions") or 200)
    stored = sum(_stored_bytes(t) for t in tables)
    return max(floor, math.ceil(stored / PARTITION_TARGET_BYTES))


def _stored_bytes(table: DataFrame) -> int:
    """Bytes of the files a table read scans, from Spark's listing of them (no
    Spark job, no data read). Spark leaves hidden files out (``_``, ``.``: infer's
    leases and worker records), so a resumed run counts what an uninterrupted
    one does and cuts its partitions the same. A missing table is an empty
    frame of unknown size (Long.MAX_VALUE): 0."""
    size = int(table._jdf.queryExecution().optimizedPlan().stats().sizeInBytes())
    return 0 if size >= 2**63 - 1 else size


def joined_frame(spark: SparkSession, root: str, model_version: str, partitions: int) -> DataFrame:
    """One row per window (or per file without windows), sorted by file and window.

    Windows and logits are both hash-partitioned by ``audio_id`` alone
    before their join on (audio_id, chunk_index). With ``CO_PARTITION_CONF``
    false, Spark accepts that partitioning for that join and for the join
    with the cues on ``audio_id``, so the PCM and the log-probabilities
    cross the network once each (by default each would be shuffled twice).
    ``partitions`` 0: :func:`join_partitions`, so a task's share stays the same
    size however large the corpus.
    """
    from pyspark.sql import functions as F

    k, lg, t, c = CHUNKS.c, LOGITS.c, TRANSCRIPTS.c, CATALOG.c
    chunks = read_table(spark, root, CHUNKS)
    logits = read_table(spark, root, LOGITS, model_version=model_version)
    n = join_partitions(spark, partitions, chunks, logits)  # of whole tables: files' bytes
    chunks = chunks.select(
        k.audio_id, k.chunk_index, k.start_sample, k.num_samples, k.context_before_samples, k.pcm
    )
    logits = logits.select(
        lg.audio_id, lg.chunk_index, lg.num_frames, lg.vocab_size, lg.encoding, lg.logprobs
    )
    chunks, logits = chunks.repartition(n, k.audio_id), logits.repartition(n, lg.audio_id)
    windows = chunks.join(logits.hint("merge"), [k.audio_id, k.chunk_index], "left")
    cue = F.struct(t.cue_index, t.start_ms, t.end_ms, t.text_raw, t.text)
    cues = (
        read_table(spark, root, TRANSCRIPTS)
        .groupBy(t.audio_id)
        .agg(F.collect_list(cue).alias("cues"))
    )
    catalog = read_table(spark, root, CATALOG).select(
        c.audio_id, c.identifier, c.audio_file, c.license
    )
    files = cues.join(catalog, t.audio_id, "left").repartition(n, t.audio_id)
    joined = windows.hint("merge").join(files.hint("merge"), k.audio_id, "full_outer")
    first = F.col(k.chunk_index).isNull() | (F.col(k.chunk_index) == 0)
    joined = joined.withColumn("cues", F.when(first, F.col("cues")))
    return joined.sortWithinPartitions(k.audio_id, k.chunk_index)


def read_table(spark: SparkSession, root: str, table: Any, **kw: Any) -> DataFrame:
    from galvasr.tables import read_table as read

    return read(spark, root, table, **kw)


Tally = Counter[tuple[str, str | None]]
"""Output rows per (kind, reject reason or None), and ("segment_ms", None): the
segments' milliseconds; what the stage's summary counts."""


class _ListParam(AccumulatorParam[list[Any]]):
    """Lists, concatenated: one (partition, Tally) per task, gathered on the driver."""

    def zero(self, value: list[Any]) -> list[Any]:
        return []

    def addInPlace(self, value1: list[Any], value2: list[Any]) -> list[Any]:  # noqa: N802
        value1.extend(value2)
        return value1


def process_batches(
    batches: Iterable[pa.RecordBatch],
    contract: ModelInfo,
    config: AlignConfig,
    tallies: Any = None,
) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: rows sorted by (audio_id, chunk_index) in, output rows out.

    ``tallies`` (an accumulator of lists), if given, gets ``(partition, Tally)``
    of the partition once its last row is out.
    """
    schema = output_schema()
    tally: Tally = Counter()
    current: list[dict[str, Any]] = []
    for batch in batches:
        for row in batch.to_pylist():
            if current and row["audio_id"] != current[0]["audio_id"]:
                yield from _file_batches(current, contract, config, schema, tally)
                current = []
            current.append(row)
    if current:
        yield from _file_batches(current, contract, config, schema, tally)
    if tallies is not None:
        from pyspark import TaskContext

        task = TaskContext.get()
        tallies.add([(task.partitionId() if task else 0, tally)])


def align_rows(rows: list[dict[str, Any]], contract: ModelInfo, config: AlignConfig) -> FileOutput:
    """``align_file`` of a file's joined rows; what no rule foresaw refuses that file alone.

    An exception out of reading the rows or out of ``align_file`` (a case no
    rule foresaw) rejects each of the file's cues as ``internal:<ExceptionType>``
    (:func:`galvasr.schemas.unforeseen`), nothing of the file is kept, and
    the partition goes on with the next file.
    """
    try:
        return align_file(file_input(rows, contract), contract, config)
    except Exception as e:
        return _unforeseen_output(rows, e)


def _unforeseen_output(rows: list[dict[str, Any]], error: Exception) -> FileOutput:
    reason, detail = unforeseen(error)
    head = next((r for r in rows if r.get("cues") is not None), rows[0])
    indexes: list[int | None] = []
    for cue in head.get("cues") or []:
        index = cue.get("cue_index") if isinstance(cue, dict) else None
        if isinstance(index, int) and index not in indexes:
            indexes.append(index)
    return FileOutput(
        rejects=[
            reject_row(
                STAGE,
                reason,
                detail,
                identifier=head.get("identifier"),
                file_name=head.get("audio_file"),
                audio_id=rows[0].get("audio_id"),
                cue_index=i,
            )
            for i in indexes or [None]
        ]
    )


def _file_batches(
    rows: list[dict[str, Any]],
    contract: ModelInfo,
    config: AlignConfig,
    schema: pa.Schema,
    tally: Tally | None = None,
) -> Iterator[pa.RecordBatch]:
    out = align_rows(rows, contract, config)
    if tally is not None:
        tally["alignment", None] += len(out.alignments)
        tally["segment", None] += len(out.segments)
        tally["segment_ms", None] += sum(r.duration_ms for r in out.segments)
        tally.update(("reject", r.reason) for r in out.rejects)
    records: list[dict[str, Any]] = []
    records += [{_KIND: "alignment", **dataclasses.asdict(r)} for r in out.alignments]
    records += [{_KIND: "reject", **dataclasses.asdict(r)} for r in out.rejects]
    for i in range(0, len(records), 1024):
        yield pa.RecordBatch.from_pylist(_fit(records[i : i + 1024], schema), schema=schema)
    # Segments carry FLAC (~0.5 MB each): small batches.
    for i in range(0, len(out.segments), 32):
        part = [{_KIND: "segment", **dataclasses.asdict(r)} for r in out.segments[i : i + 32]]
        yield pa.RecordBatch.from_pylist(_fit(part, schema), schema=schema)


def _fit(records: list[dict[str, Any]], schema: pa.Schema) -> list[dict[str, Any]]:
    names = set(schema.names)
    return [{k: v for k, v in r.items() if k in names} for r in records]


def file_input(rows: list[dict[str, Any]], contract: ModelInfo) -> FileInput:
    """A file's joined rows (sorted by chunk_index) as the input of ``align_file``."""
    head = next((r for r in rows if r.get("cues") is not None), rows[0])
    cues = [
        Cue(r["cue_index"], r["start_ms"], r["end_ms"], r["text"] or "", r["text_raw"] or "")
        for r in head.get("cues") or []
    ]
    windows: list[Window] = []
    problem: tuple[str, str] | None = None
    for r in rows:
        if r.get("chunk_index") is None:
            continue
        if r.get("logprobs") is None:
            problem = problem or ("logits:missing", f"no logits for chunk {r['chunk_index']}")
            continue
        if r["vocab_size"] != len(contract.vocab):
            problem = problem or (
                "logits:vocab-mismatch",
                f"{r['vocab_size']} columns, model {contract.model_version} has "
                f"{len(contract.vocab)}",
            )
            continue
        try:
            lp = window_logprobs(r["logprobs"], r["num_frames"], r["vocab_size"], r["encoding"])
        except StitchError as e:
            problem = problem or (e.reason, e.detail)
            continue
        windows.append(
            Window(
                r["chunk_index"],
                r["start_sample"],
                r["num_samples"],
                r["context_before_samples"],
                lp,
                r["pcm"],
            )  # fmt: skip
        )
    if not windows and problem is None and cues:
        problem = ("align:no-audio", "cues of a file with no decoded chunks")
    return FileInput(
        audio_id=rows[0]["audio_id"],
        identifier=head.get("identifier"),
        audio_file=head.get("audio_file"),
        license=head.get("license"),
        windows=windows,
        cues=cues,
        problem=problem,
    )


@dataclass(frozen=True)
class AlignSummary:
    model_version: str
    alignments: int
    segments: int
    segment_hours: float
    rejects_by_reason: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def run_align(
    spark: SparkSession, root: str, contract: ModelInfo, config: AlignConfig
) -> AlignSummary:
    """Align every file under ``root`` with ``contract.model_version``'s logits; write tables."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from galvasr.tables import write_table

    schema = output_schema()
    # The summary's counts come back with the tasks that make the rows (no query
    # of their own): one Tally per partition, kept once if a task runs again.
    tallies = spark.sparkContext.accumulator([], _ListParam())
    co_partition = spark.conf.get(CO_PARTITION_CONF)
    # Set before persist(), which plans the cached query with the settings of
    # that moment: set after it, the windows were shuffled twice.
    spark.conf.set(CO_PARTITION_CONF, "false")
    try:
        joined = joined_frame(spark, root, contract.model_version, config.partitions)
        out = joined.mapInArrow(
            lambda batches: process_batches(batches, contract, config, tallies),
            _spark_schema(schema),
        ).persist(StorageLevel.DISK_ONLY)
        try:
            kind = F.col(_KIND)
            alignments = out.filter(kind == "alignment").select(*ALIGNMENTS.columns)
            write_table(alignments, root, ALIGNMENTS)
            write_table(out.filter(kind == "segment").select(*SEGMENTS.columns), root, SEGMENTS)
            rejects = out.filter(kind == "reject").select(*REJECTS.columns)
            write_table(rejects, root, REJECTS, stage=STAGE)
        finally:
            out.unpersist()
    finally:
        spark.conf.set(CO_PARTITION_CONF, co_partition or "true")
    tally: Tally = Counter()
    for part in dict(tallies.value).values():  # one per partition
        tally.update(part)
    summary = AlignSummary(
        model_version=contract.model_version,
        alignments=tally["alignment", None],
        segments=tally["segment", None],
        segment_hours=round(tally["segment_ms", None] / 3_600_000, 4),
        rejects_by_reason=dict(sorted((str(r), n) for (k, r), n in tally.items() if k == "reject")),
    )
    log.info("align: %s", summary.to_json())
    return summary


def _spark_schema(schema: pa.Schema) -> Any:
    from galvasr.schemas import spark_schema

    return spark_schema(schema)


def load_contract(model: str | None, model_version: str | None) -> ModelInfo:
    """The ``ModelInfo`` of the checkpoint ``model`` (default: the committed model).

    ``model_version``, if given, must be that checkpoint's version: the logits
    of another model cannot be read with this one's vocabulary. The model
    (and JAX) is loaded on the driver only; workers get the ``ModelInfo``.
    """
    from galvasr.model import DEFAULT_MODEL, load_model

    info = load_model(model or DEFAULT_MODEL, sample_rate=None).info
    if model_version and model_version != info.model_version:
        raise ValueError(
            f"model {model or DEFAULT_MODEL} is {info.model_version}, not {model_version}: "
            "pass --model with the checkpoint that made these logits"
        )
    return info


def run(ctx: StageContext) -> Summary:
    """The registry's entry: align with the logits of ``ctx.model`` (checked against
    ``--model-version`` when given)."""
    contract = load_contract(ctx.require_model(), ctx.options.get("model_version"))
    return run_align(ctx.spark, ctx.root, contract, ctx.config.align).to_dict()

"""Release: ``segments`` to a published dataset under ``<root>/release/<name>/``.

Reads ``segments`` (and ``catalog`` for attribution, ``rejects`` for the
card); writes the release folder (:func:`galvasr.runroot.release_dir`) and
the ``release`` partition of ``rejects``.

Per segment, in this order (the first that applies is its fate):

1. its license is not one of :data:`galvasr.licenses.LICENSES`: rejected,
   ``license-not-releasable`` (ingest keeps only those, so this is a guard);
2. alignment score below ``min_score``: rejected, ``score-too-low``;
3. CER above ``dirty_max_cer`` (or not a number): rejected, ``cer-too-high``;
4. the same decoded audio (SHA-256 of the 16 kHz int16 PCM) as a segment with
   a smaller ``segment_id`` that passed 1-3: rejected, ``duplicate-audio``.
   Segments, not whole files, are compared: two copies of a recording whose
   subtitles differ are cut differently and stay (an identical copy is cut
   identically and is caught);
5. otherwise released, in split :func:`split_of` its identifier and subset
   :func:`subset_of` its CER and license.

A segment whose rules raise what none foresaw (a FLAC that does not decode)
is rejected alone, as ``internal:<ExceptionType>`` (:func:`judge`).

The folder holds, for each (subset, split) with segments, shards in each
configured format (see :mod:`galvasr.release.formats`; their rows are
:class:`galvasr.schemas.ReleaseRow`) and in Lhotse Shar (``lhotse_shar``);
per source audio file with released segments, its alignment files
(``alignment_files``; :mod:`galvasr.release.alignfiles`) under
``alignments/<split>/`` with ``alignments/index.jsonl``; plus ``README.md``
(the dataset card), ``ATTRIBUTION`` and ``SHA256SUMS``. Shard membership is a hash of
``segment_id`` and rows are sorted by it, so the same tables and settings
give a byte-identical release; the folder is emptied first.

Scaling: shards are built in Spark executors (``mapInArrow``), one shard in
one Python worker's memory at a time (about three times
``shard_target_bytes``: rows, Parquet and tar), and so are the alignment
files, one source file's cues at a time; the driver collects only counts,
the list of files with their checksums (and one line per source file for
``alignments/index.jsonl``), and the attribution of the released sources.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import soundfile as sf

from galvasr import runroot
from galvasr.config import Config, ReleaseConfig, to_dict
from galvasr.context import StageContext, Summary
from galvasr.licenses import LICENSES
from galvasr.release import alignfiles, card
from galvasr.release import formats as release_formats
from galvasr.schemas import (
    ALIGNMENTS,
    AUDIO,
    CATALOG,
    LOGITS,
    REJECTS,
    RELEASE,
    SEGMENTS,
    Int64,
    Str,
    arrow_schema,
    spark_schema,
    unforeseen,
)
from galvasr.storage import Store, open_store
from galvasr.tables import read_table, reject_frame, write_table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

STAGE = "release"
SHARE_ALIKE = "cc-by-sa"
README = "README.md"
ATTRIBUTION = "ATTRIBUTION"
SHA256SUMS = "SHA256SUMS"
LHOTSE = runroot.RELEASE_LHOTSE  # Lhotse Shar: lhotse/<subset>/<split>/{cuts,recording}.NNNNNN.*
ALIGNMENTS_DIR = runroot.RELEASE_ALIGNMENTS  # per source file: alignments/<split>/<name>.<ext>
ALIGNMENTS_INDEX = f"{ALIGNMENTS_DIR}/index.jsonl"

# Columns of the stage's own frames, beside those of segments, rejects
# (reason, detail) and the release rows (split, subset, id).
FLAC_BYTES = "flac_bytes"  # a segment's FLAC size
PCM_SHA256 = "pcm_sha256"  # rule 4's hash of its decoded audio
NUM_SEGMENTS = "segments"  # segments of one source in one (split, subset, license)
SHARD = "shard"  # a segment's shard within its (split, subset), from 0
NUM_SHARDS = "n_shards"  # shards of its (split, subset)


@dataclass(frozen=True)
class ReleaseFile:
    """One file a shard writer wrote, as it reports it to the driver."""

    path: Str  # relative to the release folder
    sha256: Str
    size_bytes: Int64


FILES_SCHEMA = arrow_schema(ReleaseFile)


# ------------------------------------------------------- per-segment rules


TRAIN, VALIDATION, TEST = "train", "validation", "test"  # Hugging Face's split names


def split_of(identifier: str, validation_fraction: float, test_fraction: float) -> str:
    """``train``, ``validation`` or ``test`` for a source item, from its identifier alone.

    The first 13 hex digits of the identifier's SHA-256 as a fraction of 2^52:
    below ``test_fraction`` is test, below ``test_fraction + validation_fraction``
    validation, the rest train. :func:`split_column` is the same rule in Spark.
    """
    u = int(hashlib.sha256(identifier.encode()).hexdigest()[:13], 16) / 2**52
    if u < test_fraction:
        return TEST
    if u < test_fraction + validation_fraction:
        return VALIDATION
    return TRAIN


def split_column(identifier: Column, validation_fraction: float, test_fraction: float) -> Column:
    from pyspark.sql import functions as F

    u = F.conv(F.substring(F.sha2(identifier, 256), 1, 13), 16, 10).cast("double") / float(2**52)
    return (
        F.when(u < test_fraction, TEST)
        .when(u < test_fraction + validation_fraction, VALIDATION)
        .otherwise(TRAIN)
    )


def subset_of(cer: float, license: str, config: ReleaseConfig) -> str:
    """``clean`` or ``dirty`` by CER, with ``_sa`` for CC-BY-SA sources."""
    base = "clean" if cer <= config.clean_max_cer else "dirty"
    return f"{base}_sa" if license == SHARE_ALIKE else base


def verdict(
    license: str, score: float, cer: float, config: ReleaseConfig
) -> tuple[str | None, str | None, str | None]:
    """(reject reason, detail, subset) of a segment by rules 1-3; the reason is None if kept."""
    if license not in LICENSES:
        return "license-not-releasable", f"license {license!r}", None
    if not score >= config.min_score:
        return "score-too-low", f"score {score:.4g} < {config.min_score:.4g}", None
    if not cer <= config.dirty_max_cer:  # NaN lands here too
        return "cer-too-high", f"cer {cer:.4g} > {config.dirty_max_cer:.4g}", None
    return None, None, subset_of(cer, license, config)


def judge(
    license: str, score: float, cer: float, flac: bytes | None, config: ReleaseConfig
) -> tuple[str | None, str | None, str | None, str | None]:
    """(reason, detail, subset, PCM hash) of a segment: :func:`verdict`, and
    :func:`pcm_sha256` of ``flac`` where it is given.

    What no rule foresaw (a FLAC that does not decode) rejects this segment
    alone, as ``internal:<ExceptionType>`` (:func:`galvasr.schemas.unforeseen`).
    """
    try:
        reason, detail, subset = verdict(license, score, cer, config)
        return reason, detail, subset, None if flac is None else pcm_sha256(flac)
    except Exception as e:
        return (*unforeseen(e), None, None)


def pcm_sha256(flac: bytes) -> str:
    """SHA-256 of a FLAC's decoded content: sample rate, channels and int16 PCM."""
    samples, rate = sf.read(io.BytesIO(flac), dtype="int16", always_2d=True)
    h = hashlib.sha256(f"{rate}:{samples.shape[1]}:".encode())
    h.update(np.ascontiguousarray(samples, dtype="<i2").tobytes())
    return h.hexdigest()


# --------------------------------------------------------------- the stage


@dataclass(frozen=True)
class ReleaseSummary:
    url: str  # the release folder
    figures: card.ReleaseFigures
    files: tuple[tuple[str, str], ...]  # (path in the release, sha256), sorted
    rejected: dict[str, int]

    def summary(self) -> Summary:
        """What the stage returns: printed by ``galvasr release`` and its job, and its
        numbers (``rejected.<reason>`` included) kept in the run record."""
        total = self.figures.total
        return {
            "url": self.url,
            "segments": total.segments,
            "duration_ms": total.duration_ms,
            "hours": round(total.hours, 4),
            "sources": total.sources,
            "files": len(self.files),
            "rejected": dict(self.rejected),
        }


def _decisions(segments: DataFrame, cfg: ReleaseConfig) -> DataFrame:
    """Per segment: reason/detail (null if released), split, subset; no audio."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    c, rej, rel = SEGMENTS.c, REJECTS.c, RELEASE.c
    verdict_type = T.StructType(
        [T.StructField(n, T.StringType()) for n in (rej.reason, rej.detail, rel.subset, PCM_SHA256)]
    )
    judge_udf = F.udf(lambda lic, score, cer, flac: judge(lic, score, cer, flac, cfg), verdict_type)
    flac = F.col(c.flac) if cfg.drop_duplicate_audio else F.lit(None).cast("binary")
    judged = segments.select(
        c.segment_id,
        c.audio_id,
        c.identifier,
        c.license,
        c.start_ms,
        c.end_ms,
        c.duration_ms,
        F.length(c.flac).alias(FLAC_BYTES),
        judge_udf(c.license, c.score, c.cer, flac).alias("v"),
    ).select("*", *[f"v.{n}" for n in (PCM_SHA256, rej.reason, rej.detail, rel.subset)])
    if cfg.drop_duplicate_audio:
        # Among segments that passed rules 1-3, the first of each PCM hash stays.
        kept = F.when(F.col(rej.reason).isNull(), F.col(c.segment_id))
        first = F.min(kept).over(Window.partitionBy(PCM_SHA256))
        dup = F.col(rej.reason).isNull() & (first != F.col(c.segment_id))
        judged = judged.withColumn("_first", first).select(
            *[col for col in judged.columns if col not in (rej.reason, rej.detail)],
            F.when(dup, F.lit("duplicate-audio")).otherwise(F.col(rej.reason)).alias(rej.reason),
            F.when(dup, F.concat(F.lit("same decoded audio as segment_id "), F.col("_first")))
            .otherwise(F.col(rej.detail))
            .alias(rej.detail),
        )
    split = split_column(F.col(c.identifier), cfg.validation_fraction, cfg.test_fraction)
    return judged.drop("v").withColumn(rel.split, split)


def build_release(spark: SparkSession, root: str, config: Config | None = None) -> ReleaseSummary:
    """Write release ``config.release.name`` of the run root ``root``; see the module doc."""
    from pyspark.sql import functions as F

    config = config or Config()
    cfg = config.release
    url = runroot.release_url(root, cfg.name)
    store = open_store(url)
    store.clear()  # a release is rebuilt whole, never patched

    reason = REJECTS.c.reason
    decisions = _decisions(read_table(spark, root, SEGMENTS), cfg).persist()
    try:
        rejected_rows = decisions.filter(F.col(reason).isNotNull())
        seg = SEGMENTS.c
        write_table(
            reject_frame(rejected_rows, STAGE, reason="reason", detail="detail",
                         identifier=seg.identifier, audio_id=seg.audio_id,
                         segment_id=seg.segment_id),
            root,
            REJECTS,
            stage=STAGE,
        )  # fmt: skip
        tallies = _tallies(spark, root, decisions)
        rejected, per_source = tallies.rejected, tallies.per_source
        kept = decisions.filter(F.col(reason).isNull())
        figures = _figures(spark, root, config, per_source, rejected)
        files = _write_shards(spark, root, url, cfg, kept, per_source)
        if cfg.alignment_files:
            aligned = _write_alignment_files(spark, root, url, kept)
            files += [(f.path, f.sha256) for a in aligned for f in a.files]
            index = b"".join(_json_line(dataclasses.asdict(a)) for a in aligned)
            if aligned:
                store.write_bytes(ALIGNMENTS_INDEX, index)
                files.append((ALIGNMENTS_INDEX, release_formats.sha256_hex(index)))
    finally:
        decisions.unpersist()

    figures = card.ReleaseFigures(**{**figures.__dict__, "files": tuple(p for p, _ in files)})
    extra = {
        README: card.dataset_card(figures, to_dict(config)["release"]).encode(),
        ATTRIBUTION: card.attribution(cfg.name, tallies.sources).encode(),
    }
    for path, data in extra.items():
        store.write_bytes(path, data)
        files.append((path, release_formats.sha256_hex(data)))
    files.sort()
    sums = "".join(f"{sha}  {path}\n" for path, sha in files)
    store.write_bytes(SHA256SUMS, sums.encode())
    return ReleaseSummary(url=url, figures=figures, files=tuple(files), rejected=rejected)


def _cells(rows: list[Any], key: Callable[[Any], Any]) -> dict[Any, card.Cell]:
    """Per-source aggregate rows, summed into one cell per ``key(row)``."""
    c = SEGMENTS.c
    groups: dict[Any, list[Any]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {
        k: card.Cell(
            segments=sum(int(r[NUM_SEGMENTS]) for r in g),
            duration_ms=sum(int(r[c.duration_ms]) for r in g),
            sources=len({r[c.identifier] for r in g}),
        )
        for k, g in groups.items()
    }


@dataclass(frozen=True)
class Tallies:
    """What the driver needs of the segments' fates: rejected, per source, credits."""

    rejected: dict[str, int]  # segments per reject reason
    per_source: list[Any]  # released: rows of (split, subset, license, identifier) sums
    sources: list[card.Source]  # released sources with their credits, sorted


CREDITS = (CATALOG.c.title, CATALOG.c.creator, CATALOG.c.source_url, CATALOG.c.license_url)


def _tallies(spark: SparkSession, root: str, decisions: DataFrame) -> Tallies:
    """Segments, milliseconds and FLAC bytes per (reason, split, subset, license, source),
    with the source's credits from ``catalog`` (the least of each over its files).

    Few enough rows to collect (at most a few per source and reason), and the
    rejected counts, every figure of the card, the shard plan and the
    attribution are sums or least values over them: one query for all,
    where three (with the catalog join) cost the sample release 8 Spark jobs.
    """
    from pyspark.sql import functions as F

    c, rel, rej, cat = SEGMENTS.c, RELEASE.c, REJECTS.c, CATALOG.c
    # One row per audio_id, so that the join cannot repeat a segment.
    credits = (
        read_table(spark, root, CATALOG)
        .groupBy(cat.audio_id)
        .agg(*[F.min(n).alias(n) for n in CREDITS])
    )
    rows = (
        decisions.join(credits, c.audio_id, "left")
        .groupBy(rej.reason, rel.split, rel.subset, c.license, c.identifier)
        .agg(
            F.count(F.lit(1)).alias(NUM_SEGMENTS),
            F.sum(c.duration_ms).alias(c.duration_ms),
            F.sum(FLAC_BYTES).alias(FLAC_BYTES),
            *[F.min(n).alias(n) for n in CREDITS],
        )
        .collect()
    )
    rejected: dict[str, int] = {}
    for r in rows:
        if r[rej.reason] is not None:
            rejected[r[rej.reason]] = rejected.get(r[rej.reason], 0) + int(r[NUM_SEGMENTS])
    per_source = [r for r in rows if r[rej.reason] is None]
    # Spark's min of strings compares UTF-8 bytes, which order as Python's
    # code points do: the least over the groups is the least over the files.
    least: dict[tuple[str, str], dict[str, str | None]] = {}
    for r in per_source:
        have = least.setdefault((r[c.identifier], r[c.license]), dict.fromkeys(CREDITS))
        for n in CREDITS:
            if r[n] is not None and (have[n] is None or r[n] < have[n]):
                have[n] = r[n]
    sources = [
        card.Source(identifier=identifier, license=license, **found)
        for (identifier, license), found in sorted(least.items())
    ]
    return Tallies(dict(sorted(rejected.items())), per_source, sources)


def _figures(
    spark: SparkSession, root: str, config: Config, per_source: list[Any], rejected: dict[str, int]
) -> card.ReleaseFigures:
    from pyspark.sql import functions as F

    cfg = config.release
    rej, rel, lic = REJECTS.c, RELEASE.c, SEGMENTS.c.license
    upstream = (
        read_table(spark, root, REJECTS)
        .filter(F.col(rej.stage) != STAGE)
        .groupBy(rej.stage, rej.reason)
        .count()
        .orderBy(rej.stage, rej.reason)
        .collect()
    )
    return card.ReleaseFigures(
        name=cfg.name,
        model_version=model_version(root, cfg),
        by_split_subset=_cells(per_source, lambda r: (r[rel.split], r[rel.subset])),
        by_split_license=_cells(per_source, lambda r: (r[rel.split], r[lic])),
        by_split=_cells(per_source, lambda r: r[rel.split]),
        total=_cells(per_source, lambda r: "all").get("all", card.Cell()),
        filters=(
            ("license", "one of " + ", ".join(LICENSES), rejected.get("license-not-releasable", 0)),
            ("alignment score", f">= {cfg.min_score}", rejected.get("score-too-low", 0)),
            ("character error rate", f"<= {cfg.dirty_max_cer}", rejected.get("cer-too-high", 0)),
            (
                "duplicate audio (same decoded PCM)",
                "exact match; the smallest segment_id stays" if cfg.drop_duplicate_audio else "off",
                rejected.get("duplicate-audio", 0),
            ),
        ),
        upstream_rejects=tuple((r[rej.stage], r[rej.reason], int(r["count"])) for r in upstream),
        settings=to_dict(config),
    )


def model_version(root: str, cfg: ReleaseConfig) -> str:
    """The configured model version, else the one adaptation last aligned with
    (``adapt/current.json``), else the only one under ``logits/``, else "unknown"."""
    if cfg.model_version:
        return cfg.model_version
    store = open_store(root)
    if store.exists(runroot.ADAPT_CURRENT):
        return str(json.loads(store.read_bytes(runroot.ADAPT_CURRENT))["model_version"])
    versions = runroot.model_versions(store.list(f"{LOGITS.name}/"))
    return versions[0] if len(versions) == 1 else ("unknown" if not versions else "several")


def _write_shards(
    spark: SparkSession,
    root: str,
    url: str,
    cfg: ReleaseConfig,
    kept: DataFrame,
    per_source: list[Any],
) -> list[tuple[str, str]]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    c, rel = SEGMENTS.c, RELEASE.c
    # Shard k of n holds the k-th n-th of the (split, subset)'s segments in
    # segment_id order: no shard is empty, and every shard's content is fixed.
    plan: dict[str, list[int]] = {}  # "split/subset" -> [segments, FLAC bytes]
    for r in per_source:
        totals = plan.setdefault(f"{r[rel.split]}/{r[rel.subset]}", [0, 0])
        totals[0] += int(r[NUM_SEGMENTS])
        totals[1] += int(r[FLAC_BYTES])
    if not plan:
        return []
    sizes = {
        key: (n, min(n, max(1, math.ceil(b / cfg.shard_target_bytes))))
        for key, (n, b) in plan.items()
    }

    def lookup(i: int) -> Column:
        pairs = [x for key, v in sorted(sizes.items()) for x in (F.lit(key), F.lit(v[i]))]
        return F.create_map(*pairs)[F.concat_ws("/", rel.split, rel.subset)]

    rank = F.row_number().over(Window.partitionBy(rel.split, rel.subset).orderBy(c.segment_id))
    assigned = kept.select(
        c.segment_id,
        rel.split,
        rel.subset,
        lookup(0).alias("_count"),
        lookup(1).alias(NUM_SHARDS),
        rank.alias("_rank"),
    ).select(
        c.segment_id,
        rel.split,
        rel.subset,
        NUM_SHARDS,
        F.expr(f"((_rank - 1) * {NUM_SHARDS}) div _count").alias(SHARD),
    )
    segments = read_table(spark, root, SEGMENTS)
    rows = (
        segments.join(assigned, c.segment_id)
        .select(
            # 16 hex digits, two's complement: the same as lower(lpad(hex(id), 16, '0')),
            # without lower(), which Spark 4 runs through ICU's case mapping (its
            # break iterators were a sizeable part of the JVM's CPU in a sample release).
            F.format_string("%016x", c.segment_id).alias(rel.id),
            *[col for col in release_formats.COLUMNS if col != rel.id],
            c.flac,
            c.words,
            SHARD,
            NUM_SHARDS,
        )
        .repartition(sum(n for _, n in sizes.values()), rel.split, rel.subset, SHARD)
        .sortWithinPartitions(rel.split, rel.subset, SHARD, c.segment_id)
    )
    formats = (*cfg.formats, LHOTSE) if cfg.lhotse_shar else cfg.formats
    write = _shard_writer(url, formats, cfg.parquet_row_group_rows)
    files = rows.mapInArrow(write, spark_schema(FILES_SCHEMA)).collect()
    return sorted((f.path, f.sha256) for f in (ReleaseFile(**r.asDict()) for r in files))


def _shard_writer(
    url: str, formats: tuple[str, ...], row_group_rows: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    rel = RELEASE.c

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        store = open_store(url)
        key: tuple[Any, ...] = ()
        rows: list[dict[str, Any]] = []
        for batch in batches:
            for row in batch.to_pylist():
                row_key = (row[rel.split], row[rel.subset], row[SHARD], row[NUM_SHARDS])
                if row_key != key and rows:
                    yield _write_shard(store, key, rows, formats, row_group_rows)
                    rows = []
                key = row_key
                rows.append(row)
        if rows:
            yield _write_shard(store, key, rows, formats, row_group_rows)

    return write


def _write_shard(
    store: Store,
    key: tuple[Any, ...],
    rows: list[dict[str, Any]],
    formats: tuple[str, ...],
    row_group_rows: int,
) -> pa.RecordBatch:
    split, subset, shard, n = key
    flac = SEGMENTS.c.flac
    out: list[tuple[str, bytes]] = []
    if "parquet" in formats:
        out.append(
            (
                f"parquet/{subset}/{split}-{shard:05d}-of-{n:05d}.parquet",
                release_formats.parquet_shard(rows, row_group_rows),
            )
        )
    if "webdataset" in formats:
        out.append(
            (f"webdataset/{subset}/{split}-{shard:05d}.tar", release_formats.webdataset_shard(rows))
        )
    if "nemo" in formats:
        out.append(
            (f"nemo/{subset}/{split}-{shard:05d}.jsonl", release_formats.nemo_manifest(rows))
        )
        out += [(f"nemo/{subset}/{release_formats.nemo_audio_path(r)}", r[flac]) for r in rows]
    if LHOTSE in formats:
        cuts, recordings = release_formats.lhotse_shar_shard(rows)
        names = release_formats.lhotse_shard_names(shard)
        out += [(f"{LHOTSE}/{subset}/{split}/{names[0]}", cuts)]
        out += [(f"{LHOTSE}/{subset}/{split}/{names[1]}", recordings)]
    entries = []
    for path, data in out:
        store.write_bytes(path, data)
        entries.append(
            dataclasses.asdict(ReleaseFile(path, release_formats.sha256_hex(data), len(data)))
        )
    return pa.RecordBatch.from_pylist(entries, schema=FILES_SCHEMA)


# ------------------------------------------------- per-file alignment files

SPANS = "_spans"  # the released segments' [start_ms, end_ms] that touch a cue
FILE_MS = "_file_ms"  # the decoded file's duration


@dataclass(frozen=True)
class AlignedFile:
    """The alignment files of one source audio file: a line of ``alignments/index.jsonl``."""

    name: Str  # alignments/<split>/<name>.<ext>; from identifier, audio_file, audio_id
    split: Str
    identifier: Str
    audio_file: Str
    audio_id: Int64
    license: Str
    cues: Int64  # kept cues (in the SRT, WebVTT and the TextGrid's cue tier)
    words: Int64  # their words (in the CTM and the TextGrid's word tier)
    files: tuple[ReleaseFile, ...]


ALIGNED_SCHEMA = arrow_schema(AlignedFile)


def _json_line(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def _write_alignment_files(
    spark: SparkSession, root: str, url: str, kept: DataFrame
) -> list[AlignedFile]:
    """SRT, WebVTT, CTM and TextGrid of each source file's kept cues, written by executors.

    A cue is kept when released segments of its file cover its span
    (:func:`galvasr.release.alignfiles.covered`). Rows travel one cue at a
    time, with only the released spans that touch it; a Python worker holds
    one file's kept cues. The driver gets one :class:`AlignedFile` per file.
    """
    from pyspark.sql import functions as F

    a, s, rel, cat = ALIGNMENTS.c, SEGMENTS.c, RELEASE.c, CATALOG.c
    alignments = read_table(spark, root, ALIGNMENTS)
    released = kept.select(
        F.col(s.audio_id).alias("_a"), F.col(s.start_ms).alias("_s"), F.col(s.end_ms).alias("_e")
    )
    touching = (
        alignments.select(a.audio_id, a.cue_index, a.start_ms, a.end_ms)
        .join(
            released,
            (F.col(a.audio_id) == F.col("_a"))
            & (F.col("_s") <= F.col(a.end_ms))
            & (F.col("_e") >= F.col(a.start_ms)),
        )
        .groupBy(a.audio_id, a.cue_index)
        .agg(F.collect_list(F.array("_s", "_e")).alias(SPANS))
    )
    per_file = kept.groupBy(s.audio_id).agg(
        *[F.min(n).alias(n) for n in (s.identifier, s.license, rel.split)]
    )
    catalog = read_table(spark, root, CATALOG).select(cat.audio_id, cat.audio_file)
    audio = read_table(spark, root, AUDIO).select(
        AUDIO.c.audio_id, F.col(AUDIO.c.duration_ms).alias(FILE_MS)
    )
    rows = (
        alignments.join(touching, [a.audio_id, a.cue_index])
        .join(per_file, a.audio_id)
        .join(catalog, a.audio_id, "left")
        .join(audio, a.audio_id, "left")
        .select(
            a.audio_id,
            a.cue_index,
            a.start_ms,
            a.end_ms,
            a.text,
            a.text_normalized,
            a.words,
            SPANS,
            s.identifier,
            s.license,
            rel.split,
            cat.audio_file,
            FILE_MS,
        )  # fmt: skip
        .repartition(a.audio_id)
        .sortWithinPartitions(a.audio_id, a.start_ms, a.cue_index)
    )
    out = rows.mapInArrow(_alignment_writer(url), spark_schema(ALIGNED_SCHEMA)).collect()
    aligned = [_aligned_file(r.asDict(recursive=True)) for r in out]
    return sorted(aligned, key=lambda f: (f.split, f.name))


def _aligned_file(d: dict[str, Any]) -> AlignedFile:
    return AlignedFile(**{**d, "files": tuple(ReleaseFile(**f) for f in d["files"])})


def _alignment_writer(url: str) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    audio_id = ALIGNMENTS.c.audio_id

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        store = open_store(url)
        rows: list[dict[str, Any]] = []
        for batch in batches:
            for row in batch.to_pylist():
                if rows and row[audio_id] != rows[0][audio_id]:
                    yield from _write_file_alignments(store, rows)
                    rows = []
                rows.append(row)
        if rows:
            yield from _write_file_alignments(store, rows)

    return write


def _write_file_alignments(store: Store, rows: list[dict[str, Any]]) -> Iterator[pa.RecordBatch]:
    """The alignment files of one source file (``rows``: its cues that touch released spans)."""
    a, s, rel = ALIGNMENTS.c, SEGMENTS.c, RELEASE.c
    cues = [r for r in rows if alignfiles.covered(r[a.start_ms], r[a.end_ms], r[SPANS])]
    if not cues:
        return
    first = rows[0]
    name = alignfiles.file_name(first[s.identifier], first[CATALOG.c.audio_file], first[a.audio_id])
    entries = []
    for ext, data in alignfiles.files(name, cues, first[FILE_MS]):
        path = f"{ALIGNMENTS_DIR}/{first[rel.split]}/{name}.{ext}"
        store.write_bytes(path, data)
        entries.append(ReleaseFile(path, release_formats.sha256_hex(data), len(data)))
    aligned = AlignedFile(
        name=name,
        split=first[rel.split],
        identifier=first[s.identifier],
        audio_file=first[CATALOG.c.audio_file] or "",
        audio_id=first[a.audio_id],
        license=first[s.license],
        cues=len(cues),
        words=sum(len(c[a.words] or ()) for c in cues),
        files=tuple(entries),
    )
    yield pa.RecordBatch.from_pylist([dataclasses.asdict(aligned)], schema=ALIGNED_SCHEMA)


def run(ctx: StageContext) -> Summary:
    """The registry's entry: release ``[release] name`` of the run root.

    The registry records the run (``_runs/release.json``) with the summary's
    numbers: segments, duration_ms, hours, sources, files, rejected.<reason>.
    """
    summary = build_release(ctx.spark, ctx.root, ctx.config)
    ctx.state["release_url"] = summary.url
    return summary.summary()

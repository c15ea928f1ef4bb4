"""Release: ``segments`` to a published dataset under ``<root>/release/<name>/``.

Reads ``segments`` (and ``catalog`` for attribution, ``rejects`` for the
card); writes the release folder and the ``release`` partition of ``rejects``.

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

The folder holds, for each (subset, split) with segments, shards in each
configured format (see :mod:`galvasr.release_formats`), plus ``README.md``
(the dataset card), ``ATTRIBUTION`` and ``SHA256SUMS``. Shard membership is
a hash of ``segment_id`` and rows are sorted by it, so the same tables and
settings give a byte-identical release; the folder is emptied first.

Scaling: shards are built in Spark executors (``mapInArrow``), one shard in
one Python worker's memory at a time (about three times
``shard_target_bytes``: rows, Parquet and tar); the driver collects only
counts, the list of files with their checksums, and the attribution of the
released sources.
"""

from __future__ import annotations

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

from galvasr import runlog, runroot
from galvasr.config import Config, ReleaseConfig, to_dict
from galvasr.context import StageContext, Summary
from galvasr.ingest.licenses import LICENSES
from galvasr.release import card
from galvasr.release import formats as release_formats
from galvasr.schemas import CATALOG, REJECTS, SEGMENTS
from galvasr.storage import Store, open_store
from galvasr.tables import read_table, write_table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

STAGE = "release"
RELEASE_DIR = "release"
SHARE_ALIKE = "cc-by-sa"
FILES_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
    ]
)


# ------------------------------------------------------- per-segment rules


def split_of(identifier: str, dev_fraction: float, test_fraction: float) -> str:
    """``train``, ``dev`` or ``test`` for a source item, from its identifier alone.

    The first 13 hex digits of the identifier's SHA-256 as a fraction of 2^52:
    below ``test_fraction`` is test, below ``test_fraction + dev_fraction``
    dev, the rest train. :func:`split_column` is the same rule in Spark.
    """
    u = int(hashlib.sha256(identifier.encode()).hexdigest()[:13], 16) / 2**52
    if u < test_fraction:
        return "test"
    if u < test_fraction + dev_fraction:
        return "dev"
    return "train"


def split_column(identifier: Column, dev_fraction: float, test_fraction: float) -> Column:
    from pyspark.sql import functions as F

    u = F.conv(F.substring(F.sha2(identifier, 256), 1, 13), 16, 10).cast("double") / float(2**52)
    return (
        F.when(u < test_fraction, "test")
        .when(u < test_fraction + dev_fraction, "dev")
        .otherwise("train")
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

    def to_json(self) -> str:
        """The one-line summary the CLI and jobs/release.py print."""
        total = self.figures.total
        return json.dumps(
            {
                "url": self.url,
                "segments": total.segments,
                "hours": round(total.hours, 4),
                "sources": total.sources,
                "files": len(self.files),
                "rejected": self.rejected,
            }
        )


def release_url(root: str, name: str) -> str:
    return runroot.join(root, RELEASE_DIR, name)


def build_release(spark: SparkSession, root: str, config: Config | None = None) -> ReleaseSummary:
    """Write release ``config.release.name`` of the run root ``root``; see the module doc."""
    config = config or Config()
    with runlog.timed_stage(root, STAGE) as counts:
        summary = _build(spark, root, config)
        counts.update(
            {f"rejected:{k}": v for k, v in summary.rejected.items()}
            | {
                "segments_released": summary.figures.total.segments,
                "duration_ms_released": summary.figures.total.duration_ms,
                "files": len(summary.files),
            }
        )
    return summary


def _decisions(segments: DataFrame, cfg: ReleaseConfig) -> DataFrame:
    """Per segment: reason/detail (null if released), split, subset; no audio."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    verdict_type = T.StructType(
        [T.StructField(n, T.StringType()) for n in ("reason", "detail", "subset")]
    )
    judge = F.udf(lambda lic, score, cer: verdict(lic, score, cer, cfg), verdict_type)
    c = SEGMENTS.c
    judged = segments.select(
        c.segment_id,
        c.audio_id,
        c.identifier,
        c.license,
        c.duration_ms,
        F.length(c.flac).alias("flac_bytes"),
        judge(c.license, c.score, c.cer).alias("v"),
        (
            F.udf(lambda b: pcm_sha256(b), T.StringType())(c.flac)
            if cfg.drop_duplicate_audio
            else F.lit(None)
        )
        .cast("string")
        .alias("pcm_sha256"),
    ).select("*", "v.*")
    if cfg.drop_duplicate_audio:
        # Among segments that passed rules 1-3, the first of each PCM hash stays.
        kept = F.when(F.col("reason").isNull(), F.col("segment_id"))
        first = F.min(kept).over(Window.partitionBy("pcm_sha256"))
        dup = F.col("reason").isNull() & (first != F.col("segment_id"))
        judged = judged.withColumn("_first", first).select(
            *[col for col in judged.columns if col not in ("reason", "detail")],
            F.when(dup, F.lit("duplicate-audio")).otherwise(F.col("reason")).alias("reason"),
            F.when(dup, F.concat(F.lit("same decoded audio as segment_id "), F.col("_first")))
            .otherwise(F.col("detail"))
            .alias("detail"),
        )
    split = split_column(F.col("identifier"), cfg.dev_fraction, cfg.test_fraction)
    return judged.drop("v").withColumn("split", split)


def _build(spark: SparkSession, root: str, config: Config) -> ReleaseSummary:
    from pyspark.sql import functions as F

    cfg = config.release
    url = release_url(root, cfg.name)
    store = open_store(url)
    store.clear()  # a release is rebuilt whole, never patched

    decisions = _decisions(read_table(spark, root, SEGMENTS), cfg).persist()
    try:
        rejected_rows = decisions.filter(F.col("reason").isNotNull())
        write_table(
            rejected_rows.select(
                F.lit(STAGE).alias("stage"),
                "reason",
                "detail",
                "identifier",
                F.lit(None).cast("string").alias("file_name"),
                "audio_id",
                F.lit(None).cast("int").alias("cue_index"),
                F.lit(None).cast("long").alias("line_number"),
                "segment_id",
            ),
            root,
            REJECTS,
            stage=STAGE,
        )
        rejected = {
            r["reason"]: r["count"] for r in rejected_rows.groupBy("reason").count().collect()
        }
        kept = decisions.filter(F.col("reason").isNull())
        per_source = _per_source(kept)
        figures = _figures(spark, root, config, per_source, rejected)
        files = _write_shards(spark, root, url, cfg, kept, per_source)
        sources = _sources(spark, root, kept)
    finally:
        decisions.unpersist()

    figures = card.ReleaseFigures(**{**figures.__dict__, "files": tuple(p for p, _ in files)})
    extra = {
        "README.md": card.dataset_card(figures, to_dict(config)["release"]).encode(),
        "ATTRIBUTION": card.attribution(cfg.name, sources).encode(),
    }
    for path, data in extra.items():
        store.write_bytes(path, data)
        files.append((path, release_formats.sha256_hex(data)))
    files.sort()
    sums = "".join(f"{sha}  {path}\n" for path, sha in files)
    store.write_bytes("SHA256SUMS", sums.encode())
    return ReleaseSummary(url=url, figures=figures, files=tuple(files), rejected=rejected)


def _cells(rows: list[Any], key: Callable[[Any], Any]) -> dict[Any, card.Cell]:
    """Per-source aggregate rows, summed into one cell per ``key(row)``."""
    groups: dict[Any, list[Any]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    return {
        k: card.Cell(
            segments=sum(int(r["segments"]) for r in g),
            duration_ms=sum(int(r["duration_ms"]) for r in g),
            sources=len({r["identifier"] for r in g}),
        )
        for k, g in groups.items()
    }


def _per_source(kept: DataFrame) -> list[Any]:
    """Segments, milliseconds and FLAC bytes per (split, subset, license, source).

    Few enough rows to collect (at most four per source), and every figure of
    the card and the shard plan is a sum over them: one Spark job for all.
    """
    from pyspark.sql import functions as F

    return (
        kept.groupBy("split", "subset", "license", "identifier")
        .agg(
            F.count(F.lit(1)).alias("segments"),
            F.sum("duration_ms").alias("duration_ms"),
            F.sum("flac_bytes").alias("flac_bytes"),
        )
        .collect()
    )


def _figures(
    spark: SparkSession, root: str, config: Config, per_source: list[Any], rejected: dict[str, int]
) -> card.ReleaseFigures:
    from pyspark.sql import functions as F

    cfg = config.release
    upstream = (
        read_table(spark, root, REJECTS)
        .filter(F.col("stage") != STAGE)
        .groupBy("stage", "reason")
        .count()
        .orderBy("stage", "reason")
        .collect()
    )
    return card.ReleaseFigures(
        name=cfg.name,
        model_version=model_version(root, cfg),
        by_split_subset=_cells(per_source, lambda r: (r["split"], r["subset"])),
        by_split_license=_cells(per_source, lambda r: (r["split"], r["license"])),
        by_split=_cells(per_source, lambda r: r["split"]),
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
        upstream_rejects=tuple((r["stage"], r["reason"], int(r["count"])) for r in upstream),
        settings=to_dict(config),
    )


def model_version(root: str, cfg: ReleaseConfig) -> str:
    """The configured model version, else the only one under ``logits/``, else "unknown"."""
    if cfg.model_version:
        return cfg.model_version
    versions = sorted({p.split("/")[1] for p in open_store(root).list("logits/") if "/" in p})
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

    # Shard k of n holds the k-th n-th of the (split, subset)'s segments in
    # segment_id order: no shard is empty, and every shard's content is fixed.
    plan: dict[str, list[int]] = {}  # "split/subset" -> [segments, FLAC bytes]
    for r in per_source:
        totals = plan.setdefault(f"{r['split']}/{r['subset']}", [0, 0])
        totals[0] += int(r["segments"])
        totals[1] += int(r["flac_bytes"])
    if not plan:
        return []
    sizes = {
        key: (n, min(n, max(1, math.ceil(b / cfg.shard_target_bytes))))
        for key, (n, b) in plan.items()
    }

    def lookup(i: int) -> Column:
        pairs = [x for key, v in sorted(sizes.items()) for x in (F.lit(key), F.lit(v[i]))]
        return F.create_map(*pairs)[F.concat_ws("/", "split", "subset")]

    rank = F.row_number().over(Window.partitionBy("split", "subset").orderBy("segment_id"))
    assigned = kept.select(
        "segment_id",
        "split",
        "subset",
        lookup(0).alias("_count"),
        lookup(1).alias("n_shards"),
        rank.alias("_rank"),
    ).select(
        "segment_id",
        "split",
        "subset",
        "n_shards",
        F.expr("((_rank - 1) * n_shards) div _count").alias("shard"),
    )
    c = SEGMENTS.c
    segments = read_table(spark, root, SEGMENTS)
    rows = (
        segments.join(assigned, c.segment_id)
        .select(
            F.lower(F.lpad(F.hex(c.segment_id), 16, "0")).alias("id"),
            *[col for col in release_formats.COLUMNS if col != "id"],
            c.flac,
            "shard",
            "n_shards",
        )
        .repartition(sum(n for _, n in sizes.values()), "split", "subset", "shard")
        .sortWithinPartitions("split", "subset", "shard", c.segment_id)
    )
    write = _shard_writer(url, cfg.formats, cfg.parquet_row_group_rows)
    files = rows.mapInArrow(write, "path string, sha256 string, size_bytes long").collect()
    return sorted((f["path"], f["sha256"]) for f in files)


def _shard_writer(
    url: str, formats: tuple[str, ...], row_group_rows: int
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        store = open_store(url)
        key: tuple[Any, ...] = ()
        rows: list[dict[str, Any]] = []
        for batch in batches:
            for row in batch.to_pylist():
                row_key = (row["split"], row["subset"], row["shard"], row["n_shards"])
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
        out += [(f"nemo/{subset}/{release_formats.nemo_audio_path(r)}", r["flac"]) for r in rows]
    entries = []
    for path, data in out:
        store.write_bytes(path, data)
        entries.append(
            {"path": path, "sha256": release_formats.sha256_hex(data), "size_bytes": len(data)}
        )
    return pa.RecordBatch.from_pylist(entries, schema=FILES_SCHEMA)


def _sources(spark: SparkSession, root: str, kept: DataFrame) -> list[card.Source]:
    from pyspark.sql import functions as F

    cat = read_table(spark, root, CATALOG)
    c = CATALOG.c
    rows = (
        kept.select("identifier", "audio_id", "license")
        .distinct()
        .join(
            cat.select(c.audio_id, c.title, c.creator, c.source_url, c.license_url),
            "audio_id",
            "left",
        )
        .groupBy("identifier", "license")
        .agg(*[F.min(n).alias(n) for n in ("title", "creator", "source_url", "license_url")])
        .orderBy("identifier", "license")
        .collect()
    )
    return [card.Source(**r.asDict()) for r in rows]


def run(ctx: StageContext) -> Summary:
    """The registry's entry: release ``[release] name`` of the run root."""
    summary = build_release(ctx.spark, ctx.root, ctx.config)
    total = summary.figures.total
    ctx.state["release_url"] = summary.url
    return {
        "url": summary.url,
        "segments": total.segments,
        "hours": round(total.duration_ms / 3_600_000, 4),
        "files": len(summary.files),
        "rejected": dict(summary.rejected),
    }

"""Reading and writing galvasr tables with Spark, under a run root.

Every stage goes through these two functions, so every table on disk has
exactly its declared schema, column order and partitioning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from galvasr import runroot
from galvasr.schemas import MAX_DETAIL_CHARS, REJECTS, Table

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


class SchemaMismatch(ValueError):
    pass


def conform(df: DataFrame, table: Table) -> DataFrame:
    """Select and cast ``df``'s columns into ``table``'s schema, or say what is wrong."""
    from pyspark.sql import functions as F

    have = set(df.columns)
    missing = [c for c in table.columns if c not in have]
    extra = sorted(have - set(table.columns))
    if missing or extra:
        raise SchemaMismatch(f"{table.name}: missing columns {missing}, unexpected {extra}")
    fields = {f.name: f for f in table.spark.fields}
    return df.select(*[F.col(c).cast(fields[c].dataType).alias(c) for c in table.columns])


def write_table(
    df: DataFrame,
    root: str,
    table: Table,
    *,
    model_version: str | None = None,
    stage: str | None = None,
    max_records_per_file: int | None = None,
    options: dict[str, str] | None = None,
) -> None:
    """Overwrite ``table`` under ``root`` with ``df`` (``options``: the writer's, and
    Hadoop settings for this write alone).

    ``rejects`` is shared by every stage: each stage overwrites only its own
    ``stage=<name>`` partition, so re-running one stage never loses another's.
    """
    df = conform(df, table)
    path = runroot.table_path(root, table, model_version)
    if table is REJECTS:
        if not stage:
            raise ValueError("rejects are written per stage")
        path = runroot.join(path, f"stage={stage}")
        df = df.drop(table.c.stage)
        writer = df.write.mode("overwrite")
    else:
        writer = df.write.mode("overwrite")
        if table.partition_by:
            writer = writer.partitionBy(*table.partition_by)
    if max_records_per_file:
        writer = writer.option("maxRecordsPerFile", max_records_per_file)
    for key, value in (options or {}).items():
        writer = writer.option(key, value)
    writer.option("compression", "zstd").parquet(path)


def read_table(
    spark: SparkSession, root: str, table: Table, *, model_version: str | None = None
) -> DataFrame:
    """``table`` from ``root`` with its declared schema (an empty frame if absent)."""
    path = runroot.table_path(root, table, model_version)
    if not _exists(spark, path):
        return spark.createDataFrame([], table.spark)
    df = spark.read.option("basePath", path).schema(table.spark).parquet(path)
    return df.select(*table.columns)


def _exists(spark: SparkSession, path: str) -> bool:
    jvm: Any = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(hadoop_path))


def reject_frame(df: DataFrame, stage: str, /, **columns: str | Column) -> DataFrame:
    """``df``'s rows as reject rows of ``stage``: galvasr.schemas.reject_row for a DataFrame.

    Each keyword is a column of ``rejects`` (``reason`` is required) and gives
    the column of ``df`` (a name or an expression) that fills it; the other
    columns are null, and ``detail`` is cut to MAX_DETAIL_CHARS, as reject_row does.
    """
    from pyspark.sql import functions as F

    r = REJECTS.c
    unknown = sorted(set(columns) - set(REJECTS.columns) | ({r.stage} & set(columns)))
    if unknown:
        raise SchemaMismatch(f"reject_frame: {unknown} are not columns it fills")
    if r.reason not in columns:
        raise SchemaMismatch("reject_frame: a reject needs a reason")
    out = []
    for field in REJECTS.spark.fields:
        if field.name == r.stage:
            value = F.lit(stage)
        elif field.name in columns:
            given = columns[field.name]
            value = F.col(given) if isinstance(given, str) else given
        else:
            value = F.lit(None)
        if field.name == r.detail:
            value = F.substring(value.cast("string"), 1, MAX_DETAIL_CHARS)
        out.append(value.cast(field.dataType).alias(field.name))
    return df.select(*out)

"""Every table of a run root as a Spark SQL view, for ``galvasr sql`` and ``sql/*.sql``.

Views: ``catalog``, ``transcripts``, ``rejects``, ``audio``, ``chunks``,
``logits`` (every model version, told apart by its ``model_version``
column), ``alignments``, ``segments``, and ``release``: the rows of one
release (its Parquet shards, every column but the audio). A table that a run
has not written yet is an empty view with the declared columns, so every
query runs on a partial run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from galvasr import runroot
from galvasr.config import ReleaseConfig
from galvasr.schemas import LOGITS, RELEASE, TABLES
from galvasr.storage import open_store
from galvasr.tables import read_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

VIEWS: tuple[str, ...] = (*TABLES, RELEASE.name)
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def release_names(root: str) -> list[str]:
    """Names of the releases under ``root``, sorted."""
    paths = open_store(root).list(f"{runroot.RELEASE_DIR}/")
    return sorted({p.split("/")[1] for p in paths if p.count("/") >= 2})


def register_views(spark: SparkSession, root: str, release_name: str | None = None) -> str | None:
    """Register every view over ``root``; returns the release that ``release`` shows.

    ``release_name`` None: the only release under the root, or none (an empty
    view); with several, the one named by the default config, else ValueError.
    """
    for name, table in TABLES.items():
        frame = _logits(spark, root) if table is LOGITS else read_table(spark, root, table)
        frame.createOrReplaceTempView(name)
    if release_name is None:
        names = release_names(root)
        default = ReleaseConfig().name
        if len(names) > 1 and default not in names:
            raise ValueError(f"several releases under {root}: {', '.join(names)}; name one")
        release_name = default if len(names) > 1 else (names[0] if names else None)
    _release(spark, root, release_name).createOrReplaceTempView(RELEASE.name)
    return release_name


def _logits(spark: SparkSession, root: str) -> DataFrame:
    versions = runroot.model_versions(open_store(root).list(f"{LOGITS.name}/"))
    frame = spark.createDataFrame([], LOGITS.spark)
    for version in versions:
        frame = frame.unionByName(read_table(spark, root, LOGITS, model_version=version))
    return frame


def _release(spark: SparkSession, root: str, name: str | None) -> DataFrame:
    schema = RELEASE.spark
    if name is None:
        return spark.createDataFrame([], schema)
    parquet = runroot.release_parquet(name)
    if not any(p.endswith(".parquet") for p in open_store(root).list(f"{parquet}/")):
        return spark.createDataFrame([], schema)
    path = runroot.join(root, parquet)
    frame = spark.read.option("recursiveFileLookup", "true").parquet(path)
    return frame.select(*schema.fieldNames())


def read_query(text: str | None = None, file: Path | None = None) -> str:
    """The query of ``text`` or of ``file`` (a path, or a name in ``sql/``), without its ``;``."""
    if (text is None) == (file is None):
        raise ValueError("give a query or a file, not both")
    if file is not None:
        if not file.exists() and (SQL_DIR / file.name).exists():
            file = SQL_DIR / file.name
        text = file.read_text()
    query = (text or "").strip()
    while query.endswith(";"):
        query = query[:-1].rstrip()
    if not query:
        raise ValueError("empty query")
    return query


def run_sql(
    spark: SparkSession, root: str, query: str, release_name: str | None = None
) -> DataFrame:
    """``query`` over the views of ``root``."""
    register_views(spark, root, release_name)
    return spark.sql(query)

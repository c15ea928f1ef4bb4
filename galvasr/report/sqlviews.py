"""Every table of a run root as a SQL view, for ``galvasr sql``, the report and ``sql/*.sql``.

Views: ``catalog``, ``transcripts``, ``rejects``, ``audio``, ``chunks``,
``logits`` (every model version, told apart by its ``model_version``
column), ``alignments``, ``segments``, and ``release``: the rows of one
release (its Parquet shards, every column but the audio). A table that a run
has not written yet is an empty view with the declared columns, so every
query runs on a partial run.

Two engines serve the same views (:func:`open_views`):

- **DuckDB**, in-process, for a run root on this machine (``auto`` picks it):
  each view is ``read_parquet([...], hive_partitioning = true)`` over the
  table's Parquet files, with every column cast to its declared type (a
  column that older files lack is NULL). Files are those Spark reads: any
  path part that starts with ``_`` or ``.`` (Spark's ``_temporary``, infer's
  ``_leases``) is skipped.
- **Spark**, for a ``gs://`` run root (DuckDB would need its httpfs extension
  and HMAC keys for Cloud Storage) or on request: temporary views over
  :func:`galvasr.tables.read_table`.

The queries in ``sql/`` are written in the SQL both engines speak;
``tests/report/test_sql.py`` runs each under both and compares the rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from galvasr import runroot
from galvasr.config import ReleaseConfig
from galvasr.schemas import LOGITS, RELEASE, TABLES, Table
from galvasr.storage import open_store
from galvasr.tables import read_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

VIEWS: tuple[str, ...] = (*TABLES, RELEASE.name)
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
ENGINES: tuple[str, ...] = ("auto", "duckdb", "spark")


class QueryError(ValueError):
    """A query the engine refused (syntax, unknown view or column), with its message."""


@dataclasses.dataclass(frozen=True)
class Result:
    """The rows of a query, and its column names."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Views(Protocol):
    """The views of one run root in one engine."""

    engine: str
    release: str | None  # the release that the ``release`` view shows

    def query(self, text: str, limit: int | None = None) -> Result: ...

    def close(self) -> None: ...


# ------------------------------------------------------------ shared rules


def release_names(root: str) -> list[str]:
    """Names of the releases under ``root``, sorted."""
    paths = open_store(root).list(f"{runroot.RELEASE_DIR}/")
    return sorted({p.split("/")[1] for p in paths if p.count("/") >= 2})


def resolve_release(root: str, release_name: str | None) -> str | None:
    """The release that the ``release`` view shows.

    ``release_name`` None: the only release under the root, or none (an empty
    view); with several, the one named by the default config, else ValueError.
    """
    if release_name is not None:
        return release_name
    names = release_names(root)
    default = ReleaseConfig().name
    if len(names) > 1 and default not in names:
        raise ValueError(f"several releases under {root}: {', '.join(names)}; name one")
    return default if len(names) > 1 else (names[0] if names else None)


def engine_for(root: str, engine: str = "auto") -> str:
    """``duckdb`` or ``spark``: ``auto`` is DuckDB unless the root is on Cloud Storage."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "spark" if root.startswith("gs://") else "duckdb"
    if engine == "duckdb" and root.startswith("gs://"):
        raise ValueError("DuckDB reads local run roots only; use --engine spark for gs://")
    return engine


def open_views(
    root: str,
    release_name: str | None = None,
    *,
    engine: str = "auto",
    spark: SparkSession | None = None,
) -> Views:
    """Every view over ``root`` in ``engine`` (see the module doc); Spark needs ``spark``."""
    if engine_for(root, engine) == "duckdb":
        return DuckViews(root, release_name)
    if spark is None:
        raise ValueError("the Spark engine needs a SparkSession")
    return SparkViews(spark, root, release_name)


def read_query(text: str | None = None, file: Path | None = None) -> str:
    """The query of ``text`` or of ``file`` (a path, or a name in ``sql/`` with or without
    ``.sql``), without its trailing ``;``. ValueError says what is wrong."""
    if (text is None) == (file is None):
        raise ValueError("give a query or a file, not both")
    if file is not None:
        file = _query_file(Path(file))
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read {file}: {e}") from None
    query = (text or "").strip()
    while query.endswith(";"):
        query = query[:-1].rstrip()
    if not query:
        raise ValueError("empty query")
    return query


def query_names() -> list[str]:
    """The queries shipped in ``sql/``, by name."""
    return sorted(p.stem for p in SQL_DIR.glob("*.sql"))


def _query_file(file: Path) -> Path:
    if file.is_file():
        return file
    if file.name == str(file):  # a bare name: look in sql/
        for candidate in (SQL_DIR / file.name, SQL_DIR / f"{file.name}.sql"):
            if candidate.is_file():
                return candidate
    known = ", ".join(query_names()) or "(none)"
    raise ValueError(f"no query file {str(file)!r}: give a path, or a name in sql/: {known}")


# ------------------------------------------------------------------ DuckDB

_DUCK_TYPES: dict[pa.DataType, str] = {
    pa.int64(): "BIGINT",
    pa.int32(): "INTEGER",
    pa.float64(): "DOUBLE",
    pa.float32(): "FLOAT",
    pa.bool_(): "BOOLEAN",
    pa.string(): "VARCHAR",
    pa.binary(): "BLOB",
}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duck_type(arrow_type: pa.DataType) -> str:
    """DuckDB's name of a declared Arrow type (lists of structs included)."""
    if pa.types.is_list(arrow_type):
        return f"{duck_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f"{_ident(f.name)} {duck_type(f.type)}" for f in arrow_type)
        return f"STRUCT({fields})"
    if arrow_type not in _DUCK_TYPES:
        raise TypeError(f"no DuckDB type for Arrow {arrow_type}")
    return _DUCK_TYPES[arrow_type]


def parquet_files(root: str, prefix: str) -> list[str]:
    """The Parquet files under ``<root>/<prefix>`` that Spark would read, as local paths."""
    store = open_store(root)
    found = []
    for path in store.list(f"{prefix}/"):
        parts = path[len(prefix) + 1 :].split("/")
        if path.endswith(".parquet") and not any(p.startswith(("_", ".")) for p in parts):
            found.append(store.url(path))
    return found


def duck_select(
    con: Any, schema: pa.Schema, files: Sequence[str], *, hive_partitioning: bool
) -> str:
    """A SELECT of ``schema``'s columns, cast to their types, over ``files`` (none: no rows)."""
    if not files:
        cols = ", ".join(f"CAST(NULL AS {duck_type(f.type)}) AS {_ident(f.name)}" for f in schema)
        return f"SELECT {cols} LIMIT 0"
    paths = "[" + ", ".join(_literal(f) for f in files) + "]"
    hive = "true" if hive_partitioning else "false"
    source = f"read_parquet({paths}, hive_partitioning = {hive}, union_by_name = true)"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    cols = ", ".join(
        f"CAST({_ident(f.name) if f.name in present else 'NULL'} AS {duck_type(f.type)})"
        f" AS {_ident(f.name)}"
        for f in schema
    )
    return f"SELECT {cols} FROM {source}"


class DuckViews:
    """The views of a local run root in an in-memory DuckDB database."""

    engine = "duckdb"

    def __init__(self, root: str, release_name: str | None = None):
        import duckdb

        self.root = root.removeprefix("file://")
        self.release = resolve_release(self.root, release_name)
        self.con = duckdb.connect(":memory:")
        for name, table in TABLES.items():
            self._view(name, table)
        prefix = runroot.release_parquet(self.release) if self.release else None
        files = parquet_files(self.root, prefix) if prefix else []
        select = duck_select(self.con, RELEASE.arrow, files, hive_partitioning=False)
        self.con.execute(f"CREATE VIEW {_ident(RELEASE.name)} AS {select}")

    def _view(self, name: str, table: Table) -> None:
        # A table's folder is its name (galvasr.runroot.table_path); for logits,
        # that holds every model version, logits/<version>/bucket=N/, and the
        # version is a column of the rows.
        files = parquet_files(self.root, table.name)
        hive = bool(table.partition_by)
        select = duck_select(self.con, table.arrow, files, hive_partitioning=hive)
        self.con.execute(f"CREATE VIEW {_ident(name)} AS {select}")

    def query(self, text: str, limit: int | None = None) -> Result:
        import duckdb

        try:
            cursor = self.con.execute(text)
            columns = tuple(d[0] for d in cursor.description or ())
            rows = cursor.fetchall() if limit is None else cursor.fetchmany(limit)
        except duckdb.Error as e:
            raise QueryError(str(e)) from None
        return Result(columns, tuple(tuple(r) for r in rows))

    def close(self) -> None:
        self.con.close()


# ------------------------------------------------------------------- Spark


def register_views(spark: SparkSession, root: str, release_name: str | None = None) -> str | None:
    """Register every view over ``root`` in ``spark``; returns the release that ``release``
    shows (see :func:`resolve_release`)."""
    for name, table in TABLES.items():
        frame = _logits(spark, root) if table is LOGITS else read_table(spark, root, table)
        frame.createOrReplaceTempView(name)
    release_name = resolve_release(root, release_name)
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


def run_sql(
    spark: SparkSession, root: str, query: str, release_name: str | None = None
) -> DataFrame:
    """``query`` over the Spark views of ``root``."""
    register_views(spark, root, release_name)
    return spark.sql(query)


class SparkViews:
    """The views of a run root as temporary views of a SparkSession."""

    engine = "spark"

    def __init__(self, spark: SparkSession, root: str, release_name: str | None = None):
        self.spark = spark
        self.release = register_views(spark, root, release_name)

    def query(self, text: str, limit: int | None = None) -> Result:
        from pyspark.errors import PySparkException

        try:
            frame = self.spark.sql(text)
            rows = (frame if limit is None else frame.limit(limit)).collect()
        except PySparkException as e:
            raise QueryError(str(e)) from None
        return Result(tuple(frame.columns), tuple(tuple(r) for r in rows))

    def close(self) -> None:
        pass

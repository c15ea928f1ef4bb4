"""How many partitions align's join gets: a task's share must not grow with the corpus."""

from __future__ import annotations

import math
from pathlib import Path

from galvasr import runroot
from galvasr.align import stage
from galvasr.align.stage import join_partitions
from galvasr.schemas import CHUNKS, LOGITS
from galvasr.tables import read_table

VERSION = "m-0000000a"


def _write(path: str, name: str, size: int) -> None:
    # read_table gives Spark the schema, so planning never opens these files.
    (Path(path) / name).parent.mkdir(parents=True, exist_ok=True)
    (Path(path) / name).write_bytes(b"\0" * size)


def _tables(spark, root: str):
    return read_table(spark, root, CHUNKS), read_table(spark, root, LOGITS, model_version=VERSION)


def test_a_set_count_is_kept(spark, tmp_path):
    assert join_partitions(spark, 3, *_tables(spark, str(tmp_path))) == 3


def test_a_small_or_empty_run_gets_the_shuffle_partitions(spark, tmp_path):
    floor = int(spark.conf.get("spark.sql.shuffle.partitions"))
    root = str(tmp_path)
    assert join_partitions(spark, 0, *_tables(spark, root)) == floor
    _write(runroot.table_path(root, CHUNKS), "bucket=1/part-0.parquet", 1000)
    assert join_partitions(spark, 0, *_tables(spark, root)) == floor


def test_partitions_follow_the_stored_chunks_and_logits(spark, tmp_path, monkeypatch):
    monkeypatch.setattr(stage, "PARTITION_TARGET_BYTES", 100)
    root = str(tmp_path)
    _write(runroot.table_path(root, CHUNKS), "bucket=1/part-0.parquet", 2500)
    _write(runroot.table_path(root, CHUNKS), "bucket=2/part-0.parquet", 1000)
    logits = runroot.table_path(root, LOGITS, VERSION)
    _write(logits, "bucket=1/part-0.parquet", 450)
    # Not data: leases and worker records (their number differs in a resumed run).
    _write(logits, "_leases/0001.json", 5000)
    _write(logits, "_workers/w.json", 5000)
    _write(runroot.table_path(root, LOGITS, "other-1234abcd"), "bucket=1/p.parquet", 9000)
    floor = int(spark.conf.get("spark.sql.shuffle.partitions"))
    expected = max(floor, math.ceil((2500 + 1000 + 450) / 100))
    assert expected > floor
    assert join_partitions(spark, 0, *_tables(spark, root)) == expected

"""One place that builds SparkSessions with galvasr's memory rules."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Rows of `chunks` carry ~1 MB of PCM each; a few hundred per Arrow batch keeps
# every batch between the JVM and Python workers far below the 2 GB limit.
ARROW_MAX_RECORDS_PER_BATCH = 256


def get_spark(app_name: str = "galvasr", master: str | None = None) -> SparkSession:
    """The active session, or a new one configured for galvasr.

    Under spark-submit the master and resources come from the submit command;
    run directly (tests, `galvasr run`), it is local mode on every core.
    """
    from pyspark.sql import SparkSession

    # Workers must run the same interpreter (and so see the same packages).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Not under spark-submit (which starts the JVM first and says so in
        # this variable), so nobody chose a master: default to local mode.
        builder = builder.master(os.environ.get("GALVASR_SPARK_MASTER", "local[*]"))
    return (
        builder.config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_MAX_RECORDS_PER_BATCH))
        .config("spark.sql.session.timeZone", "UTC")
        # Rows of chunks and segments hold ~1 MB of audio: Spark's default of
        # 4096 rows per columnar batch made a 10 h run fail in release
        # (benchmarks/results/e2e_scale_default_10h.json); 64 rows is ~64 MB.
        .config("spark.sql.parquet.columnarReaderBatchSize", "64")
        .config("spark.sql.shuffle.partitions", os.environ.get("GALVASR_SHUFFLE_PARTITIONS", "8"))
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )

"""One place that builds SparkSessions with galvasr's memory rules."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from galvasr import jvm_cds

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Rows of `chunks` carry ~1 MB of PCM each; a few hundred per Arrow batch keeps
# every batch between the JVM and Python workers far below the 2 GB limit.
ARROW_MAX_RECORDS_PER_BATCH = 256
LOG4J2_PROPERTIES = Path(__file__).with_name("log4j2.properties")
DRIVER_MEMORY = "1g"  # heap of the JVM galvasr starts; GALVASR_DRIVER_MEMORY replaces it
# The JVM that galvasr starts (local mode) runs many short Spark jobs, most
# code once: compiling hot methods with C2 cost more CPU than it saved. With
# C1 only, the JVM's CPU fell from 14 to 7 s to start and from 21-25 to 11-12 s
# in the sample corpus's ingest (2 cores, load ~10; issue 20). A long local
# run may want C2 back: GALVASR_JVM_OPTIONS replaces these (empty: none).
LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"
_verbose = False


def set_verbose(verbose: bool) -> None:
    """``--verbose``: show Spark's WARN lines and JAX's fork warning; else errors only.

    Quiet (the default) means: a JVM that galvasr starts reads
    ``galvasr/log4j2.properties`` (ERROR, none of Spark's start-up lines), a
    session's log level is ERROR, and JAX's ``os.fork()`` RuntimeWarning is
    filtered (PySpark forks its workers' daemon while JAX's threads run; JAX
    warns at every fork).
    """
    global _verbose
    _verbose = verbose
    if not verbose:
        warnings.filterwarnings(
            "ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning
        )


def log_level() -> str:
    """The log level galvasr gives a SparkSession: WARN with ``--verbose``, else ERROR."""
    return "WARN" if _verbose else "ERROR"


def local_jvm_options() -> list[str]:
    """The options of a JVM that galvasr starts itself (local mode).

    ``GALVASR_JVM_OPTIONS`` (else ``LOCAL_JVM_OPTIONS``), the log4j2 file
    unless verbose, and the class data sharing archive if setup built it
    (``galvasr.jvm_cds``: Spark's classes pre-parsed; a JVM that cannot use
    it starts without it).
    """
    java_options = os.environ.get("GALVASR_JVM_OPTIONS", LOCAL_JVM_OPTIONS).split()
    if not _verbose:  # its start-up lines obey this file
        java_options.append(f"-Dlog4j2.configurationFile={LOG4J2_PROPERTIES.as_uri()}")
    return java_options + jvm_cds.java_options(java_options)


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
    # Not under spark-submit (which starts the JVM first and says so in this
    # variable): the driver's JVM starts here, with the options below.
    starts_jvm = "PYSPARK_GATEWAY_PORT" not in os.environ
    if master is not None:
        builder = builder.master(master)
    elif starts_jvm:
        # Nobody chose a master: default to local mode.
        builder = builder.master(os.environ.get("GALVASR_SPARK_MASTER", "local[*]"))
    if starts_jvm:
        builder = builder.config("spark.driver.extraJavaOptions", " ".join(local_jvm_options()))
        # No web UI: it starts a Jetty server per session; progress lines and the
        # run records read the status tracker, which works without it.
        builder = builder.config("spark.ui.enabled", "false")
        # A fixed heap (Spark's default, made explicit) bounds the local JVM:
        # its RSS grows lazily toward heap + ~0.6 GB off-heap as a run's data
        # grows, and no further (NMT, issue 20: docs/COST.md "Memory").
        memory = os.environ.get("GALVASR_DRIVER_MEMORY", DRIVER_MEMORY)
        builder = builder.config("spark.driver.memory", memory)
    spark = (
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
    spark.sparkContext.setLogLevel(log_level())
    return spark


def job_ids() -> frozenset[int]:
    """The ids of the jobs the active SparkContext knows (none if Spark is not running).

    ``galvasr.registry.run_stage`` counts a stage's Spark jobs as the ids that
    appear while it runs (the driver keeps the last ``spark.ui.retainedJobs``,
    1000 by default). Never starts Spark.
    """
    if "pyspark" not in sys.modules:
        return frozenset()
    from pyspark import SparkContext

    sc = SparkContext._active_spark_context
    if sc is None:
        return frozenset()
    return frozenset(sc.statusTracker().getJobIdsForGroup(None))

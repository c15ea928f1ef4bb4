"""The Spark progress line: counts from the real status tracker, and silence off a terminal."""

from __future__ import annotations

import io
import re
import threading
import time

from rich.console import Console

from galvasr import sparkprogress


def _slow_job(spark, partitions: int) -> int:
    def slow(rows):
        time.sleep(0.4)
        yield sum(1 for _ in rows)

    rdd = spark.sparkContext.parallelize(range(partitions * 10), partitions)
    return sum(rdd.mapPartitions(slow).collect())


def test_a_terminal_gets_task_counts_of_the_running_stage(spark):
    spark.sparkContext.parallelize(range(4), 2).count()  # a job before: not this block's
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    with sparkprogress.spark_progress(console, "demo", interval_s=0.1) as shown:
        assert _slow_job(spark, 8) == 80
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    lines = text.splitlines()
    assert shown and lines, text
    assert all(re.match(r"demo: Spark jobs \d+/[1-9]", line) for line in lines), lines
    pattern = re.compile(r"demo: Spark jobs (\d+)/1; stage \d+: (\d+)/8 tasks \((\d+) running\)$")
    counts = [m.groups() for m in map(pattern.match, lines) if m]
    assert counts, lines
    for done_jobs, done_tasks, running in counts:
        assert done_jobs == "0" and int(done_tasks) + int(running) <= 8
    assert len(set(counts)) == len(counts)  # a line only when something changed
    assert not [t for t in threading.enumerate() if t.name == "galvasr-progress-demo"]


def test_off_without_a_terminal_or_when_asked(spark):
    for console, enabled in (
        (Console(file=io.StringIO()), True),  # a pipe, a log file, pytest's capture
        (Console(file=io.StringIO(), force_terminal=True), False),  # --no-progress
    ):
        with sparkprogress.spark_progress(console, "quiet", enabled, interval_s=0.05) as shown:
            assert not shown
            assert not [t for t in threading.enumerate() if t.name == "galvasr-progress-quiet"]
            _slow_job(spark, 2)
        assert console.file.getvalue() == ""  # type: ignore[attr-defined]


def test_describe():
    snap = sparkprogress.Snapshot(3, 4, (sparkprogress.StageTasks(7, 5, 2, 8),))
    line = sparkprogress.describe("align", snap)
    assert line == "align: Spark jobs 3/4; stage 7: 5/8 tasks (2 running)"

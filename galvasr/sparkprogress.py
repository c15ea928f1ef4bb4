"""A progress line for a stage while it runs Spark jobs, on a terminal.

A daemon thread polls the active SparkContext's status tracker (jobs that
appeared since the stage began, and per active Spark stage its completed,
running and total tasks) and prints one line when that changed, at most
every ``interval_s``. It prints lines rather than drawing a live bar, so a
stage may draw its own (infer's) at the same time. Off when the console is
no terminal (a pipe, a log file, pytest) or the caller says so
(``--no-progress``). It never starts Spark.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console

INTERVAL_S = 3.0


@dataclass(frozen=True)
class StageTasks:
    stage_id: int
    completed: int
    active: int
    total: int


@dataclass(frozen=True)
class Snapshot:
    jobs_done: int
    jobs: int
    stages: tuple[StageTasks, ...]


def _active_context() -> Any:
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext

    return SparkContext._active_spark_context


def job_ids(sc: Any) -> set[int]:
    return set(sc.statusTracker().getJobIdsForGroup(None))


def snapshot(sc: Any, before: set[int]) -> Snapshot:
    """What ``sc`` is doing: its jobs not in ``before``, and its active stages' tasks."""
    tracker = sc.statusTracker()
    jobs = [j for j in tracker.getJobIdsForGroup(None) if j not in before]
    done = 0
    for job in jobs:
        info = tracker.getJobInfo(job)
        done += info is not None and info.status == "SUCCEEDED"
    stages = []
    for stage_id in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            stages.append(
                StageTasks(stage_id, info.numCompletedTasks, info.numActiveTasks, info.numTasks)
            )
    return Snapshot(done, len(jobs), tuple(stages))


def describe(label: str, snap: Snapshot) -> str:
    """One line: ``align: Spark jobs 3/4; stage 7: 5/8 tasks (2 running)``."""
    parts = [f"{label}: Spark jobs {snap.jobs_done}/{snap.jobs}"]
    parts += [
        f"stage {s.stage_id}: {s.completed}/{s.total} tasks ({s.active} running)"
        for s in snap.stages
    ]
    return "; ".join(parts)


def _watch(
    console: Console, label: str, before: set[int], stop: threading.Event, interval_s: float
) -> None:
    from py4j.protocol import Py4JError

    last = ""
    while not stop.wait(interval_s):
        sc = _active_context()
        if sc is None:  # the stage has not started Spark (yet)
            continue
        try:
            snap = snapshot(sc, before)
        except (Py4JError, AttributeError):
            # The context stopped between two polls (its gateway or _jsc gone):
            # there is nothing to show, and the stage itself will report why.
            continue
        if not snap.jobs:  # the stage has run no Spark job (yet)
            continue
        line = describe(label, snap)
        if line != last:
            console.print(line, style="dim", markup=False, highlight=False)
            last = line


@contextmanager
def spark_progress(
    console: Console, label: str, enabled: bool = True, interval_s: float = INTERVAL_S
) -> Iterator[bool]:
    """Progress lines for the Spark jobs run inside the block; yields whether they are on."""
    if not enabled or not console.is_terminal:
        yield False
        return
    stop = threading.Event()
    sc = _active_context()
    # Jobs of a context that ran before the stage are not the stage's; a
    # context the stage starts has none before.
    before = set() if sc is None else job_ids(sc)
    watcher = threading.Thread(
        target=_watch,
        args=(console, label, before, stop, interval_s),
        name=f"galvasr-progress-{label}",
        daemon=True,
    )
    watcher.start()
    try:
        yield True
    finally:
        stop.set()
        watcher.join(timeout=interval_s + 5)

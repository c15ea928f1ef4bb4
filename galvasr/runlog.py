"""What each stage did last, and how long it took: ``<root>/_runs/<stage>.json``.

One small JSON file per stage, overwritten when the stage runs again, so the
log always describes the tables that are on disk. One file per stage rather
than an appended log because GCS cannot append, and because two stages run by
different hosts must not race on one file. Spark ignores ``_``-prefixed
directories, so the log never shows up as a table.

A record is ``{"stage", "started", "seconds", "counts", "galvasr_version"}``:
``started`` is an ISO 8601 UTC time, ``counts`` whatever the stage counted
(rows written, rows rejected by reason...). :mod:`galvasr.report` shows them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from galvasr import __version__
from galvasr.runroot import RUNS_DIR, run_record
from galvasr.storage import check_path, open_store


@dataclass(frozen=True)
class StageRecord:
    stage: str
    started: str  # ISO 8601, UTC
    seconds: float
    counts: Mapping[str, int | float] = field(default_factory=dict)
    galvasr_version: str = __version__


def record_stage(
    root: str,
    stage: str,
    seconds: float,
    counts: Mapping[str, int | float] | None = None,
    *,
    started: datetime | None = None,
) -> StageRecord:
    """Write (or replace) ``stage``'s record under ``root`` and return it."""
    check_path(stage)
    if "/" in stage:
        raise ValueError(f"bad stage name {stage!r}")
    if started is None:
        started = datetime.fromtimestamp(time.time() - seconds, UTC)
    record = StageRecord(
        stage=stage,
        started=started.astimezone(UTC).isoformat(timespec="milliseconds"),
        seconds=round(float(seconds), 3),
        counts=dict(sorted((counts or {}).items())),
    )
    data = json.dumps(record.__dict__, sort_keys=True) + "\n"
    open_store(root).write_bytes(run_record(stage), data.encode())
    return record


@contextmanager
def timed_stage(root: str, stage: str) -> Iterator[dict[str, int | float]]:
    """Time the body and record it; the body fills the yielded dict with counts.

    Nothing is recorded when the body raises: the log describes finished stages.
    """
    counts: dict[str, int | float] = {}
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    yield counts
    record_stage(root, stage, time.perf_counter() - t0, counts, started=started)


def read_stages(root: str) -> list[StageRecord]:
    """Every stage's record under ``root``, in the order the stages started."""
    store = open_store(root)
    records = []
    for path in store.list(f"{RUNS_DIR}/"):
        if not path.endswith(".json"):
            continue
        raw: dict[str, Any] = json.loads(store.read_bytes(path))
        records.append(
            StageRecord(
                stage=str(raw["stage"]),
                started=str(raw["started"]),
                seconds=float(raw["seconds"]),
                counts=dict(raw.get("counts") or {}),
                galvasr_version=str(raw.get("galvasr_version", "")),
            )
        )
    return sorted(records, key=lambda r: (r.started, r.stage))

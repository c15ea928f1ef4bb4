"""Failures the accelerator stage's tests inject, and a worker entry that takes them.

    GALVASR_INFER_FAULTS='{"sleep_in_shard": "part-", ...}' python -m tests.infer_faults --root R

runs one worker exactly as ``python -m accel.infer`` does (same flags, from the
stage registry), with these faults hooked into the engine (galvasr.infer.engine.Hooks).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from galvasr.infer.leases import LeaseKeeper
from galvasr.infer.shards import DeviceOutOfMemory
from galvasr.infer.stage import run
from galvasr.registry import exit_code, job_parser, make_context, stage


@dataclass(frozen=True)
class Faults:
    """Failures tests inject, from ``$GALVASR_INFER_FAULTS`` (JSON with these keys).

    ``oom_above_rows``: every batch of more rows raises RESOURCE_EXHAUSTED, as
    a device out of memory would (0: none, -1: every batch).
    ``sleep_in_shard``: after the first batch of a shard whose key contains
    this, touch ``marker`` and sleep ``sleep_s`` while holding its lease (a
    test kills the worker there).
    """

    oom_above_rows: int = 0
    sleep_in_shard: str = ""
    sleep_s: float = 0.0
    marker: str = ""

    @classmethod
    def from_env(cls) -> Faults:
        raw = os.environ.get(FAULTS_ENV, "")
        return cls(**json.loads(raw)) if raw else cls()

    def check_batch(self, rows: int) -> None:
        if self.oom_above_rows and (self.oom_above_rows < 0 or rows > self.oom_above_rows):
            raise DeviceOutOfMemory(rows, "injected by a test")

    def after_batch(self, shard_key: str, keeper: LeaseKeeper) -> None:
        if self.sleep_in_shard and self.sleep_in_shard in shard_key:
            # Only while surely holding the lease (renewed just now): on a
            # loaded machine a late renewal can lose it before this point.
            keeper.renew_now()
            if shard_key not in keeper.held():
                return
            if self.marker:  # atomically, so the test never reads it half-written
                Path(self.marker + ".tmp").write_text(shard_key)
                os.replace(self.marker + ".tmp", self.marker)
            time.sleep(self.sleep_s)


FAULTS_ENV = "GALVASR_INFER_FAULTS"


def main(argv: list[str] | None = None) -> int:
    spec = stage("infer")
    args = job_parser(spec, prog="python -m tests.infer_faults").parse_args(argv)
    ctx = make_context(
        spec,
        root=args.root,
        corpus=None,
        config_file=args.config,
        sets=args.sets,
        model=args.model,
        options={opt.key: getattr(args, opt.key) for opt in spec.options},
    )
    summary = run(ctx, hooks=Faults.from_env())
    print(json.dumps(summary))
    return exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())

"""``galvasr run``'s ingest stage: galvasr.ingest.run_ingest with the run's settings."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from galvasr.pipeline import RunContext


def run(ctx: RunContext) -> dict[str, Any]:
    from galvasr.ingest import run_ingest

    summary = run_ingest(ctx.spark, ctx.corpus, ctx.root, ctx.config.ingest)
    return dataclasses.asdict(summary)

"""``galvasr run``'s decode stage: galvasr.decode.run_decode with the run's settings."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from galvasr.pipeline import RunContext


def run(ctx: RunContext) -> dict[str, Any]:
    from galvasr.decode import run_decode

    summary = run_decode(
        ctx.spark, ctx.corpus, ctx.root, ctx.config.decode, items_dir=ctx.config.ingest.items_dir
    )
    return dataclasses.asdict(summary)

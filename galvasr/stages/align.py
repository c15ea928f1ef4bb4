"""``galvasr run``'s align stage: galvasr.align_stage.run_align with the run's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from galvasr.pipeline import RunContext


def run(ctx: RunContext) -> dict[str, Any]:
    from galvasr.align_stage import load_contract, run_align

    contract = load_contract(ctx.model or ctx.config.infer.model or None, None)
    summary = run_align(ctx.spark, ctx.root, contract, ctx.config.align)
    return summary.to_dict()

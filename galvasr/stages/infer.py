"""``galvasr run``'s infer stage: one accelerator worker in this process.

On a cluster the same work is shared by any number of hosts running
``galvasr infer --root gs://...``; here one worker takes every shard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from galvasr.pipeline import RunContext


def run(ctx: RunContext) -> dict[str, Any]:
    from tpu.infer import run_infer

    summary = run_infer(
        ctx.root, ctx.model or None, ctx.config.infer, worker_id="galvasr-run", console=ctx.console
    )
    ctx.state["model_version"] = summary.get("model_version")
    return dict(summary)

"""``galvasr run``'s last stage: the HTML report of the run (galvasr.report)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from galvasr.pipeline import RunContext


def run(ctx: RunContext) -> dict[str, Any]:
    from galvasr.report import write_report

    url = write_report(ctx.spark, ctx.root, release_name=ctx.config.release.name)
    ctx.state["report_url"] = url
    return {"url": url}

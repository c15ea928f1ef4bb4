"""``galvasr run``'s release stage: galvasr.release.build_release with the run's settings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from galvasr.pipeline import RunContext


def run(ctx: RunContext) -> dict[str, Any]:
    from galvasr.release import build_release

    summary = build_release(ctx.spark, ctx.root, ctx.config)
    total = summary.figures.total
    ctx.state["release_url"] = summary.url
    return {
        "url": summary.url,
        "segments": total.segments,
        "hours": round(total.duration_ms / 3_600_000, 4),
        "files": len(summary.files),
        "rejected": dict(summary.rejected),
    }

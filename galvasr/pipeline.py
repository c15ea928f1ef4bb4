"""``galvasr run``: every stage in order, as far as the pipeline has been built."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

STAGES: tuple[str, ...] = ("ingest", "decode", "infer", "align", "release", "report")
"""The stages of a full run, in order."""

BUILT: tuple[str, ...] = ()
"""Stages that exist so far; `run` stops after the last of them and says so."""


def run_pipeline(corpus: Path, root: Path, console: Console) -> None:
    catalog = corpus / "catalog.jsonl"
    if not catalog.exists():
        raise SystemExit(f"no catalog at {catalog}: run `galvasr sample-corpus {corpus}` first")
    console.print(f"[bold]galvasr run[/bold]: corpus {corpus}, run root {root}")
    for stage in STAGES:
        if stage not in BUILT:
            missing = ", ".join(s for s in STAGES if s not in BUILT)
            console.print(
                f"[yellow]stopping before '{stage}': not built yet.[/yellow] "
                f"Stages still missing: {missing}."
            )
            return

"""``galvasr run``: every stage in order, skipping what is already done.

A stage is done when ``<root>/_pipeline/<stage>.done.json`` exists and holds the
same fingerprint as now. The fingerprint hashes the stage's config section,
the galvasr version, the fingerprint of the stage before it, for infer the
bytes of the model's files, and for the first stage the corpus (catalog
bytes and the names and sizes of the item files). So changing one setting
(or retraining the model) re-runs that stage and everything after it, and
a stage killed half-way (no marker) runs again from scratch; every stage
overwrites its outputs whole, so a re-run never mixes old and new rows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from galvasr import __version__, registry, runroot
from galvasr.config import Config, to_dict, to_toml
from galvasr.context import StageContext, Summary
from galvasr.corpus_files import corpus_fingerprint
from galvasr.schemas import LOGITS
from galvasr.storage import open_store

# Every file a model's outputs depend on, for either kind of checkpoint.
MODEL_FILES = (
    "model.json",
    "weights.msgpack",
    "config.json",
    "model.safetensors",
    "vocab.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
)


def model_identity(model: str) -> str:
    """What the infer stage's output depends on in the model: its files' bytes.

    The model is named by a path (``--model``, else ``infer.model``, else the
    committed one), and the files at that path change when a model is
    retrained: a path alone would let a run skip inference and then find no
    logits of the new model version.
    """
    folder = Path(model)
    h = hashlib.sha256(str(folder).encode())
    for name in MODEL_FILES:
        path = folder / name
        if path.is_file():
            h.update(f"\0{name}\0".encode())
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def stage_fingerprint(stage: str, config: Config, previous: str, model: str) -> str:
    section = to_dict(config).get(stage, {})
    payload = {"stage": stage, "config": section, "previous": previous, "galvasr": __version__}
    if stage == "infer":
        payload["model"] = model_identity(model)
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def run_pipeline(
    corpus: str | Path,
    root: str | Path,
    console: Console,
    config: Config | None = None,
    force: str | None = None,
    model: str | None = None,
    stop_after: str | None = None,
    progress: bool = True,
) -> dict[str, Summary]:
    """Run every stage in order; returns each stage's summary."""
    config = config or Config()
    if force is not None and force not in registry.NAMES:
        raise SystemExit(f"--force: no stage {force!r}; stages are {', '.join(registry.NAMES)}")
    corpus_store = open_store(str(corpus))
    if not corpus_store.exists("catalog.jsonl") and not corpus_store.exists("catalog.jsonl.gz"):
        raise SystemExit(f"no catalog.jsonl in {corpus}")
    model_path = registry.resolve_model(model, config)
    registry.check_model(model_path)  # before any stage: a broken model fails in seconds
    ctx = StageContext(
        root=str(root),
        config=config,
        corpus=str(corpus),
        model=model_path,
        console=console,
        app_name="galvasr-run",
        progress=progress,
    )
    store = open_store(ctx.root)

    # What this run was asked to do; the model version lands in infer's marker.
    store.write_bytes(runroot.PIPELINE_CONFIG, to_toml(config).encode())
    console.print(f"[bold]galvasr run[/bold]: corpus {ctx.corpus} -> run root {ctx.root}")
    previous = corpus_fingerprint(str(corpus))
    forced = False
    summaries: dict[str, Summary] = {}
    alongside: InferAlongside | None = None
    for spec in registry.STAGES:
        stage = spec.name
        fingerprint = stage_fingerprint(stage, config, previous, model_path)
        marker = runroot.pipeline_marker(stage)
        forced = forced or stage == force
        if not forced and store.exists(marker):
            done = json.loads(store.read_bytes(marker))
            if done.get("fingerprint") == fingerprint:
                console.print(f"[dim]{stage}: up to date, skipped[/dim]")
                summaries[stage] = {**done.get("summary", {}), "skipped": True}
                ctx.state.update(done.get("state", {}))
                previous = fingerprint
                if stage == stop_after:
                    break
                continue
        # A stage that runs again invalidates every stage after it, whatever
        # their fingerprints (a killed re-run of decode renames every shard).
        for later in registry.NAMES[registry.NAMES.index(stage) :]:
            store.delete(runroot.pipeline_marker(later), missing_ok=True)
        if stage == "decode":
            # New chunks are new shards: logits of the old ones must not stay.
            store.clear(runroot.CHUNKS_PREFIX)
            store.clear(f"{LOGITS.name}/")
        if stage == "infer" and alongside is not None:
            summary = alongside.result()  # started with decode, finishes its shards now
            alongside = None
        else:
            console.print(f"[bold cyan]{stage}[/bold cyan] ...")
            if stage == "decode" and stop_after != "decode":
                alongside = InferAlongside.start(ctx) if config.infer.overlap_decode else None
            try:
                summary = registry.run_stage(spec, ctx)
            finally:
                if alongside is not None:
                    alongside.producer_done()  # decode finished (or failed)
        summaries[stage] = summary
        store.write_bytes(
            marker,
            json.dumps(
                {"fingerprint": fingerprint, "summary": summary, "state": ctx.state},
                indent=2,
                sort_keys=True,
                default=str,
            ).encode(),
        )
        console.print(f"{stage}: done in {summary['seconds']:.1f} s")
        previous = fingerprint
        if stage == stop_after:
            break
    if "release" in summaries:
        print_summary(ctx, summaries)
    return summaries


class InferAlongside:
    """The infer stage in a thread while decode runs (``infer.overlap_decode = true``).

    Decode commits each task's chunk shards as the task ends; the worker takes
    them as they appear and keeps listing until decode is over: Spark's
    ``chunks/_SUCCESS`` (or decode returned or raised, :meth:`producer_done`).
    Exactly once as ever: each shard's output is committed create-if-absent.
    The thread computes with JAX while Spark's tasks decode: on a small
    machine they share its cores, on a larger one the device idles less.
    """

    def __init__(self, ctx: StageContext):
        from galvasr.infer.stage import decode_finished

        self._done = threading.Event()
        finished = decode_finished(ctx.root)
        options = {**ctx.options, "follow": lambda: self._done.is_set() or finished()}
        options["progress"] = False  # decode's progress owns the terminal
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="infer-alongside")
        spec = registry.stage("infer")
        ctx.console.print("[bold cyan]infer[/bold cyan] ... (alongside decode)")
        self._future = self._pool.submit(
            registry.run_stage, spec, dataclasses.replace(ctx, options=options)
        )

    @classmethod
    def start(cls, ctx: StageContext) -> InferAlongside:
        return cls(ctx)

    def producer_done(self) -> None:
        self._done.set()

    def result(self) -> Summary:
        try:
            return self._future.result()
        finally:
            self._pool.shutdown()


def print_summary(ctx: StageContext, summaries: dict[str, Summary]) -> None:
    """Input and released hours, rejects by reason, time per stage, where things are."""
    from rich.table import Table as RichTable

    from galvasr.schemas import REJECTS
    from galvasr.tables import read_table

    console = ctx.console
    decoded_ms = summaries.get("decode", {}).get("audio_ms", 0)
    release = summaries.get("release", {})
    console.print(
        f"\n[bold]input[/bold]: {decoded_ms / 3_600_000:.3f} h decoded; "
        f"[bold]released[/bold]: {release.get('hours', 0):.3f} h in "
        f"{release.get('segments', 0)} segments"
    )
    r = REJECTS.c
    rejects = (
        read_table(ctx.spark, ctx.root, REJECTS)
        .groupBy(r.stage, r.reason)
        .count()
        .orderBy(r.stage, r.reason)
        .collect()
    )
    table = RichTable("stage", "reason", "rows", title="rejects")
    for row in rejects:
        table.add_row(row[r.stage], row[r.reason], str(row["count"]))
    console.print(table)
    times = RichTable("stage", "seconds", title="time per stage")
    for stage, summary in summaries.items():
        note = " (skipped: up to date)" if summary.get("skipped") else ""
        times.add_row(stage, f"{summary.get('seconds', 0):.1f}{note}")
    console.print(times)
    for key, label in (("release_url", "release"), ("report_url", "report")):
        if key in ctx.state:
            console.print(f"[bold]{label}[/bold]: {ctx.state[key]}")

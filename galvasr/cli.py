"""The ``galvasr`` command: a thin layer over library functions.

Each stage's subcommand lives here as a few lines that parse flags and call
into the library; the logic stays in the modules it belongs to.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from galvasr import __version__

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from galvasr.config import Config

app = typer.Typer(
    help="Build speech recognition training sets from public audio with subtitles.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = REPO_ROOT / "data" / "sample"

# The options every stage command shares.
CorpusOption = Annotated[str, typer.Option(help="Corpus root: a folder or gs://bucket/prefix.")]
RootOption = Annotated[str, typer.Option(help="Run root: a folder or gs://bucket/prefix.")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config; unset keys keep defaults.")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override one setting: SECTION.KEY=VALUE (TOML value)."),
]


@app.command()
def version() -> None:
    """Print the galvasr version."""
    print(__version__)


@app.command()
def run(
    root: RootOption = "runs/sample",
    corpus: CorpusOption = str(SAMPLE_CORPUS),
    config: ConfigOption = None,
    force: Annotated[
        str | None, typer.Option(help="Re-run this stage and every stage after it.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="Acoustic model checkpoint folder (default: the bundled one)."),
    ] = None,
    set_: SetOption = None,
) -> None:
    """Run every stage in order on embedded defaults: the bundled sample corpus,
    local Spark, a local run root and the CPU. Stages already done for the same
    inputs and config are skipped."""
    from galvasr.config import load_config, parse_overrides
    from galvasr.pipeline import run_pipeline

    cfg = load_config(config, parse_overrides(set_ or []))
    run_pipeline(corpus=corpus, root=root, console=console, config=cfg, force=force, model=model)


@app.command("config")
def show_config(
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Print every setting of a run as TOML: the defaults, or a config file merged over them."""
    from galvasr.config import load_config, parse_overrides, to_toml

    print(to_toml(load_config(config, parse_overrides(set_ or []))), end="")


@app.command()
def train(
    config: Annotated[str, typer.Option(help="Training config in tpu/configs: small, tiny.")] = (
        "small"
    ),
) -> None:
    """Train galvasr's acoustic model from synthetic speech (resumes after a kill)."""
    from tpu.train import get_config
    from tpu.train import train as run_training

    run_training(get_config(config), console=console)


def _config_and_spark(
    app_name: str, config: Path | None, set_: list[str] | None
) -> tuple[Config, SparkSession]:
    """(Config, SparkSession) for a one-stage command."""
    from galvasr.config import load_config, parse_overrides
    from galvasr.spark import get_spark

    cfg = load_config(config, parse_overrides(set_ or []))
    spark = get_spark(app_name)
    spark.sparkContext.setLogLevel("WARN")
    return cfg, spark


@app.command()
def ingest(
    corpus: CorpusOption = str(SAMPLE_CORPUS),
    root: RootOption = "runs/sample",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Read the catalog and subtitles into catalog, transcripts, rejects (jobs/ingest.py)."""
    from galvasr.ingest import run_ingest

    cfg, spark = _config_and_spark("galvasr-ingest", config, set_)
    summary = run_ingest(spark, corpus, root, cfg.ingest)
    print(summary.to_json())


@app.command()
def decode(
    corpus: CorpusOption = str(SAMPLE_CORPUS),
    root: RootOption = "runs/sample",
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Decode every catalog file into bucketed 16 kHz chunks (jobs/decode.py under spark-submit)."""
    from galvasr.decode import run_decode

    cfg, spark = _config_and_spark("galvasr-decode", config, set_)
    summary = run_decode(spark, corpus, root, cfg.decode, items_dir=cfg.ingest.items_dir)
    print(summary.to_json())


@app.command()
def infer(
    root: RootOption = "runs/sample",
    model: Annotated[
        str | None,
        typer.Option(help="Acoustic model checkpoint folder (default: the bundled one)."),
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    worker_id: Annotated[str | None, typer.Option(help="Name in leases and summaries.")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """CTC log-probabilities of every chunk (tpu/infer.py); run it on any number of hosts."""
    import json

    from galvasr.config import load_config, parse_overrides
    from tpu.infer import run_infer

    cfg = load_config(config, parse_overrides(set_ or [])).infer
    summary = run_infer(root, model, cfg, worker_id=worker_id, progress=progress, console=console)
    print(json.dumps(summary))
    if summary["shards_failed"]:
        raise typer.Exit(1)


@app.command()
def align(
    root: RootOption = "runs/sample",
    model: Annotated[
        str | None,
        typer.Option(
            help="Checkpoint folder of the model that made the logits (default: bundled)."
        ),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option(help="Fail unless the model is this version.")
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Align cues to the logits and cut segments (jobs/align.py under spark-submit)."""
    from galvasr.align_stage import load_contract, run_align
    from galvasr.config import load_config, parse_overrides
    from galvasr.spark import get_spark

    cfg = load_config(config, parse_overrides(set_ or []))
    contract = load_contract(model or cfg.infer.model or None, model_version)
    spark = get_spark("galvasr-align")
    spark.sparkContext.setLogLevel("WARN")
    print(run_align(spark, root, contract, cfg.align).to_json())


@app.command()
def release(
    root: RootOption = "runs/sample",
    name: Annotated[
        str | None, typer.Option(help="Release name [default: release.name of the config].")
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Splits, subsets, Parquet/WebDataset/NeMo shards and the dataset card (jobs/release.py)."""

    from galvasr.config import load_config, parse_overrides
    from galvasr.release import build_release
    from galvasr.spark import get_spark

    overrides = parse_overrides(set_ or [])
    if name:
        overrides.setdefault("release", {})["name"] = name
    cfg = load_config(config, overrides)
    spark = get_spark("galvasr-release")
    spark.sparkContext.setLogLevel("WARN")
    print(build_release(spark, root, cfg).to_json())


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="A Spark SQL query.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Run this .sql file (a path, or a name in sql/)."),
    ] = None,
    root: RootOption = "runs/sample",
    release_name: Annotated[
        str | None, typer.Option("--release", help="Release shown by the `release` view.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Print at most this many rows.")] = 1000,
) -> None:
    """Query a run root: every table is a view (catalog, ..., segments, release)."""
    import sys

    from rich.table import Table as RichTable

    from galvasr.spark import get_spark
    from galvasr.sqlviews import read_query, run_sql

    try:
        text = read_query(query, file)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    spark = get_spark("galvasr-sql")
    spark.sparkContext.setLogLevel("ERROR")
    frame = run_sql(spark, root, text, release_name)
    rows = frame.limit(limit + 1).collect()
    table = RichTable(*frame.columns)
    for row in rows[:limit]:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    # Piped output gets room for wide rows instead of rich's 80 columns.
    Console(width=None if sys.stdout.isatty() else 240).print(table)
    if len(rows) > limit:
        console.print(f"[yellow]more than {limit} rows; showing {limit}[/yellow]")


@app.command()
def report(
    root: RootOption = "runs/sample",
    out: Annotated[
        str | None, typer.Option(help="Folder for index.html and its PNGs [default: ROOT/report].")
    ] = None,
    release_name: Annotated[
        str | None, typer.Option("--release", help="Release to report on.")
    ] = None,
) -> None:
    """Write the run's HTML report: funnel, rejects, histograms, padding, time per stage."""
    from galvasr.report import write_report
    from galvasr.spark import get_spark

    spark = get_spark("galvasr-report")
    spark.sparkContext.setLogLevel("WARN")
    print(write_report(spark, root, out, release_name))


@app.command("sample-corpus")
def sample_corpus(
    out: Annotated[Path, typer.Argument(help="Folder to write the corpus to.")] = SAMPLE_CORPUS,
    seed: Annotated[
        int | None, typer.Option(help="Seed of every random choice [default: 2024].")
    ] = None,
    item: Annotated[
        list[str] | None, typer.Option(help="Generate only this item (repeatable).")
    ] = None,
    small: Annotated[bool, typer.Option(help="Only two short items, for a quick look.")] = False,
) -> None:
    """Generate the sample corpus with its ground truth (data/sample by default)."""
    from galvasr.corpus.generate import DEFAULT_SEED, SMALL_ITEMS, generate

    only = list(SMALL_ITEMS) if small else item or None
    summary = generate(
        out,
        seed=DEFAULT_SEED if seed is None else seed,
        only=only,
        progress=lambda i: console.print(f"generating {i}"),
    )
    console.print(
        f"{summary.items} items, {summary.audio_files} audio files, "
        f"{summary.audio_minutes} min of audio, {summary.total_bytes / 1e6:.1f} MB in {out}"
    )


if __name__ == "__main__":
    app()

"""The ``galvasr`` command: a thin layer over library functions.

Each stage's subcommand lives here as a few lines that parse flags and call
into the library; the logic stays in the modules it belongs to.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from galvasr import __version__, registry
from galvasr.registry import DEFAULT_ROOT, SAMPLE_CORPUS, STAGES, Stage

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Build speech recognition training sets from public audio with subtitles.",
    no_args_is_help=True,
    add_completion=False,
    # Help texts say `[default: ...]`; rich markup would read that as a tag and drop it.
    rich_markup_mode=None,
)
console = Console(stderr=True)


# The options every stage command shares.
CorpusOption = Annotated[str, typer.Option(help="Corpus root: a folder or gs://bucket/prefix.")]
RootOption = Annotated[str, typer.Option(help="Run root: a folder or gs://bucket/prefix.")]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML config; unset keys keep defaults.")
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        help="Acoustic model checkpoint folder [default: infer.model, or the bundled one]."
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override one setting: SECTION.KEY=VALUE (TOML value)."),
]
ProgressOption = Annotated[
    bool, typer.Option("--progress/--no-progress", help=registry.PROGRESS_HELP)
]
VerboseOption = Annotated[bool, typer.Option("--verbose", help=registry.VERBOSE_HELP)]


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Build speech recognition training sets from public audio with subtitles."""


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
    progress: ProgressOption = True,
    verbose: VerboseOption = False,
) -> None:
    """Run every stage in order on embedded defaults: the bundled sample corpus,
    local Spark, a local run root and the CPU. Stages already done for the same
    inputs and config are skipped."""
    from galvasr.pipeline import run_pipeline
    from galvasr.registry import load_settings
    from galvasr.spark import set_verbose

    set_verbose(verbose)
    cfg = load_settings(config, set_ or [])
    run_pipeline(
        corpus=corpus,
        root=root,
        console=console,
        config=cfg,
        force=force,
        model=model,
        progress=progress,
    )


@app.command("config")
def show_config(
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Print every setting of a run as TOML: the defaults, or a config file merged over them."""
    from galvasr.config import to_toml
    from galvasr.registry import load_settings

    print(to_toml(load_settings(config, set_ or [])), end="")


@app.command()
def train(
    config: Annotated[str, typer.Option(help="Training config in tpu/configs: small, tiny.")] = (
        "small"
    ),
) -> None:
    """Train galvasr's acoustic model from synthetic speech (resumes after a kill)."""
    from galvasr.model.train import get_config
    from galvasr.model.train import train as run_training

    run_training(get_config(config), console=console)


def _stage_command(spec: Stage) -> Callable[..., None]:
    """``galvasr <stage>``, built from the registry: the flags of ``jobs/<stage>.py``."""
    params = []
    if spec.reads_corpus:
        params.append(_param("corpus", CorpusOption, str(SAMPLE_CORPUS)))
    params += [
        _param("root", RootOption, DEFAULT_ROOT),
        _param("config", ConfigOption, None),
        _param("set_", SetOption, None),
    ]
    if spec.needs_model:
        params.append(_param("model", ModelOption, None))
    for opt in spec.options:
        if opt.type is bool:
            flags = f"--{opt.flag}/--no-{opt.flag}"
            kind: Any = Annotated[bool, typer.Option(flags, help=opt.help)]
        else:
            kind = Annotated[opt.type | None, typer.Option(f"--{opt.flag}", help=opt.help)]
        params.append(_param(opt.key, kind, opt.default if opt.type is bool else None))
    if not registry.draws_progress(spec):
        params.append(_param("progress", ProgressOption, True))
    params.append(_param("verbose", VerboseOption, False))

    def command(**kwargs: Any) -> None:
        from galvasr.registry import exit_code, make_context, run_stage
        from galvasr.spark import set_verbose

        set_verbose(kwargs["verbose"])

        ctx = make_context(
            spec,
            root=kwargs["root"],
            corpus=kwargs.get("corpus"),
            config_file=kwargs["config"],
            sets=kwargs["set_"] or [],
            model=kwargs.get("model"),
            options={opt.key: kwargs[opt.key] for opt in spec.options},
            console=console,
            progress=kwargs["progress"] is not False,
        )
        summary = run_stage(spec, ctx)
        print(json.dumps(summary, sort_keys=True, default=str))
        code = exit_code(summary)
        if code:
            raise typer.Exit(code)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = spec.name
    command.__doc__ = spec.help
    return command


def _param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


for _spec in STAGES:
    app.command(_spec.name)(_stage_command(_spec))


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="A SQL query over the views.")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", "-f", help="Run this .sql file (a path, or a name in sql/, .sql optional)."
        ),
    ] = None,
    root: RootOption = "runs/sample",
    release_name: Annotated[
        str | None, typer.Option("--release", help="Release shown by the `release` view.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Print at most this many rows.")] = 1000,
    engine: Annotated[
        str,
        typer.Option(
            help="duckdb (in-process, local run roots), spark, or auto: DuckDB unless the "
            "root is gs://."
        ),
    ] = "auto",
) -> None:
    """Query a run root: every table is a view (catalog, ..., segments, release)."""
    import sys

    from rich.table import Table as RichTable

    from galvasr.report import sqlviews

    try:
        text = sqlviews.read_query(query, file)
        kind = sqlviews.engine_for(root, engine)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    spark = None
    if kind == "spark":
        from galvasr.spark import get_spark

        spark = get_spark("galvasr-sql")
        spark.sparkContext.setLogLevel("ERROR")
    try:
        views = sqlviews.open_views(root, release_name, engine=kind, spark=spark)
        try:
            result = views.query(text, limit + 1)
        finally:
            views.close()
    except ValueError as e:  # QueryError included: the engine's message, no traceback
        console.print(f"error: {e}", style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    table = RichTable(*result.columns)
    for row in result.rows[:limit]:
        table.add_row(*["NULL" if v is None else str(v) for v in row])
    # Piped output gets room for wide rows instead of rich's 80 columns.
    Console(width=None if sys.stdout.isatty() else 240).print(table)
    if len(result.rows) > limit:
        console.print(f"[yellow]more than {limit} rows; showing {limit}[/yellow]")


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

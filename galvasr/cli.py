"""The ``galvasr`` command: a thin layer over library functions.

Each stage's subcommand lives here as a few lines that parse flags and call
into the library; the logic stays in the modules it belongs to.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from galvasr import __version__

app = typer.Typer(
    help="Build speech recognition training sets from public audio with subtitles.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = REPO_ROOT / "data" / "sample"


@app.command()
def version() -> None:
    """Print the galvasr version."""
    print(__version__)


@app.command()
def run(
    root: Annotated[Path, typer.Option(help="Run root: where every table is written.")] = Path(
        "runs/sample"
    ),
    corpus: Annotated[Path, typer.Option(help="Corpus folder with catalog.jsonl.")] = SAMPLE_CORPUS,
) -> None:
    """Run every stage that exists so far, on the bundled sample corpus by default."""
    from galvasr.pipeline import run_pipeline

    run_pipeline(corpus=corpus, root=root, console=console)


if __name__ == "__main__":
    app()

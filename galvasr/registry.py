"""The stages of galvasr, declared once: every entry point is built from this list.

Each stage names its config section, what it reads and writes, and where its
``run(ctx) -> Summary`` lives. From it come the ``galvasr <stage>`` commands
(galvasr.cli), the ``spark-submit jobs/<stage>.py`` jobs (same flags, ``--set``
included), ``python -m accel.infer`` and ``galvasr run`` (galvasr.pipeline).
:func:`run_stage` is the one way a stage runs: it calls the stage and writes
its run record (``<root>/_runs/<stage>.json``) however it was started.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from galvasr import runlog
from galvasr.config import Config, ConfigError, load_config, parse_overrides
from galvasr.context import StageContext, Summary

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = REPO_ROOT / "data" / "sample"
DEFAULT_ROOT = "runs/sample"


@dataclass(frozen=True)
class Option:
    """A stage's own command-line option.

    ``setting`` (``"section.key"``) makes the option a short form of
    ``--set section.key=VALUE``; otherwise its value reaches the stage in
    ``ctx.options[name]`` (with ``-`` read as ``_``).
    """

    flag: str  # without the leading dashes, e.g. "worker-id"
    help: str
    type: type = str
    default: Any = None
    setting: str | None = None

    @property
    def key(self) -> str:
        return self.flag.replace("-", "_")


@dataclass(frozen=True)
class Stage:
    name: str
    help: str  # one line, for the command's help
    section: str | None  # the config section that holds its settings
    inputs: tuple[str, ...]  # tables (or "corpus") it reads
    outputs: tuple[str, ...]  # tables and folders it writes
    module: str  # holds ``run(ctx: StageContext) -> Summary``
    reads_corpus: bool = False
    needs_model: bool = False
    options: tuple[Option, ...] = ()
    uses_spark: bool = True  # False: its run record counts no Spark jobs (run alongside one)

    def runner(self) -> Callable[[StageContext], Summary]:
        fn: Callable[[StageContext], Summary] = importlib.import_module(self.module).run
        return fn


STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest",
        "Read the catalog and subtitles into catalog, transcripts and rejects.",
        "ingest",
        inputs=("corpus",),
        outputs=("catalog", "transcripts", "rejects"),
        module="galvasr.ingest.stage",
        reads_corpus=True,
    ),
    Stage(
        "decode",
        "Decode every catalog file into bucketed 16 kHz chunks.",
        "decode",
        inputs=("corpus", "catalog"),
        outputs=("audio", "chunks", "rejects"),
        module="galvasr.decode.stage",
        reads_corpus=True,
    ),
    Stage(
        "infer",
        "CTC log-probabilities of every chunk; run it on any number of hosts at once.",
        "infer",
        inputs=("chunks",),
        outputs=("logits",),
        module="galvasr.infer.stage",
        needs_model=True,
        uses_spark=False,
        options=(
            Option("worker-id", "Name in leases and summaries [default: host-pid-random]."),
            Option("progress", "Show a progress bar.", type=bool, default=True),
            Option(
                "follow",
                "Run while decode writes chunks: take shards as they appear, until"
                " chunks/_SUCCESS.",
                type=bool,
                default=False,
            ),
        ),
    ),
    Stage(
        "align",
        "Align cues to the logits and cut segments.",
        "align",
        inputs=("logits", "chunks", "transcripts", "catalog"),
        outputs=("alignments", "segments", "rejects"),
        module="galvasr.align.stage",
        needs_model=True,
        options=(Option("model-version", "Fail unless the model is this version."),),
    ),
    Stage(
        "adapt",
        "Self-train the model on the run's confident segments; re-infer and re-align if it helps.",
        "adapt",
        inputs=("segments", "alignments", "chunks", "transcripts", "catalog"),
        outputs=("adapt", "logits", "alignments", "segments", "rejects"),
        module="galvasr.adapt.stage",
        needs_model=True,
    ),
    Stage(
        "release",
        "Splits, subsets, Parquet/WebDataset/NeMo shards and the dataset card.",
        "release",
        inputs=("segments", "catalog", "rejects"),
        outputs=("release", "rejects"),
        module="galvasr.release.stage",
        options=(Option("name", "Release name [default: release.name].", setting="release.name"),),
    ),
    Stage(
        "report",
        "Write the run's HTML report (funnel, rejects, histograms, stage times) and explorer.",
        None,
        inputs=("catalog", "rejects", "audio", "segments", "release"),
        outputs=("report",),
        module="galvasr.report.stage",
        options=(
            Option("out", "Folder for index.html and its PNGs [default: ROOT/report]."),
            Option("release-name", "Release to report on [default: release.name]."),
        ),
    ),
)

BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)


def stage(name: str) -> Stage:
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"no stage {name!r}; stages are {', '.join(NAMES)}") from None


def resolve_model(flag: str | None, config: Config) -> str:
    """The checkpoint folder: ``--model``, else ``[infer] model``, else the bundled model."""
    from galvasr.model import DEFAULT_MODEL

    return str(flag or config.infer.model or DEFAULT_MODEL)


def check_model(path: str) -> str:
    """Load the model once at the entry point; a broken one is one line of error, at once."""
    from galvasr.model import CheckpointError, load_model

    try:
        info = load_model(path, sample_rate=None).info
    except (CheckpointError, OSError, ValueError) as e:
        raise SystemExit(f"galvasr: model {path}: {e}") from None
    return info.model_version


def load_settings(
    config_file: Path | None, sets: Sequence[str], extra: dict[str, dict[str, Any]] | None = None
) -> Config:
    """The run's settings (defaults, a TOML file, ``--set``); a bad one is one line, exit 1."""
    try:
        overrides = parse_overrides(list(sets))
        for section, values in (extra or {}).items():
            overrides.setdefault(section, {}).update(values)
        return load_config(config_file, overrides)
    except ConfigError as e:
        raise SystemExit(f"galvasr: {e}") from None


def _numeric_leaves(tree: dict[str, Any], prefix: str = "") -> dict[str, int | float]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, numbers only: the counts of a run record."""
    out: dict[str, int | float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_numeric_leaves(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value
    return out


def run_stage(spec: Stage, ctx: StageContext) -> Summary:
    """Run one stage and record it in ``<root>/_runs/<stage>.json``; returns its summary.

    Nothing is recorded when the stage raises: the log describes finished stages.
    """
    from galvasr.spark import job_ids

    jobs_before = job_ids()
    if ctx.rerun is None:
        ctx.rerun = rerun
    from galvasr.sparkprogress import spark_progress

    started = time.monotonic()
    with spark_progress(ctx.console, spec.name, enabled=ctx.progress and not draws_progress(spec)):
        summary = spec.runner()(ctx)
    seconds = time.monotonic() - started
    summary = {**summary, "seconds": round(seconds, 3)}
    jobs = job_ids() - jobs_before
    if jobs and spec.uses_spark:
        summary["spark_jobs"] = len(jobs)
    runlog.record_stage(ctx.root, spec.name, seconds, _numeric_leaves(summary))
    return summary


def draws_progress(spec: Stage) -> bool:
    """Whether a stage draws its own progress (it has a ``--progress`` option: infer)."""
    return any(opt.key == "progress" for opt in spec.options)


def rerun(name: str, ctx: StageContext, model: str) -> Summary:
    """Run stage ``name`` inside another stage, with the checkpoint ``model`` (adapt's rounds).

    Not recorded in ``_runs/``: it is part of the calling stage's work.
    """
    spec = stage(name)
    options = {o.key: o.default for o in spec.options if o.setting is None}
    return spec.runner()(dataclasses.replace(ctx, model=model, options=options))


# ------------------------------------------------------------ entry points


def make_context(
    spec: Stage,
    *,
    root: str,
    corpus: str | None,
    config_file: Path | None,
    sets: Sequence[str],
    model: str | None,
    options: dict[str, Any],
    console: Console | None = None,
    progress: bool = True,
) -> StageContext:
    """The context of a one-stage command or job: config, model resolved and checked once."""
    overrides: dict[str, dict[str, Any]] = {}
    extra: dict[str, Any] = {}
    for opt in spec.options:
        value = options.get(opt.key)
        if opt.setting:
            if value is not None:
                section, _, key = opt.setting.partition(".")
                overrides.setdefault(section, {})[key] = value
        else:
            extra[opt.key] = opt.default if value is None else value
    config = load_settings(config_file, sets, overrides)
    model_path = None
    if spec.needs_model:
        model_path = resolve_model(model, config)
        check_model(model_path)
    return StageContext(
        root=root,
        config=config,
        corpus=corpus,
        model=model_path,
        options=extra,
        console=console or Console(stderr=True),
        app_name=f"galvasr-{spec.name}",
        progress=progress and bool(extra.get("progress", True)),
    )


def job_parser(spec: Stage, prog: str | None = None) -> argparse.ArgumentParser:
    """The flags of ``spark-submit jobs/<stage>.py``: the same as ``galvasr <stage>``'s."""
    parser = argparse.ArgumentParser(prog=prog or f"jobs/{spec.name}.py", description=spec.help)
    if spec.reads_corpus:
        parser.add_argument("--corpus", default=str(SAMPLE_CORPUS), help="corpus root")
    parser.add_argument("--root", default=DEFAULT_ROOT, help="run root: a folder or gs://...")
    parser.add_argument("--config", "-c", type=Path, help="TOML config; unset keys keep defaults")
    parser.add_argument(
        "--set", dest="sets", action="append", default=[], help="SECTION.KEY=VALUE (TOML value)"
    )
    if spec.needs_model:
        parser.add_argument("--model", help="checkpoint folder [default: infer.model, or bundled]")
    for opt in spec.options:
        if opt.type is bool:
            parser.add_argument(
                f"--{opt.flag}", action=argparse.BooleanOptionalAction, default=None, help=opt.help
            )
        else:
            parser.add_argument(f"--{opt.flag}", type=opt.type, default=None, help=opt.help)
    if not draws_progress(spec):
        parser.add_argument(
            "--progress", action=argparse.BooleanOptionalAction, default=True, help=PROGRESS_HELP
        )
    parser.add_argument("--verbose", action="store_true", help=VERBOSE_HELP)
    return parser


PROGRESS_HELP = "Print a progress line of the Spark jobs on a terminal."
VERBOSE_HELP = "Show Spark's WARN lines and JAX's warnings (default: errors only)."


def job_main(name: str, argv: list[str] | None = None) -> int:
    """``jobs/<name>.py``: parse the flags, run the stage, print its summary as one JSON line."""
    import logging

    spec = stage(name)
    args = job_parser(spec).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from galvasr.spark import set_verbose

    set_verbose(args.verbose)
    ctx = make_context(
        spec,
        root=args.root,
        corpus=getattr(args, "corpus", None),
        config_file=args.config,
        sets=args.sets,
        model=getattr(args, "model", None),
        options={opt.key: getattr(args, opt.key) for opt in spec.options},
        progress=getattr(args, "progress", True) is not False,
    )
    summary = run_stage(spec, ctx)
    print(json.dumps(summary, sort_keys=True, default=str), flush=True)
    return exit_code(summary)


def exit_code(summary: Summary) -> int:
    """Non-zero when a stage finished but failed part of its work (infer: a shard failed)."""
    return 1 if summary.get("shards_failed") else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(job_main(sys.argv[1], sys.argv[2:]))

"""What a stage is given when it runs, however it was started (``galvasr run``, a command, a job).

A stage's ``run(ctx) -> Summary`` reads its inputs and settings from here and
returns a JSON-able summary; the stage registry (galvasr.registry) builds the
context at the entry point, resolves the model once, and records the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console

from galvasr.config import Config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

Summary = dict[str, Any]
"""A stage's result: JSON-able counts and where things are (printed, and kept in the run log)."""


@dataclass
class StageContext:
    root: str
    config: Config = field(default_factory=Config)
    corpus: str | None = None
    model: str | None = None  # the checkpoint folder, resolved at the entry point
    options: dict[str, Any] = field(default_factory=dict)  # a stage's own command options
    console: Console = field(default_factory=lambda: Console(stderr=True))
    state: dict[str, Any] = field(default_factory=dict)  # passed from stage to stage in a run
    app_name: str = "galvasr"
    progress: bool = True  # progress lines on a terminal (--no-progress: none)
    # The entry layer's way for a stage to run another with another model:
    # ``rerun(stage, ctx, model_path)``. Adaptation re-infers and re-aligns with it.
    rerun: Callable[[str, StageContext, str], Summary] | None = field(default=None, repr=False)
    _spark: Any = field(default=None, repr=False)

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            from galvasr.spark import get_spark

            self._spark = get_spark(self.app_name)
        return self._spark

    def require_corpus(self) -> str:
        if not self.corpus:
            raise ValueError("this stage reads the corpus: give its root (--corpus)")
        return self.corpus

    def require_model(self) -> str:
        if not self.model:
            raise ValueError("this stage needs the model: resolve it at the entry point")
        return self.model

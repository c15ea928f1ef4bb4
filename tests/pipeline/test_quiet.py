"""Commands print errors, progress and their summary; Spark's WARN lines only with --verbose."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

from typer.testing import CliRunner

from galvasr import registry, spark
from galvasr.cli import app

REPO = Path(__file__).resolve().parents[2]
# Spark's log lines ("26/12/02 11:04:03 WARN Utils: ..."), its start-up notes, JAX's warning.
NOISE = re.compile(
    r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|INFO)|log4j|Setting default log level"
    r"|os\.fork\(\) was called",
    re.M,
)


def test_every_command_takes_verbose_and_no_progress() -> None:
    for name in ["run", *registry.NAMES]:
        result = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "--verbose" in result.output and "--no-progress" in result.output, name
        assert not NOISE.search(result.output)


def test_a_stage_command_prints_no_spark_warnings(mini_corpus: Path, tmp_path: Path) -> None:
    """A fresh JVM, as a user starts one: none of Spark's start-up WARN lines."""
    done = subprocess.run(
        [sys.executable, "-m", "galvasr.cli", "ingest", "--corpus", str(mini_corpus),
         "--root", str(tmp_path / "root")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["counts"]["catalog_rows"] > 0
    noisy = [line for line in done.stderr.splitlines() if NOISE.search(line)]
    assert noisy == [], done.stderr[-3000:]


def test_verbose_switches_spark_and_jax_warnings() -> None:
    message = "os.fork() was called. os.fork() is incompatible with multithreaded code"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            spark.set_verbose(False)
            assert spark.log_level() == "ERROR"
            warnings.warn(message, RuntimeWarning, stacklevel=1)
            warnings.warn("another warning", RuntimeWarning, stacklevel=1)
        assert [str(w.message) for w in caught] == ["another warning"]
        spark.set_verbose(True)
        assert spark.log_level() == "WARN"
    finally:
        spark.set_verbose(False)

"""The one-stage commands of the CLI, as the README's stage-by-stage run uses them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from galvasr.cli import app
from galvasr.schemas import AUDIO, CATALOG, CHUNKS, REJECTS, TRANSCRIPTS
from galvasr.tables import read_table


def _invoke(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def test_ingest_then_decode(spark, mini_corpus: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    ingested = _invoke("ingest", "--corpus", str(mini_corpus), "--root", root)
    catalog = read_table(spark, root, CATALOG).count()
    assert catalog > 0 and ingested
    assert read_table(spark, root, TRANSCRIPTS).count() > 0
    decoded = _invoke("decode", "--corpus", str(mini_corpus), "--root", root)
    assert decoded
    audio = read_table(spark, root, AUDIO).count()
    rejected = read_table(spark, root, REJECTS).filter("stage = 'decode'").count()
    assert audio + rejected == catalog  # every catalog file decoded or rejected
    assert read_table(spark, root, CHUNKS).count() >= audio


def test_release_prints_its_summary(mini_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"  # a copy: other tests compare mini_run's releases
    shutil.copytree(mini_run, root)
    summary = _invoke("release", "--root", str(root), "--name", "cli-check")
    assert str(summary["url"]).endswith("release/cli-check")
    assert (root / "release" / "cli-check" / "SHA256SUMS").exists()
    assert isinstance(summary["segments"], int) and summary["segments"] > 0
    assert {"hours", "sources", "files", "rejected"} <= set(summary)

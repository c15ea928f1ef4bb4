"""The one-stage commands of the CLI, as the README's stage-by-stage run uses them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from galvasr import runlog
from galvasr.cli import app
from galvasr.schemas import AUDIO, CATALOG, CHUNKS, REJECTS, TRANSCRIPTS
from galvasr.tables import read_table

REPO = Path(__file__).resolve().parents[2]


def _invoke(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def test_ingest_then_decode(spark, mini_corpus: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    ingested = _invoke("ingest", "--corpus", str(mini_corpus), "--root", root)
    catalog = read_table(spark, root, CATALOG).count()
    counts = ingested["counts"]
    assert isinstance(counts, dict)
    assert catalog > 0 and counts["catalog_rows"] == catalog  # the summary tells the table
    assert counts["transcript_rows"] == read_table(spark, root, TRANSCRIPTS).count() > 0
    decoded = _invoke("decode", "--corpus", str(mini_corpus), "--root", root)
    audio = read_table(spark, root, AUDIO).count()
    rejected = read_table(spark, root, REJECTS).filter("stage = 'decode'").count()
    assert audio + rejected == catalog  # every catalog file decoded or rejected
    assert decoded["files"] == catalog and decoded["decoded"] == audio
    assert decoded["chunks"] == read_table(spark, root, CHUNKS).count() >= audio
    # A stage run by its own command leaves its run record, as under `galvasr run`.
    records = {r.stage: r for r in runlog.read_stages(root)}
    assert set(records) == {"ingest", "decode"}
    assert records["decode"].counts["chunks"] == decoded["chunks"]


def test_a_job_takes_the_commands_flags(mini_corpus: Path, tmp_path: Path) -> None:
    """``jobs/<stage>.py`` and ``galvasr <stage>`` are built from one registry: same flags."""
    import subprocess
    import sys

    root = tmp_path / "root"
    done = subprocess.run(
        [sys.executable, "jobs/ingest.py", "--corpus", str(mini_corpus), "--root", str(root),
         "--set", "ingest.max_subtitle_bytes=10"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    # --set reached the stage: every subtitle file is now too large to read.
    assert summary["counts"].get("transcript_rows", 0) == 0
    assert summary["counts"]["rejects:subtitle:too-large"] > 0
    assert [r.stage for r in runlog.read_stages(str(root))] == ["ingest"]


def test_every_stage_has_a_command_and_a_job_with_the_same_flags() -> None:
    from galvasr.registry import STAGES, job_parser

    for spec in STAGES:
        result = CliRunner().invoke(app, [spec.name, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        job_flags = {
            flag
            for action in job_parser(spec)._actions
            for flag in action.option_strings
            if flag.startswith("--") and flag != "--help"
        }
        for flag in job_flags:
            assert flag in result.output, (spec.name, flag)
        assert (REPO / "jobs" / f"{spec.name}.py").exists() or spec.name == "infer"


def test_a_missing_model_fails_in_one_line_before_any_work(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["align", "--root", str(tmp_path / "root"), "--model", str(tmp_path / "nope")]
    )
    assert result.exit_code != 0
    assert "no such checkpoint folder" in str(result.exception) or "no such" in result.output
    assert not (tmp_path / "root").exists()


def test_release_prints_its_summary(mini_run: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"  # a copy: other tests compare mini_run's releases
    shutil.copytree(mini_run, root)
    summary = _invoke("release", "--root", str(root), "--name", "cli-check")
    assert str(summary["url"]).endswith("release/cli-check")
    assert (root / "release" / "cli-check" / "SHA256SUMS").exists()
    assert isinstance(summary["segments"], int) and summary["segments"] > 0
    assert {"hours", "sources", "files", "rejected"} <= set(summary)
    # On real alignments: Lhotse Shar and the alignment files, read by their own readers.
    from lhotse import CutSet
    from praatio import textgrid

    release = root / "release" / "cli-check"
    cuts = [c for d in sorted((release / "lhotse").glob("*/*")) for c in CutSet.from_shar(in_dir=d)]
    assert len(cuts) == summary["segments"]
    assert all(c.supervisions[0].alignment["word"] for c in cuts)
    lines = (release / "alignments" / "index.jsonl").read_text().splitlines()
    index = [json.loads(line) for line in lines]
    assert index and sum(entry["cues"] for entry in index) >= len(cuts)
    for entry in index:
        base = release / "alignments" / entry["split"] / entry["name"]
        tg = textgrid.openTextgrid(f"{base}.TextGrid", includeEmptyIntervals=False)
        assert len(tg.getTier("cues").entries) <= entry["cues"]
        assert len(tg.getTier("words").entries) <= entry["words"]
    # `galvasr sql` reads the release back (DuckDB) as the release's own figures say
    result = CliRunner().invoke(
        app, ["sql", "--root", str(root), "--release", "cli-check", "SELECT count(*) FROM release"]
    )
    assert result.exit_code == 0 and str(summary["segments"]) in result.stdout


def test_version_flag() -> None:
    from galvasr import __version__

    for args in (["--version"], ["version"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0 and result.stdout.strip() == __version__


def test_sql_runs_a_shipped_query_by_name_without_spark(tmp_path: Path) -> None:
    """`-f audit_catalog` (no .sql) on a run root with nothing yet: DuckDB, empty tables."""
    result = CliRunner().invoke(app, ["sql", "--root", str(tmp_path), "-f", "audit_catalog"])
    assert result.exit_code == 0, result.output
    assert "status" in result.stdout and "not in catalog: refused at ingest" in result.stdout
    result = CliRunner().invoke(app, ["sql", "--root", str(tmp_path), "SELECT 40 + 2 AS answer"])
    assert result.exit_code == 0 and "42" in result.stdout


def test_sql_errors_are_one_message_not_a_traceback(tmp_path: Path) -> None:
    root = str(tmp_path)
    cases = [
        (["sql", "--root", root, "-f", "no_such_query"], "no query file 'no_such_query'"),
        (["sql", "--root", root, "SELECT nope FROM segments"], "nope"),
        (["sql", "--root", root, "SELEC 1"], "syntax error"),
        (["sql", "--root", "gs://b/r", "--engine", "duckdb", "SELECT 1"], "local run roots"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), args


def test_a_setting_of_the_wrong_type_is_one_line_before_any_work(tmp_path: Path) -> None:
    import subprocess
    import sys

    for command in (["config"], ["run", "--root", str(tmp_path / "root")], ["release"]):
        done = subprocess.run(
            [sys.executable, "-m", "galvasr.cli", *command, "--set", 'align.max_segment_s="abc"'],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode != 0, command
        assert done.stderr.strip().splitlines() == [
            "galvasr: setting align.max_segment_s: expected a number, got str 'abc'"
        ], command
    assert not (tmp_path / "root").exists()

"""`galvasr run` end to end: skipping, --force, SIGKILL in every stage, determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from galvasr.config import load_config
from galvasr.pipeline import run_pipeline
from galvasr.registry import NAMES as STAGES
from galvasr.registry import resolve_model
from galvasr.runroot import PIPELINE_DIR
from tests.run_fixtures import REPO, RUN_SETTINGS, RUN_SETTINGS_FLAGS, release_files

pytestmark = pytest.mark.slow

# The first thing each stage writes: the test kills the run as soon as it appears.
FIRST_OUTPUT = {
    "ingest": "catalog",
    "decode": "chunks",
    "infer": "logits",
    "align": "alignments",
    "adapt": "adapt/round-1/checkpoint.msgpack",  # with ADAPT_SETTINGS: mid-training
    "release": "release",
    "report": "report",
}


def test_a_second_run_skips_every_stage_and_force_reruns_from_a_stage(mini_corpus, mini_run):
    config = load_config(None, RUN_SETTINGS)
    before = release_files(mini_run)
    assert before, "the run made no release"
    again = run_pipeline(mini_corpus, mini_run, Console(quiet=True), config=config)
    assert [s for s in STAGES if again[s].get("skipped")] == list(STAGES)

    forced = run_pipeline(mini_corpus, mini_run, Console(quiet=True), config=config, force="align")
    skipped = [s for s in STAGES if forced[s].get("skipped")]
    assert skipped == ["ingest", "decode", "infer"]
    assert release_files(mini_run) == before


def test_a_changed_setting_reruns_its_stage_and_those_after(mini_corpus, mini_run, tmp_path):
    import shutil

    root = tmp_path / "changed"
    shutil.copytree(mini_run, root)
    changed = load_config(None, {**RUN_SETTINGS, "release": {"validation_fraction": 0.2}})
    summaries = run_pipeline(mini_corpus, root, Console(quiet=True), config=changed)
    skipped = [s for s in STAGES if summaries[s].get("skipped")]
    assert skipped == ["ingest", "decode", "infer", "align", "adapt"]
    marker = root / PIPELINE_DIR / "release.done.json"
    assert marker.read_bytes() != (mini_run / PIPELINE_DIR / "release.done.json").read_bytes()


def test_a_retrained_model_at_the_same_path_reruns_infer(tmp_path: Path) -> None:
    from galvasr.pipeline import stage_fingerprint
    from tests.infer_fixtures import save_tiny_model

    folder = tmp_path / "model"
    save_tiny_model(folder, seed=0, name="tiny")
    config = load_config(None, {"infer": {"model": str(folder)}})
    model = resolve_model(None, config)
    assert model == resolve_model(str(folder), load_config(None, {}))
    before = stage_fingerprint("infer", config, "x", model)
    (folder / "MODEL_CARD.md").write_text("notes do not change the logits")
    assert stage_fingerprint("infer", config, "x", model) == before
    save_tiny_model(folder, seed=1, name="tiny")  # new weights, same path
    assert stage_fingerprint("infer", config, "x", model) != before


def _run_command(corpus: Path, root: Path, *flags: str) -> list[str]:
    return [
        sys.executable, "-m", "galvasr.cli", "run",
        "--corpus", str(corpus), "--root", str(root), *RUN_SETTINGS_FLAGS, *flags,
    ]  # fmt: skip


def _kill_when_stage_writes(corpus: Path, root: Path, stage: str, *flags: str) -> None:
    """Start `galvasr run`, SIGKILL it the moment ``stage`` starts writing."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _run_command(corpus, root, *flags), cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    target = root / FIRST_OUTPUT[stage]
    # The report writes only at its very end: it is killed a moment after it
    # begins (the release's marker appears) instead, while it queries the tables.
    started = root / PIPELINE_DIR / "release.done.json" if stage == "report" else None
    deadline = time.monotonic() + 600
    began_at = None
    try:
        while not target.exists():
            assert proc.poll() is None, f"the run ended before {stage} wrote anything"
            assert time.monotonic() < deadline, f"{stage} never started writing"
            if began_at is None and started is not None and started.exists():
                began_at = time.monotonic()
            if began_at is not None and time.monotonic() - began_at > 0.5:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (root / PIPELINE_DIR / f"{stage}.done.json").exists()


def test_sigkill_in_every_stage_then_rerun_gives_the_uninterrupted_release(
    mini_corpus, mini_run, tmp_path
):
    """Killed once in each stage, from scratch; the release equals an uninterrupted run's.

    Since this run starts from an empty root too, it is also the check that
    two runs from scratch give identical SHA256SUMS (and every other byte).
    """
    root = tmp_path / "killed"
    for stage in STAGES:
        if stage != "adapt":  # off by default: writes nothing (killed in the test below)
            _kill_when_stage_writes(mini_corpus, root, stage)
    done = subprocess.run(
        _run_command(mini_corpus, root), cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = release_files(mini_run)
    got = release_files(root)
    sums = [name for name in expected if name.endswith("SHA256SUMS")]
    assert sums, "the release has no SHA256SUMS"
    for name in sums:
        assert got.get(name) == expected[name], name
    assert got == expected
    assert (root / "report" / "index.html").exists()


# A round of a few steps, kept whatever its held-out CER (min_cer_gain < 0: four steps
# need not help), so that inference and alignment run again with the adapted model.
ADAPT_FLAGS = [
    f"--set=adapt.{k}"
    for k in (
        "rounds=1",
        "steps=4",
        "batch_size=2",
        "checkpoint_every=2",
        "min_train_s=0.0",
        "min_cer_gain=-1.0",
    )
]


def test_sigkill_while_adapting_then_rerun_gives_the_uninterrupted_model_and_release(
    mini_corpus, mini_run, tmp_path
):
    """``adapt.rounds=1``: killed mid-training and run again, the same adapted weights and
    release as an uninterrupted run; ``rounds=0`` afterwards restores the base release."""
    import hashlib
    import json
    import shutil

    from galvasr.model import load_model

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    shutil.copytree(mini_run, straight)
    shutil.copytree(mini_run, killed)
    command = _run_command(mini_corpus, straight, *ADAPT_FLAGS)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    _kill_when_stage_writes(mini_corpus, killed, "adapt", *ADAPT_FLAGS)
    command = _run_command(mini_corpus, killed, *ADAPT_FLAGS)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    def weights(root: Path) -> str:
        return hashlib.sha256(
            (root / "adapt/round-1/model/weights.msgpack").read_bytes()
        ).hexdigest()

    assert weights(killed) == weights(straight)
    assert release_files(killed) == release_files(straight)
    lineage = json.loads((straight / "adapt/round-1/lineage.json").read_text())
    version = load_model(straight / "adapt/round-1/model").info.model_version
    assert lineage["model_version"] == version and lineage["train_segments"] > 0
    assert (
        lineage["base_model"]
        == json.loads((mini_run / PIPELINE_DIR / "infer.done.json").read_text())["summary"][
            "model_version"
        ]
    )
    assert lineage["adopted"] and lineage["heldout_cer_before"] > 0
    assert (straight / "logits" / version).is_dir()  # beside the base model's logits
    current = json.loads((straight / "adapt/current.json").read_text())
    assert current["model_version"] == version
    card = next((straight / "release").rglob("README.md")).read_text()
    assert version in card
    # Adaptation off again: the base model's segments and release come back.
    command = _run_command(mini_corpus, straight)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    current = json.loads((straight / "adapt/current.json").read_text())
    assert current["model_version"] == lineage["base_model"]
    base_card = next((straight / "release").rglob("README.md")).read_text()
    assert version not in base_card
    assert release_files(straight) == release_files(mini_run)

"""A small corpus cut from the sample corpus, and one full `galvasr run` over it.

Shared by the end-to-end tests (faults, determinism, the cluster), so the
pipeline runs once per test session for all of them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
# An MP3 with an SRT (kept), a short kept item, and items refused for license
# and for a missing file: every kind of fate, in about three minutes of audio.
MINI_ITEMS = (
    "thessalonians-phone-recording",
    "titus-study-series",
    "sunday-broadcast-john-excerpt",
)
# Settings every end-to-end test uses: a short lease, so that a run restarted
# after a kill during inference takes its dead predecessor's shard over soon.
# GALVASR_TEST_MODEL points the end-to-end tests at another checkpoint (to debug them
# with a quickly trained one); unset, they use the committed model.
TEST_MODEL = os.environ.get("GALVASR_TEST_MODEL", "")
RUN_SETTINGS = {"infer": {"lease_ttl_s": 5.0, "poll_s": 0.5, "model": TEST_MODEL}}
RUN_SETTINGS_FLAGS = [
    *("--set", "infer.lease_ttl_s=5.0", "--set", "infer.poll_s=0.5"),
    *("--set", f"infer.model={json.dumps(TEST_MODEL)}"),
]


def make_mini_corpus(dest: Path, identifiers: tuple[str, ...] = MINI_ITEMS) -> Path:
    """Some items of the sample corpus: their catalog lines and files as they are."""
    dest.mkdir(parents=True, exist_ok=True)
    kept = []
    for line in (SAMPLE / "catalog.jsonl").read_text().splitlines():
        identifier = json.loads(line)["metadata"]["identifier"]
        if identifier in identifiers:
            kept.append(line)
            shutil.copytree(SAMPLE / "items" / identifier, dest / "items" / identifier)
    assert len(kept) == len(identifiers), "an item of MINI_ITEMS is not in the sample corpus"
    (dest / "catalog.jsonl").write_text("\n".join(kept) + "\n")
    return dest


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mini_corpus(tmp_path_factory.mktemp("mini") / "corpus")


@pytest.fixture(scope="session")
def mini_run(spark, mini_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run root of one uninterrupted `galvasr run` over the mini corpus."""
    from rich.console import Console

    from galvasr.config import load_config
    from galvasr.pipeline import run_pipeline

    root = tmp_path_factory.mktemp("mini-run") / "root"
    run_pipeline(mini_corpus, root, Console(quiet=True), config=load_config(None, RUN_SETTINGS))
    return root


def release_files(root: Path) -> dict[str, bytes]:
    """Every file of every release under ``root``, by relative path."""
    base = root / "release"
    return {
        str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()
    }

"""JAX's persistent compilation cache: a second infer run in a fresh process compiles nothing.

Real worker processes (``python -m accel.infer``) on a local run root with the
default setting (``infer.compilation_cache_dir = "auto"``: ``<root>/_cache/jax``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from galvasr import runroot
from galvasr.config import InferConfig
from galvasr.infer.stage import compilation_cache_dir
from galvasr.storage import open_store
from tests.infer_fixtures import save_tiny_model, write_chunks

REPO = Path(__file__).resolve().parents[2]
# Two buckets; three rows at batch 2: a full and a tail batch each, four shapes.
LAYOUT = [(0, 1600, 3), (1, 3200, 3)]
CONFIG = "[infer]\ncpu_batch_frames = 1000\nmax_batch_per_device = 2\n"


def infer(root: Path, model: Path, config: Path) -> dict[str, Any]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run(
        [sys.executable, "-m", "accel.infer", "--root", str(root), "--model", str(model)]
        + ["--config", str(config), "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def test_second_run_loads_every_executable_from_the_run_roots_cache(tmp_path: Path) -> None:
    model = tmp_path / "model"
    version = save_tiny_model(model)
    config = tmp_path / "infer.toml"
    config.write_text(CONFIG)
    root = tmp_path / "root"
    write_chunks(open_store(str(root)), LAYOUT)
    cache = root / runroot.JAX_CACHE_DIR

    first = infer(root, model, config)
    assert first["shards_done"] == len(LAYOUT)
    assert first["compilation_cache_dir"] == str(cache.resolve())
    assert len(first["compiles"]) >= len(LAYOUT)
    assert first["compiles_from_cache"] == 0
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) >= len(first["compiles"])

    shutil.rmtree(root / "logits" / version)  # the outputs must be computed again
    second = infer(root, model, config)
    assert second["shards_done"] == len(LAYOUT)
    assert len(second["compiles"]) == len(first["compiles"])
    assert second["compiles_from_cache"] == len(second["compiles"])
    assert all(c["from_cache"] for c in second["compiles"])
    assert sorted(p.name for p in cache.iterdir()) == entries  # nothing new was compiled


def test_cache_folder_by_run_root_and_setting(tmp_path: Path, monkeypatch: Any) -> None:
    assert InferConfig().compilation_cache_dir == "auto"
    local = compilation_cache_dir(str(tmp_path / "run"), "auto")
    assert local == str(tmp_path / "run" / "_cache" / "jax")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    # A gs:// root: a folder on this host, never the bucket.
    assert compilation_cache_dir("gs://bucket/run", "auto") == str(
        tmp_path / "xdg" / "galvasr" / "jax"
    )
    assert compilation_cache_dir("gs://bucket/run", "") is None
    assert compilation_cache_dir("gs://bucket/run", "/somewhere") == "/somewhere"

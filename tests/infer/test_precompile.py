"""Shapes compile in background threads as soon as their bucket is listed: each once, and
the logits are the same bytes as when every shape compiles on the device loop."""

from __future__ import annotations

from pathlib import Path

from galvasr.config import InferConfig
from galvasr.infer.stage import run_infer
from galvasr.storage import open_store
from tests.infer_fixtures import save_tiny_model, write_chunks

# Three buckets; 3 and 5 rows at batch 2: full and tail batches, six shapes in all.
LAYOUT = [(0, 1600, 3), (1, 3200, 5), (2, 4800, 2), (1, 3200, 1)]


def _logits(root: Path, version: str) -> dict[str, bytes]:
    store = open_store(str(root))
    return {
        p: store.read_bytes(p)
        for p in store.list(f"logits/{version}/")
        if "/_leases/" not in p and "/_workers/" not in p
    }


def test_background_compiles_each_shape_once_and_changes_no_output(tmp_path: Path) -> None:
    model = tmp_path / "model"
    version = save_tiny_model(model)
    outputs = {}
    summaries = {}
    for threads in (0, 2):
        root = tmp_path / f"threads-{threads}"
        write_chunks(open_store(str(root)), LAYOUT)
        config = InferConfig(
            cpu_batch_frames=1000,
            max_batch_per_device=2,
            compile_threads=threads,
            compilation_cache_dir="",
            merge_bucket_s=0.0,  # every bucket its own shapes
        )
        summaries[threads] = run_infer(str(root), model, config, progress=False)
        outputs[threads] = _logits(root, version)
    assert outputs[0] == outputs[2]
    assert len(outputs[2]) == len(LAYOUT)
    shapes = {
        threads: [(c["bucket_samples"], c["batch"]) for c in s["compiles"]]
        for threads, s in summaries.items()
    }
    for threads, compiled in shapes.items():
        assert len(compiled) == len(set(compiled)), f"a shape compiled twice ({threads} threads)"
    assert sorted(shapes[2]) == sorted(shapes[0])  # exactly the shapes the batches need
    assert {b for b, _ in shapes[2]} == {1600, 3200, 4800}
    # On the device loop the wait is the whole compile; in threads it cannot be more.
    assert summaries[0]["compile_wait_s"] >= 0.99 * summaries[0]["compile_s"]
    assert summaries[2]["compile_wait_s"] <= summaries[2]["compile_s"] + 0.05

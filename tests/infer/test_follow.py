"""Infer alongside decode: a following worker takes shards as they appear, and ends only
after decode's ``chunks/_SUCCESS``, with every shard's output written once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from galvasr.config import InferConfig
from galvasr.infer.stage import CHUNKS_DONE, decode_finished, run_infer
from galvasr.storage import open_store, read_parquet, write_parquet
from tests.infer_fixtures import chunk_table, save_tiny_model

CONFIG = InferConfig(
    cpu_batch_frames=1000, max_batch_per_device=2, follow_poll_s=0.05, compilation_cache_dir=""
)


def _shard(n: int) -> str:
    return f"bucket=0/part-{n:05d}-c000.zstd.parquet"


def _wait(condition: Any, what: str, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_following_worker_ends_only_after_decode_says_it_is_done(tmp_path: Path) -> None:
    model = tmp_path / "model"
    version = save_tiny_model(model)
    root = str(tmp_path / "root")
    store = open_store(root)

    def add(n: int) -> None:
        write_parquet(store, f"chunks/{_shard(n)}", chunk_table(1600, 3, seed=n, first_audio_id=n))

    def output(n: int) -> str:
        return f"logits/{version}/{_shard(n)}"

    add(0)
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            run_infer(root, model, CONFIG, progress=False, follow=decode_finished(root))
        )
    )
    worker.start()
    try:
        _wait(lambda: store.exists(output(0)), "the first shard's logits")
        add(1)  # a shard decode commits while the worker runs
        _wait(lambda: store.exists(output(1)), "a shard that appeared later")
        time.sleep(0.5)  # ten listings find nothing new: still waiting for decode
        assert worker.is_alive()
        assert not result
        # The last shards are committed just before decode's _SUCCESS: not one is missed.
        add(2)
        add(3)
        store.write_bytes(CHUNKS_DONE, b"")
        worker.join(timeout=180)
        assert not worker.is_alive()
    finally:
        store.write_bytes(CHUNKS_DONE, b"")
        worker.join(timeout=180)

    assert result["shards_total"] == 4
    assert result["shards_done"] == 4
    assert result["shards_failed"] == []
    for n in range(4):
        logits = read_parquet(store, output(n))
        assert logits.num_rows == 3
        assert sorted(logits.column("audio_id").to_pylist()) == [n, n, n]
    assert result["leases_swept"] == 0
    assert not [p for p in store.list(f"logits/{version}/_leases/")]


def test_without_follow_a_worker_takes_what_is_there_and_ends(tmp_path: Path) -> None:
    model = tmp_path / "model"
    version = save_tiny_model(model)
    root = str(tmp_path / "root")
    store = open_store(root)
    write_parquet(store, f"chunks/{_shard(0)}", chunk_table(1600, 3, seed=0))
    summary = run_infer(root, model, CONFIG, progress=False)  # no _SUCCESS, no waiting
    assert summary["shards_done"] == summary["shards_total"] == 1
    assert store.exists(f"logits/{version}/{_shard(0)}")

"""Buckets with little audio run padded to the longest length (infer.merge_bucket_s): fewer
shapes to compile, the same logits bytes, decided only on decode's complete listing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from galvasr.config import InferConfig
from galvasr.infer import shards as plan
from galvasr.infer.stage import run_infer
from galvasr.storage import open_store
from tests.infer_fixtures import save_tiny_model, write_chunks

# Buckets of 0.1, 0.2 and 0.3 s at batch 2: 3 + 3 + 3 rows.
LAYOUT = [(0, 1600, 3), (1, 3200, 2), (2, 4800, 3), (1, 3200, 1)]


def _config(merge_bucket_s: float) -> InferConfig:
    return InferConfig(
        cpu_batch_frames=1000,
        max_batch_per_device=2,
        compilation_cache_dir="",
        merge_bucket_s=merge_bucket_s,
    )


def _logits(root: Path, version: str) -> dict[str, bytes]:
    store = open_store(str(root))
    return {
        p: store.read_bytes(p)
        for p in store.list(f"logits/{version}/")
        if "/_leases/" not in p and "/_workers/" not in p
    }


def test_merged_lengths_and_widen() -> None:
    lengths = {0: 1600, 1: 3200, 2: 4800}
    # bucket 0: 2 x 3200 fits 6400; bucket 1: 10 x 1600 does not; 2 is the longest.
    assert plan.merged_lengths(lengths, {0: 2, 1: 10}, 6400) == {0: 4800}
    assert plan.merged_lengths(lengths, {0: 2, 1: 4}, 6400) == {0: 4800, 1: 4800}
    assert plan.merged_lengths(lengths, {1: 4}, 6400) == {1: 4800}  # 0: rows not counted
    assert plan.merged_lengths(lengths, {0: 2, 1: 4}, 0) == {}
    assert plan.merged_lengths({}, {}, 6400) == {}

    pcm = np.arange(1, 7, dtype=np.int16).reshape(2, 3)
    data = plan.ShardInput(
        audio_id=np.array([1, 2]),
        chunk_index=np.array([0, 1], np.int32),
        pcm=pcm,
        lengths=np.array([3, 2], np.int32),
        owned_samples=np.array([3, 2]),
    )
    wide = plan.widen(data, 5)
    assert wide.bucket_samples == 5 and wide.pcm.dtype == np.int16
    assert (wide.pcm[:, :3] == pcm).all() and not wide.pcm[:, 3:].any()
    assert list(wide.lengths) == [3, 2] and list(wide.audio_id) == [1, 2]
    assert plan.widen(data, 3) is data and plan.widen(data, 0) is data


@pytest.mark.parametrize(
    ("merge_bucket_s", "merged"),
    [
        (1.0, {"0": 4800, "1": 4800}),  # 3 x 3200 and 3 x 1600 samples of padding fit 16000
        (0.35, {"1": 4800}),  # 5600 samples: bucket 0's 9600 do not fit
    ],
)
def test_merged_buckets_compile_fewer_shapes_and_give_the_same_bytes(
    tmp_path: Path, merge_bucket_s: float, merged: dict[str, int]
) -> None:
    model = tmp_path / "model"
    version = save_tiny_model(model)
    summaries: dict[float, dict[str, Any]] = {}
    outputs = {}
    for budget in (0.0, merge_bucket_s):
        root = tmp_path / f"merge-{budget}"
        write_chunks(open_store(str(root)), LAYOUT)
        summaries[budget] = run_infer(str(root), model, _config(budget), progress=False)
        outputs[budget] = _logits(root, version)
    assert len(outputs[0.0]) == len(LAYOUT)
    assert outputs[merge_bucket_s] == outputs[0.0]  # padding changed no byte

    apart, together = summaries[0.0], summaries[merge_bucket_s]
    assert apart["merged_buckets"] == {}
    assert together["merged_buckets"] == merged
    lengths = {c["bucket_samples"] for c in together["compiles"]}
    assert lengths == {1600, 3200, 4800} - {1600 * (int(b) + 1) for b in merged}
    assert len(together["compiles"]) < len(apart["compiles"])
    assert together["rows"] == apart["rows"] == 9
    assert together["padded_fraction"] > apart["padded_fraction"]  # the price, counted


def test_no_merge_while_decode_is_unfinished(tmp_path: Path) -> None:
    model = tmp_path / "model"
    save_tiny_model(model)
    root = tmp_path / "root"
    store = open_store(str(root))
    write_chunks(store, LAYOUT)
    store.delete("chunks/_SUCCESS")  # the listing may be incomplete: merge nothing
    summary = run_infer(str(root), model, _config(1.0), progress=False)
    assert summary["merged_buckets"] == {} and summary["shards_done"] == len(LAYOUT)
    assert {c["bucket_samples"] for c in summary["compiles"]} == {1600, 3200, 4800}


def test_an_unreadable_shard_merges_nothing_and_fails_alone(tmp_path: Path) -> None:
    model = tmp_path / "model"
    save_tiny_model(model)
    root = tmp_path / "root"
    store = open_store(str(root))
    keys = write_chunks(store, LAYOUT)
    store.write_bytes(f"chunks/{keys[0]}", b"not parquet")  # bucket 0's only shard
    summary = run_infer(str(root), model, _config(1.0), progress=False)
    assert summary["merged_buckets"] == {}
    assert [(f["shard"], f["reason"]) for f in summary["shards_failed"]] == [
        (keys[0], "unreadable")
    ]
    assert summary["shards_done"] == len(LAYOUT) - 1

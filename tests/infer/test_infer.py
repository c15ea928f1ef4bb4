"""The accelerator stage: batch plans, shard decoding, and whole workers on a tiny model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from galvasr import runroot
from galvasr.cli import app
from galvasr.config import InferConfig, load_config
from galvasr.infer import shards as plan
from galvasr.infer.stage import run_infer
from galvasr.model import load_model
from galvasr.quantize import decode_logprobs
from galvasr.schemas import LOGITS
from galvasr.storage import open_store, read_parquet, write_parquet
from tests.infer_faults import Faults
from tests.infer_fixtures import chunk_table, save_tiny_model, write_chunks

REPO = Path(__file__).resolve().parents[2]

# Two batches of 2 per shard, one shape per bucket (no bucket merged): few compiles, fast tests.
CONFIG = InferConfig(cpu_batch_frames=1_000, max_batch_per_device=2, poll_s=0.2, merge_bucket_s=0.0)
LAYOUT = [(0, 1600, 4), (1, 3200, 4), (1, 3200, 2)]


# -------------------------------------------------------------- pure parts


def test_find_shards_keeps_parquet_parts_and_reads_the_bucket() -> None:
    listing = [
        "chunks/_SUCCESS",
        "chunks/bucket=2/part-1.zstd.parquet",
        "chunks/bucket=10/part-0.parquet",
        "chunks/bucket=2/.part-1.parquet.crc",
        "chunks/bucket=2/_temporary/part-9.parquet",
        "chunks/bucket=x/part-1.parquet",
    ]
    assert plan.find_shards(listing) == [
        plan.Shard("bucket=10/part-0.parquet", 10),
        plan.Shard("bucket=2/part-1.zstd.parquet", 2),
    ]
    shard = plan.Shard("bucket=2/part-1.zstd.parquet", 2)
    assert shard.output_path("m-1") == "logits/m-1/bucket=2/part-1.zstd.parquet"
    assert runroot.leases_prefix("m-1") == "logits/m-1/_leases"
    with pytest.raises(ValueError):
        runroot.logits_prefix("a/b")


def test_rotation_is_a_permutation_that_depends_on_the_worker() -> None:
    shards = [plan.Shard(f"bucket=0/p{i}.parquet", 0) for i in range(7)]
    starts = {plan.rotate(shards, f"worker-{i}")[0] for i in range(20)}
    assert len(starts) > 3
    assert sorted(plan.rotate(shards, "w")) == shards


def test_batch_sizes_come_from_the_frame_budget() -> None:
    assert plan.per_device_batch(1700, 16_384, 64) == 9
    assert plan.per_device_batch(50, 16_384, 64) == 64
    assert plan.per_device_batch(100_000, 16_384, 64) == 1


def test_batch_plan_pads_only_the_tail_to_a_power_of_two() -> None:
    assert plan.plan_batches(10, 4, 1) == [(0, 4, 4), (4, 4, 4), (8, 2, 2)]
    assert plan.plan_batches(11, 8, 1) == [(0, 8, 8), (8, 3, 4)]
    assert plan.plan_batches(5, 8, 2) == [(0, 5, 8)]
    assert plan.plan_batches(1, 8, 2) == [(0, 1, 2)]
    assert plan.tail_batch(3, 6, 3) == 6  # never above the full batch
    with pytest.raises(ValueError):
        plan.plan_batches(4, 3, 2)


def test_out_of_memory_split() -> None:
    assert plan.split_batch(8, 1) == 4
    assert plan.split_batch(6, 2) == 4  # halves stay multiples of the devices
    assert plan.split_batch(2, 2) == 0
    assert plan.is_out_of_memory(plan.DeviceOutOfMemory(4, "test"))
    assert not plan.is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED but not from XLA"))


def test_shard_input_decodes_pcm_without_copying_and_checks_it() -> None:
    table = chunk_table(1600, 5, seed=3)
    data = plan.shard_input(table)
    assert data.pcm.shape == (5, 1600) and data.pcm.dtype == np.int16
    first = np.frombuffer(table.column("pcm")[0].as_py(), "<i2")
    assert np.array_equal(data.pcm[0], first)
    expected = (
        table.column("context_before_samples").to_numpy()
        + table.column("num_samples").to_numpy()
        + table.column("context_after_samples").to_numpy()
    )
    assert np.array_equal(data.lengths, expected)
    sliced = plan.shard_input(table.slice(2, 2))  # an Arrow offset into the buffers
    assert np.array_equal(sliced.pcm, data.pcm[2:4])

    bad = table.set_column(
        table.schema.get_field_index("pcm"), "pcm", pa.array([b"\0\0"] * 5, pa.binary())
    )
    with pytest.raises(plan.ShardError, match="pcm"):
        plan.shard_input(bad)
    mixed = pa.concat_tables([table, chunk_table(3200, 1, seed=4)])
    with pytest.raises(plan.ShardError, match="bucket_samples"):
        plan.shard_input(mixed)
    with pytest.raises(plan.ShardError, match="empty"):
        plan.shard_input(table.slice(0, 0))


def test_pad_rows() -> None:
    pcm = np.ones((3, 4), np.int16)
    lengths = np.array([4, 3, 2], np.int32)
    padded, padded_lengths = plan.pad_rows(pcm, lengths, 4)
    assert padded.shape == (4, 4) and padded[3].sum() == 0 and list(padded_lengths) == [4, 3, 2, 0]
    assert plan.pad_rows(pcm, lengths, 3)[0] is pcm


def test_infer_config_section() -> None:
    config = load_config(None, {"infer": {"encoding": "uint8q", "lease_ttl_s": 5}})
    assert config.infer.encoding == "uint8q" and config.infer.lease_ttl_s == 5
    with pytest.raises(ValueError, match="encoding"):
        InferConfig(encoding="int4")


# ------------------------------------------------------------ whole worker


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("model") / "tiny"
    return folder, save_tiny_model(folder)


def make_root(path: Path, layout: list[tuple[int, int, int]] = LAYOUT) -> str:
    write_chunks(open_store(str(path)), layout)
    return str(path)


def outputs(root: str, version: str) -> dict[str, bytes]:
    """Every committed logits file of ``version``, by path (leases and summaries left out)."""
    store = open_store(root)
    return {
        p: store.read_bytes(p)
        for p in store.list(f"logits/{version}/")
        if "/_leases/" not in p and "/_workers/" not in p
    }


def run(root: str, model: Path, config: InferConfig = CONFIG, **kwargs: Any) -> dict[str, Any]:
    return run_infer(root, model, config, progress=False, **kwargs)


def test_worker_writes_each_shards_logprobs_in_input_order(
    tmp_path: Path, tiny_model: tuple[Path, str]
) -> None:
    folder, version = tiny_model
    root = make_root(tmp_path / "run")
    summary = run(root, folder, worker_id="w")
    assert summary["shards_done"] == 3 and summary["rows"] == 10
    assert summary["shards_failed"] == [] and summary["batches"] == 5
    assert summary["compile_s"] > 0 and len(summary["compiles"]) == 2  # one per bucket
    assert 0 < summary["padded_fraction"] < 1 and summary["audio_seconds"] > 0

    store = open_store(root)
    model = load_model(folder)
    files = outputs(root, version)
    assert sorted(files) == [
        f"logits/{version}/bucket=0/part-00000-c000.zstd.parquet",
        f"logits/{version}/bucket=1/part-00001-c000.zstd.parquet",
        f"logits/{version}/bucket=1/part-00002-c000.zstd.parquet",
    ]
    for path in files:
        table = read_parquet(store, path)
        assert table.schema == LOGITS.arrow
        key = path.split("/", 2)[2]
        data = plan.shard_input(read_parquet(store, f"chunks/{key}"))
        assert table.column("audio_id").to_pylist() == data.audio_id.tolist()
        assert table.column("chunk_index").to_pylist() == data.chunk_index.tolist()
        assert set(table.column("bucket").to_pylist()) == {int(key[7])}
        assert set(table.column("model_version").to_pylist()) == {version}
        expected, frames = model(data.pcm, data.lengths)
        for i, row in enumerate(table.to_pylist()):
            assert row["num_frames"] == int(frames[i]) == model.num_frames(int(data.lengths[i]))
            got = decode_logprobs(
                row["logprobs"], row["encoding"], row["num_frames"], row["vocab_size"]
            )
            want = np.asarray(expected[i, : row["num_frames"]])
            assert np.allclose(got, want, atol=1e-2, rtol=2e-3)

    written = json.loads(store.read_bytes(f"logits/{version}/_workers/w.json"))
    assert written["shards_done"] == 3
    assert store.list(f"logits/{version}/_leases/") == []  # every lease released


def test_a_second_run_skips_what_exists_and_another_model_writes_beside(
    tmp_path: Path, tiny_model: tuple[Path, str]
) -> None:
    folder, version = tiny_model
    root = make_root(tmp_path / "run", LAYOUT[:2])
    run(root, folder)
    before = outputs(root, version)
    # Again, through the command line, with the progress bar on.
    result = CliRunner().invoke(
        app, ["infer", "--root", root, "--model", str(folder), "--set", "infer.poll_s=0.2"]
    )
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout.strip().splitlines()[-1])
    assert again["shards_skipped"] == 2 and again["shards_done"] == 0 and again["batches"] == 0
    assert outputs(root, version) == before

    other_folder = tmp_path / "other"
    other = save_tiny_model(other_folder, seed=1, name="tiny")
    assert other != version
    run(root, other_folder, InferConfig(**{**CONFIG.__dict__, "encoding": "uint8q"}))
    assert outputs(root, version) == before  # untouched
    beside = outputs(root, other)
    assert len(beside) == 2
    table = read_parquet(open_store(root), next(iter(beside)))
    assert set(table.column("encoding").to_pylist()) == {"uint8q"}


def test_out_of_memory_batches_are_split_and_the_run_goes_on(
    tmp_path: Path, tiny_model: tuple[Path, str]
) -> None:
    folder, version = tiny_model
    clean_root = make_root(tmp_path / "clean", LAYOUT[:1])
    run(clean_root, folder)
    root = make_root(tmp_path / "oom", LAYOUT[:1])
    summary = run(root, folder, hooks=Faults(oom_above_rows=1))
    assert summary["batches_split_for_memory"] == 1  # then batches of 1 straight away
    assert summary["shards_done"] == 1 and summary["batches"] == 4
    [(path, data)] = outputs(root, version).items()
    clean = read_parquet(open_store(clean_root), path)
    split = read_parquet(open_store(root), path)
    assert split.column("num_frames").equals(clean.column("num_frames"))
    for a, b, n in zip(
        clean.column("logprobs").to_pylist(),
        split.column("logprobs").to_pylist(),
        clean.column("num_frames").to_pylist(),
        strict=True,
    ):
        assert np.allclose(
            decode_logprobs(a, "float16", n, 29), decode_logprobs(b, "float16", n, 29), atol=1e-2
        )


def test_a_shard_that_cannot_fit_or_cannot_be_read_fails_alone(
    tmp_path: Path, tiny_model: tuple[Path, str]
) -> None:
    folder, version = tiny_model
    root = make_root(tmp_path / "run", LAYOUT[:2])
    store = open_store(root)
    broken = chunk_table(1600, 2, seed=9).slice(0, 1)
    broken = broken.set_column(
        broken.schema.get_field_index("pcm"), "pcm", pa.array([b"\0"], pa.binary())
    )
    write_parquet(store, "chunks/bucket=0/part-broken.parquet", broken)
    summary = run(root, folder)
    assert summary["shards_done"] == 2
    assert [(f["shard"], f["reason"]) for f in summary["shards_failed"]] == [
        ("bucket=0/part-broken.parquet", "pcm")
    ]

    root = make_root(tmp_path / "oom", LAYOUT[:1])
    summary = run(root, folder, hooks=Faults(oom_above_rows=-1))
    assert summary["shards_done"] == 0 and summary["batches_split_for_memory"] == 1
    assert [f["reason"] for f in summary["shards_failed"]] == ["out_of_memory"]
    assert outputs(root, version) == {}
    assert store.list(f"logits/{version}/_leases/") == []


def test_data_parallel_over_two_host_devices(tmp_path: Path, tiny_model: tuple[Path, str]) -> None:
    folder, version = tiny_model
    one_root = make_root(tmp_path / "one", LAYOUT[:2])
    run(one_root, folder)
    two_root = make_root(tmp_path / "two", LAYOUT[:2])
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    config = tmp_path / "infer.toml"
    config.write_text("[infer]\ncpu_batch_frames = 1000\nmax_batch_per_device = 1\n")
    result = subprocess.run(
        [sys.executable, "-m", "accel.infer", "--root", two_root, "--model", str(folder)]
        + ["--config", str(config), "--no-progress"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(summary["devices"]) == 2 and summary["batches"] == 4  # 2 rows = 1 per device
    one, two = outputs(one_root, version), outputs(two_root, version)
    assert sorted(one) == sorted(two)
    for path in one:
        a = read_parquet(open_store(one_root), path).to_pylist()
        b = read_parquet(open_store(two_root), path).to_pylist()
        for ra, rb in zip(a, b, strict=True):
            assert ra["num_frames"] == rb["num_frames"]
            n, v = ra["num_frames"], ra["vocab_size"]
            assert np.allclose(
                decode_logprobs(ra["logprobs"], "float16", n, v),
                decode_logprobs(rb["logprobs"], "float16", n, v),
                atol=1e-2,
            )

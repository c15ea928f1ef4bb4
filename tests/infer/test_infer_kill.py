"""Kill and resume: three workers on one run root, one SIGKILLed mid-shard, then a restart.

Afterwards the outputs must be exactly those of a clean single-worker run:
same files, same bytes, every input row once. On local disk and on the GCS
emulator, with real worker processes (``python -m tpu.infer``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from galvasr.infer.leases import Leases
from galvasr.storage import Store, open_store, read_parquet
from tests.gcs_emulator import Emulator
from tests.infer_fixtures import save_tiny_model, write_chunks

REPO = Path(__file__).resolve().parents[2]

# Nine shards of one bucket, two batches each: one compile per worker, and
# enough shards that every worker gets some.
LAYOUT = [(0, 1600, 4)] * 9
CONFIG = """\
[infer]
cpu_batch_frames = 1000
max_batch_per_device = 2
prefetch_batches = 1
write_queue_batches = 1
lease_ttl_s = 3.0
poll_s = 0.3
compilation_cache_dir = "{cache}"
"""


@dataclass
class Backend:
    name: str
    env: dict[str, str]
    base: str  # run roots go under it

    def store(self, url: str) -> Store:
        return open_store(url)


@pytest.fixture(params=["local", "gcs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    if request.param == "local":
        yield Backend("local", env, str(tmp_path))
        return
    emulator: Emulator = request.getfixturevalue("gcs_emulator")
    bucket: str = request.getfixturevalue("gcs_bucket")
    env = {**env, "STORAGE_EMULATOR_HOST": emulator.endpoint, "GOOGLE_CLOUD_PROJECT": "test"}
    previous = {k: os.environ.get(k) for k in ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT")}
    os.environ.update({k: env[k] for k in previous})  # for this process's stores too
    try:
        yield Backend("gcs", env, f"gs://{bucket}/{uuid.uuid4().hex}")
    finally:
        for k, v in previous.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start_worker(
    backend: Backend, root: str, model: Path, config: Path, worker_id: str, faults: str = ""
) -> subprocess.Popen[str]:
    env = dict(backend.env)
    if faults:
        env["GALVASR_INFER_FAULTS"] = faults
    return subprocess.Popen(
        [sys.executable, "-m", "tests.infer_faults", "--root", root, "--model", str(model)]
        + ["--config", str(config), "--worker-id", worker_id, "--no-progress"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 240) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


def committed(store: Store, version: str) -> dict[str, bytes]:
    return {
        p: store.read_bytes(p)
        for p in store.list(f"logits/{version}/")
        if "/_leases/" not in p and "/_workers/" not in p
    }


def test_kill_mid_shard_and_resume_equals_a_clean_run(backend: Backend, tmp_path: Path) -> None:
    model = tmp_path / "model"
    version = save_tiny_model(model)
    config = tmp_path / "infer.toml"
    config.write_text(CONFIG.format(cache=tmp_path / "jax-cache"))
    clean_root, root = f"{backend.base}/clean", f"{backend.base}/shared"
    clean_store, store = backend.store(clean_root), backend.store(root)
    write_chunks(clean_store, LAYOUT)
    write_chunks(store, LAYOUT)

    clean = finish(start_worker(backend, clean_root, model, config, "clean"))
    assert clean["shards_done"] == len(LAYOUT)
    expected = committed(clean_store, version)
    assert len(expected) == len(LAYOUT)

    marker = tmp_path / "victim-is-mid-shard"
    victim_faults = json.dumps({"sleep_in_shard": "part-", "sleep_s": 600, "marker": str(marker)})
    victim = start_worker(backend, root, model, config, "w0", victim_faults)
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert victim.poll() is None, victim.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the victim never got a shard"
        time.sleep(0.05)
    # The others start once the victim holds its shard: started together, two warm
    # workers (the compilation cache is shared) could take every shard first.
    others = [start_worker(backend, root, model, config, f"w{i}") for i in (1, 2)]
    killed_shard = marker.read_text()
    # It computed one batch of two and holds the lease, renewing it.
    # A renewal replaces the record between a listing and a read; under load that can
    # happen several times in a row, so look again for a few seconds.
    leases = Leases(store, f"logits/{version}/_leases", "test", 1.0)
    lease = leases.current(killed_shard)
    for _ in range(50):
        if lease is not None:
            break
        time.sleep(0.1)
        lease = leases.current(killed_shard)
    assert lease is not None and lease.worker_id == "w0", (
        killed_shard,
        "\n".join(store.list(f"logits/{version}/")),
    )
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    restart = start_worker(backend, root, model, config, "w0-restart")

    summaries = [finish(p) for p in (*others, restart)]
    got = committed(store, version)
    assert sorted(got) == sorted(expected)  # same keys...
    assert got == expected  # ...same bytes
    # Exactly once: every shard committed by exactly one worker, every row once.
    assert sum(s["shards_done"] for s in summaries) == len(LAYOUT)
    keys = [
        (a, c)
        for path in got
        for a, c in zip(
            *read_parquet(store, path, ["audio_id", "chunk_index"]).to_pydict().values(),
            strict=True,
        )
    ]
    assert len(keys) == len(set(keys)) == sum(rows for _, _, rows in LAYOUT)
    assert store.list(f"logits/{version}/_leases/") == []  # the dead worker's taken over too
    workers = {p.rsplit("/", 1)[1] for p in store.list(f"logits/{version}/_workers/")}
    assert workers == {"w1.json", "w2.json", "w0-restart.json"}

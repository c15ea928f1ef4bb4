"""benchmarks/gpu.py runs end to end on the CPU at tiny sizes and writes every figure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_benchmark_small_on_cpu_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--small", "--shards", "1", "--rows", "3"]
        + ["--repeats", "1", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["small"] is True
    assert result["jax_backend"] == "cpu"
    assert result["chunks"]["audio_seconds"] > 0
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401

        with_torch = True
    except ImportError:
        with_torch = False
    expected = {"galvasr-small", "wav2vec2-base-random"} if with_torch else {"galvasr-small"}
    assert set(result["stage"]) == expected
    for runs in result["stage"].values():
        assert [r["precision"] for r in runs] == ["float32", "bfloat16"]
        for r in runs:
            assert r["shards_done"] == 1 and r["failed"] == []
            assert r["audio_seconds"] == result["chunks"]["audio_seconds"]
            assert r["rtfx"] > 0 and r["rtfx_excluding_compile"] >= r["rtfx"]
            assert r["compiled_shapes"] >= 1 and r["device_s"] > 0
            assert r["input_wait_fraction_of_device"] >= 0
    if with_torch:
        forward = result["forward"]
        for side in ("transformers", "galvasr_float32", "galvasr_bfloat16"):
            assert forward[side]["audio_s_per_s_median"] > 0
        assert forward["max_abs_logprob_difference_float32"] < 1e-3

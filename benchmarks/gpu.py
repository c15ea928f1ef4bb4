"""The accelerator stage on a GPU (or whatever JAX runs on): one command, one JSON.

    python benchmarks/gpu.py --out benchmarks/results/gpu.json      # a CUDA host
    python benchmarks/gpu.py --small --out /tmp/gpu.json            # anywhere: tiny sizes

On a GPU host: ``pip install -U "jax[cuda12]"`` (and a CUDA build of torch
for the transformers comparison) in galvasr's environment, then run it; JAX
uses its default backend (``jax_backend`` in the result says which).

1. **The stage** (``stage``): the real infer worker (``run_infer``, exactly
   what ``galvasr infer`` runs: reader thread, device loop, writer thread,
   leases, commits) over generated chunks (``--shards`` files of ``--rows``
   windows of ``--bucket-seconds``, written as decode writes them), for the
   project's model (``models/galvasr-small``; random weights of the same
   architecture if it is absent, as in ``benchmarks/infer_cpu.py``) and a
   wav2vec2-base-size model with random weights (built by
   ``benchmarks/hf_speed.py``), each in float32 and bfloat16. Per run: audio
   seconds per wall second (RTFx) with and without compilation, the device
   time, and the time the device loop waited for input as a fraction of the
   device time (``input_wait_fraction_of_device``: above ~0.05 the reader,
   not the accelerator, bounds the stage).
2. **The forward pass beside transformers** (``forward``, when torch is
   installed): ``benchmarks/hf_speed.py``'s interleaved timing of the same
   wav2vec2 batch through transformers (PyTorch, on CUDA when torch sees a
   GPU) and galvasr's JAX model in float32 and bfloat16.

``--small``: a tiny wav2vec2 (2 layers of 32), 4 s windows and few of them,
so that the whole benchmark runs on a CPU in a minute or two (the tests run
it so); its figures say nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks import hf_speed, infer_cpu  # noqa: E402
from galvasr.config import InferConfig, load_config, parse_overrides  # noqa: E402
from galvasr.model import DEFAULT_MODEL  # noqa: E402
from galvasr.schemas import CHUNKS  # noqa: E402
from galvasr.storage import open_store, write_parquet  # noqa: E402

SAMPLE_RATE = 16_000
PRECISIONS = ("float32", "bfloat16")
# --small: every size a CPU gets through in seconds.
TINY_WAV2VEC2 = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "conv_dim": (32,) * 7,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
}


def write_chunks(root: Path, shards: int, rows: int, seconds: float) -> float:
    """``shards`` chunks files of ``rows`` full windows of tone and noise; audio seconds."""
    rng = np.random.default_rng(0)
    n = int(seconds * SAMPLE_RATE)
    context = min(2 * SAMPLE_RATE, n // 8)
    owned = n - 2 * context
    names = [c for c in CHUNKS.columns if c != CHUNKS.c.bucket]
    schema = pa.schema([f for f in CHUNKS.arrow if f.name != CHUNKS.c.bucket])
    store = open_store(str(root))
    t = np.arange(n) / SAMPLE_RATE
    for shard in range(shards):
        data: dict[str, list[Any]] = {name: [] for name in names}
        for i in range(rows):
            tone = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t)
            pcm = ((tone + 0.05 * rng.standard_normal(n)) * 32767).astype("<i2")
            data["audio_id"].append(shard * rows + i)
            data["chunk_index"].append(0)
            data["bucket_samples"].append(n)
            data["start_sample"].append(0)
            data["num_samples"].append(owned)
            data["context_before_samples"].append(context)
            data["context_after_samples"].append(context)
            data["pcm"].append(pcm.tobytes())
        table = pa.Table.from_pydict(data, schema=schema)
        write_parquet(store, f"chunks/bucket=0/part-{shard:05d}-c000.zstd.parquet", table)
    store.write_bytes("chunks/_SUCCESS", b"")
    return shards * rows * owned / SAMPLE_RATE


def stage_run(chunks: Path, scratch: Path, model: Path, config: InferConfig) -> dict[str, Any]:
    """One worker over ``chunks`` in a fresh run root; the figures of its summary."""
    from galvasr.infer.stage import run_infer

    root = scratch / f"run-{time.monotonic_ns()}"
    root.mkdir()
    os.symlink(chunks.resolve(), root / "chunks")
    s = run_infer(str(root), model, config, worker_id="bench", progress=False)
    device_s = float(s["device_s"])
    return {
        "precision": config.precision,
        "shards_done": s["shards_done"],
        "failed": s["shards_failed"],
        "audio_seconds": round(s["audio_seconds"], 1),
        "rtfx": round(s["rtfx"], 2),
        "rtfx_excluding_compile": round(s["rtfx_excluding_compile"], 2),
        "compile_s": round(s["compile_s"], 2),
        "compiled_shapes": len(s["compiles"]),
        "batch": max((int(c["batch"]) for c in s["compiles"]), default=0),
        "batches": s["batches"],
        "run_s": round(s["run_s"], 2),
        "loop_s": round(s["loop_s"], 2),
        "device_s": round(device_s, 2),
        "input_wait_s": round(s["input_wait_s"], 3),
        "input_wait_fraction_of_device": (
            round(s["input_wait_s"] / device_s, 4) if device_s > 0 else None
        ),
        "input_wait_fraction_of_loop_after_first_batch": round(s["input_wait_fraction_steady"], 4),
        "devices": s["devices"],
    }


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny sizes: runs on a CPU")
    parser.add_argument("--shards", type=int, default=None, help="chunks files [16; small: 2]")
    parser.add_argument("--rows", type=int, default=None, help="windows per file [128; small: 4]")
    parser.add_argument("--bucket-seconds", type=float, default=None, help="[34; small: 4]")
    parser.add_argument("--batch", type=int, default=None, help="forward batch [32; small: 2]")
    parser.add_argument("--repeats", type=int, default=3, help="forward rounds")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="galvasr's own model")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="infer.KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    small = args.small
    shards = args.shards or (2 if small else 16)
    rows = args.rows or (4 if small else 128)
    seconds = args.bucket_seconds or (4.0 if small else 34.0)
    batch = args.batch or (2 if small else 32)

    import jax

    backend = jax.default_backend()
    base = load_config(None, parse_overrides(args.sets)).infer
    load_before = os.getloadavg()
    result: dict[str, Any] = {
        "benchmark": "gpu",
        "small": small,
        "jax_backend": backend,
        "jax_version": jax.__version__,
        "devices": [str(d) for d in jax.local_devices()],
        "chunks": {"shards": shards, "rows": rows, "bucket_seconds": seconds},
        "infer_settings": {k: v for k, v in base.__dict__.items() if k != "model"},
    }
    with tempfile.TemporaryDirectory(prefix="galvasr-gpu-bench-") as tmp:
        scratch = Path(tmp)
        chunks_root = scratch / "decoded"
        result["chunks"]["audio_seconds"] = round(
            write_chunks(chunks_root, shards, rows, seconds), 1
        )
        chunks = chunks_root / "chunks"
        own_random = small or not (args.model / "model.json").exists()
        own = infer_cpu.random_small_model(scratch / "own") if own_random else args.model
        models: dict[str, dict[str, Any]] = {
            "galvasr-small": {"path": str(own), "random_weights": own_random}
        }
        w2v = scratch / "wav2vec2"
        if has_torch():
            config = TINY_WAV2VEC2 if small else {}
            parameters = hf_speed.build_model(w2v, **config)
            models["wav2vec2-base-random"] = {
                "path": str(w2v),
                "random_weights": True,
                "parameters_millions": round(parameters / 1e6, 2),
                "config": "tiny (--small)" if small else "transformers' default Wav2Vec2Config",
            }
        else:
            result["wav2vec2"] = "skipped: building the random wav2vec2 needs torch+transformers"
        stage: dict[str, list[dict[str, Any]]] = {}
        for name, info in models.items():
            stage[name] = []
            for precision in PRECISIONS:
                settings = InferConfig(
                    **{**base.__dict__, "precision": precision, "compilation_cache_dir": ""}
                )
                stage[name].append(stage_run(chunks, scratch, Path(info["path"]), settings))
        result["models"] = models
        result["stage"] = stage
        if has_torch():
            import torch

            device = "cuda" if backend == "gpu" and torch.cuda.is_available() else "cpu"
            forward = argparse.Namespace(
                batch=batch, seconds=seconds, repeats=args.repeats, device=device, no_memory=True
            )
            result["forward"] = hf_speed.measure(forward, w2v, 0)
        else:
            result["forward"] = "skipped: torch and transformers are not installed"
    result["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()

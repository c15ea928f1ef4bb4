"""RTFx of the accelerator stage (tpu/infer.py) on this machine's CPU, over the sample corpus.

    nice -n 5 .venv/bin/python benchmarks/infer_cpu.py [--root runs/sample] \\
        [--corpus data/sample] [--model models/galvasr-small] [--set infer.KEY=VALUE] [--out F]

Takes the ``chunks`` of ``--root`` if it has them; otherwise builds them from
``--corpus`` with the real ingest and decode stages (local Spark) in a
scratch run root. Then runs one worker, exactly as ``galvasr infer`` does, in
a scratch run root whose ``chunks`` is a link to those (nothing is written
beside the real run's tables), and prints JSON: RTFx (owned audio seconds per
wall second, compile included and excluded), compile time apart from run
time, the fraction of the device loop spent waiting on input (overall, and
after the first batch), padding, and the machine's load (the CPU is shared).

If the model folder does not exist yet (it is trained separately), a model
of the same architecture (tpu/configs/small.py) with random weights is timed
instead and ``random_weights`` says so: speed does not depend on the weights.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jax  # noqa: E402

from galvasr.config import load_config, parse_overrides  # noqa: E402
from galvasr.infer.shards import CHUNKS_PREFIX, find_shards  # noqa: E402
from galvasr.infer.stage import run_infer  # noqa: E402
from galvasr.model import DEFAULT_MODEL  # noqa: E402
from galvasr.storage import open_store  # noqa: E402


def build_chunks(corpus: Path, root: Path) -> dict[str, Any]:
    """Ingest and decode ``corpus`` into ``root`` with local Spark; the two stages' summaries."""
    from galvasr.decode.stage import run_decode
    from galvasr.ingest.stage import run_ingest
    from galvasr.spark import get_spark

    config = load_config()
    spark = get_spark("bench-infer", master="local[2]")
    try:
        ingest = run_ingest(spark, str(corpus), str(root), config.ingest)
        decode = run_decode(spark, str(corpus), str(root), config.decode)
    finally:
        spark.stop()
    return {"ingest": _plain(ingest), "decode": _plain(decode)}


def _plain(summary: Any) -> Any:
    return summary.__dict__ if hasattr(summary, "__dict__") else summary


def random_small_model(folder: Path) -> Path:
    import jax.numpy as jnp

    from galvasr.model.checkpoint import save_model
    from galvasr.model.configs.small import TrainConfig
    from galvasr.model.convctc import ConvCTC
    from galvasr.model.vocab import DEFAULT_VOCAB

    config = TrainConfig().model
    params = ConvCTC(config).init(
        jax.random.PRNGKey(0), jnp.zeros((1, 1600), jnp.int16), jnp.ones((1,), jnp.int32)
    )["params"]
    save_model(folder, "galvasr-small-random", config, params, DEFAULT_VOCAB)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("runs/sample"))
    parser.add_argument("--corpus", type=Path, default=Path("data/sample"))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--scratch", type=Path, default=None, help="keep scratch files here")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="galvasr-bench-infer-"))
    scratch.mkdir(parents=True, exist_ok=True)
    built: dict[str, Any] | None = None
    source = args.root
    if not find_shards(open_store(str(source)).list(CHUNKS_PREFIX)):
        source = scratch / "decoded"
        if not find_shards(open_store(str(source)).list(CHUNKS_PREFIX)):
            started = time.perf_counter()
            built = build_chunks(args.corpus, source)
            built["seconds"] = time.perf_counter() - started
    shards = find_shards(open_store(str(source)).list(CHUNKS_PREFIX))

    random_weights = not (args.model / "model.json").exists()
    model = random_small_model(scratch / "model") if random_weights else args.model

    run_root = scratch / f"run-{int(time.time())}"
    run_root.mkdir()
    os.symlink((source / "chunks").resolve(), run_root / "chunks")
    config = load_config(None, parse_overrides(args.overrides)).infer

    load_before = os.getloadavg()
    summary = run_infer(str(run_root), model, config, worker_id="bench", progress=False)
    result = {
        "what": "tpu/infer.py, one worker, CPU",
        "gpu": "none: no accelerator was lent to this task, so no GPU figures",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "jax": jax.__version__,
            "devices": [str(d) for d in jax.local_devices()],
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "chunks": {
            "root": str(source),
            "shards": len(shards),
            "buckets": sorted({s.bucket for s in shards}),
            "built_from_corpus": built,
        },
        "model": {"path": str(model), "random_weights": random_weights},
        "config": config.__dict__,
        "headline": {
            "audio_hours": round(summary["audio_seconds"] / 3600, 3),
            "rtfx": round(summary["rtfx"], 1),
            "rtfx_excluding_compile": round(summary["rtfx_excluding_compile"], 1),
            "compile_s": round(summary["compile_s"], 1),
            "compiled_shapes": len(summary["compiles"]),
            "run_s": round(summary["run_s"], 1),
            "input_wait_fraction": round(summary["input_wait_fraction"], 4),
            "input_wait_fraction_after_first_batch": round(
                summary["input_wait_fraction_steady"], 4
            ),
            "padded_fraction": round(summary["padded_fraction"], 4),
        },
        "worker": summary,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

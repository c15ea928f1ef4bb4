"""Batched inference speed on 30 s windows, as real-time factor (audio s per wall s).

    .venv/bin/python benchmarks/model_speed.py [--model models/galvasr-small] [--batch 8]

Times the jitted model (features included, compile excluded) on ``--batch``
windows of 30 s, ``--repeats`` times, in float32 and bfloat16, and reports
the best and the median run (other processes on a shared machine slow some
runs down), the CPU count and the load average when it started.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from galvasr.model import DEFAULT_MODEL, load_model  # noqa: E402


def measure(model_path: Path, batch: int, seconds: float, repeats: int) -> dict[str, object]:
    rng = np.random.default_rng(0)
    samples = int(seconds * 16_000)
    pcm = (rng.standard_normal((batch, samples)) * 2000).astype(np.int16)
    lengths = np.full(batch, samples, np.int32)
    result: dict[str, object] = {
        "model": str(model_path),
        "batch": batch,
        "window_seconds": seconds,
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "jax_backend": jax.default_backend(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    for precision in ("float32", "bfloat16"):
        model = load_model(model_path, precision=precision)
        model(pcm, lengths)[0].block_until_ready()  # compile
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            model(pcm, lengths)[0].block_until_ready()
            times.append(time.perf_counter() - t)
        audio = batch * seconds
        result[precision] = {
            "rtfx_best": round(audio / min(times), 1),
            "rtfx_median": round(audio / float(np.median(times)), 1),
            "seconds_per_batch": [round(t, 3) for t in times],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = measure(args.model, args.batch, args.seconds, args.repeats)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

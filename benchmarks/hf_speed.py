"""galvasr's JAX wav2vec2 forward against transformers' PyTorch one, on the same batches.

    .venv/bin/python benchmarks/hf_speed.py [--batch 4] [--seconds 30] [--repeats 3] \\
        [--out benchmarks/results/hf_speed.json]

The model is wav2vec2-base (transformers' default ``Wav2Vec2Config``: 12
layers of 768, group-norm feature encoder, 95 M parameters with a 32-symbol
``lm_head``) with random weights, built here and saved to a temporary folder
with ``save_pretrained`` (nothing is downloaded); galvasr loads that folder
with ``load_model``, transformers with ``Wav2Vec2ForCTC.from_pretrained``.

Both run in this one process on the same ``--batch`` windows of
``--seconds`` of audio: transformers in float32, galvasr in float32 and in
bfloat16, each compiled/warmed up once, then ``--repeats`` rounds in which
each runs once in turn (interleaved, so that load from other processes
falls on all sides alike). Each side's time includes the feature
extractor's normalisation (numpy for transformers, inside the jitted
function for galvasr). Reported: audio seconds per wall second (median and
best), the galvasr/transformers ratio of the medians and of each round,
and the largest log-probability difference between the float32 sides.

Peak memory is measured for each side in a fresh subprocess (so that one
side's freed memory cannot hide the other's): the peak RSS of the forward
pass over the RSS with the model loaded and compiled (``VmHWM`` reset
through ``/proc/self/clear_refs``), and the whole process's peak. For
galvasr, XLA's own temporary-buffer size is given too.

On a shared machine the timings are noisy (other processes take cores in
the middle of a run): the per-round ratios show how much; the load average
at start and end is recorded.

On a GPU host: install JAX for CUDA (``pip install -U "jax[cuda12]"``) and
a CUDA build of torch, then run with ``--device cuda``: transformers' model
and inputs move to the GPU and each call is synchronised; JAX runs on its
default backend (the GPU, see ``jax_backend`` in the result); peak memory
is then the device's (``torch.cuda.max_memory_allocated``, JAX's
``peak_bytes_in_use``). Use a larger ``--batch`` (e.g. 32) to fill the GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SIDES = ("transformers", "galvasr_float32", "galvasr_bfloat16")
VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]


def build_model(folder: Path, **config: Any) -> int:
    """wav2vec2-base with random weights in ``folder``; returns the parameter count.

    ``config``: ``Wav2Vec2Config`` fields to change (``benchmarks/gpu.py --small``: a
    tiny one)."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.Wav2Vec2ForCTC(
        transformers.Wav2Vec2Config(vocab_size=len(VOCAB), **config)
    )
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(VOCAB)}))
    (folder / "preprocessor_config.json").write_text(
        json.dumps({"sampling_rate": 16000, "do_normalize": True, "return_attention_mask": False})
    )
    return sum(p.numel() for p in model.parameters())


def batch_pcm(batch: int, seconds: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    n = int(seconds * 16_000)
    t = np.arange(n) / 16_000
    tone = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400, (batch, 1)) * t)
    return (tone + 0.05 * rng.standard_normal((batch, n))).astype(np.float32)


def make_runner(side: str, folder: Path, pcm: np.ndarray, device: str) -> Callable[[], Any]:
    """A function that runs one forward of ``side`` on ``pcm`` and returns log-probabilities."""
    if side == "transformers":
        import torch
        import transformers

        torch.set_grad_enabled(False)
        model = transformers.Wav2Vec2ForCTC.from_pretrained(folder).eval().to(device)

        def run_torch() -> Any:
            mean = pcm.mean(axis=1, keepdims=True)
            normed = (pcm - mean) / np.sqrt(pcm.var(axis=1, keepdims=True) + 1e-7)
            with torch.inference_mode():
                logits = model(torch.from_numpy(normed).to(device)).logits
                lp = torch.log_softmax(logits, dim=-1)
                if device == "cuda":
                    torch.cuda.synchronize()
            return lp

        return run_torch

    import jax
    import jax.numpy as jnp

    from galvasr.model import load_model

    precision = side.removeprefix("galvasr_")
    loaded = load_model(folder, precision=precision)
    x = jnp.asarray(pcm)
    lengths = jnp.full((pcm.shape[0],), pcm.shape[1], jnp.int32)

    def run_jax() -> Any:
        lp, _ = loaded(x, lengths)
        return jax.block_until_ready(lp)

    run_jax.loaded = loaded  # type: ignore[attr-defined]
    run_jax.args = (x, lengths)  # type: ignore[attr-defined]
    return run_jax


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_memory(side: str, folder: Path, batch: int, seconds: float, device: str) -> dict:
    """Peak memory of one side's forward, in this (fresh) process."""
    run = make_runner(side, folder, batch_pcm(batch, seconds), device)
    run()  # compile / warm up
    result: dict[str, Any] = {}
    if device == "cuda" and side == "transformers":
        import torch

        torch.cuda.reset_peak_memory_stats()
        run()
        result["device_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
        return result
    if side != "transformers":
        import jax

        loaded, inputs = run.loaded, run.args  # type: ignore[attr-defined]
        compiled = loaded._jitted.lower(loaded.params, *inputs).compile()
        analysis = compiled.memory_analysis()
        if analysis is not None:
            result["xla_temp_mb"] = round(analysis.temp_size_in_bytes / 2**20)
        if jax.default_backend() != "cpu":
            run()
            stats = jax.devices()[0].memory_stats() or {}
            result["device_peak_mb"] = round(stats.get("peak_bytes_in_use", 0) / 2**20)
            return result
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_mb("VmRSS")
    run()
    peak = _status_mb("VmHWM")
    result["rss_with_model_mb"] = round(before)
    result["forward_peak_over_model_mb"] = round(peak - before)
    result["process_peak_rss_mb"] = round(peak)
    return result


def memory_in_subprocess(side: str, folder: Path, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable, __file__, "--memory-of", side, "--folder", str(folder),
        "--batch", str(args.batch), "--seconds", str(args.seconds), "--device", args.device,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def measure(args: argparse.Namespace, folder: Path, parameters: int) -> dict[str, Any]:
    import jax
    import torch

    pcm = batch_pcm(args.batch, args.seconds)
    audio = args.batch * args.seconds
    result: dict[str, Any] = {
        "benchmark": "hf_speed",
        "model": "wav2vec2-base shape (transformers' default Wav2Vec2Config), random weights",
        "parameters_millions": round(parameters / 1e6, 1),
        "batch": args.batch,
        "window_seconds": args.seconds,
        "repeats": args.repeats,
        "device": args.device,
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "jax_backend": jax.default_backend(),
        "jax_version": jax.__version__,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    runners = {side: make_runner(side, folder, pcm, args.device) for side in SIDES}
    outputs = {side: np.asarray(run(), dtype=np.float32) for side, run in runners.items()}
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    for _ in range(args.repeats):
        for side, run in runners.items():
            start = time.perf_counter()
            run()
            times[side].append(time.perf_counter() - start)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    for side in SIDES:
        t = times[side]
        result[side] = {
            "audio_s_per_s_median": round(audio / float(np.median(t)), 2),
            "audio_s_per_s_best": round(audio / min(t), 2),
            "seconds_per_batch": [round(x, 3) for x in t],
        }
    base = times["transformers"]
    for side in ("galvasr_float32", "galvasr_bfloat16"):
        result[f"ratio_{side}_over_transformers"] = round(
            float(np.median(base)) / float(np.median(times[side])), 2
        )
        result[f"ratio_{side}_over_transformers_best"] = round(min(base) / min(times[side]), 2)
        result[f"ratio_{side}_over_transformers_per_round"] = [
            round(b / g, 2) for b, g in zip(base, times[side], strict=True)
        ]
    result["target_ratio_float32"] = 1.5
    result["notes"] = (
        f"{os.cpu_count()} cores shared with other processes: per-call times vary with their "
        "load (see load_average_* and seconds_per_batch); the per-round ratios compare calls "
        "made seconds apart"
    )
    diff = np.abs(outputs["galvasr_float32"] - outputs["transformers"]).max()
    result["max_abs_logprob_difference_float32"] = float(f"{diff:.2e}")
    diff16 = np.abs(outputs["galvasr_bfloat16"] - outputs["transformers"]).max()
    result["max_abs_logprob_difference_bfloat16"] = float(f"{diff16:.2e}")
    if not args.no_memory:
        del runners
        result["memory"] = {side: memory_in_subprocess(side, folder, args) for side in SIDES}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--folder", type=Path, default=None, help="reuse a model folder")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--memory-of", choices=SIDES, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_of:
        memory = measure_memory(args.memory_of, args.folder, args.batch, args.seconds, args.device)
        print(json.dumps(memory))
        return
    with tempfile.TemporaryDirectory(prefix="hf_speed-") as tmp:
        folder = args.folder or Path(tmp) / "wav2vec2-base-random"
        parameters = build_model(folder) if not (folder / "model.safetensors").exists() else 0
        if not parameters:
            import transformers

            parameters = transformers.Wav2Vec2ForCTC.from_pretrained(folder).num_parameters()
        result = measure(args, folder, parameters)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

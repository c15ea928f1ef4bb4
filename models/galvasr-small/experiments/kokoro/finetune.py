"""Fine-tune galvasr-small on its synthetic mix, with or without Kokoro speech (the control).

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python \
        models/galvasr-small/experiments/kokoro/finetune.py \
        --cache /tmp/kok/cache --kokoro-share 0.25 --steps 300 --out /tmp/kok/ft-kokoro

Starts from models/galvasr-small's weights (fresh AdamW state) and runs
galvasr.model.train.train unchanged: same batches code, augmentation, loss,
checkpoints (resumes) and export, with the config small but for the
schedule (peak lr, warm-up, steps) and the data: the first shards of the
training set (``<cache>/train``, made by base_cache.py) plus, at
``--kokoro-share`` of the draws, the Kokoro cache (``<cache>/kokoro``,
build_cache.py; its utterances are repeated to reach the share). With
``--kokoro-share 0`` it is the control. Every batch is a function of
(seed, step), as in training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from flax import serialization

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

import galvasr.model.train as train_mod  # noqa: E402
from galvasr.model.convctc import ConvCTC  # noqa: E402
from galvasr.model.trainset import Utterances, load_cache  # noqa: E402
from galvasr.schemas import SAMPLE_RATE  # noqa: E402


class Mix:
    """``base`` plus ``extra`` repeated to ``share`` of the indices: what batches() needs."""

    def __init__(self, base: Utterances, extra: Utterances | None, share: float) -> None:
        self.base = base
        self.extra = extra
        n_extra = 0 if extra is None or share <= 0 else int(round(share / (1 - share) * len(base)))
        self.n_base = len(base)
        self.n_extra = n_extra
        extra_texts = [] if extra is None else [extra.texts[i % len(extra)] for i in range(n_extra)]
        self.texts = tuple(base.texts) + tuple(extra_texts)

    def __len__(self) -> int:
        return self.n_base + self.n_extra

    def audio(self, i: int) -> np.ndarray:
        if i < self.n_base:
            return self.base.audio(i)
        assert self.extra is not None
        return self.extra.audio((i - self.n_base) % len(self.extra))

    @property
    def seconds(self) -> float:
        extra = 0.0
        if self.extra is not None and self.n_extra:
            extra = self.extra.seconds * self.n_extra / len(self.extra)
        return self.base.seconds + extra


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=Path("/tmp/kok/cache"))
    ap.add_argument("--kokoro-share", type=float, default=0.25)
    ap.add_argument("--kokoro-shards", type=int, default=None, help="use only the first N shards")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--peak-lr", type=float, default=3e-4)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--base-model", type=Path, default=ROOT / "models/galvasr-small")
    ap.add_argument("--name", default="galvasr-small-ft")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    c = dataclasses.replace(
        train_mod.get_config("small"),
        name=args.name,
        num_steps=args.steps,
        peak_lr=args.peak_lr,
        warmup_steps=args.warmup,
        decay_fraction=0.5,
        cache_dir=str(args.cache),
        workdir=str(args.out / "run"),
        export_dir=str(args.out / "model"),
        checkpoint_every=25,
        eval_every=10**9,  # only the final evaluation (all 300 held-out utterances)
    )
    base = load_cache(args.cache / "train")
    heldout = load_cache(args.cache / "heldout")
    extra = None
    if args.kokoro_share > 0:
        shards = sorted((args.cache / "kokoro").glob("shard-[0-9]*.npz"))
        if args.kokoro_shards is not None:
            shards = shards[: args.kokoro_shards]
        tmp = args.out / "kokoro-shards"
        tmp.mkdir(parents=True, exist_ok=True)
        for s in shards:  # load_cache reads a folder: link the chosen shards
            link = tmp / s.name
            if not link.exists():
                link.symlink_to(s)
        extra = load_cache(tmp)
    mix = Mix(base, extra, args.kokoro_share)
    summary = {
        "base_utterances": len(base),
        "base_hours": round(base.seconds / 3600, 3),
        "kokoro_utterances": 0 if extra is None else len(extra),
        "kokoro_hours": 0.0 if extra is None else round(extra.seconds / 3600, 3),
        "kokoro_share_of_draws": round(mix.n_extra / len(mix), 4),
        "steps": args.steps,
        "peak_lr": args.peak_lr,
        "warmup": args.warmup,
        "base_model": str(args.base_model),
    }
    print(json.dumps(summary), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data.json").write_text(json.dumps(summary, indent=1) + "\n")
    train_mod.prepare_data = lambda _c: (mix, heldout)  # type: ignore[assignment]

    # Start from the shipped weights: a step-0 checkpoint, which train() resumes.
    workdir = Path(c.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt = workdir / train_mod.CHECKPOINT
    if not ckpt.exists():
        import jax.numpy as jnp

        model = ConvCTC(c.model)
        max_samples = int(c.example_seconds * SAMPLE_RATE)
        template = model.init(
            __import__("jax").random.PRNGKey(c.seed),
            jnp.zeros((1, max_samples), jnp.int16),
            jnp.ones(1, jnp.int32),
        )["params"]
        shipped = serialization.from_state_dict(
            template,
            serialization.msgpack_restore((args.base_model / "weights.msgpack").read_bytes()),
        )
        opt = train_mod.make_optimizer(c)
        state = {"step": 0, "params": shipped, "opt_state": opt.init(shipped), "train_seconds": 0.0}
        train_mod._save_state(ckpt, state)
    train_mod.train(c)


if __name__ == "__main__":
    main()

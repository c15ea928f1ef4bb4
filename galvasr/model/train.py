"""Train galvasr's acoustic model from synthetic speech (``python -m accel.train --config small``).

One command does everything: synthesize the training and held-out sets
(cached, resumable), train with optax and CTC loss, checkpoint every
``checkpoint_every`` steps (atomically: a kill loses at most that many
steps, and the next run resumes from the saved step with the same batches),
log a learning curve as JSON lines (``<workdir>/log.jsonl``) and export the
final model with its held-out CER to ``export_dir``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import jiwer
import numpy as np
import optax
from flax import serialization
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from galvasr.model.checkpoint import save_model
from galvasr.model.configs.small import TrainConfig
from galvasr.model.convctc import ConvCTC
from galvasr.model.greedy import greedy_decode_batch
from galvasr.model.synth import SAMPLE_RATE
from galvasr.model.trainset import Utterances, batches, build_cache, load_cache
from galvasr.model.vocab import DEFAULT_VOCAB

CHECKPOINT = "checkpoint.msgpack"
LOG = "log.jsonl"


def get_config(name: str) -> TrainConfig:
    module = importlib.import_module(f"galvasr.model.configs.{name}")
    config: TrainConfig = module.get_config()
    return config


def prepare_data(c: TrainConfig) -> tuple[Utterances, Utterances]:
    root = Path(c.cache_dir)
    heldout = build_cache(
        root / "heldout",
        c.heldout_books,
        c.heldout_utterances,
        heldout=True,
        seed=c.seed + 1,
        max_seconds=c.max_utterance_seconds,
        workers=c.synth_workers,
    )
    train = build_cache(
        root / "train",
        c.train_books,
        c.train_utterances,
        heldout=False,
        seed=c.seed,
        max_seconds=c.max_utterance_seconds,
        workers=c.synth_workers,
    )
    return load_cache(train), load_cache(heldout)


def make_schedule(c: TrainConfig) -> optax.Schedule:
    """Warm up, hold, then decay linearly over the last ``decay_fraction`` of the steps.

    Unlike cosine, the curve up to the decay does not depend on ``num_steps``:
    a run can be lengthened or shortened before its decay starts and still
    be exactly the run its final config describes.
    """
    decay_steps = max(1, int(c.num_steps * c.decay_fraction))
    hold_steps = max(0, c.num_steps - c.warmup_steps - decay_steps)
    return optax.join_schedules(
        [
            optax.linear_schedule(0.0, c.peak_lr, c.warmup_steps),
            optax.constant_schedule(c.peak_lr),
            optax.linear_schedule(c.peak_lr, c.peak_lr * 0.02, decay_steps),
        ],
        [c.warmup_steps, c.warmup_steps + hold_steps],
    )


def make_optimizer(c: TrainConfig) -> optax.GradientTransformation:
    return optax.chain(
        optax.clip_by_global_norm(c.grad_clip),
        optax.adamw(make_schedule(c), weight_decay=c.weight_decay),
    )


StepFn = Callable[[Any, Any, dict[str, jnp.ndarray], jnp.ndarray], tuple[Any, Any, jnp.ndarray]]


def make_step(model: ConvCTC, opt: optax.GradientTransformation, seed: int) -> StepFn:
    """The jitted step ``(params, opt_state, batch, step) -> (params, opt_state, loss)``.

    CTC loss per label, dropout drawn from ``(seed, step)``: a step is a pure
    function of its inputs, so a resumed run repeats an uninterrupted one.
    Shared by :func:`train` and in-run adaptation (galvasr.adapt).
    """

    def loss_fn(p: Any, batch: dict[str, jnp.ndarray], rng: jax.Array) -> jnp.ndarray:
        out: Any = model.apply(
            {"params": p},
            batch["pcm"],
            batch["lengths"],
            train=True,
            warp=batch["warp"],
            feature_mask=batch["feature_mask"],
            rngs={"dropout": rng},
        )
        lp, frames = out
        pad = (jnp.arange(lp.shape[1])[None, :] >= frames[:, None]).astype(jnp.float32)
        per = optax.ctc_loss(lp, pad, batch["labels"], batch["label_paddings"])
        n_labels = jnp.maximum(jnp.sum(1.0 - batch["label_paddings"], axis=1), 1.0)
        return jnp.mean(per / n_labels)

    @jax.jit
    def step_fn(
        params: Any, opt_state: Any, batch: dict[str, jnp.ndarray], step: jnp.ndarray
    ) -> tuple[Any, Any, jnp.ndarray]:
        rng = jax.random.fold_in(jax.random.PRNGKey(seed), step)
        loss, grads = jax.value_and_grad(loss_fn)(params, batch, rng)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step_fn


def evaluate(
    model: ConvCTC, params: Any, utts: Utterances, count: int, max_samples: int, batch: int = 16
) -> float:
    """Greedy CER over the first ``count`` held-out utterances."""
    apply = _eval_fn(model)
    refs: list[str] = []
    hyps: list[str] = []
    n = min(count, len(utts))
    for start in range(0, n, batch):
        idx = list(range(start, min(start + batch, n)))
        pcm = np.zeros((batch, max_samples), np.int16)
        lengths = np.ones(batch, np.int32)
        for row, i in enumerate(idx):
            a = utts.audio(i)[:max_samples]
            pcm[row, : len(a)] = a
            lengths[row] = len(a)
        lp, frames = apply(params, pcm, lengths)
        hyps.extend(
            greedy_decode_batch(np.asarray(lp), np.asarray(frames), DEFAULT_VOCAB)[: len(idx)]
        )
        refs.extend(utts.texts[i] for i in idx)
    return float(jiwer.cer(refs, hyps))


_EVAL_FNS: dict[int, Any] = {}


def _eval_fn(model: ConvCTC) -> Any:
    key = id(model)
    if key not in _EVAL_FNS:
        _EVAL_FNS[key] = jax.jit(lambda p, x, n: model.apply(p, x, n))
    return _EVAL_FNS[key]


def _save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(serialization.to_bytes(state))
    os.replace(tmp, path)


def _prefetch(it: Iterator[Any], size: int = 4) -> Iterator[Any]:
    """Build batches on a background thread while the step runs."""
    q: queue.Queue[Any] = queue.Queue(maxsize=size)
    stop = threading.Event()

    def work() -> None:
        for item in it:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        while True:
            yield q.get()
    finally:
        stop.set()


def train(c: TrainConfig, console: Console | None = None, stop_after: int | None = None) -> Path:
    """Run (or resume) training; returns the export folder. ``stop_after`` is for tests."""
    console = console or Console(stderr=True)
    workdir = Path(c.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t_data = time.time()
    train_utts, heldout = prepare_data(c)
    console.print(
        f"[bold]data[/] {len(train_utts)} training utterances ({train_utts.seconds / 3600:.1f} h), "
        f"{len(heldout)} held-out ({time.time() - t_data:.0f} s to prepare)"
    )
    model = ConvCTC(c.model)
    max_samples = int(c.example_seconds * SAMPLE_RATE)
    params = model.init(
        jax.random.PRNGKey(c.seed), jnp.zeros((1, max_samples), jnp.int16), jnp.ones(1, jnp.int32)
    )["params"]
    opt = make_optimizer(c)
    state: dict[str, Any] = {
        "step": 0,
        "params": params,
        "opt_state": opt.init(params),
        "train_seconds": 0.0,
    }
    ckpt = workdir / CHECKPOINT
    if ckpt.exists():
        state = serialization.from_bytes(state, ckpt.read_bytes())
        console.print(f"[bold]resuming[/] from step {int(state['step'])} ({ckpt})")
    start = int(state["step"])
    n_params = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(state["params"]))
    console.print(f"[bold]model[/] {n_params / 1e6:.2f} M parameters; {c.num_steps} steps")

    step_fn = make_step(model, opt, c.seed)

    data = _prefetch(
        batches(
            train_utts,
            seed=c.seed,
            start_step=start,
            batch_size=c.batch_size,
            max_samples=max_samples,
            max_label=c.max_label,
            aug=c.augment,
            hop_samples=c.model.hop_samples,
            n_mels=c.model.n_mels,
        )
    )
    params, opt_state = state["params"], state["opt_state"]
    train_seconds = float(state["train_seconds"])
    log = (workdir / LOG).open("a")
    end = c.num_steps if stop_after is None else min(c.num_steps, stop_after)
    losses: list[float] = []
    with Progress(
        TextColumn("[bold]train[/]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("train", total=c.num_steps, completed=start, info="")
        t_last = time.time()
        for step, batch in data:
            if step >= end:
                break
            params, opt_state, loss = step_fn(
                params, opt_state, {k: jnp.asarray(v) for k, v in batch.items()}, jnp.int32(step)
            )
            losses.append(float(loss))
            now = time.time()
            train_seconds += now - t_last
            t_last = now
            done = step + 1
            if done % 10 == 0 or done == end:
                entry = {
                    "step": done,
                    "loss": float(np.mean(losses)),
                    "train_seconds": round(train_seconds, 1),
                }
                log.write(json.dumps(entry) + "\n")
                log.flush()
                bar.update(task, info=f"loss {entry['loss']:.3f}")
                losses = []
            if done % c.eval_every == 0 or done == end:
                cer = evaluate(model, {"params": params}, heldout, c.eval_utterances, max_samples)
                log.write(json.dumps({"step": done, "heldout_cer": round(cer, 4)}) + "\n")
                log.flush()
                console.print(f"step {done}: held-out CER {cer:.3f}")
                t_last = time.time()
            if done % c.checkpoint_every == 0 or done == end:
                _save_state(
                    ckpt,
                    {
                        "step": done,
                        "params": params,
                        "opt_state": opt_state,
                        "train_seconds": train_seconds,
                    },
                )
                t_last = time.time()
            bar.update(task, completed=done)
    log.close()
    if end < c.num_steps:
        return workdir
    cer = evaluate(model, {"params": params}, heldout, len(heldout), max_samples)
    training = {
        "steps": c.num_steps,
        "train_seconds": round(train_seconds, 1),
        "heldout_cer_float32": round(cer, 4),
        "heldout_utterances": len(heldout),
        "train_utterances": len(train_utts),
        "train_hours": round(train_utts.seconds / 3600, 2),
        "config": _jsonable(dataclasses.asdict(c)),
    }
    version = save_model(
        Path(c.export_dir), c.name, c.model, params, DEFAULT_VOCAB, extra={"training": training}
    )
    # The learning curve travels with the model (the model card quotes it).
    shutil.copyfile(workdir / LOG, Path(c.export_dir) / "learning_curve.jsonl")
    console.print(f"[bold]exported[/] {version} to {c.export_dir}: held-out CER {cer:.3f}")
    return Path(c.export_dir)


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))

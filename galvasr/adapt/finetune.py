"""Fine-tune a galvasr checkpoint on a run's segments, and measure greedy CER (JAX, local files).

Training reuses galvasr.model.train (its jitted step, its optimizer and
schedule, its held-out CER) and galvasr.model.trainset (batches that are a
pure function of ``(seed, step)``, one segment per example, with the same
augmentation). A checkpoint (step, parameters, optimizer state) is written
atomically every ``checkpoint_every`` steps, so a killed round resumes from
its last checkpoint and ends with the same weights, to the byte, as one that
ran through.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import soundfile as sf
from flax import serialization

from galvasr.config import AdaptConfig
from galvasr.model import DEFAULT_VOCAB, load_model
from galvasr.model.checkpoint import MODEL_JSON, save_model
from galvasr.model.configs.small import TrainConfig
from galvasr.model.convctc import ConvCTC, ConvCTCConfig
from galvasr.model.train import evaluate, make_optimizer, make_step
from galvasr.model.trainset import Augment, Utterances, batches, load_cache, write_shard
from galvasr.schemas import SAMPLE_RATE

CHECKPOINT = "checkpoint.msgpack"
SHARD = "shard-00000.npz"
# Speed perturbation goes down to 0.88x (trainset.Augment): an example holds the
# slowest copy of the longest segment after up to 0.5 s of leading silence.
SLOWEST = 0.88
LEAD_S = 0.5


def flac_pcm(data: bytes) -> np.ndarray:
    """A segment's FLAC as 16 kHz mono int16."""
    pcm, rate = sf.read(io.BytesIO(data), dtype="int16")
    if rate != SAMPLE_RATE or pcm.ndim != 1:
        raise ValueError(f"segment audio is {rate} Hz, {pcm.ndim}-D; expected 16 kHz mono")
    return np.asarray(pcm, np.int16)


def write_set(folder: Path, pcms: Sequence[np.ndarray], texts: Sequence[str]) -> Utterances:
    """Write a set of segments as one trainset shard (atomic); returns it as loaded."""
    folder.mkdir(parents=True, exist_ok=True)
    write_shard(folder / SHARD, list(pcms), list(texts), ["run"] * len(texts))
    return load_cache(folder)


def has_set(folder: Path) -> bool:
    return (folder / SHARD).is_file()


def read_set(folder: Path) -> Utterances:
    return load_cache(folder)


def base_params(path: str | Path) -> tuple[str, ConvCTCConfig, Any]:
    """The name, architecture and float32 parameters of a galvasr checkpoint."""
    folder = Path(path)
    meta_path = folder / MODEL_JSON
    if not meta_path.is_file():
        raise ValueError(f"adapt: {folder} is not a galvasr checkpoint (only those are adapted)")
    model = load_model(folder, sample_rate=SAMPLE_RATE)
    if model.info.vocab != DEFAULT_VOCAB:
        raise ValueError(f"adapt: {folder} has another vocabulary than galvasr's")
    meta = json.loads(meta_path.read_text())
    return str(meta["name"]), ConvCTCConfig(**meta["config"]), model.params


def _samples(seconds: float, config: ConvCTCConfig) -> int:
    stride = config.frame_stride_samples
    return int(math.ceil(seconds * SAMPLE_RATE / stride)) * stride


def heldout_cer(config: ConvCTCConfig, params: Any, utts: Utterances) -> float:
    """Greedy CER of the model over every utterance of ``utts`` (galvasr.model.train.evaluate)."""
    longest = max(len(utts.audio(i)) for i in range(len(utts)))
    max_samples = _samples(longest / SAMPLE_RATE, config)
    return evaluate(ConvCTC(config), {"params": params}, utts, len(utts), max_samples, batch=8)


@dataclass(frozen=True)
class Trained:
    model_version: str
    folder: Path
    train_seconds: float  # wall, training steps only (resumed runs: this process's share)
    cpu_seconds: float  # this process's CPU time while training


def _augment(on: bool) -> Augment:
    if on:
        return Augment(max_utterances=1)
    return Augment(
        speed_p=0.0,
        telephone_p=0.0,
        noise_p=0.0,
        gain_db=(0.0, 0.0),
        max_utterances=1,
        vtlp_p=0.0,
        specaug_p=0.0,
    )


def finetune(
    base: str | Path,
    data: Utterances,
    cfg: AdaptConfig,
    workdir: Path,
    export: Path,
    *,
    name: str,
    seed: int,
    extra: dict[str, Any] | None = None,
    stop_after: int | None = None,
) -> Trained | None:
    """Fine-tune ``base`` on ``data`` for ``cfg.steps`` steps; export to ``export``.

    Resumes from ``workdir/checkpoint.msgpack`` when it is there. Returns
    None when ``stop_after`` (for tests: a kill at a known step) stops it first.
    """
    _, config, params = base_params(base)
    model = ConvCTC(config)
    plan = dataclasses.replace(
        TrainConfig(),
        seed=seed,
        num_steps=cfg.steps,
        peak_lr=cfg.learning_rate,
        warmup_steps=int(cfg.steps * cfg.warmup_fraction),
        weight_decay=cfg.weight_decay,
    )
    opt = make_optimizer(plan)
    state: dict[str, Any] = {"step": 0, "params": params, "opt_state": opt.init(params)}
    workdir.mkdir(parents=True, exist_ok=True)
    ckpt = workdir / CHECKPOINT
    if ckpt.exists():
        state = serialization.from_bytes(state, ckpt.read_bytes())
    start = int(state["step"])
    longest = max(len(data.audio(i)) for i in range(len(data))) / SAMPLE_RATE
    max_samples = _samples(longest / SLOWEST + LEAD_S, config)
    max_label = max(len(t) for t in data.texts)
    step_fn = make_step(model, opt, seed)
    params, opt_state = state["params"], state["opt_state"]
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    t0, c0 = time.monotonic(), time.process_time()
    source = batches(
        data,
        seed=seed,
        start_step=start,
        batch_size=cfg.batch_size,
        max_samples=max_samples,
        max_label=max_label,
        aug=_augment(cfg.augment),
        vocab=DEFAULT_VOCAB,
        hop_samples=config.hop_samples,
        n_mels=config.n_mels,
    )
    for step, batch in source:
        if step >= end:
            break
        params, opt_state, _ = step_fn(
            params, opt_state, {k: jnp.asarray(v) for k, v in batch.items()}, jnp.int32(step)
        )
        done = step + 1
        if done % cfg.checkpoint_every == 0 or done == end:
            blob = serialization.to_bytes({"step": done, "params": params, "opt_state": opt_state})
            tmp = ckpt.with_name(ckpt.name + ".tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, ckpt)
    seconds, cpu = time.monotonic() - t0, time.process_time() - c0
    if end < cfg.steps:
        return None
    version = save_model(export, name, config, params, DEFAULT_VOCAB, extra=extra)
    return Trained(version, export, round(seconds, 1), round(cpu, 1))

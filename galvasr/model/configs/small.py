"""galvasr-small: the committed acoustic model.

Run (on a 2-core CPU from nothing: 12 minutes of synthesis, then 0.66 s a
step when the machine is otherwise idle; the committed model took 101 min
22 s for the whole command, see its model card)::

    nice -n 10 .venv/bin/python -m tpu.train --config small
    # or: galvasr train --config small

It synthesizes its data into ``.cache/train/`` (resumable), trains, writes
checkpoints to ``runs/train/small/`` (resumes after a kill) and exports the
final model to ``models/galvasr-small/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from galvasr.model.convctc import ConvCTCConfig
from galvasr.model.trainset import Augment
from galvasr.synth.textsource import HELDOUT_BOOKS, TRAIN_BOOKS


@dataclass(frozen=True)
class TrainConfig:
    name: str = "galvasr-small"
    model: ConvCTCConfig = field(
        default_factory=lambda: ConvCTCConfig(
            width=256, expansion=2, num_blocks=8, kernel_size=15, dropout=0.05
        )
    )
    augment: Augment = field(default_factory=Augment)
    # data
    train_books: tuple[str, ...] = TRAIN_BOOKS
    heldout_books: tuple[str, ...] = HELDOUT_BOOKS
    train_utterances: int = 20_000
    heldout_utterances: int = 300
    max_utterance_seconds: float = 7.5
    cache_dir: str = ".cache/train"
    synth_workers: int = 2
    # optimisation
    seed: int = 1
    batch_size: int = 8
    example_seconds: float = 8.0
    max_label: int = 200
    num_steps: int = 8000
    peak_lr: float = 3e-3
    warmup_steps: int = 300
    decay_fraction: float = 0.45
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    # bookkeeping
    workdir: str = "runs/train/small"
    export_dir: str = "models/galvasr-small"
    checkpoint_every: int = 50
    eval_every: int = 500
    eval_utterances: int = 100  # of the held-out set, at eval_every; all of it at the end


def get_config() -> TrainConfig:
    return TrainConfig()

"""A seconds-long run for tests and a quick look::

.venv/bin/python -m tpu.train --config tiny
"""

from __future__ import annotations

import dataclasses

from galvasr.model.configs.small import TrainConfig
from galvasr.model.convctc import ConvCTCConfig
from galvasr.model.trainset import Augment


def get_config() -> TrainConfig:
    return dataclasses.replace(
        TrainConfig(),
        name="galvasr-tiny",
        model=ConvCTCConfig(width=32, num_blocks=1, kernel_size=3, n_mels=16, expansion=1),
        augment=Augment(max_utterances=1),
        train_books=("Rut",),
        heldout_books=("Jam",),
        train_utterances=8,
        heldout_utterances=4,
        max_utterance_seconds=4.0,
        cache_dir=".cache/train-tiny",
        synth_workers=1,
        batch_size=2,
        example_seconds=4.0,
        max_label=100,
        num_steps=6,
        warmup_steps=1,
        workdir="runs/train/tiny",
        export_dir="runs/train/tiny/export",
        checkpoint_every=2,
        eval_every=3,
        eval_utterances=2,
    )

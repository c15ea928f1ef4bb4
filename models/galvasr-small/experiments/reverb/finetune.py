"""The Kokoro experiment's fine-tune (experiments/kokoro/finetune.py), with room reverb.

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python \
        models/galvasr-small/experiments/reverb/finetune.py --reverb-p 0.4 \
        --cache /tmp/rvb/cache --kokoro-share 0 --steps 300 --out /tmp/rvb/ft-reverb

Sets ``Augment.reverb_p`` in config small (everything else as the shipped
recipe) and runs kokoro/finetune.py unchanged with the remaining arguments.
With ``--reverb-p 0`` it is that script's control.
"""

from __future__ import annotations

import argparse
import dataclasses
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

import galvasr.model.train as train_mod  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--reverb-p", type=float, required=True)
args, rest = ap.parse_known_args()
_get_config = train_mod.get_config


def get_config(name: str) -> train_mod.TrainConfig:
    c = _get_config(name)
    return dataclasses.replace(c, augment=dataclasses.replace(c.augment, reverb_p=args.reverb_p))


train_mod.get_config = get_config
script = ROOT / "models/galvasr-small/experiments/kokoro/finetune.py"
sys.argv = [str(script), *rest]
runpy.run_path(str(script), run_name="__main__")

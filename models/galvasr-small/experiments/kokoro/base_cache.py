"""The first N utterances of galvasr-small's training set and its whole held-out set, in FOLDER.

    nice -n 15 .venv/bin/python models/galvasr-small/experiments/kokoro/base_cache.py \
        /tmp/kok/cache 4000

Same recipe and seeds as ``galvasr.model.train.prepare_data`` (config small), so
the shards are byte for byte the training set's first shards and the
held-out set is benchmarks/model_cer.py's.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from galvasr.model.configs.small import get_config  # noqa: E402
from galvasr.model.trainset import build_cache  # noqa: E402

folder, n = Path(sys.argv[1]), int(sys.argv[2])
c = get_config()
build_cache(
    folder / "heldout",
    c.heldout_books,
    c.heldout_utterances,
    heldout=True,
    seed=c.seed + 1,
    max_seconds=c.max_utterance_seconds,
    workers=2,
)
build_cache(
    folder / "train",
    c.train_books,
    n,
    heldout=False,
    seed=c.seed,
    max_seconds=c.max_utterance_seconds,
    workers=2,
)
print("done")

"""float32 greedy CER of a model on galvasr-small's held-out set (benchmarks/model_cer.py's
``float32`` figure, without its bfloat16, gap, festival and piper parts).

    .venv/bin/python models/galvasr-small/experiments/kokoro/heldout_cer.py MODEL [CACHE]

CACHE (default .cache/train) holds ``heldout/``, made by base_cache.py or train.py.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from model_cer import scores, transcribe  # noqa: E402

from galvasr.model import load_model  # noqa: E402
from galvasr.model.trainset import load_cache  # noqa: E402

model = load_model(Path(sys.argv[1]))
cache = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / ".cache/train"
utts = load_cache(cache / "heldout")
out = {
    "model": sys.argv[1],
    "model_version": model.info.model_version,
    "heldout_utterances": len(utts),
    "float32": scores(utts, transcribe(model, utts)),
}
print(json.dumps(out))

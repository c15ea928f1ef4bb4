"""Greedy CER of models on held-out text spoken by Kokoro timbres no fine-tune drew.

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python \
        models/galvasr-small/experiments/kokoro/kokoro_heldout.py CACHE.npz MODEL [MODEL ...]

16 sentences of the held-out books (<= 18 words; rng 22), spoken by the mix
timbres s5 and s6 (build_cache.py draws s1000-s1999); synthesized once into
CACHE.npz.
"""

import json
import sys
from pathlib import Path

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from model_cer import transcribe  # noqa: E402

from galvasr.model import load_model  # noqa: E402
from galvasr.model.trainset import Utterances  # noqa: E402
from galvasr.model.vocab import DEFAULT_VOCAB  # noqa: E402
from galvasr.synth.textsource import HELDOUT_BOOKS, sentences  # noqa: E402
from galvasr.synth.voices import Voice, synthesize  # noqa: E402

cache = Path(sys.argv[1])
if not cache.exists():
    pool = [s for s in sentences(HELDOUT_BOOKS) if len(s.split()) <= 18]
    texts = [pool[i] for i in np.random.default_rng(22).permutation(len(pool))[:16]]
    voices = [Voice("kokoro", "mix", "s5"), Voice("kokoro", "mix", "s6")] * 8
    pcms = [synthesize(t, v) for t, v in zip(texts, voices, strict=True)]
    labels = [DEFAULT_VOCAB.normalize(t) for t in texts]
    np.savez(
        cache,
        pcm=np.concatenate(pcms),
        offsets=np.cumsum([0] + [len(p) for p in pcms]),
        texts=np.array(labels),
        voices=np.array([v.name for v in voices]),
    )
z = np.load(cache)
utts = Utterances(z["pcm"], z["offsets"], tuple(map(str, z["texts"])), tuple(map(str, z["voices"])))
for m in sys.argv[2:]:
    model = load_model(Path(m))
    hyps = transcribe(model, utts)
    print(
        json.dumps(
            {
                "model": model.info.model_version,
                "utterances": len(utts),
                "seconds": round(utts.seconds, 1),
                "cer": round(float(jiwer.cer(list(utts.texts), hyps)), 4),
            }
        ),
        flush=True,
    )

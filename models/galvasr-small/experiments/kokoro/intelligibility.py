"""Is Kokoro (Japanese voice packs speaking espeak-ng's English phonemes) intelligible?

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python \
        models/galvasr-small/experiments/kokoro/intelligibility.py [--n 30] [--out x.json]

N sentences of the held-out books (seeded draw), each spoken by several voices;
the shipped model's greedy CER per voice, and synthesis speed (audio seconds
per CPU second of this process, onnxruntime on one thread).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
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

VOICES = [
    Voice("espeak-ng", "en-us"),
    Voice("espeak-ng", "en-us", "m3"),
    Voice("flite", "rms"),
    *[
        Voice("kokoro", p)
        for p in ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
    ],
    *[Voice("kokoro", "mix", f"s{i}") for i in range(1, 4)],
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--model", default=str(ROOT / "models/galvasr-small"))
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    pool = [s for s in sentences(HELDOUT_BOOKS) if len(s.split()) <= 18]
    idx = np.random.default_rng(21).permutation(len(pool))[: args.n]
    texts = [pool[i] for i in idx]
    model = load_model(args.model)
    out: dict[str, object] = {"sentences": len(texts), "model": model.info.model_version}
    for v in VOICES:
        t0 = time.process_time()
        pcms = [synthesize(t, v) for t in texts]
        cpu = time.process_time() - t0
        labels = [DEFAULT_VOCAB.normalize(t) for t in texts]
        offsets = np.concatenate([[0], np.cumsum([len(p) for p in pcms])])
        utts = Utterances(np.concatenate(pcms), offsets, tuple(labels), (v.name,) * len(texts))
        hyps = transcribe(model, utts)
        out[v.name] = {
            "cer": round(float(jiwer.cer(labels, hyps)), 4),
            "audio_seconds": round(utts.seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "audio_s_per_cpu_s": round(utts.seconds / cpu, 2),
            "example": {"ref": labels[0], "hyp": hyps[0]},
        }
        print(v.name, out[v.name], flush=True)
    text = json.dumps(out, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

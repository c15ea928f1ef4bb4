"""Synthesize KJV training sentences with Kokoro timbres into a trainset cache (resumable).

    OMP_NUM_THREADS=1 nice -n 15 .venv/bin/python \
        models/galvasr-small/experiments/kokoro/build_cache.py /tmp/kok/cache/kokoro \
        [--shards 40] [--shard-size 50] [--workers 2]

Shard k holds sentences [k*size, (k+1)*size) of a seeded permutation of the
training books' sentences; each utterance draws (seeded by shard) a timbre
``Voice("kokoro", "mix", "s<1000..1999>")`` (or, one in six, one of the five
packs as they are) and a speed in [0.85, 1.2]. Same layout as
galvasr.model.trainset's caches (load_cache reads it). Sentences longer than
7.5 s spoken are skipped, as in the training set.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from galvasr.model.trainset import write_shard  # noqa: E402
from galvasr.model.vocab import DEFAULT_VOCAB  # noqa: E402
from galvasr.synth.kokoro import KOKORO_PACKS  # noqa: E402
from galvasr.synth.textsource import TRAIN_BOOKS, sentences  # noqa: E402
from galvasr.synth.voices import Voice, synthesize  # noqa: E402

SEED = 2101
MAX_SAMPLES = int(7.5 * 16_000)


def voice_for(rng: np.random.Generator) -> Voice:
    rate = float(rng.uniform(0.85, 1.2))
    if rng.random() < 1 / 6:
        return Voice("kokoro", str(rng.choice(KOKORO_PACKS)), "", rate)
    return Voice("kokoro", "mix", f"s{int(rng.integers(1000, 2000))}", rate)


def build(path: Path, texts: list[str], shard: int) -> tuple[int, float, float]:
    rng = np.random.default_rng([SEED, shard])
    pcms, kept, voices = [], [], []
    t0 = time.process_time()
    for text in texts:
        voice = voice_for(rng)
        label = DEFAULT_VOCAB.normalize(text)
        if not label:
            continue
        pcm = synthesize(text, voice)
        if not 0 < len(pcm) <= MAX_SAMPLES:
            continue
        pcms.append(pcm)
        kept.append(label)
        voices.append(voice.name)
    write_shard(path, pcms, kept, voices)
    return len(kept), sum(len(p) for p in pcms) / 16_000, time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=Path)
    ap.add_argument("--shards", type=int, default=40)
    ap.add_argument("--shard-size", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--first", type=int, default=0, help="first shard index (another process can take others)"
    )
    args = ap.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    pool = sentences(TRAIN_BOOKS)
    order = np.random.default_rng(SEED).permutation(len(pool))
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        futures = {}
        for k in range(args.first, args.shards):
            path = args.folder / f"shard-{k:05d}.npz"
            if path.exists():
                continue
            texts = [pool[i] for i in order[k * args.shard_size : (k + 1) * args.shard_size]]
            futures[k] = ex.submit(build, path, texts, k)
        for k, f in futures.items():
            n, secs, cpu = f.result()
            print(
                f"shard {k}: {n} utterances, {secs:.0f} s audio, {cpu:.0f} cpu s "
                f"({secs / cpu:.2f} audio s per cpu s)",
                flush=True,
            )


if __name__ == "__main__":
    main()

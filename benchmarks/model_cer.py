"""Greedy CER of an acoustic model on held-out text spoken by held-out voice variants.

    .venv/bin/python benchmarks/model_cer.py [--model models/galvasr-small] [--out cer.json]

The held-out set is the training config's (``tpu/configs/small.py``): sentences
of ``HELDOUT_BOOKS`` (never trained on) spoken by espeak-ng variants and a
flite voice that training never used (``galvasr.model.synth``); it is
synthesized into ``.cache/train/heldout`` when missing. Reports CER in
float32 and bfloat16, overall and per engine, as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jiwer
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from galvasr.model import DEFAULT_MODEL, LoadedModel, greedy_decode_batch, load_model  # noqa: E402
from galvasr.model.trainset import Utterances, build_cache, load_cache  # noqa: E402
from tpu.configs.small import get_config  # noqa: E402


def heldout_set() -> Utterances:
    c = get_config()
    folder = build_cache(
        Path(c.cache_dir) / "heldout",
        c.heldout_books,
        c.heldout_utterances,
        heldout=True,
        seed=c.seed + 1,
        max_seconds=c.max_utterance_seconds,
        workers=c.synth_workers,
    )
    return load_cache(folder)


def transcribe(model: LoadedModel, utts: Utterances, batch: int = 16) -> list[str]:
    width = int(max(np.diff(utts.offsets)))
    width = -(-width // 16_000) * 16_000  # whole seconds: one compiled shape
    out: list[str] = []
    for start in range(0, len(utts), batch):
        idx = list(range(start, min(start + batch, len(utts))))
        pcm = np.zeros((batch, width), np.int16)
        lengths = np.ones(batch, np.int32)
        for row, i in enumerate(idx):
            a = utts.audio(i)
            pcm[row, : len(a)] = a
            lengths[row] = len(a)
        lp, frames = model(pcm, lengths)
        out.extend(
            greedy_decode_batch(np.asarray(lp), np.asarray(frames), model.info.vocab)[: len(idx)]
        )
    return out


def measure(model_path: Path) -> dict[str, object]:
    utts = heldout_set()
    refs = list(utts.texts)
    engines = [v.split(":")[0] for v in utts.voices]
    result: dict[str, object] = {
        "model": str(model_path),
        "heldout_utterances": len(utts),
        "heldout_seconds": round(utts.seconds, 1),
        "engines": {e: engines.count(e) for e in sorted(set(engines))},
    }
    for precision in ("float32", "bfloat16"):
        model = load_model(model_path, precision=precision)
        result["model_version"] = model.info.model_version
        t = time.time()
        hyps = transcribe(model, utts)
        per_engine = {}
        for e in sorted(set(engines)):
            pick = [i for i, x in enumerate(engines) if x == e]
            per_engine[e] = round(jiwer.cer([refs[i] for i in pick], [hyps[i] for i in pick]), 4)
        result[precision] = {
            "cer": round(float(jiwer.cer(refs, hyps)), 4),
            "cer_by_engine": per_engine,
            "wall_seconds": round(time.time() - t, 1),
            "examples": [{"ref": r, "hyp": h} for r, h in list(zip(refs, hyps, strict=True))[:3]],
        }
    f32 = result["float32"]["cer"]  # type: ignore[index]
    bf16 = result["bfloat16"]["cer"]  # type: ignore[index]
    result["bfloat16_cer_cost"] = round(bf16 - f32, 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = measure(args.model)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

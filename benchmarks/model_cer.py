"""Greedy CER of an acoustic model on held-out text spoken by held-out voice variants.

    .venv/bin/python benchmarks/model_cer.py [--model models/galvasr-small] [--out cer.json]

The held-out set is the training config's (``tpu/configs/small.py``): sentences
of ``HELDOUT_BOOKS`` (never trained on) spoken by espeak-ng variants and a
flite voice that training never used (``galvasr.model.synth``); it is
synthesized into ``.cache/train/heldout`` when missing. Reports CER in
float32 and bfloat16, overall and per engine, as JSON on stdout, and under
``gap`` the float32 CER on training utterances and on held-out text spoken
by training voices, which splits the held-out error into what is not fitted,
what is memorised text and what is unheard voices.
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
from galvasr.model.configs.small import get_config  # noqa: E402
from galvasr.model.trainset import (  # noqa: E402
    Utterances,
    build_cache,
    load_cache,
    write_shard,
)
from galvasr.synth.voices import (  # noqa: E402
    FESTIVAL_VOICES,
    PIPER_VOICES,
    SynthesizerMissing,
    Voice,
    synthesize,
)


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


def scores(utts: Utterances, hyps: list[str]) -> dict[str, object]:
    """CER of ``hyps`` against ``utts``' texts, overall and per synthesizer."""
    refs = list(utts.texts)
    engines = [v.split(":")[0] for v in utts.voices]
    by_engine = {}
    for e in sorted(set(engines)):
        pick = [i for i, x in enumerate(engines) if x == e]
        by_engine[e] = round(jiwer.cer([refs[i] for i in pick], [hyps[i] for i in pick]), 4)
    return {"cer": round(float(jiwer.cer(refs, hyps)), 4), "cer_by_engine": by_engine}


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
    models = {p: load_model(model_path, precision=p) for p in ("float32", "bfloat16")}
    for precision, model in models.items():
        result["model_version"] = model.info.model_version
        t = time.time()
        hyps = transcribe(model, utts)
        result[precision] = {
            **scores(utts, hyps),
            "wall_seconds": round(time.time() - t, 1),
            "examples": [{"ref": r, "hyp": h} for r, h in list(zip(refs, hyps, strict=True))[:3]],
        }
    f32_model = models["float32"]
    result["gap"] = gap(f32_model)
    result["festival"] = other_engines(f32_model, utts, "festival", FESTIVAL_VOICES)
    result["piper"] = other_engines(f32_model, utts, "piper", tuple(sorted(PIPER_VOICES)))
    f32 = result["float32"]["cer"]  # type: ignore[index]
    bf16 = result["bfloat16"]["cer"]  # type: ignore[index]
    result["bfloat16_cer_cost"] = round(bf16 - f32, 4)
    return result


def gap(model: LoadedModel, count: int = 150) -> dict[str, object]:
    """float32 CER on three sets, to tell what the held-out error comes from.

    ``train``: the first ``count`` training utterances (text and voices seen);
    ``heldout_text_train_voices``: held-out sentences spoken by training voice
    variants (synthesized into ``.cache/train/heldout-text-train-voices``);
    ``heldout``: the target set above. The first step is what the model has
    not fitted, the second what it memorised of the training text, the third
    what it cannot do with voices it never heard.
    """
    c = get_config()
    # build_cache checks the folder's recipe: a change of training voices refuses it.
    folder = build_cache(
        Path(c.cache_dir) / "heldout-text-train-voices",
        c.heldout_books,
        count,
        heldout=False,
        seed=c.seed + 2,
        max_seconds=c.max_utterance_seconds,
        workers=c.synth_workers,
    )
    sets = {
        "train": load_cache(Path(c.cache_dir) / "train"),
        "heldout_text_train_voices": load_cache(folder),
        "heldout": heldout_set(),
    }
    out: dict[str, object] = {}
    for name, utts in sets.items():
        n = min(count, len(utts)) if name == "train" else len(utts)
        sub = Utterances(
            utts.pcm[: utts.offsets[n]], utts.offsets[: n + 1], utts.texts[:n], utts.voices[:n]
        )
        out[name] = {"utterances": n, **scores(sub, transcribe(model, sub))}
    return out


def other_engines(
    model: LoadedModel, heldout: Utterances, engine: str, voices: tuple[str, ...], count: int = 60
) -> dict[str, object]:
    """float32 CER on the first ``count`` held-out sentences spoken by each voice of ``engine``.

    For festival and piper. Training draws these voices too
    (``synth.FESTIVAL_SHARE``, ``synth.PIPER_SHARE``; ked and joe are
    speakers only they have), so for models trained since, this is held-out
    text by training voices; for older models, voices never heard. Cached in
    ``.cache/train/heldout-<engine>``.
    """
    c = get_config()
    folder = Path(c.cache_dir) / f"heldout-{engine}"
    folder.mkdir(parents=True, exist_ok=True)
    texts = heldout.texts[:count]
    out: dict[str, object] = {"utterances": len(texts)}
    for name in voices:
        voice = Voice(engine, name)
        shard = folder / name / "shard-00000.npz"
        if not shard.exists():
            try:
                pcms = [synthesize(t, voice) for t in texts]
            except SynthesizerMissing as e:
                out[name] = {"skipped": str(e)}
                continue
            shard.parent.mkdir(exist_ok=True)
            write_shard(shard, pcms, list(texts), [voice.name] * len(texts))
        utts = load_cache(shard.parent)
        out[name] = {"cer": round(float(jiwer.cer(list(texts), transcribe(model, utts))), 4)}
    return out


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

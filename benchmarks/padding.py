"""Padding of the decode stage's bucketed chunks, for the configured windows and buckets.

    .venv/bin/python benchmarks/padding.py --corpus data/sample
    .venv/bin/python benchmarks/padding.py --root runs/sample   # lengths from its `audio` table

Reports the fraction of chunk samples that are zero padding, per bucket and
overall, for two length distributions:

- the sample corpus: every audio file's decoded length, read from a run's
  ``audio`` table (``--root``) or measured by decoding every audio file
  under ``<corpus>/items`` (``--corpus``);
- synthetic long-form audio: log-normal file lengths with a median of 20
  minutes (sigma 0.5, 1.0 and 1.5; seeded), the shape of archive.org talks.

Also reports the share of samples that are context (decoded twice, not
padding). JSON on stdout (and to ``--out``). The target: padding under 3 %.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from galvasr.config import load_config
from galvasr.decode import audio
from galvasr.decode.buckets import PaddingReport, bucket_for, plan_windows
from galvasr.decode.stage import DecodePlan
from galvasr.schemas import SAMPLE_RATE

AUDIO_SUFFIXES = {".mp3", ".flac", ".ogg", ".opus", ".wav", ".m4a", ".mp4", ".aac", ".webm"}


def report(lengths: list[int], plan: DecodePlan) -> dict[str, object]:
    padding = PaddingReport(plan.lengths)
    context = 0
    for n in lengths:
        for w in plan_windows(n, plan.window_samples, plan.context_samples):
            padding.add(bucket_for(w.length_samples, plan.lengths), w.length_samples)
            context += w.context_before_samples + w.context_after_samples
    out = padding.to_dict()
    total = int(out["total_samples"])  # type: ignore[call-overload]
    return {
        "files": len(lengths),
        "audio_hours": round(sum(lengths) / SAMPLE_RATE / 3600, 2),
        "median_file_s": round(float(np.median(lengths)) / SAMPLE_RATE, 1) if lengths else None,
        "padding_fraction": out["padding_fraction"],
        "context_fraction": context / total if total else 0.0,
        "padding": out,
    }


def corpus_lengths(corpus: Path) -> tuple[list[int], dict[str, int]]:
    """Decoded length of every audio file under ``corpus/items``; failures counted by reason."""
    lengths, failures = [], {}
    for path in sorted((corpus / "items").rglob("*")):
        if not path.is_file() or path.suffix.lower() not in AUDIO_SUFFIXES:
            continue
        try:
            with audio.spool_pcm16k(str(path), max_samples=10**12, silence_peak=-1) as decoded:
                lengths.append(decoded.num_samples)
        except audio.DecodeFailure as e:
            failures[e.reason] = failures.get(e.reason, 0) + 1
    return lengths, failures


def run_lengths(root: Path) -> list[int]:
    import pyarrow.parquet as pq

    return [int(n) for n in pq.read_table(root / "audio", columns=["num_samples"])["num_samples"]]


def lognormal_lengths(
    median_s: float, sigma: float, files: int, max_s: float, seed: int = 0
) -> list[int]:
    rng = np.random.default_rng(seed)
    seconds = np.clip(rng.lognormal(np.log(median_s), sigma, files), 1.0, max_s)
    return [int(s * SAMPLE_RATE) for s in seconds]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="measure the audio files under items/")
    parser.add_argument("--root", type=Path, help="read file lengths from a run's audio table")
    parser.add_argument("--config", type=Path, help="TOML config whose [decode] is used")
    parser.add_argument("--files", type=int, default=20_000, help="synthetic files per sigma")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    config = load_config(args.config).decode
    plan = DecodePlan.from_config(config)

    results: dict[str, object] = {}
    if args.root:
        results["sample_corpus"] = {
            "source": str(args.root),
            **report(run_lengths(args.root), plan),
        }
    elif args.corpus:
        lengths, failures = corpus_lengths(args.corpus)
        results["sample_corpus"] = {"source": str(args.corpus), "undecodable": failures,
                                    **report(lengths, plan)}  # fmt: skip
    for sigma in (0.5, 1.0, 1.5):
        lengths = lognormal_lengths(20 * 60, sigma, args.files, config.max_duration_ms / 1000)
        results[f"lognormal_median_20min_sigma_{sigma}"] = report(lengths, plan)
    out = {
        "benchmark": "padding",
        "target": "padding_fraction < 0.03",
        "config": {"window_ms": config.window_ms, "context_ms": config.context_ms,
                   "bucket_lengths_ms": [n * 1000 // SAMPLE_RATE for n in plan.lengths]},
        "results": results,
    }  # fmt: skip
    text = json.dumps(out, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return out


if __name__ == "__main__":
    main()

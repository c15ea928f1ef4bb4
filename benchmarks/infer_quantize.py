"""What storing log-probabilities as float16 or uint8q does to alignments, and what it saves.

    nice -n 5 .venv/bin/python benchmarks/infer_quantize.py [--corpus data/sample] \\
        [--model models/galvasr-small] [--out F]

For every audio file of the corpus's ``ground_truth.jsonl``, takes a whole
file's float32 log-probabilities, round-trips them through each encoding of
galvasr.quantize, aligns the file's sentences with the project's aligner
(galvasr.align.ctc.align_cues, default AlignConfig; the true sentence times
stand in for subtitle times) and compares, per encoding:

- the alignment with float32's: sentences whose start and end frame are
  unchanged, the largest move in ms, the largest score change;
- each sentence's start with the truth (median and 95th percentile error);
- the values: largest absolute log-probability error, KL divergence per
  frame, agreement of each frame's best symbol;
- the size: bytes per audio second, raw and zstd-compressed (as Parquet
  stores them).

Two sources of log-probabilities, both reported when available:

- ``model``: the trained model (``--model``) over the corpus audio, the
  truth being ground_truth.jsonl's times. Skipped, and said so, while the
  model does not exist yet.
- ``oracle``: galvasr/align/oracle.py's synthetic CTC posteriors speaking the
  corpus's sentences (a spike of one or two frames per character on blank),
  at two noise levels; the truth is where the oracle put each sentence.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from galvasr import quantize  # noqa: E402
from galvasr.align.ctc import AlignedCue, Cue, align_cues  # noqa: E402
from galvasr.config import AlignConfig  # noqa: E402
from galvasr.model import DEFAULT_MODEL, DEFAULT_VOCAB  # noqa: E402
from galvasr.model.contract import FrameClock  # noqa: E402

FRAME_STRIDE_SAMPLES = 320
SAMPLE_RATE = 16_000
WINDOW_FRAMES = 1_700  # one 34 s chunk: the unit zstd compresses in a logits row


def truth_by_file(corpus: Path) -> dict[tuple[str, str], list[dict[str, Any]]]:
    files: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in (corpus / "ground_truth.jsonl").open():
        row = json.loads(line)
        files[(row["identifier"], row["audio_file"])].append(row)
    for rows in files.values():
        rows.sort(key=lambda r: r["sentence_index"])
    return dict(sorted(files.items()))


def round_trip(lp: np.ndarray, encoding: str) -> np.ndarray:
    frames, vocab = lp.shape
    return quantize.decode_logprobs(quantize.encode_logprobs(lp, encoding), encoding, frames, vocab)


def value_errors(lp: np.ndarray, back: np.ndarray) -> dict[str, float]:
    p = np.exp(lp.astype(np.float64))
    q = np.exp(back.astype(np.float64))
    q /= q.sum(axis=1, keepdims=True)  # uint8q rows no longer sum to one
    kl = np.sum(p * (lp - np.log(np.maximum(q, 1e-300))), axis=1)
    return {
        "max_abs_logprob_error": float(np.max(np.abs(back - lp))),
        "max_abs_error_above_minus_10": float(np.max(np.abs(back - lp)[lp >= -10], initial=0)),
        "mean_kl_per_frame": float(np.mean(kl)),
        "argmax_agreement": float(np.mean(back.argmax(1) == lp.argmax(1))),
    }


def sizes(lp: np.ndarray, encoding: str) -> tuple[int, int]:
    """(raw, zstd) bytes of ``lp`` encoded, compressed window by window."""
    raw = zstd = 0
    for start in range(0, lp.shape[0], WINDOW_FRAMES):
        data = quantize.encode_logprobs(lp[start : start + WINDOW_FRAMES], encoding)
        raw += len(data)
        zstd += pa.compress(data, codec="zstd", asbytes=True).__len__()
    return raw, zstd


def compare(
    name: str, files: list[tuple[np.ndarray, list[Cue], dict[int, float]]]
) -> dict[str, Any]:
    """Align every file in float32 and each encoding; the per-encoding comparison."""
    clock = FrameClock(FRAME_STRIDE_SAMPLES, SAMPLE_RATE)
    config = AlignConfig()
    frame_ms = clock.ms(1)
    audio_s = sum(lp.shape[0] for lp, _, _ in files) * clock.seconds_per_frame
    result: dict[str, Any] = {"source": name, "files": len(files), "audio_seconds": audio_s}
    reference: list[dict[int, AlignedCue]] = []
    for encoding in ("float32", *quantize.ENCODINGS):
        starts_err: list[float] = []
        moved_start = moved_end = aligned = 0
        max_move_ms = max_score_change = 0.0
        values: list[dict[str, float]] = []
        raw = zstd = 0
        for n, (lp, cues, truth_ms) in enumerate(files):
            back = lp if encoding == "float32" else round_trip(lp, encoding)
            found, _ = align_cues(back, cues, DEFAULT_VOCAB, clock, config)
            by_cue = {a.cue_index: a for a in found}
            if encoding == "float32":
                reference.append(by_cue)
                r, z = lp.size * 4, len(pa.compress(lp.tobytes(), codec="zstd", asbytes=True))
            else:
                values.append(value_errors(lp, back))
                r, z = sizes(lp, encoding)
            raw, zstd = raw + r, zstd + z
            for cue_index, a in by_cue.items():
                aligned += 1
                starts_err.append(clock.ms(a.start_frame) - truth_ms[cue_index])
                ref = reference[n].get(cue_index)
                if ref is None:
                    continue
                moved_start += a.start_frame != ref.start_frame
                moved_end += a.end_frame != ref.end_frame
                move = max(abs(a.start_frame - ref.start_frame), abs(a.end_frame - ref.end_frame))
                max_move_ms = max(max_move_ms, move * frame_ms)
                max_score_change = max(max_score_change, abs(a.score - ref.score))
        errors = np.abs(np.asarray(starts_err))
        entry: dict[str, Any] = {
            "sentences_aligned": aligned,
            "start_error_vs_truth_ms": {
                "median_abs": round(float(np.median(errors)), 1) if aligned else None,
                "p95_abs": round(float(np.percentile(errors, 95)), 1) if aligned else None,
            },
            "bytes_per_audio_second": round(raw / audio_s, 1),
            "zstd_bytes_per_audio_second": round(zstd / audio_s, 1),
        }
        if encoding != "float32":
            entry["vs_float32"] = {
                "starts_moved": moved_start,
                "ends_moved": moved_end,
                "max_boundary_move_ms": max_move_ms,
                "max_score_change": round(max_score_change, 4),
            }
            entry["values"] = {
                k: round(max(v[k] for v in values) if k.startswith("max") else
                         float(np.mean([v[k] for v in values])), 6)
                for k in values[0]
            }  # fmt: skip
        result[encoding] = entry
    return result


def oracle_files(
    truth: dict[tuple[str, str], list[dict[str, Any]]], noise: float, seed: int = 0
) -> list[tuple[np.ndarray, list[Cue], dict[int, float]]]:
    from galvasr.align.oracle import speak

    clock = FrameClock(FRAME_STRIDE_SAMPLES, SAMPLE_RATE)
    rng = np.random.default_rng(seed)
    out = []
    for rows in truth.values():
        texts = [DEFAULT_VOCAB.normalize(r["text"]) for r in rows]
        texts = [t for t in texts if t]
        lp, spoken = speak(texts, DEFAULT_VOCAB, rng, noise=noise)
        cues = [
            Cue(i, int(clock.ms(s.start_frame)), int(clock.ms(s.end_frame)), t)
            for i, (s, t) in enumerate(zip(spoken, texts, strict=True))
        ]
        out.append((lp, cues, {c.cue_index: float(c.start_ms) for c in cues}))
    return out


def model_files(
    corpus: Path, model_path: Path, truth: dict[tuple[str, str], list[dict[str, Any]]]
) -> list[tuple[np.ndarray, list[Cue], dict[int, float]]]:
    from benchmarks.model_alignment import file_logprobs
    from galvasr.decode.audio import DecodeFailure, decode_pcm16k
    from galvasr.model import load_model

    model = load_model(model_path)
    out = []
    for (identifier, audio_file), rows in truth.items():
        try:
            pcm = np.concatenate(list(decode_pcm16k(corpus / "items" / identifier / audio_file)))
        except (DecodeFailure, ValueError):
            continue
        lp = file_logprobs(model, pcm).astype(np.float32)
        cues = [
            Cue(r["sentence_index"], round(r["start_ms"]), round(r["end_ms"]), r["text"])
            for r in rows
        ]
        out.append((lp, cues, {r["sentence_index"]: float(r["start_ms"]) for r in rows}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/sample"))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    truth = truth_by_file(args.corpus)
    result: dict[str, Any] = {
        "corpus": str(args.corpus),
        "encodings": {
            "float16": "IEEE half precision",
            "uint8q": f"round(-logprob / {quantize.UINT8Q_STEP}) clipped to 0..255 "
            f"(floor {-quantize.UINT8Q_FLOOR} nats)",
        },
    }
    if (args.model / "model.json").exists():
        result["model"] = compare(str(args.model), model_files(args.corpus, args.model, truth))
    else:
        result["model"] = f"skipped: no trained model at {args.model} yet"
    result["oracle"] = [
        compare(f"galvasr/align/oracle.py noise={noise}", oracle_files(truth, noise))
        for noise in (1.0, 2.5)
    ]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

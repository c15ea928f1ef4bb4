"""How well an acoustic model aligns: sentence start errors on the sample corpus.

    .venv/bin/python benchmarks/model_alignment.py [--corpus data/sample] [--model DIR]

For every decodable audio file of the corpus's ``ground_truth.jsonl``, runs
the model over the whole file, aligns the file's spoken sentences (the
ground truth's ``text``, normalised to the model's alphabet) with
ctc-segmentation, and compares each sentence's start with the true start.
Two starts are reported: the frame where the sentence's first character is
emitted (``first_char``), and ctc-segmentation's own utterance start
(``ctc_segmentation``: its ``determine_utterance_segments``, which puts the
start halfway into the preceding pause, up to 0.5 s before the first
character). Each file is aligned in one window, not the library's sliding
one (see ``align``). JSON on stdout: median, 95th percentile and mean signed error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ctc_segmentation import (  # noqa: E402
    CtcSegmentationParameters,
    ctc_segmentation,
    determine_utterance_segments,
    prepare_text,
)

from galvasr.decode.audio import DecodeFailure, decode_pcm16k  # noqa: E402
from galvasr.model import DEFAULT_MODEL, LoadedModel, load_model  # noqa: E402

BUCKET_SAMPLES = 16_000 * 30  # pad files to whole 30 s: few compiled shapes


def file_logprobs(model: LoadedModel, pcm: np.ndarray) -> np.ndarray:
    width = -(-len(pcm) // BUCKET_SAMPLES) * BUCKET_SAMPLES
    padded = np.zeros((1, width), np.int16)
    padded[0, : len(pcm)] = pcm
    lp, frames = model(padded, np.array([len(pcm)], np.int32))
    return np.asarray(lp[0, : int(frames[0])], dtype=np.float64)


def align(model: LoadedModel, lpz: np.ndarray, texts: list[str]) -> list[dict[str, float]]:
    """(first-character start, ctc-segmentation start, end) in seconds per text."""
    vocab = model.info.vocab
    config = CtcSegmentationParameters()
    # One-character symbols only: the blank gets a placeholder that no text contains.
    config.char_list = [
        "\u2205" if i == vocab.blank_index else s for i, s in enumerate(vocab.symbols)
    ]
    config.blank = vocab.blank_index
    config.index_duration = model.info.frame_stride_samples / model.info.sample_rate
    # The whole file in one window, as galvasr.align does. The library's
    # default slides an 8,000-frame window (160 s at 20 ms frames) along the
    # text, and on a 337 s file it returned a wrong path without a warning:
    # the last 13 sentences squeezed into 41 s, up to 35 s early. The table
    # is frames x characters float32 (0.4 GB for that file).
    config.min_window_size = lpz.shape[0]
    normalized = [vocab.normalize(t) for t in texts]
    ground_truth_mat, utt_begin = prepare_text(config, normalized)
    timings, char_probs, _ = ctc_segmentation(config, lpz, ground_truth_mat)
    segments = determine_utterance_segments(config, utt_begin, char_probs, timings, normalized)
    out = []
    for i, (seg_start, seg_end, score) in enumerate(segments):
        out.append(
            {
                "first_char_s": float(timings[utt_begin[i] + 1]),
                "ctc_segmentation_s": float(seg_start),
                "end_s": float(seg_end),
                "score": float(score),
            }
        )
    return out


def _stats(errors_ms: list[float]) -> dict[str, float]:
    a = np.abs(np.asarray(errors_ms))
    return {
        "median_abs_ms": round(float(np.median(a)), 1),
        "p95_abs_ms": round(float(np.percentile(a, 95)), 1),
        "mean_signed_ms": round(float(np.mean(errors_ms)), 1),
        "within_60ms": round(float(np.mean(a <= 60)), 3),
    }


def measure(corpus: Path, model_path: Path) -> dict[str, Any]:
    truth = [json.loads(line) for line in (corpus / "ground_truth.jsonl").open()]
    files: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in truth:
        files[(row["identifier"], row["audio_file"])].append(row)
    model = load_model(model_path)
    first: list[float] = []
    lib: list[float] = []
    skipped: dict[str, int] = defaultdict(int)
    per_file = []
    worst: list[dict[str, Any]] = []
    for (identifier, audio_file), rows in sorted(files.items()):
        rows.sort(key=lambda r: r["sentence_index"])
        path = corpus / "items" / identifier / audio_file
        try:
            pcm = np.concatenate(list(decode_pcm16k(path)))
        except (DecodeFailure, ValueError) as e:
            skipped[type(e).__name__] += 1
            continue
        lpz = file_logprobs(model, pcm)
        found = align(model, lpz, [r["text"] for r in rows])
        errs = []
        for r, f in zip(rows, found, strict=True):
            first.append(1000 * f["first_char_s"] - r["start_ms"])
            lib.append(1000 * f["ctc_segmentation_s"] - r["start_ms"])
            errs.append(abs(first[-1]))
            worst.append(
                {"audio": f"{identifier}/{audio_file}", "sentence_index": r["sentence_index"],
                 "error_ms": round(first[-1], 1), "voice": r.get("voice")}
            )  # fmt: skip
        per_file.append(
            {"audio": f"{identifier}/{audio_file}", "sentences": len(rows),
             "median_abs_ms": round(float(np.median(errs)), 1)}
        )  # fmt: skip
    return {
        "corpus": str(corpus),
        "model_version": model.info.model_version,
        "files": len(per_file),
        "sentences": len(first),
        "skipped_files": dict(skipped),
        "start_error_first_char": _stats(first),
        "start_error_ctc_segmentation": _stats(lib),
        "per_file": per_file,
        "worst_first_char": sorted(worst, key=lambda w: -abs(w["error_ms"]))[:10],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("data/sample"))
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = measure(args.corpus, args.model)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""What a model does on real human speech: greedy CER/WER, and alignment of consecutive clips.

    .venv/bin/python benchmarks/model_realspeech.py [--corpus ../shared/realspeech]
        [--model DIR] [--out runs/bench/model_realspeech.json]

The corpus is ``../shared/realspeech`` (see its README; evaluation only,
never training data): 109 recordings, 14.4 minutes, LJ Speech, LibriVox,
LibriSpeech, FLEURS, JFK and the Montreal Forced Aligner's test clips.

- Recognition: every file decoded to 16 kHz mono with galvasr.audio, run
  through the model, greedy-decoded, and scored with jiwer against its
  transcript normalised to the model's alphabet (markup such as ``[adif]``
  or ``<VOCNOISE>`` removed first). CER and WER per source folder and over
  all files (errors summed over files, so long files weigh more).
- Alignment: each ``group`` of consecutive clips (LJ Speech, LibriVox,
  LibriSpeech) is joined into one recording, and its transcripts aligned
  with the pipeline's own ``galvasr.align.ctc.align_cues`` (default
  ``[align]`` config), the clip times given as if they were subtitle cues.
  The truth for a clip is its speech span, trimmed as the sample corpus's
  truth is (first and last sample within 40 dB of the clip's peak). Errors
  are reported for the first/last character frames, for CTC's padded
  boundaries, and for those boundaries after ``snap_to_audio`` (what
  segments get). Clip joins are the only pauses here, and LibriVox and LJ
  Speech clips keep some room tone: a test of snapping on real recordings.

JSON on stdout and in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jiwer
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from galvasr.align.ctc import Cue, align_cues, snap_to_audio  # noqa: E402
from galvasr.config import AlignConfig  # noqa: E402
from galvasr.decode.audio import decode_pcm16k  # noqa: E402
from galvasr.model import DEFAULT_MODEL, LoadedModel, greedy_decode, load_model  # noqa: E402
from galvasr.synth.voices import trim_span  # noqa: E402

BUCKET_SAMPLES = 16_000 * 5  # pad to whole 5 s: few compiled shapes
MARKUP = re.compile(r"\[[^\]]*\]|<[^>]*>")


def decode(path: Path) -> np.ndarray:
    return np.concatenate(list(decode_pcm16k(path)))


def logprobs(model: LoadedModel, pcm: np.ndarray) -> np.ndarray:
    width = max(1, -(-len(pcm) // BUCKET_SAMPLES)) * BUCKET_SAMPLES
    padded = np.zeros((1, width), np.int16)
    padded[0, : len(pcm)] = pcm
    lp, frames = model(padded, np.array([len(pcm)], np.int32))
    return np.asarray(lp[0, : int(frames[0])], dtype=np.float32)


def speech_span_ms(pcm: np.ndarray) -> tuple[float, float]:
    start, stop = trim_span(pcm.astype(np.float32))  # as the sample corpus's truth
    return 1000.0 * start / 16_000, 1000.0 * stop / 16_000


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    a = np.asarray(values)
    return {
        "count": len(values),
        "median_abs": round(float(np.median(np.abs(a))), 1),
        "p95_abs": round(float(np.percentile(np.abs(a), 95)), 1),
        "median": round(float(np.median(a)), 1),
    }


def recognition(
    model: LoadedModel, rows: list[dict[str, Any]], pcms: dict[str, np.ndarray]
) -> dict[str, Any]:
    vocab = model.info.vocab
    by_folder: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    refs_all, hyps_all, per_file = [], [], []
    for row in rows:
        ref = vocab.normalize(MARKUP.sub(" ", row["transcript"])).replace(vocab.word_separator, " ")
        hyp = greedy_decode(logprobs(model, pcms[row["file"]]), vocab).replace(
            vocab.word_separator, " "
        )
        ref, hyp = " ".join(ref.split()), " ".join(hyp.split())
        folder = row["file"].split("/")[0]
        by_folder[folder][0].append(ref)
        by_folder[folder][1].append(hyp)
        refs_all.append(ref)
        hyps_all.append(hyp)
        per_file.append({"file": row["file"], "cer": round(jiwer.cer(ref, hyp), 4), "hyp": hyp})
    return {
        "cer": round(jiwer.cer(refs_all, hyps_all), 4),
        "wer": round(jiwer.wer(refs_all, hyps_all), 4),
        "by_folder": {
            f: {
                "files": len(r),
                "seconds": round(
                    sum(len(pcms[x["file"]]) for x in rows if x["file"].startswith(f + "/"))
                    / 16_000,
                    1,
                ),
                "cer": round(jiwer.cer(r, h), 4),
                "wer": round(jiwer.wer(r, h), 4),
            }
            for f, (r, h) in sorted(by_folder.items())
        },
        "files": per_file,
    }


def alignment(
    model: LoadedModel, rows: list[dict[str, Any]], pcms: dict[str, np.ndarray]
) -> dict[str, Any]:
    clock = model.info.clock
    config = AlignConfig()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row.get("group"):
            groups[row["group"]].append(row)
    errors: dict[str, list[float]] = defaultdict(list)
    per_group = {}
    for name, members in sorted(groups.items()):
        members = sorted(members, key=lambda r: r["file"])
        cues, truth, offset = [], {}, 0.0
        for i, row in enumerate(members):
            pcm = pcms[row["file"]]
            start, end = speech_span_ms(pcm)
            truth[i] = (offset + start, offset + end)
            duration = 1000.0 * len(pcm) / 16_000
            text = MARKUP.sub(" ", row["transcript"])
            cues.append(Cue(i, int(offset), int(offset + duration), text, text))
            offset += duration
        joined = np.concatenate([pcms[r["file"]] for r in members])
        aligned, rejects = align_cues(
            logprobs(model, joined), cues, model.info.vocab, clock, config
        )
        ctc_only = {a.cue_index: a for a in aligned}
        aligned = snap_to_audio(
            aligned, lambda a, b, pcm=joined: pcm[max(0, a) : max(0, b)], clock, config
        )
        good = 0
        for a in aligned:
            t0, t1 = truth[a.cue_index]
            errors["first_char_start"].append(clock.ms(a.start_frame) - t0)
            errors["last_char_end"].append(clock.ms(a.end_frame) - t1)
            errors["padded_start"].append(ctc_only[a.cue_index].start_ms - t0)
            errors["padded_end"].append(ctc_only[a.cue_index].end_ms - t1)
            errors["snapped_start"].append(a.start_ms - t0)
            errors["snapped_end"].append(a.end_ms - t1)
            good += a.problem is None
        per_group[name] = {
            "clips": len(members),
            "seconds": round(offset / 1000, 1),
            "aligned": len(aligned),
            "good": good,
            "rejected": len(rejects),
        }
    return {
        "groups": per_group,
        "errors_ms": {k: _stats(v) for k, v in errors.items()},
        "boundary_median_abs_ms": {
            kind: round(
                float(np.median(np.abs(errors[f"{kind}_start"] + errors[f"{kind}_end"]))), 1
            )
            for kind in ("padded", "snapped")
            if errors[f"{kind}_start"]
        },
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "realspeech")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "runs" / "bench" / "model_realspeech.json"
    )
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in (args.corpus / "manifest.jsonl").open()]
    t = time.time()
    pcms = {r["file"]: decode(args.corpus / r["file"]) for r in rows}
    decode_s = time.time() - t
    model = load_model(args.model)
    t = time.time()
    result: dict[str, Any] = {
        "benchmark": "model_realspeech",
        "corpus": str(args.corpus),
        "model": str(args.model),
        "model_version": model.info.model_version,
        "files": len(rows),
        "seconds": round(sum(len(p) for p in pcms.values()) / 16_000, 1),
        "decode_s": round(decode_s, 1),
        "recognition": recognition(model, rows, pcms),
        "alignment": alignment(model, rows, pcms),
    }
    result["model_s"] = round(time.time() - t, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    summary = {k: v for k, v in result.items() if k not in ("recognition", "alignment")}
    summary["cer"] = result["recognition"]["cer"]
    summary["wer"] = result["recognition"]["wer"]
    summary["by_folder"] = result["recognition"]["by_folder"]
    summary["alignment"] = {k: v for k, v in result["alignment"].items()}
    print(json.dumps(summary, indent=1))
    return result


if __name__ == "__main__":
    main()

"""Speed and peak memory of the align stage's per-file work, without the acoustic model.

    nice -n 5 .venv/bin/python benchmarks/align_speed.py [--minutes M] [--hours-long 3]
        [--out runs/bench/align_speed.json]

What is timed is what one Spark task does per file, from the joined rows
to the output record batches (galvasr.align.stage._file_batches): decode
each window's float16 log-probabilities, stitch windows and PCM, normalize
the cues, align them (ctc-segmentation table + backtracking, in pieces),
greedy-decode and score each cue, cut segments and encode their FLAC.

Input: oracle log-probabilities (galvasr/align/oracle.py: every character a
1-2 frame spike, 20 ms frames, ~16 characters per second of speech, which
is about English speech rate) for files of 5 minutes adding up to
``--minutes`` of audio (default: the sample corpus's decodable audio when
``data/sample`` exists, else 30 min). Subtitles are late by 1.5 s and
jittered; 4 % of cues are text nobody says and 4 % of sentences have no
cue, as in the sample corpus. Time is CPU time of this one process, so
"x real time per core" is audio seconds / CPU seconds.

Memory: the rows of a ``--hours-long`` file (default 3 h) are pickled, and a
fresh process loads them and aligns the file; its peak resident memory
(VmHWM) is the peak of a task that aligns it, input rows included.
JSON on stdout and in ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from galvasr import quantize  # noqa: E402
from galvasr.align.oracle import ORACLE_INFO, cut_windows, speak  # noqa: E402
from galvasr.align.stage import _file_batches, output_schema  # noqa: E402
from galvasr.config import AlignConfig  # noqa: E402

STRIDE = 320
CONTRACT = ORACLE_INFO
FILE_MINUTES = 5.0


@functools.cache
def _pool() -> tuple[str, ...]:
    from galvasr.synth.textsource import CORPUS_BOOKS
    from galvasr.synth.textsource import sentences as kjv

    normalized = (CONTRACT.vocab.normalize(s) for s in kjv(CORPUS_BOOKS))
    return tuple(s for s in normalized if 10 <= len(s) <= 200)


def sentences(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` sentences of the text the sample corpus is read from (the KJV), normalized."""
    pool = _pool()
    return [pool[int(i)] for i in rng.integers(0, len(pool), size=n)]


def file_rows(audio_id: int, minutes: float, seed: int) -> tuple[list[dict[str, Any]], float]:
    """The joined rows of one oracle file, as mapInArrow hands them to a task."""
    rng = np.random.default_rng(seed)
    texts: list[str] = []
    chars = 0
    while chars < minutes * 60 * 17.4:  # characters per second of oracle audio
        texts += sentences(rng, 20)
        chars = sum(len(t) for t in texts)
    logprobs, truth = speak(texts, CONTRACT.vocab, rng, pause_frames=(10, 40))
    pcm = rng.integers(-3000, 3000, size=logprobs.shape[0] * STRIDE).astype(np.int16)
    cues: list[dict[str, Any]] = []
    for k, t in enumerate(truth):
        if rng.random() < 0.04:
            continue  # spoken, not subtitled
        start = t.start_frame * 20 + 1500 + int(rng.integers(-150, 150))
        cues.append({"cue_index": len(cues), "start_ms": start, "end_ms": t.end_frame * 20 + 1500,
                     "text_raw": t.text, "text": t.text.capitalize() + "."})  # fmt: skip
        if rng.random() < 0.04:
            end = t.end_frame * 20 + 1500
            cues.append({"cue_index": len(cues), "start_ms": end + 50, "end_ms": end + 900,
                         "text_raw": "x", "text": "Words that nobody ever said."})  # fmt: skip
        del k
    rows = []
    for w in cut_windows(logprobs, pcm, STRIDE, 30 * 16_000, 2 * 16_000):
        rows.append({
            "audio_id": audio_id, "chunk_index": w.chunk_index, "start_sample": w.start_sample,
            "num_samples": w.num_samples, "context_before_samples": w.context_before_samples,
            "pcm": w.pcm, "num_frames": w.logprobs.shape[0], "vocab_size": len(CONTRACT.vocab),
            "encoding": "float16", "logprobs": quantize.encode_logprobs(w.logprobs, "float16"),
            "cues": cues if w.chunk_index == 0 else None, "identifier": f"item{audio_id}",
            "audio_file": "a.mp3", "license": "cc-by",
        })  # fmt: skip
    return rows, pcm.shape[0] / 16_000


def run_files(rows_per_file: list[list[dict[str, Any]]], config: AlignConfig) -> dict[str, Any]:
    schema = output_schema()
    pa.RecordBatch.from_pylist([], schema=schema)  # first use imports pandas: not timed
    kinds: dict[str, int] = {}
    segment_ms = 0
    start = time.process_time()
    for rows in rows_per_file:
        for batch in _file_batches(rows, CONTRACT, config, schema):
            for kind in batch.column("kind").to_pylist():
                kinds[kind] = kinds.get(kind, 0) + 1
            durations = [d for d in batch.column("duration_ms").to_pylist() if d is not None]
            segment_ms += sum(d for d, k in zip(durations, batch.column("kind").to_pylist(),
                                                strict=False) if k == "segment")  # fmt: skip
    cpu_s = time.process_time() - start
    return {"cpu_s": round(cpu_s, 3), "rows": kinds, "segment_hours": segment_ms / 3.6e6}


def corpus_minutes() -> float | None:
    truth = ROOT / "data" / "sample" / "manifest.json"
    if not truth.exists():
        return None
    manifest = json.loads(truth.read_text())
    minutes = manifest.get("totals", {}).get("audio_minutes")
    return float(minutes) if minutes else None


def _vm_hwm_kb() -> int:
    """Peak resident memory of this process (ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def long_file(rows_path: Path, seconds: float) -> dict[str, Any]:
    """In a fresh process: load one long file's rows, as a task holds them, and align it."""
    with open(rows_path, "rb") as f:
        rows = pickle.load(f)
    after_input = _vm_hwm_kb()
    result = run_files([rows], AlignConfig())
    peak = _vm_hwm_kb()
    return {"audio_hours": round(seconds / 3600, 3), **result,
            "x_real_time_per_core": round(seconds / result["cpu_s"], 1),
            "input_rows_mb": round(sum(len(r["pcm"]) + len(r["logprobs"]) for r in rows) / 2**20),
            "rss_after_input_mb": round(after_input / 1024),
            "peak_rss_mb": round(peak / 1024)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, help="audio to align (default: the corpus's)")
    parser.add_argument("--hours-long", type=float, default=3.0, help="long file for memory")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "align_speed.json")
    parser.add_argument("--long-rows", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--long-seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.long_rows:
        print(json.dumps(long_file(args.long_rows, args.long_seconds)))
        return
    minutes = args.minutes or corpus_minutes() or 30.0
    files = []
    left, seed = minutes, 0
    while left > 0:
        files.append(file_rows(1000 + seed, min(FILE_MINUTES, left), seed))
        left -= FILE_MINUTES
        seed += 1
    audio_s = sum(s for _, s in files)
    result = run_files([rows for rows, _ in files], AlignConfig())
    num_files = len(files)
    del files
    rows, seconds = file_rows(1, args.hours_long * 60, seed=99)
    with tempfile.TemporaryDirectory() as tmp:
        rows_path = Path(tmp) / "rows.pickle"
        with open(rows_path, "wb") as f:
            pickle.dump(rows, f, protocol=pickle.HIGHEST_PROTOCOL)
        del rows
        child = subprocess.run(
            [sys.executable, __file__, "--long-rows", str(rows_path), "--long-seconds",
             str(seconds)], capture_output=True, text=True, check=True,
        )  # fmt: skip
    report = {
        "benchmark": "align_speed",
        "input": "oracle log-probabilities, 20 ms frames, float16 windows of 30 s + 2 s context",
        "audio_minutes": round(audio_s / 60, 2),
        "files": num_files,
        **result,
        "x_real_time_per_core": round(audio_s / result["cpu_s"], 1),
        "target_x_real_time_per_core": 300,
        "peak_rss_mb_this_process": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ),
        "long_file": json.loads(child.stdout.strip().splitlines()[-1]),
        "target_long_file_peak_mb": 2048,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

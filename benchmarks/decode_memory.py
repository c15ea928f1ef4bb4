"""Peak memory of a decode worker on a three-hour MP3.

    nice -n 5 .venv/bin/python benchmarks/decode_memory.py --hours 3

Builds a three-hour MP3 (one minute of speech over noise, 22.05 kHz mono
32 kb/s, concatenated 180 times: ~43 MB) in a temporary folder, then, in a
fresh Python process, runs galvasr.decode.decode_file over it as a Spark
worker does: every chunk row is made and pickled, then dropped. Reports the
process's peak resident memory (ru_maxrss, and VmHWM), its resident memory
after imports, CPU time and what was decoded, as JSON on stdout (and to
``--out``). The target: peak under 1 GB.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import astuple
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def child(corpus: str) -> dict[str, object]:
    """Decode ``items/long/long.mp3`` of ``corpus`` as a worker would; measure."""
    from galvasr.config import DecodeConfig
    from galvasr.corpus_files import open_corpus
    from galvasr.decode.stage import DecodePlan, decode_file
    from galvasr.schemas import AudioRow, ChunkRow, RejectRow

    plan = DecodePlan.from_config(DecodeConfig())
    baseline_kb = _status_kb("VmRSS")
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
    chunks, pickled_bytes, result = 0, 0, None
    for row in decode_file(1, "long", "long.mp3", "items/long/long.mp3", open_corpus(corpus), plan):
        pickled_bytes += len(pickle.dumps(astuple(row), protocol=pickle.HIGHEST_PROTOCOL))
        if isinstance(row, ChunkRow):
            chunks += 1
        elif isinstance(row, AudioRow | RejectRow):
            result = row
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "result": type(result).__name__,
        "reason": getattr(result, "reason", None),
        "num_samples": getattr(result, "num_samples", None),
        "duration_s": (getattr(result, "duration_ms", 0) or 0) / 1000,
        "chunks": chunks,
        "pickled_mb": round(pickled_bytes / 2**20, 1),
        "cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
        "wall_s": round(time.time() - wall0, 2),
        "rss_after_imports_mb": round(baseline_kb / 1024, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "vm_hwm_mb": round(_status_kb("VmHWM") / 1024, 1),
        "spool_memory_mb": plan.spool_memory_bytes / 2**20,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return {}

    sys.path.insert(0, str(HERE))
    from decode_fixtures import encode, speech

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp)
        item = corpus / "items" / "long"
        item.mkdir(parents=True)
        minute = encode(speech(60.0, seed=3), corpus / "minute.mp3", kind="mp3-low").read_bytes()
        copies = round(args.hours * 60)
        with open(item / "long.mp3", "wb") as f:
            for _ in range(copies):
                f.write(minute)
        size = (item / "long.mp3").stat().st_size
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(corpus)],
            capture_output=True, text=True, check=True, cwd=HERE.parent,
        )  # fmt: skip
    measured = json.loads(proc.stdout.splitlines()[-1])
    report = {
        "benchmark": "decode_memory",
        "file": {"hours": args.hours, "bytes": size, "codec": "mp3 22.05 kHz mono 32 kb/s"},
        "target": "peak_rss_mb < 1024",
        **measured,
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()

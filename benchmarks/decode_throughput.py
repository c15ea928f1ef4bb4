"""Decode throughput: galvasr (PyAV, in-process) vs the ffmpeg command line vs pydub.

    nice -n 5 .venv/bin/python benchmarks/decode_throughput.py --minutes 15 --repeat 3

For an MP3 (44.1 kHz stereo, 128 kb/s) and a FLAC (44.1 kHz stereo) of the
same speech, measures audio seconds decoded to 16 kHz mono int16 per CPU
second:

- ``galvasr``: galvasr.audio.decode_pcm16k, streaming blocks (CPU of this process);
- ``galvasr_spool``: galvasr.audio.spool_pcm16k, what the decode stage runs
  (decode + measure + spool to memory/disk);
- ``ffmpeg_cli``: ``ffmpeg -i f -f s16le -ac 1 -ar 16000 -`` to a pipe, the
  floor (CPU of the child only; reading the pipe is not counted);
- ``pydub``: ``AudioSegment.from_file(f).set_channels(1).set_frame_rate(16000)``
  (CPU of the ffmpeg child it runs plus its own resampling).

CPU time, not wall time, so other load on the machine matters little; the
best of ``--repeat`` runs is reported. JSON on stdout (and to ``--out``).
The targets: galvasr at least 0.8x the ffmpeg CLI's throughput.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decode_fixtures import encode, speech  # noqa: E402

from galvasr import audio  # noqa: E402


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _galvasr(path: Path) -> int:
    return sum(block.size for block in audio.decode_pcm16k(str(path)))


def _galvasr_spool(path: Path) -> int:
    with audio.spool_pcm16k(str(path), max_samples=10**12, silence_peak=0) as decoded:
        return decoded.num_samples


def _ffmpeg_cli(path: Path) -> int:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path),
           "-f", "s16le", "-ac", "1", "-ar", "16000", "-"]  # fmt: skip
    n = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(1 << 20):
            n += len(chunk)
    if proc.returncode:
        raise RuntimeError(f"ffmpeg exited {proc.returncode}")
    return n // 2


def _pydub(path: Path) -> int:
    from pydub import AudioSegment

    segment = AudioSegment.from_file(str(path))
    segment = segment.set_channels(1).set_frame_rate(16_000).set_sample_width(2)
    return len(segment.raw_data) // 2


METHODS: dict[str, Callable[[Path], int]] = {
    "galvasr": _galvasr,
    "galvasr_spool": _galvasr_spool,
    "ffmpeg_cli": _ffmpeg_cli,
    "pydub": _pydub,
}
CHILD_ONLY = {"ffmpeg_cli"}  # the floor: the ffmpeg process's CPU alone
BOTH = {"pydub"}  # pydub's own CPU plus its ffmpeg child's


def measure(method: str, path: Path) -> dict[str, float]:
    fn = METHODS[method]
    self0, child0, wall0 = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.time()
    samples = fn(path)
    wall = time.time() - wall0
    self_cpu = _cpu(resource.RUSAGE_SELF) - self0
    child_cpu = _cpu(resource.RUSAGE_CHILDREN) - child0
    if method in CHILD_ONLY:
        cpu = child_cpu
    elif method in BOTH:
        cpu = self_cpu + child_cpu
    else:
        cpu = self_cpu
    return {"samples": samples, "cpu_s": cpu, "wall_s": wall, "self_cpu_s": self_cpu,
            "child_cpu_s": child_cpu}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args(argv)
    methods = args.methods.split(",")

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        pcm = speech(args.minutes * 60)
        files = {
            kind: encode(pcm, Path(tmp) / f"speech.{kind}", kind=kind) for kind in ("mp3", "flac")
        }
        for kind, path in files.items():
            runs: dict[str, list[dict[str, float]]] = {m: [] for m in methods}
            for _ in range(args.repeat):
                for m in methods:  # interleaved, so drifting load hits every method alike
                    runs[m].append(measure(m, path))
            per_method = {}
            for m, rs in runs.items():
                best = min(rs, key=lambda r: r["cpu_s"])
                audio_s = best["samples"] / 16_000
                per_method[m] = {
                    "audio_s": round(audio_s, 3),
                    "cpu_s": round(best["cpu_s"], 3),
                    "wall_s": round(best["wall_s"], 3),
                    "audio_s_per_cpu_s": round(audio_s / best["cpu_s"], 1),
                    "cpu_s_all_runs": [round(r["cpu_s"], 3) for r in rs],
                }
            floor = per_method.get("ffmpeg_cli", {}).get("audio_s_per_cpu_s")
            ratios = {
                f"{m}_vs_ffmpeg_cli": round(v["audio_s_per_cpu_s"] / floor, 3)
                for m, v in per_method.items()
                if floor and m != "ffmpeg_cli"
            }
            results[kind] = {"file_bytes": path.stat().st_size, "methods": per_method,
                             "ratios": ratios}  # fmt: skip
    ffmpeg_version = subprocess.run(
        ["ffmpeg", "-version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    report = {
        "benchmark": "decode_throughput",
        "minutes": args.minutes,
        "repeat": args.repeat,
        "target": "galvasr >= 0.8x ffmpeg_cli audio_s_per_cpu_s",
        "results": results,
        "machine": {"cpu": _cpu_model(), "python": platform.python_version(),
                    "ffmpeg_cli": ffmpeg_version, "pyav": audio.av.__version__,
                    "pyav_libavcodec": ".".join(map(str, audio.av.library_versions["libavcodec"]))},
    }  # fmt: skip
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()

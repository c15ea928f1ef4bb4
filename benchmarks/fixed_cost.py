"""Fixed cost of ``galvasr run``: seconds and Spark jobs per stage; what a re-run infer compiles.

    nice -n 5 .venv/bin/python benchmarks/fixed_cost.py [--corpus data/sample] \\
        [--set SECTION.KEY=VALUE ...] [--out benchmarks/results/fixed_cost.json]

1. ``galvasr run`` from scratch, in a fresh process on a fresh run root (the
   JVM's start is in the first Spark stage's seconds, as a user sees it).
   Per stage: seconds and Spark jobs (``spark_jobs``, counted by
   ``galvasr.registry.run_stage`` from the SparkContext's status tracker),
   from ``<root>/_runs/<stage>.json``, and CPU seconds of the whole process
   tree (driver, JVM, Python workers) sampled every 0.2 s by
   ``benchmarks/e2e_scale.py``'s sampler; the run's wall seconds.
2. The infer stage again on the same run root in a fresh process
   (``galvasr infer``, after deleting the first run's logits so that every
   shard is computed again): how many executables it compiled and how many
   it loaded from JAX's persistent cache (``infer.compilation_cache_dir``,
   by default ``<root>/_cache/jax``), and the compile seconds of each run.

Infer starts after decode by default; with ``--set infer.overlap_decode=true``
it runs alongside decode, and ``decode_start_to_infer_end_s`` compares the
two. While they overlap, the sampler charges the CPU to decode (and infer's
after decode to no stage): ``tree_cpu_s_total`` is the whole run's.

The CPU may be shared with other work: the JSON carries the load average
before and after, and back-to-back runs are the only fair comparison. Under
load, ``tree_cpu_s_total`` and each stage's ``cpu_s`` move far less than
seconds do. The local JVM's options come from ``galvasr.spark``
(``GALVASR_JVM_OPTIONS=`` empty measures the JVM's defaults, C2 included;
``GALVASR_CDS_ARCHIVE=`` empty, without the class data sharing archive):
the JSON says which (``jvm_options``, ``cds_archive``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks import e2e_scale  # noqa: E402
from galvasr import registry, runroot, spark  # noqa: E402

GALVASR = [sys.executable, "-m", "galvasr.cli"]


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-4000:]}")
    return seconds, done.stdout


def stage_records(root: Path) -> dict[str, dict[str, Any]]:
    """``{stage: {"seconds", "spark_jobs"}}`` from the run log, in pipeline order."""
    out: dict[str, dict[str, Any]] = {}
    for name in registry.NAMES:
        path = root / runroot.RUNS_DIR / f"{name}.json"
        if path.is_file():
            record = json.loads(path.read_text())
            out[name] = {
                "seconds": record["seconds"],
                "spark_jobs": int(record["counts"].get("spark_jobs", 0)),
                "started": record["started"],
            }
    return out


def span_s(stages: dict[str, dict[str, Any]], first: str, last: str) -> float | None:
    """Wall seconds from ``first``'s start to ``last``'s end (stages may overlap)."""
    from datetime import datetime

    if first not in stages or last not in stages:
        return None
    begin = datetime.fromisoformat(stages[first]["started"]).timestamp()
    ends = [
        datetime.fromisoformat(s["started"]).timestamp() + s["seconds"]
        for name, s in stages.items()
        if name in (first, last)
    ]
    return round(max(ends) - begin, 3)


def infer_compiles(summary: dict[str, Any]) -> dict[str, Any]:
    compiles = summary.get("compiles", [])
    return {
        "shapes": len(compiles),
        "compiled": sum(not c.get("from_cache") for c in compiles),
        "from_cache": int(summary.get("compiles_from_cache", 0)),
        "compile_s": round(float(summary.get("compile_s", 0.0)), 3),
        "run_s": round(float(summary.get("run_s", 0.0)), 3),
    }


def worker_summary(root: Path) -> dict[str, Any]:
    """The newest infer worker summary under ``root``."""
    paths = sorted(
        (root / "logits").glob(f"*/{runroot.WORKERS_DIR}/*.json"), key=lambda p: p.stat().st_mtime
    )
    if not paths:
        raise SystemExit(f"no infer worker summary under {root}")
    summary: dict[str, Any] = json.loads(paths[-1].read_text())
    return summary


def measure(corpus: Path, sets: list[str], workdir: Path) -> dict[str, Any]:
    env = {**os.environ, "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}
    root = workdir / "run"
    flags = [arg for s in sets for arg in ("--set", s)]
    load_before = os.getloadavg()
    jvm_options = [o for o in spark.local_jvm_options() if not o.startswith("-Dlog4j2.")]
    # galvasr run in a fresh process, its process tree sampled (e2e_scale's sampler).
    run = e2e_scale.run_pipeline(
        corpus, root, e2e_scale.DEFAULT_MODEL, workdir / "run.log", [], extra_args=flags
    )
    if run["failed"]:
        raise SystemExit(f"galvasr run failed: {run['failed']}")
    stages = stage_records(root)
    for name, record in stages.items():
        cpu = run["peaks"].get(name, {}).get("cpu_ticks", 0) / e2e_scale.CLK_TCK
        record["cpu_s"] = round(cpu, 1)
    first = infer_compiles(worker_summary(root))
    version = worker_summary(root)["model_version"]

    # The infer stage again, in a fresh process: every shard is computed anew.
    shutil.rmtree(root / "logits" / version)
    again_wall, _ = _run([*GALVASR, "infer", "--root", str(root), "--no-progress", *flags], env)
    second = infer_compiles(worker_summary(root))
    load_after = os.getloadavg()
    stage_s = sum(s["seconds"] for s in stages.values())
    return {
        "benchmark": "fixed_cost",
        "corpus": str(corpus),
        "sets": sets,
        "run_wall_s": round(run["wall_s"], 3),
        "before_first_stage_s": round(run["first_stage_at_s"], 3),
        "stage_s_total": round(stage_s, 3),
        "overlap_decode": any(x.replace(" ", "") == "infer.overlap_decode=true" for x in sets),
        "decode_start_to_infer_end_s": span_s(stages, "decode", "infer"),
        "stage_cpu_s_total": round(sum(s["cpu_s"] for s in stages.values()), 1),
        "tree_cpu_s_total": round(
            sum(p.get("cpu_ticks", 0) for p in run["peaks"].values()) / e2e_scale.CLK_TCK, 1
        ),
        "spark_jobs_total": sum(s["spark_jobs"] for s in stages.values()),
        # The local JVM's options as galvasr.spark gives them (GALVASR_JVM_OPTIONS,
        # the class data sharing archive if usable: GALVASR_CDS_ARCHIVE= is off).
        "jvm_options": jvm_options,
        "cds_archive": next(
            (o.split("=", 1)[1] for o in jvm_options if o.startswith("-XX:SharedArchiveFile=")),
            None,
        ),
        "stages": stages,
        "infer_first_run": first,
        "infer_second_run": {**second, "wall_s": round(again_wall, 3)},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=registry.SAMPLE_CORPUS)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--keep", type=Path, help="run under this folder and keep it")
    args = parser.parse_args(argv)
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        result = measure(args.corpus.resolve(), args.sets, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="galvasr-fixed-cost-") as tmp:
            result = measure(args.corpus.resolve(), args.sets, Path(tmp))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

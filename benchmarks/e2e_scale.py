"""End-to-end scale: audio hours per wall hour, per stage, and how time and memory grow.

    nice -n 5 .venv/bin/python benchmarks/e2e_scale.py --hours 0,2.5,10

For each size in ``--hours``: size 0 is the committed sample corpus
(``data/sample``) as it is; a larger size is the sample corpus plus copies
of its kept items under new identifiers (``<identifier>-copy-NNN``, catalog
lines rewritten, files hard-linked) until the kept audio reaches the target
hours. Each size then runs ``galvasr run`` in a fresh subprocess on a fresh
run root, while a sampler reads the resident memory (VmRSS) of the whole
process tree every 0.2 s from /proc (the driver Python process, the Spark
JVM it starts and the Python workers Spark forks) and charges each sample to
the stage running at that moment (from the pipeline's "<stage> ..." and
"<stage>: done in" lines on stderr). Stage seconds come from the pipeline's
own ``<root>/_pipeline/<stage>.done.json`` summaries.

Reports, as JSON on stdout and in ``--out``: per size the decoded audio
hours, wall seconds, audio hours per wall hour, and per stage its seconds,
audio hours per wall hour and peak memory (tree total, largest process, per
role); then growth between sizes: time per audio hour, a least-squares
``seconds = fixed + per_hour * hours`` per stage, and each stage's peak
memory ratio largest / smallest size. The target: time linear in hours and
no stage's peak memory growing with the corpus.

Copies carry the same audio as their originals, so every stage up to align
processes each copy, and release then rejects all but one of each identical
segment as ``duplicate-audio``: released hours stay those of one copy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SAMPLE = REPO / "data" / "sample"
DEFAULT_MODEL = REPO / "models" / "galvasr-small"
sys.path.insert(0, str(REPO))
from galvasr.registry import NAMES as STAGES  # noqa: E402  (every stage, in order)

OUTSIDE = ("(startup)", "(summary)")  # before the first stage; after the last one
SAMPLE_EVERY_S = 0.2

# ---------------------------------------------------------------- corpus


def kept_items(sample: Path) -> tuple[set[str], float]:
    """Identifiers of the sample's kept items, and the hours of their kept audio files."""
    manifest = json.loads((sample / "manifest.json").read_text())
    keep, ms = set(), 0.0
    for item in manifest["items"]:
        if item["expected"] != "keep":
            continue
        keep.add(item["identifier"])
        for f in item["files"]:
            if f["expected"] == "keep":
                ms += f["audio"]["duration_ms"]
    return keep, ms / 3_600_000


def _link_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        try:
            os.link(f, dst / f.name)
        except OSError:
            shutil.copy2(f, dst / f.name)


def build_corpus(sample: Path, dest: Path, hours: float) -> dict[str, Any]:
    """The sample corpus plus copies of its kept items, until kept audio >= ``hours``."""
    keep, per_copy_h = kept_items(sample)
    copies = max(0, math.ceil(hours / per_copy_h - 1e-9) - 1)
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "items").mkdir(parents=True)
    lines = (sample / "catalog.jsonl").read_text().splitlines()
    out = list(lines)
    for item_dir in sorted((sample / "items").iterdir()):
        _link_tree(item_dir, dest / "items" / item_dir.name)
    for n in range(1, copies + 1):
        for line in lines:
            item = json.loads(line)
            identifier = item["metadata"]["identifier"]
            if identifier not in keep:
                continue
            new = f"{identifier}-copy-{n:03d}"
            item["metadata"]["identifier"] = new
            out.append(json.dumps(item))
            _link_tree(sample / "items" / identifier, dest / "items" / new)
    (dest / "catalog.jsonl").write_text("\n".join(out) + "\n")
    return {
        "path": str(dest),
        "catalog_items": len(out),
        "copies_of_kept_items": copies,
        "kept_audio_hours_expected": round(per_copy_h * (copies + 1), 4),
    }


# ---------------------------------------------------------------- memory


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, comm, user + system CPU ticks) of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        close = stat.rfind(")")
        comm = stat[stat.find("(") + 1 : close]
        fields = stat[close + 2 :].split()  # from the state, field 3 of proc(5)
        table[int(entry)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return table


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss(root: int) -> list[tuple[int, str, int, int]]:
    """(pid, role, rss_kb, cpu_ticks) of ``root`` and all its descendants."""
    children: dict[int, list[int]] = defaultdict(list)
    table = _proc_table()
    for pid, (ppid, _, _) in table.items():
        children[ppid].append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, ()))
        _, comm, ticks = table.get(pid, (0, "?", 0))
        if pid == root:
            role = "driver"
        elif comm == "java":
            role = "jvm"
        elif comm.startswith("python"):
            role = "python_workers"
        else:
            role = f"other:{comm}"
        rss = _rss_kb(pid)
        if rss:
            out.append((pid, role, rss, ticks))
    return out


class StagePeaks:
    """Peak memory per stage, from samples charged to the stage running when taken."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stage = OUTSIDE[0]
        self.marks: list[tuple[str, str, float]] = []  # (stage, "start"/"end", time)
        self.peaks: dict[str, dict[str, Any]] = {}
        self.sampler_s, self.samples = 0.0, 0
        self.ticks: dict[int, int] = {}  # pid -> CPU ticks already charged to a stage

    def set_stage(self, stage: str, event: str) -> None:
        with self.lock:
            self.marks.append((stage, event, time.monotonic()))
            self.stage = stage if event == "start" else OUTSIDE[1]

    def sample(self, root: int) -> None:
        t0 = time.thread_time()
        procs = tree_rss(root)
        self.sampler_s += time.thread_time() - t0
        self.samples += 1
        if not procs:
            return
        with self.lock:
            peak = self.peaks.setdefault(
                self.stage,
                {"samples": 0, "tree_kb": 0, "process_kb": 0, "process_role": "", "roles_kb": {}},
            )
        peak["samples"] += 1
        # CPU used since the last sample goes to the stage running now (a new
        # process: all of it; a process that ended between samples: its last
        # 0.2 s are lost).
        for pid, _, _, ticks in procs:
            peak["cpu_ticks"] = peak.get("cpu_ticks", 0) + ticks - self.ticks.get(pid, 0)
            self.ticks[pid] = ticks
        # A fork about to exec (bash, chmod, jspawnhelper) briefly shows its
        # parent's pages: listed under its own role, left out of the total.
        total = sum(rss for _, role, rss, _ in procs if not role.startswith("other"))
        peak["tree_kb"] = max(peak["tree_kb"], total)
        _, role, rss, _ = max(procs, key=lambda p: (not p[1].startswith("other"), p[2]))
        if rss > peak["process_kb"]:
            peak["process_kb"], peak["process_role"] = rss, role
        roles: dict[str, int] = defaultdict(int)
        for _, r, kb, _ in procs:
            roles[r] += kb
        for r, kb in roles.items():
            peak["roles_kb"][r] = max(peak["roles_kb"].get(r, 0), kb)
        # Local mode keeps one JVM (and its workers) for every stage, and a
        # JVM's RSS hardly ever shrinks: a stage's peak includes what earlier
        # stages left. Its RSS at its first sample tells what it added.
        peak.setdefault("first_roles_kb", dict(roles))
        peak["max_processes"] = max(peak.get("max_processes", 0), len(procs))


# ---------------------------------------------------------------- one run

START = re.compile(r"^(\w+) \.\.\.\s*$")
DONE = re.compile(r"^(\w+): done in ")


def _mb(kb: int) -> float:
    return round(kb / 1024, 1)


def run_pipeline(
    corpus: Path,
    root: Path,
    model: Path,
    log: Path,
    spark_conf: list[str],
    extra_args: list[str] | None = None,
) -> dict[str, Any]:
    """``galvasr run`` in a fresh subprocess; wall time, stage summaries and peaks.

    A run that fails is measured up to the failure and says where and why.
    """
    if root.exists():
        shutil.rmtree(root)
    cmd = [sys.executable, "-m", "galvasr.cli", "run", "--corpus", str(corpus)]
    cmd += ["--root", str(root), "--model", str(model), *(extra_args or [])]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "NO_COLOR": "1"}
    if spark_conf:  # pyspark starts its JVM with these submit arguments
        confs = " ".join(f"--conf {c}" for c in spark_conf)
        env["PYSPARK_SUBMIT_ARGS"] = f"{confs} pyspark-shell"
    peaks = StagePeaks()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    done = threading.Event()

    def sampler() -> None:
        while not done.is_set():
            peaks.sample(proc.pid)
            done.wait(SAMPLE_EVERY_S)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    errors: list[str] = []
    with open(log, "w") as f:
        assert proc.stdout is not None
        for line in proc.stdout:
            f.write(line)
            f.flush()
            text = line.strip()
            if text.startswith("Caused by:") and text not in errors:
                errors.append(text[:300])
            if (m := START.match(text)) and m.group(1) in STAGES:
                peaks.set_stage(m.group(1), "start")
            elif (m := DONE.match(text)) and m.group(1) in STAGES:
                peaks.set_stage(m.group(1), "end")
    rc = proc.wait()
    wall = time.monotonic() - t0
    done.set()
    thread.join()
    summaries = {}
    for stage in STAGES:
        marker = root / "_pipeline" / f"{stage}.done.json"
        summaries[stage] = json.loads(marker.read_text())["summary"] if marker.exists() else None
    starts = {s: t for s, e, t in peaks.marks if e == "start"}
    ends = {s: t for s, e, t in peaks.marks if e == "end"}
    failed: dict[str, Any] | None = None
    if rc != 0:
        where = next((s for s in reversed(STAGES) if s in starts and s not in ends), None)
        failed = {
            "exit_status": rc,
            "stage": where,
            "stage_seconds_until_failure": round(t0 + wall - starts[where], 1) if where else None,
            "causes": errors[:6],
            "log": str(log),
        }
        print(f"e2e_scale: galvasr run failed in {where} (exit {rc}); log {log}", file=sys.stderr)
    return {
        "failed": failed,
        "wall_s": wall,
        "summaries": summaries,
        "peaks": peaks.peaks,
        "first_stage_at_s": min(starts.values(), default=t0) - t0,
        "after_last_stage_s": t0 + wall - max(ends.values(), default=t0 + wall),
        "sampler_cpu_ms_per_sample": round(1000 * peaks.sampler_s / max(peaks.samples, 1), 2),
    }


def measure(size: float, corpus_info: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    s = run["summaries"]
    audio_h = (s["decode"] or {}).get("audio_ms", 0) / 3_600_000
    wall = run["wall_s"]
    stages: dict[str, Any] = {}
    for stage in (*STAGES, *OUTSIDE):
        if stage in STAGES:
            if s[stage] is None:
                continue
            seconds = float(s[stage]["seconds"])
        elif stage == OUTSIDE[0]:
            seconds = run["first_stage_at_s"]
        elif run["failed"]:
            continue
        else:
            seconds = run["after_last_stage_s"]
        peak = run["peaks"].get(stage, {})
        roles = sorted(peak.get("roles_kb", {}).items())
        cpu = peak.get("cpu_ticks", 0) / CLK_TCK
        stages[stage] = {
            "seconds": round(seconds, 2),
            "cpu_s": round(cpu, 1),
            "cpu_s_per_audio_hour": round(cpu / audio_h, 1) if audio_h else None,
            "cores_busy": round(cpu / seconds, 2) if seconds else None,
            "share_of_wall": round(seconds / wall, 3),
            "audio_hours_per_wall_hour": round(audio_h / (seconds / 3600), 1) if seconds else None,
            "peak_rss_tree_mb": _mb(peak.get("tree_kb", 0)),
            "peak_rss_process_mb": _mb(peak.get("process_kb", 0)),
            "peak_rss_process_role": peak.get("process_role"),
            "peak_rss_by_role_mb": {r: _mb(kb) for r, kb in roles},
            "rss_at_start_by_role_mb": {
                r: _mb(kb) for r, kb in sorted(peak.get("first_roles_kb", {}).items())
            },
            "max_processes": peak.get("max_processes", 0),
            "memory_samples": peak.get("samples", 0),
        }
    release = s["release"] or {}
    if run["failed"] and run["failed"]["stage"]:
        # The stage that failed: its peak memory up to the failure, no seconds.
        peak = run["peaks"].get(run["failed"]["stage"], {})
        run["failed"]["peak_rss_tree_mb"] = _mb(peak.get("tree_kb", 0))
        run["failed"]["peak_rss_by_role_mb"] = {
            r: _mb(kb) for r, kb in sorted(peak.get("roles_kb", {}).items())
        }
    return {
        "target_hours": size,
        "failed": run["failed"],
        "corpus": corpus_info,
        "audio_hours_decoded": round(audio_h, 4),
        "audio_files_decoded": (s["decode"] or {}).get("files"),
        "chunks": (s["decode"] or {}).get("chunks"),
        "wall_s": round(wall, 2),
        "audio_hours_per_wall_hour": round(audio_h / (wall / 3600), 1) if audio_h else None,
        "seconds_per_audio_hour": round(wall / audio_h, 1) if audio_h else None,
        "cpu_s": round(sum(v["cpu_s"] for v in stages.values()), 1),
        "cpu_s_per_audio_hour": round(sum(v["cpu_s"] for v in stages.values()) / audio_h, 1)
        if audio_h
        else None,
        "peak_rss_tree_mb": max(v["peak_rss_tree_mb"] for v in stages.values()),
        "sampler_cpu_ms_per_sample": run["sampler_cpu_ms_per_sample"],
        "stages": stages,
        "release": {
            "hours": release.get("hours"),
            "segments": release.get("segments"),
            "rejected": release.get("rejected"),
        },
        "align": {
            k: v
            for k, v in (s["align"] or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        },
    }


# ---------------------------------------------------------------- growth


def _fit(xs: list[float], ys: list[float]) -> dict[str, float | None]:
    """Least squares ``y = fixed + per_hour * x``; the largest miss says how linear."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    fixed = my - slope * mx
    miss = max(abs(y - fixed - slope * x) for x, y in zip(xs, ys, strict=True))
    return {
        "fixed_s": round(fixed, 1),
        "s_per_audio_hour": round(slope, 1),
        "marginal_audio_hours_per_wall_hour": round(3600 / slope, 1) if slope > 0 else None,
        "largest_miss_s": round(miss, 1) if n > 2 else None,
    }


def growth(results: list[dict[str, Any]]) -> dict[str, Any]:
    sizes = [r for r in results if not r["failed"]]  # from the runs that finished
    if len(sizes) < 2:
        return {}
    small, large = sizes[0], sizes[-1]
    hours = [r["audio_hours_decoded"] for r in sizes]
    h_ratio = large["audio_hours_decoded"] / small["audio_hours_decoded"]
    out: dict[str, Any] = {
        "between": [small["target_hours"], large["target_hours"]],
        "audio_hours_ratio": round(h_ratio, 2),
        "wall_ratio": round(large["wall_s"] / small["wall_s"], 2),
        "time_per_audio_hour_ratio": round(
            large["seconds_per_audio_hour"] / small["seconds_per_audio_hour"], 3
        ),
        "wall_fit": _fit(hours, [r["wall_s"] for r in sizes]),
        "cpu_per_audio_hour_ratio": round(
            large["cpu_s_per_audio_hour"] / small["cpu_s_per_audio_hour"], 3
        ),
        "cpu_fit": _fit(hours, [r["cpu_s"] for r in sizes]),
        "peak_rss_tree_ratio": round(large["peak_rss_tree_mb"] / small["peak_rss_tree_mb"], 2),
        "stages": {},
    }
    for stage in (*STAGES, *OUTSIDE):
        if not all(stage in r["stages"] for r in sizes):
            continue
        a, b = small["stages"][stage], large["stages"][stage]
        secs = [r["stages"][stage]["seconds"] for r in sizes]
        per_h_small = a["seconds"] / small["audio_hours_decoded"]
        per_h_large = b["seconds"] / large["audio_hours_decoded"]
        out["stages"][stage] = {
            "seconds_ratio": round(b["seconds"] / a["seconds"], 2) if a["seconds"] else None,
            "time_per_audio_hour_ratio": round(per_h_large / per_h_small, 3)
            if per_h_small
            else None,
            "fit": _fit(hours, secs),
            "cpu_per_audio_hour_ratio": round(b["cpu_s"] / a["cpu_s"] / h_ratio, 3)
            if a["cpu_s"]
            else None,
            "cpu_fit": _fit(hours, [r["stages"][stage]["cpu_s"] for r in sizes]),
            "peak_rss_tree_ratio": round(b["peak_rss_tree_mb"] / a["peak_rss_tree_mb"], 2)
            if a["peak_rss_tree_mb"]
            else None,
            "peak_rss_process_ratio": round(b["peak_rss_process_mb"] / a["peak_rss_process_mb"], 2)
            if a["peak_rss_process_mb"]
            else None,
            "peak_rss_tree_mb": [r["stages"][stage]["peak_rss_tree_mb"] for r in sizes],
            "peak_rss_process_mb": [r["stages"][stage]["peak_rss_process_mb"] for r in sizes],
        }
    out["largest_two"] = _largest_two(sizes)
    return out


def _largest_two(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per stage, the two largest sizes compared: a fixed cost (the JVM, the model)
    weighs on the sample, so whether memory still grows shows between large sizes."""
    a, b = sizes[-2], sizes[-1]
    ha, hb = a["audio_hours_decoded"], b["audio_hours_decoded"]
    out: dict[str, Any] = {"between": [a["target_hours"], b["target_hours"]], "stages": {}}
    for stage in STAGES:
        if stage not in a["stages"] or stage not in b["stages"]:
            continue
        x, y = a["stages"][stage], b["stages"][stage]

        def ratio(key: str, x: dict[str, Any] = x, y: dict[str, Any] = y) -> float | None:
            return round(y[key] / x[key], 3) if x[key] else None

        out["stages"][stage] = {
            "peak_rss_process_ratio": ratio("peak_rss_process_mb"),
            "peak_rss_tree_ratio": ratio("peak_rss_tree_mb"),
            "seconds_per_audio_hour": [round(x["seconds"] / ha, 1), round(y["seconds"] / hb, 1)],
            "cpu_s_per_audio_hour": [x["cpu_s_per_audio_hour"], y["cpu_s_per_audio_hour"]],
        }
    return out


# ---------------------------------------------------------------- main


def _git() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {"head": git("rev-parse", "HEAD").strip(), "uncommitted_paths": dirty}


def _machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "niceness": os.nice(0),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="0,2.5,10", help="sizes, comma separated; 0: sample")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--work", type=Path, default=Path("/tmp/galvasr-e2e-scale"))
    parser.add_argument("--keep", action="store_true", help="keep corpora and run roots")
    parser.add_argument(
        "--spark-conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Spark setting for the runs (PYSPARK_SUBMIT_ARGS --conf); repeatable",
    )
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="galvasr setting for the runs (galvasr run --set); repeatable",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "e2e_scale.json")
    args = parser.parse_args(argv)
    sizes = sorted({float(h) for h in args.hours.split(",")})
    if not (args.model / "model.json").exists():
        raise SystemExit(f"no model at {args.model}: pass --model <checkpoint folder>")
    model_card = json.loads((args.model / "model.json").read_text())
    args.work.mkdir(parents=True, exist_ok=True)

    load_before, git_before = os.getloadavg(), _git()
    results = []
    for size in sizes:
        tag = f"h{size:g}"
        info: dict[str, Any]
        if size == 0:
            _, per_copy = kept_items(args.sample)
            lines = (args.sample / "catalog.jsonl").read_text().splitlines()
            info = {"path": str(args.sample), "catalog_items": len(lines)}
            info |= {"copies_of_kept_items": 0, "kept_audio_hours_expected": round(per_copy, 4)}
            corpus = args.sample
        else:
            corpus = args.work / f"corpus-{tag}"
            info = build_corpus(args.sample, corpus, size)
        print(f"e2e_scale: size {size:g} h: running galvasr run ...", file=sys.stderr)
        load, head = os.getloadavg(), _git()["head"]
        root, log = args.work / f"root-{tag}", args.work / f"{tag}.log"
        flags = [arg for s in args.sets for arg in ("--set", s)]
        run = run_pipeline(corpus, root, args.model, log, args.spark_conf, extra_args=flags)
        result = measure(size, info, run)
        result["load_average_at_start"] = [round(x, 2) for x in load]
        result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        # Others commit to this tree: a run is only as consistent as its code.
        result["git_head"] = {"at_start": head, "at_end": _git()["head"]}
        print(
            f"e2e_scale: size {size:g} h: {result['audio_hours_decoded']:.2f} h audio in "
            f"{result['wall_s']:.0f} s ({result['audio_hours_per_wall_hour']} h/h)"
            + (f", FAILED in {run['failed']['stage']}" if run["failed"] else ""),
            file=sys.stderr,
        )
        results.append(result)
        if not args.keep:
            shutil.rmtree(args.work / f"root-{tag}", ignore_errors=True)
            if size:
                shutil.rmtree(corpus, ignore_errors=True)

    report = {
        "benchmark": "e2e_scale",
        "command": "nice -n 5 .venv/bin/python benchmarks/e2e_scale.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "what": "galvasr run (every stage) in a fresh subprocess per corpus size, local Spark, CPU",
        "spark_conf": args.spark_conf,
        "settings": args.sets,
        "machine": {
            **_machine(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "git": git_before,
        "model": {
            "path": str(args.model),
            "name": model_card.get("name"),
            "model_version": model_card.get("model_version"),
        },
        "method": {
            "corpus": "size 0: data/sample as committed; larger: data/sample plus copies of its "
            "kept items as <identifier>-copy-NNN (files hard-linked) up to the target hours",
            "seconds": "each stage's own timing, <root>/_pipeline/<stage>.done.json",
            "cpu": "user + system CPU of every process in the run's tree (from /proc/<pid>/stat, "
            "sampled with the memory), charged to the stage running: unlike wall time it "
            "hardly depends on what else loads this shared machine",
            "memory": f"VmRSS of every process in the run's tree every {SAMPLE_EVERY_S} s, "
            "charged to the stage running; tree = sum over the driver, the JVM and the Python "
            "workers (pages shared by forked workers counted once per process), process = the "
            "largest one; rss_at_start_by_role_mb: each role at the stage's first sample (local "
            "mode keeps one JVM for every stage: its peak includes what earlier stages left); "
            "roles: driver (galvasr run), jvm (Spark), python_workers (pyspark "
            "daemon and workers), other:<name> (short-lived helpers, not in the tree total)",
            "outside_stages": "(startup): interpreter start to the first stage; (summary): after "
            "the last stage (the run's summary table, Spark shutdown)",
            "duplicates": "copies carry the same audio as their originals: ingest, decode, infer "
            "and align process every copy, release rejects all but one of each identical "
            "segment as duplicate-audio, so released hours stay about those of the sample",
        },
        "sizes": results,
        "growth": growth(results),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()

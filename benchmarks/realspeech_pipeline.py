"""The whole pipeline on real human speech: precision, recall and boundaries per reader.

    .venv/bin/python benchmarks/realspeech_pipeline.py            # 15 min of audio, ~5 min
    .venv/bin/python benchmarks/realspeech_pipeline.py --quick    # 3.4 min subset, ~3 min
        [--source ../shared/realspeech] [--work /tmp/galvasr-realspeech] [--seed N]
        [--score-only] [--tolerance-ms 100] [--out benchmarks/results/realspeech_pipeline.json]
        [--set adapt.rounds=1 ...]   # settings for `galvasr run` (default: none)

A yardstick, not a training set: the clips of ``../shared/realspeech`` (its
README: evaluation only) are joined into long recordings with subtitles by
``benchmarks/realspeech_corpus.py`` (its docstring says exactly how: pauses,
room noise at 20 to 35 dB SNR, music-like interludes between readers,
MP3/OGG/M4A/FLAC, subtitle offset and drift of 0.5 to 2 s, merged and split
cues, ~5 % unspoken lines, ~5 % unsubtitled speech, markup, ``♪`` and
``[sound]`` lines). Nothing is tuned clip by clip; the seed is fixed, so the
corpus is the same bytes every time (its digest is in the output). The corpus
goes to ``<work>/corpus`` (``<work>/quick/corpus`` with ``--quick``), then
``galvasr run --corpus <corpus> --root <work>/run`` runs in a subprocess with
the default config and the bundled model, from a fresh run root.

Scoring follows ``benchmarks/align_accuracy.py`` (its ``judge_segment``
decides each segment) on the *released* segments (``segments`` less the
segments the release stage refused). A segment's cues are the aligned cues
inside it that align did not reject.

- Precision: a segment is exact when all its cues are speech, its text
  normalized equals what their speech says, their true speech lies inside it
  (give or take ``--tolerance-ms``) and no other speech (another clip's,
  subtitled or not) overlaps it by more than the tolerance. A clip split over
  several cues has inner edges whose true time is unknown: a segment that
  holds only some of its parts must start (end) inside the clip, at least the
  tolerance after its start (before its end); that edge is not measured.
- Recall: of the speech of clips that have a cue, the share (seconds) inside
  released segments.
- Boundaries: a segment's start minus the true start of its first clip, its
  end minus the true end of its last clip (ms; known edges only). The true
  edges come from an energy rule on each clean clip (10 ms frames within
  35 dB of the clip's loudest and 10 dB above its floor), not from a model;
  a lip smack or breath loud enough, next to the words, counts as speech.

Also reported: what became of every planted fault (unspoken, ``♪`` and sound
lines, unsubtitled clips, split, merged, overlapping and marked-up cues), the
reject reasons per reader, and how far the aligner put each cue from its
clip (``cue_alignment``, every aligned cue, rejected or not). A summary on
stdout, everything in ``--out`` (the align config of the run included: the
figures belong to the code and config that made them). The corpus is built
with PyAV (no ffmpeg program); no accelerator is needed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.align_accuracy import _stats, judge_segment, overlap  # noqa: E402
from benchmarks.realspeech_corpus import (  # noqa: E402
    SEED,
    SOURCE,
    build_corpus,
    full_plan,
    quick_plan,
    read_manifest,
)

TARGETS = {"precision": 0.99, "recall": 0.85, "median_abs_error_ms": 40, "p95_abs_error_ms": 150}
WORK = Path("/tmp/galvasr-realspeech")
GALVASR = ROOT / ".venv" / "bin" / "galvasr"
MARKER = ".realspeech-benchmark"  # in a corpus folder this benchmark may delete and rebuild


# ------------------------------------------------------------------ build and run


def _ours(path: Path, marker: str) -> bool:
    """Whether ``path`` may be deleted: absent, empty, or holding ``marker``."""
    return not path.exists() or not any(path.iterdir()) or (path / marker).exists()


def build(corpus: Path, quick: bool, source: Path, seed: int) -> dict[str, Any]:
    if not _ours(corpus, MARKER):
        raise SystemExit(f"{corpus} exists and is not a corpus this benchmark built")
    shutil.rmtree(corpus, ignore_errors=True)
    corpus.mkdir(parents=True)
    (corpus / MARKER).write_text("built by benchmarks/realspeech_pipeline.py\n")
    rows = read_manifest(source)
    t = time.time()
    manifest = build_corpus(corpus, quick_plan(rows) if quick else full_plan(rows), source, seed)
    manifest["build_s"] = round(time.time() - t, 1)
    return manifest


def digest(folder: Path) -> str:
    """SHA-256 over every file's relative path and bytes, in path order."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


def run_pipeline(corpus: Path, root: Path, log: Path, sets: list[str]) -> dict[str, Any]:
    if not _ours(root, "_pipeline"):
        raise SystemExit(f"{root} exists and is not a galvasr run root")
    shutil.rmtree(root, ignore_errors=True)
    command = [str(GALVASR.relative_to(ROOT)), "run", "--corpus", str(corpus), "--root", str(root)]
    command += [f"--set={x}" for x in sets]
    t = time.time()
    with log.open("w") as out:
        proc = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    wall = time.time() - t
    tail = log.read_text(errors="replace").splitlines()[-40:]
    if proc.returncode != 0:
        print("\n".join(tail), file=sys.stderr)
    stages = {}
    for marker in sorted((root / "_pipeline").glob("*.done.json")):
        info = json.loads(marker.read_text()).get("summary") or {}
        stages[marker.name.removesuffix(".done.json")] = info.get("seconds")
    return {
        "command": " ".join(command),
        "returncode": proc.returncode,
        "wall_s": round(wall, 1),
        "stage_seconds": stages,
        "log": str(log),
        "log_tail": tail if proc.returncode else [],
    }


def adaptation(root: Path, audio_minutes: float) -> dict[str, Any] | None:
    """What the adapt stage did (galvasr.adapt): rounds, held-out CER, cost per corpus hour."""
    marker = root / "_pipeline" / "adapt.done.json"
    if not marker.exists():
        return None
    summary = json.loads(marker.read_text()).get("summary") or {}
    if not summary.get("rounds"):
        return {"rounds": 0}
    rounds = [
        json.loads(p.read_text()) for p in sorted((root / "adapt").glob("round-*/lineage.json"))
    ]
    hours = audio_minutes / 60
    seconds = float(summary.get("seconds") or 0)
    cpu = float(summary.get("cpu_seconds_this_process") or 0)
    return {
        "summary": summary,
        "rounds": rounds,
        "heldout_cer": summary.get("heldout_cer"),
        "stage_seconds": seconds,
        "stage_seconds_per_corpus_hour": round(seconds / hours, 1) if hours else None,
        "cpu_seconds_in_process": cpu,
        "cpu_seconds_in_process_per_corpus_hour": round(cpu / hours, 1) if hours else None,
        "cost_note": "wall seconds of the whole adapt stage (training, held-out CER, re-infer, "
        "re-align) and the CPU seconds of the galvasr process in it (training, CER, re-infer; "
        "the re-align's Spark workers are other processes), per hour of corpus audio",
    }


def git_state() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    dirty = [line[3:] for line in git("status", "--porcelain").splitlines()]
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "uncommitted_paths_in_galvasr": sorted(p for p in dirty if "galvasr/" in p),
        "uncommitted_paths": len(dirty),
    }


def machine() -> dict[str, Any]:
    cpus = os.cpu_count() or 0
    gpu = shutil.which("nvidia-smi") is not None
    return {
        "note": f"{cpus}-core CPU, {'a GPU present' if gpu else 'no GPU'}; "
        "shared with other work, so wall times are noisy",
        "cpus": cpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


# ------------------------------------------------------------------ scoring


def table(root: Path, name: str, columns: list[str]) -> list[dict[str, Any]]:
    path = root / name
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = pq.read_table(path, columns=columns).to_pylist()
    return rows


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary(errors: list[float]) -> dict[str, Any]:
    a = np.abs(np.asarray(errors, dtype=np.float64))
    return {
        "median_abs_error_ms": round(float(np.median(a)), 1) if a.size else None,
        "p95_abs_error_ms": round(float(np.percentile(a, 95)), 1) if a.size else None,
    }


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def score(corpus: Path, root: Path, tolerance_ms: float) -> dict[str, Any]:
    clips = jsonl(corpus / "ground_truth.jsonl")
    cue_truth = jsonl(corpus / "cue_truth.jsonl")
    events = jsonl(corpus / "events.jsonl")
    catalog = table(root, "catalog", ["audio_id", "identifier", "audio_file"])
    file_of = {r["audio_id"]: (r["identifier"], r["audio_file"]) for r in catalog}
    audio_of = {v: k for k, v in file_of.items()}
    transcripts = table(root, "transcripts", ["audio_id", "cue_index", "start_ms", "end_ms"])
    alignments = table(
        root, "alignments", ["audio_id", "cue_index", "start_ms", "end_ms", "score", "cer"]
    )
    rejects = table(
        root,
        "rejects",
        [
            "stage",
            "reason",
            "detail",
            "identifier",
            "file_name",
            "audio_id",
            "cue_index",
            "segment_id",
        ],
    )
    segments = table(
        root,
        "segments",
        ["segment_id", "audio_id", "start_ms", "end_ms", "text", "cer", "score", "llr"],
    )

    cue_reject: dict[tuple[int, int], tuple[str, str]] = {}
    release_reject: dict[int, str] = {}
    file_rejects: list[dict[str, Any]] = []
    for r in sorted(
        rejects,
        key=lambda r: (
            ("ingest", "decode", "align", "release").index(r["stage"])
            if r["stage"] in ("ingest", "decode", "align", "release")
            else 9
        ),
    ):
        if r["stage"] == "release" and r["segment_id"] is not None:
            release_reject[r["segment_id"]] = r["reason"]
        elif r["cue_index"] is not None and r["audio_id"] is not None:
            cue_reject.setdefault((r["audio_id"], r["cue_index"]), (r["stage"], r["reason"]))
        else:
            file_rejects.append({k: r[k] for k in ("stage", "reason", "identifier", "file_name")})
    align_rejected = {k for k, (stage, _) in cue_reject.items() if stage == "align"}
    released = [s for s in segments if s["segment_id"] not in release_reject]

    # the run's cues to the corpus's cues: same file, same subtitle times
    by_time = {(c["identifier"], c["audio_file"], c["start_ms"], c["end_ms"]): c for c in cue_truth}
    truth_of: dict[tuple[int, int], dict[str, Any]] = {}
    for t in transcripts:
        key = (*file_of.get(t["audio_id"], ("?", "?")), t["start_ms"], t["end_ms"])
        if key in by_time:
            truth_of[(t["audio_id"], t["cue_index"])] = by_time[key]
    aligned_by_file: dict[int, list[dict[str, Any]]] = defaultdict(list)
    alignment_of: dict[tuple[int, int], dict[str, Any]] = {}
    for a in alignments:
        alignment_of[(a["audio_id"], a["cue_index"])] = a
        if (a["audio_id"], a["cue_index"]) not in align_rejected:
            aligned_by_file[a["audio_id"]].append(a)
    clips_of: dict[tuple[str, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for c in clips:
        clips_of[(c["identifier"], c["audio_file"])][c["clip_index"]] = c

    def cues_in(seg: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(
            (
                a
                for a in aligned_by_file[seg["audio_id"]]
                if seg["start_ms"] <= a["start_ms"] and a["end_ms"] <= seg["end_ms"]
            ),
            key=lambda a: a["start_ms"],
        )

    # ---- segments: precision and boundaries
    starts: dict[str, list[float]] = defaultdict(list)  # by reader
    ends: dict[str, list[float]] = defaultdict(list)
    judged: dict[str, Counter[str]] = defaultdict(Counter)  # reader -> exact/inexact/...
    failures: dict[str, list[dict[str, Any]]] = defaultdict(list)
    kept_in: dict[tuple[int, int], bool] = {}  # cue -> its segment is exact
    unverified_edges = 0
    segment_verdicts: list[dict[str, Any]] = []  # every released speech segment, judged
    for seg in released:
        file = file_of.get(seg["audio_id"], ("?", "?"))
        cues = cues_in(seg)
        truths = [truth_of.get((seg["audio_id"], a["cue_index"])) for a in cues]
        where = {
            "file": "/".join(file),
            "start_ms": seg["start_ms"],
            "end_ms": seg["end_ms"],
            "text": seg["text"][:200],
        }
        if not cues or any(t is None for t in truths):
            failures["unmatched_cue"].append(where)
            judged["?"]["unmatched_cue"] += 1
            continue
        ts = [t for t in truths if t is not None]
        kinds = {t["kind"] for t in ts}
        reader = next((t["reader"] for t in ts if t["reader"]), "?")
        if kinds != {"speech"}:
            failures["non_speech_cue"].append({**where, "kinds": sorted(kinds)})
            judged[reader]["non_speech_cue"] += 1
            for a in cues:
                kept_in[(seg["audio_id"], a["cue_index"])] = False
            continue
        parts: dict[int, set[int]] = defaultdict(set)
        for t in ts:
            for clip, part, _ in t["clips"]:
                parts[clip].add(part)
        order = [clip for t in ts for clip, _, _ in t["clips"]]
        true_start, true_end = ts[0]["true_start_ms"], ts[-1]["true_end_ms"]
        file_clips = clips_of[file]
        others = [
            (c["true_start_ms"], c["true_end_ms"], c["spoken_text"])
            for i, c in sorted(file_clips.items())
            if i not in parts
        ]
        problems = judge_segment(
            seg, " ".join(t["spoken_text"] for t in ts), true_start, true_end, others, tolerance_ms
        )
        for clip, got in parts.items():
            c = file_clips[clip]
            n = c["parts"]
            if set(range(min(got), max(got) + 1)) - got:
                problems.append(f"part of split clip {clip} missing inside")
            if min(got) > 0:
                unverified_edges += 1
                if clip != order[0] or seg["start_ms"] < c["true_start_ms"] + tolerance_ms:
                    problems.append(
                        f"starts {c['true_start_ms'] - seg['start_ms']:.0f} ms into "
                        f"split clip {clip} without its first part"
                    )
            if max(got) < n - 1:
                unverified_edges += 1
                if clip != order[-1] or seg["end_ms"] > c["true_end_ms"] - tolerance_ms:
                    problems.append(
                        f"ends {seg['end_ms'] - c['true_end_ms']:.0f} ms past "
                        f"split clip {clip} without its last part"
                    )
        if true_start is not None:
            starts[reader].append(seg["start_ms"] - true_start)
        if true_end is not None:
            ends[reader].append(seg["end_ms"] - true_end)
        exact = not problems
        for a in cues:
            kept_in[(seg["audio_id"], a["cue_index"])] = exact
        segment_verdicts.append(
            {
                "segment_id": seg["segment_id"],
                "reader": reader,
                "exact": exact,
                **{k: seg[k] for k in ("cer", "score", "llr")},
            }
        )
        if exact:
            judged[reader]["exact"] += 1
        else:
            judged[reader]["inexact"] += 1
            failures["inexact"].append(
                {
                    **where,
                    "reader": reader,
                    "problems": problems,
                    "start_error_ms": None
                    if true_start is None
                    else round(seg["start_ms"] - true_start),
                    "end_error_ms": None if true_end is None else round(seg["end_ms"] - true_end),
                }
            )
        if not any(p.startswith(("text differs", "other speech")) for p in problems):
            judged[reader]["right_text"] += 1

    # ---- recall: subtitled speech inside released segments
    spans: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for seg in released:
        if seg["audio_id"] in file_of:
            spans[file_of[seg["audio_id"]]].append((seg["start_ms"], seg["end_ms"]))
    speech: Counter[str] = Counter()
    covered: Counter[str] = Counter()
    per_file: dict[str, dict[str, Any]] = {}
    unsubtitled_fates: Counter[str] = Counter()
    unsubtitled_released_ms = 0.0
    for file, members in sorted(clips_of.items()):
        total = got = 0.0
        for c in members.values():
            inside = sum(
                overlap(c["true_start_ms"], c["true_end_ms"], a, b) for a, b in spans[file]
            )
            span = c["true_end_ms"] - c["true_start_ms"]
            if c["cue_indices"]:
                speech[c["reader"]] += span
                covered[c["reader"]] += inside
                total += span
                got += inside
            else:
                unsubtitled_fates[
                    "inside a released segment (precision failure)"
                    if inside > tolerance_ms
                    else "left out"
                ] += 1
                unsubtitled_released_ms += inside
        per_file["/".join(file)] = {
            "recall": ratio(got, total),
            "subtitled_speech_s": round(total / 1000, 1),
        }

    # ---- what became of every cue
    def fate(c: dict[str, Any]) -> str:
        audio_id = audio_of.get((c["identifier"], c["audio_file"]))
        if audio_id is None:
            return "file not in catalog"
        key = (audio_id, c["cue_index"])
        if key in kept_in:
            return "kept, exact segment" if kept_in[key] else "kept, inexact segment"
        if key in cue_reject:
            return f"rejected {cue_reject[key][1]}"
        if key in alignment_of:
            a = alignment_of[key]
            for seg in segments:
                if (
                    seg["audio_id"] == audio_id
                    and seg["start_ms"] <= a["start_ms"]
                    and a["end_ms"] <= seg["end_ms"]
                ):
                    return f"release refused {release_reject.get(seg['segment_id'], '?')}"
            return "aligned, in no segment"
        return "no trace"

    fates = {(c["identifier"], c["audio_file"], c["cue_index"]): fate(c) for c in cue_truth}
    faults: dict[str, Counter[str]] = defaultdict(Counter)
    reader_fates: dict[str, Counter[str]] = defaultdict(Counter)
    for c in cue_truth:
        f = fates[(c["identifier"], c["audio_file"], c["cue_index"])]
        if c["kind"] != "speech":
            faults[f"line:{c['kind']}"][f] += 1
            continue
        reader_fates[c["reader"]][f] += 1
        for tag in c["tags"] or ["none"]:
            faults[f"speech cue, tag {tag}"][f] += 1
    faults["speech:unsubtitled (clips)"] = unsubtitled_fates

    # ---- where the aligner put each cue (kept or not), against the truth
    cue_errors: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    cers: dict[str, list[float]] = defaultdict(list)
    for c in cue_truth:
        audio_id = audio_of.get((c["identifier"], c["audio_file"]))
        a = alignment_of.get((audio_id, c["cue_index"])) if audio_id is not None else None
        if a is None or c["kind"] != "speech":
            continue
        cers[c["reader"]].append(a["cer"])
        group = "kept" if (audio_id, c["cue_index"]) in kept_in else "rejected"
        if c["true_start_ms"] is not None:
            cue_errors[group]["start"].append(a["start_ms"] - c["true_start_ms"])
        if c["true_end_ms"] is not None:
            cue_errors[group]["end"].append(a["end_ms"] - c["true_end_ms"])

    # ---- per reader and overall
    readers = sorted({c["reader"] for c in clips})
    per_reader = {}
    for r in readers:
        errs = starts[r] + ends[r]
        segs = judged[r]["exact"] + judged[r]["inexact"] + judged[r]["non_speech_cue"]
        per_reader[r] = {
            "clips": sum(1 for c in clips if c["reader"] == r),
            "subtitled_speech_s": round(speech[r] / 1000, 1),
            "segments": segs,
            "precision": ratio(judged[r]["exact"], segs),
            "recall": ratio(covered[r], speech[r]),
            **summary(errs),
            "start_error_ms": _stats(starts[r]),
            "end_error_ms": _stats(ends[r]),
            "speech_cue_fates": dict(reader_fates[r].most_common()),
            "median_cue_cer": round(float(np.median(cers[r])), 3) if cers[r] else None,
        }
    all_starts = [e for r in starts.values() for e in r]
    all_ends = [e for r in ends.values() for e in r]
    n_segs = len(released)
    exact = sum(j["exact"] for j in judged.values())
    overall = {
        "segments": len(segments),
        "released_segments": n_segs,
        "released_hours": round(sum(s["end_ms"] - s["start_ms"] for s in released) / 3.6e6, 4),
        "precision": ratio(exact, n_segs),
        "precision_text_only": ratio(sum(j["right_text"] for j in judged.values()), n_segs),
        "recall": ratio(sum(covered.values()), sum(speech.values())),
        "subtitled_speech_s": round(sum(speech.values()) / 1000, 1),
        "released_subtitled_speech_s": round(sum(covered.values()) / 1000, 1),
        **summary(all_starts + all_ends),
        "boundaries_measured": len(all_starts) + len(all_ends),
        "unverified_inner_edges": unverified_edges,
        "start_error_ms": _stats(all_starts),
        "end_error_ms": _stats(all_ends),
    }
    reasons: Counter[str] = Counter(f"{r['stage']} {r['reason']}" for r in rejects)
    speech_rejects: Counter[str] = Counter()
    for f in reader_fates.values():
        speech_rejects.update({k: v for k, v in f.items() if k.startswith("rejected")})
    interlude_overlap = sum(
        1
        for seg in released
        for e in events
        if e["kind"] == "interlude"
        and file_of.get(seg["audio_id"]) == (e["identifier"], e["audio_file"])
        and overlap(e["start_ms"], e["end_ms"], seg["start_ms"], seg["end_ms"]) > 500
    )
    return {
        "tolerance_ms": tolerance_ms,
        "overall": overall,
        "per_reader": per_reader,
        "per_file": per_file,
        "faults": {k: dict(v.most_common()) for k, v in sorted(faults.items())},
        "unsubtitled_speech_released_s": round(unsubtitled_released_ms / 1000, 2),
        "segments_over_an_interlude": interlude_overlap,
        "speech_cue_rejects": dict(speech_rejects.most_common()),
        "rejects_by_stage_reason": dict(reasons.most_common()),
        "file_rejects": file_rejects,
        "cue_alignment": {
            "what": "every aligned speech cue's start/end minus its clip's true edge (known "
            "edges), by whether the cue ended in a released segment",
            **{
                g: {
                    side: _stats(v)
                    | {
                        "count": len(v),
                        "share_over_500ms": ratio(sum(abs(x) > 500 for x in v), len(v)),
                    }
                    for side, v in sides.items()
                }
                for g, sides in sorted(cue_errors.items())
            },
        },
        "failures": {k: len(v) for k, v in failures.items()},
        "failure_examples": {k: v[:8] for k, v in failures.items()},
        "segment_verdicts": segment_verdicts,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--work", type=Path, default=WORK, help="corpus, run root and log go here")
    parser.add_argument("--quick", action="store_true", help="a ~3.5 min subset")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--score-only", action="store_true", help="score the corpus and run root already in --work"
    )
    parser.add_argument("--tolerance-ms", type=float, default=100.0)
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        help="SECTION.KEY=VALUE for galvasr run, e.g. adapt.rounds=1 (repeatable)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="default: benchmarks/results/"
        "realspeech_pipeline.json (full), <work>/quick/result.json (--quick)",
    )
    args = parser.parse_args(argv)
    if not (args.source / "manifest.jsonl").exists():
        raise SystemExit(f"{args.source}/manifest.jsonl is missing (see ../shared/realspeech)")
    work = args.work / "quick" if args.quick else args.work
    corpus, root = work / "corpus", work / "run"
    out = args.out or (
        work / "result.json"
        if args.quick
        else ROOT / "benchmarks" / "results" / "realspeech_pipeline.json"
    )
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    before = machine()
    if args.score_only:
        manifest = json.loads((corpus / "manifest.json").read_text())
        prior = json.loads(out.read_text()) if out.exists() else {}
        run = prior.get("run", {"command": None, "note": "scored an existing run root"})
    else:
        manifest = build(corpus, args.quick, args.source, args.seed)
        print(f"corpus: {manifest['totals']} in {manifest['build_s']} s", file=sys.stderr)
        run = run_pipeline(corpus, root, work / "galvasr_run.log", args.sets)
        print(f"galvasr run: exit {run['returncode']} in {run['wall_s']} s", file=sys.stderr)
    versions = sorted(p.name for p in (root / "logits").glob("*")) if root.exists() else []
    config = root / "_pipeline" / "config.toml"
    align_config = tomllib.loads(config.read_text()).get("align") if config.exists() else None
    result: dict[str, Any] = {
        "benchmark": "realspeech_pipeline",
        "command": " ".join(
            [
                ".venv/bin/python",
                "benchmarks/realspeech_pipeline.py",
                *(argv if argv is not None else sys.argv[1:]),
            ]
        ),
        "what": "galvasr run (default config, bundled model) on long recordings joined from "
        "../shared/realspeech clips; precision, recall and boundaries as "
        "benchmarks/align_accuracy.py defines them, per reader",
        "corpus": {
            "path": str(corpus),
            "seed": manifest["generator"]["seed"],
            "sha256": digest(corpus),
            "totals": manifest["totals"],
            "build_s": manifest.get("build_s"),
            "files": [
                {
                    k: f[k]
                    for k in (
                        "identifier",
                        "audio_file",
                        "format",
                        "sample_rate",
                        "channels",
                        "duration_ms",
                        "snr_db",
                        "offset_ms",
                        "drift_ms",
                        "readers",
                        "faults",
                    )
                }
                for f in manifest["files"]
            ],
        },
        "run": run,
        "settings": args.sets,
        "adapt": adaptation(root, manifest["totals"]["audio_minutes"]) if root.exists() else None,
        "model_versions": versions,
        "align_config": align_config,
        "galvasr": git_state(),
        "machine": before,
        "targets": TARGETS,
    }
    if run.get("returncode", 0) == 0 and (root / "segments").exists():
        result |= score(corpus, root, args.tolerance_ms)
        o = result["overall"]
        result["meets_targets"] = {
            k: o[k] is not None and (o[k] <= v if k.endswith("_ms") else o[k] >= v)
            for k, v in TARGETS.items()
        }
    result["machine"]["load_average_after"] = machine()["load_average"]
    if not args.score_only:
        result["wall_s"] = round(time.time() - started, 1)  # build, run and scoring
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: result.get(k) for k in ("run", "overall", "meets_targets")}, indent=1))
    print(f"written: {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()

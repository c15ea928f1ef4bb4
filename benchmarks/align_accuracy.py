"""How right the kept segments are, against the sample corpus's ground truth.

    .venv/bin/python benchmarks/align_accuracy.py [--corpus data/sample] [--root runs/sample]
        [--align [--model DIR] | --oracle] [--out runs/bench/align_accuracy.json]

Reads ``segments``, ``alignments``, ``transcripts`` and ``catalog`` of a run
root where ``galvasr run`` (or ingest, decode, infer and align) has run on the
sample corpus; ``--align`` first re-runs the align stage on the root's
logits (so thresholds can be tried without re-running inference);
``--oracle`` aligns log-probabilities made from the ground truth instead of
a model's (a check of the stage and of this benchmark, not of a model). The
corpus's ``cue_truth.jsonl`` says what each cue really is (speech, unspoken
text, music, sound) and when its speech truly starts and ends;
``ground_truth.jsonl`` says when every sentence is spoken and whether any
cue covers it. A segment's cues are the aligned, not rejected, cues inside
its span.

- Boundaries: a segment's start minus the true start of its first cue, its
  end minus the true end of its last cue (ms; segments made only of speech
  cues). Targets: median of |error| <= 60 ms, 95th percentile <= 200 ms.
- Precision: a segment is *exact* when every cue in it is speech, its text
  normalized equals what those cues' speech says, normalized, every one of
  those cues' true speech lies inside the segment (give or take
  ``--tolerance-ms``), and no other speech (another cue's, or an unsubtitled
  sentence's) overlaps the segment by more than the tolerance. Target:
  >= 99 % of kept segments exact.
- Recall: of the speech of subtitled sentences in files the manifest keeps,
  the share of its duration inside segments. Target: >= 85 %.

JSON on stdout and in ``--out``, with the worst examples of each failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from galvasr.model.vocab import DEFAULT_VOCAB  # noqa: E402

TARGETS = {"median_abs_error_ms": 60, "p95_abs_error_ms": 200, "precision": 0.99, "recall": 0.85}


def read(root: Path, table: str, columns: list[str]) -> list[dict[str, Any]]:
    path = root / table
    if not path.exists():
        raise SystemExit(f"{path} is missing: run the pipeline on the sample corpus first")
    rows: list[dict[str, Any]] = pq.read_table(path, columns=columns).to_pylist()
    return rows


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def norm(text: str) -> str:
    return DEFAULT_VOCAB.normalize(text)


def overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def evaluate(corpus: Path, root: Path, tolerance_ms: float) -> dict[str, Any]:
    catalog = read(root, "catalog", ["audio_id", "identifier", "audio_file"])
    files = {r["audio_id"]: (r["identifier"], r["audio_file"]) for r in catalog}
    transcripts = read(root, "transcripts", ["audio_id", "cue_index", "start_ms", "end_ms"])
    alignments = read(root, "alignments", ["audio_id", "cue_index", "start_ms", "end_ms"])
    rejected = {(r["audio_id"], r["cue_index"])
                for r in read(root, "rejects", ["audio_id", "cue_index", "stage"])
                if r["stage"] == "align"}  # fmt: skip
    # A segment's cues: the aligned cues inside it that no stage rejected.
    alignments = [a for a in alignments if (a["audio_id"], a["cue_index"]) not in rejected]
    segments = read(root, "segments", ["segment_id", "audio_id", "start_ms", "end_ms", "text"])
    cue_truth = jsonl(corpus / "cue_truth.jsonl")
    sentences = jsonl(corpus / "ground_truth.jsonl")
    manifest = json.loads((corpus / "manifest.json").read_text())

    # Ingest's cues to the corpus's cues: same file, same subtitle times.
    truth_by_time = {(c["identifier"], c["audio_file"], c["start_ms"], c["end_ms"]): c
                     for c in cue_truth}  # fmt: skip
    truth_of: dict[tuple[int, int], dict[str, Any]] = {}
    for t in transcripts:
        at = (*files.get(t["audio_id"], ("?", "?")), t["start_ms"], t["end_ms"])
        if at in truth_by_time:
            truth_of[(t["audio_id"], t["cue_index"])] = truth_by_time[at]
    aligned_by_file: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in alignments:
        aligned_by_file[a["audio_id"]].append(a)
    speech_by_file: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for c in cue_truth:
        if c["kind"] == "speech":
            speech_by_file[(c["identifier"], c["audio_file"])].append(c)
    unsubtitled: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in sentences:
        if not s["subtitled"]:
            unsubtitled[(s["identifier"], s["audio_file"])].append(s)

    starts, ends, failures = [], [], defaultdict(list)
    exact = right_text = 0
    for seg in segments:
        file = files.get(seg["audio_id"], ("?", "?"))
        cues = sorted(
            (a for a in aligned_by_file[seg["audio_id"]]
             if seg["start_ms"] <= a["start_ms"] and a["end_ms"] <= seg["end_ms"]),
            key=lambda a: a["start_ms"],
        )  # fmt: skip
        truths = [truth_of.get((seg["audio_id"], a["cue_index"])) for a in cues]
        where = {"segment_id": seg["segment_id"], "file": file, "start_ms": seg["start_ms"],
                 "end_ms": seg["end_ms"], "text": seg["text"]}  # fmt: skip
        if not cues or None in truths:
            failures["unmatched_cue"].append(where)
            continue
        kinds = {t["kind"] for t in truths if t}
        if kinds != {"speech"}:
            failures["non_speech_cue"].append({**where, "kinds": sorted(kinds)})
            continue
        true_start = min(t["true_start_ms"] for t in truths if t)
        true_end = max(t["true_end_ms"] for t in truths if t)
        starts.append(seg["start_ms"] - true_start)
        ends.append(seg["end_ms"] - true_end)
        spoken = " ".join(t["spoken_text"] for t in truths if t)
        mine = {(t["cue_index"]) for t in truths if t}
        others = [c for c in speech_by_file[file] if c["cue_index"] not in mine]
        others += unsubtitled[file]
        problems = judge_segment(
            seg, spoken, true_start, true_end,
            [(float(o.get("true_start_ms", o.get("start_ms", 0.0))),
              float(o.get("true_end_ms", o.get("end_ms", 0.0))),
              o.get("text", o.get("spoken_text"))) for o in others],
            tolerance_ms,
        )  # fmt: skip
        if problems:
            failures["inexact"].append({**where, "problems": problems})
        else:
            exact += 1
        if not any(p.startswith(("text differs", "other speech")) for p in problems):
            right_text += 1

    # Recall: subtitled speech of kept files that ends up inside segments.
    kept = {(item["identifier"], f["audio_file"]) for item in manifest["items"]
            for f in item["files"] if f["expected"] == "keep"}  # fmt: skip
    spans: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for seg in segments:
        if seg["audio_id"] in files:
            spans[files[seg["audio_id"]]].append((seg["start_ms"], seg["end_ms"]))
    speech_ms, covered_ms = 0.0, 0.0
    per_file: dict[str, float] = {}
    for key in sorted(kept):
        total, got = 0.0, 0.0
        for s in sentences:
            if (s["identifier"], s["audio_file"]) == key and s["subtitled"]:
                total += s["end_ms"] - s["start_ms"]
                got += sum(overlap(s["start_ms"], s["end_ms"], a, b) for a, b in spans[key])
        speech_ms += total
        covered_ms += got
        per_file["/".join(key)] = round(got / total, 4) if total else 0.0

    abs_errors = np.abs(np.array(starts + ends, dtype=np.float64))
    result = {
        "benchmark": "align_accuracy",
        "corpus": str(corpus),
        "root": str(root),
        "tolerance_ms": tolerance_ms,
        "segments": len(segments),
        "segment_hours": round(sum(s["end_ms"] - s["start_ms"] for s in segments) / 3.6e6, 4),
        "boundaries_measured": len(starts),
        "median_abs_error_ms": float(np.median(abs_errors)) if abs_errors.size else None,
        "p95_abs_error_ms": float(np.percentile(abs_errors, 95)) if abs_errors.size else None,
        "start_error_ms": _stats(starts),
        "end_error_ms": _stats(ends),
        "precision": round(exact / len(segments), 4) if segments else None,
        # Text and audio agree (no unspoken text, no untranscribed speech), even
        # where a boundary clips up to a word's edge beyond the tolerance.
        "precision_text_only": round(right_text / len(segments), 4) if segments else None,
        "recall": round(covered_ms / speech_ms, 4) if speech_ms else None,
        "recall_by_file": per_file,
        "failures": {k: len(v) for k, v in failures.items()},
        "failure_examples": {k: v[:5] for k, v in failures.items()},
        "targets": TARGETS,
    }
    result["meets_targets"] = {
        k: result[k] is not None and (result[k] <= v if k.endswith("_ms") else result[k] >= v)
        for k, v in TARGETS.items()
    }
    return result


def judge_segment(
    seg: dict[str, Any],
    spoken: str,
    true_start: float | None,
    true_end: float | None,
    others: list[tuple[float, float, Any]],
    tolerance_ms: float,
) -> list[str]:
    """What keeps a kept segment from being exact (nothing: it is exact).

    ``seg`` has ``start_ms``, ``end_ms`` and ``text``; ``spoken`` is what its
    cues' speech says; ``true_start``/``true_end`` where that speech starts
    and ends (None where it is not known: not checked); ``others`` every
    other piece of speech of the file as ``(start_ms, end_ms, text)``. Shared
    with benchmarks/realspeech_pipeline.py.
    """
    problems = []
    if norm(seg["text"]) != norm(spoken):
        problems.append(f"text differs from speech: {spoken!r}")
    cut_start = true_start is not None and true_start < seg["start_ms"] - tolerance_ms
    cut_end = true_end is not None and true_end > seg["end_ms"] + tolerance_ms
    if cut_start or cut_end:
        problems.append(f"speech {_ms(true_start)}-{_ms(true_end)} cut")
    for o0, o1, text in others:
        if overlap(o0, o1, seg["start_ms"], seg["end_ms"]) > tolerance_ms:
            problems.append(f"other speech {o0:.0f}-{o1:.0f}: {text!r}")
    return problems


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"median": None, "p95_abs": None, "mean": None}
    a = np.array(values, dtype=np.float64)
    quantiles = {f"p{q}": round(float(np.percentile(a, q)), 1) for q in (5, 25, 75, 95)}
    return {"median": float(np.median(a)), "p95_abs": float(np.percentile(np.abs(a), 95)),
            "mean": float(a.mean()), **quantiles}  # fmt: skip


ORACLE_VERSION = "oracle-groundtruth"


def spoken_pieces(corpus: Path) -> list[tuple[tuple[str, str], float, float, str]]:
    """((identifier, audio_file), start_ms, end_ms, text) of every piece of speech.

    A sentence split over several cues was synthesized in parts: each part
    is its cue's true span and spoken text; other sentences are whole.
    """
    parts: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for c in jsonl(corpus / "cue_truth.jsonl"):
        if c["kind"] == "speech" and len(c["sentence_indices"]) == 1:
            parts[(c["identifier"], c["audio_file"], c["sentence_indices"][0])].append(c)
    out = []
    for s in jsonl(corpus / "ground_truth.jsonl"):
        audio = (s["identifier"], s["audio_file"])
        split = parts.get((*audio, s["sentence_index"]), [])
        if s["num_parts"] > 1 and len(split) == s["num_parts"]:
            out += [(audio, c["true_start_ms"], c["true_end_ms"], c["spoken_text"]) for c in split]
        else:
            out.append((audio, s["start_ms"], s["end_ms"], s["text"]))
    return out


def write_oracle_logits(
    spark: Any, corpus: Path, root: Path, peak: float = 10.0, confusion: float = 0.0
) -> Any:
    """Logits as a perfect model would give them, from the corpus's sentence timings.

    Every spoken sentence (subtitled or not) has its normalized characters
    spread evenly over its true span; everything else is blank. With these,
    the benchmark measures the stage's wiring, fault handling and cutting,
    not the acoustic model; boundaries are then right by construction.
    ``peak`` (how much likelier the spoken symbol is than the others, in
    nats, before unit noise) and ``confusion`` (the share of characters
    heard as another letter) make the oracle more like a real model.
    """
    from galvasr import quantize
    from galvasr.align.oracle import log_softmax
    from galvasr.model.contract import ModelInfo
    from galvasr.schemas import LOGITS, LogitsRow
    from galvasr.tables import write_table

    vocab = DEFAULT_VOCAB
    contract = ModelInfo("oracle", ORACLE_VERSION, vocab, 320, 16_000, "oracle")
    index = vocab.index
    catalog = read(root, "catalog", ["audio_id", "identifier", "audio_file"])
    audio_of = {(r["identifier"], r["audio_file"]): r["audio_id"] for r in catalog}
    chunks = read(root, "chunks", ["audio_id", "chunk_index", "bucket", "start_sample",
                                   "num_samples", "context_before_samples",
                                   "context_after_samples"])  # fmt: skip
    total: dict[int, int] = defaultdict(int)
    for c in chunks:
        total[c["audio_id"]] = max(total[c["audio_id"]], c["start_sample"] + c["num_samples"])
    labels = {a: np.zeros(-(-n // 320), np.int64) for a, n in total.items()}
    for audio, start_ms, end_ms, spoken in spoken_pieces(corpus):
        audio_id = audio_of.get(audio)
        if audio_id not in labels:
            continue
        text = norm(spoken)
        first, last = int(start_ms // 20), int(end_ms // 20) - 1
        frames = np.linspace(first, last, len(text)).round().astype(np.int64)
        frames = frames[frames < labels[audio_id].shape[0]]
        labels[audio_id][frames] = [index[ch] for ch in text[: frames.shape[0]]]
    rng = np.random.default_rng(0)
    letters = np.array([index[ch] for ch in "abcdefghijklmnopqrstuvwxyz"])
    for lab in labels.values():
        heard = np.flatnonzero(lab > 1)
        wrong = heard[rng.random(heard.shape[0]) < confusion]
        lab[wrong] = rng.choice(letters, size=wrong.shape[0])
    rows = []
    for c in chunks:
        lab = labels[c["audio_id"]]
        origin = c["start_sample"] - c["context_before_samples"]
        end = c["start_sample"] + c["num_samples"] + c["context_after_samples"]
        window = lab[origin // 320 : -(-end // 320)]
        logits = rng.normal(0.0, 1.0, (window.shape[0], len(vocab.symbols)))
        logits[np.arange(window.shape[0]), window] += peak
        data = quantize.encode_logprobs(log_softmax(logits), "float16")
        rows.append(LogitsRow(c["audio_id"], c["chunk_index"], int(c["bucket"]), ORACLE_VERSION,
                              window.shape[0], len(vocab.symbols), "float16", data))  # fmt: skip
    df = spark.createDataFrame(LOGITS.to_arrow(rows).to_pylist(), LOGITS.spark)
    write_table(df, str(root), LOGITS, model_version=ORACLE_VERSION)
    return contract


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "sample")
    parser.add_argument("--root", type=Path, default=ROOT / "runs" / "sample")
    parser.add_argument("--align", action="store_true", help="re-run the align stage first")
    parser.add_argument("--model", help="checkpoint that made the logits (with --align)")
    parser.add_argument("--config", type=Path, help="TOML config for --align ([align] table)")
    parser.add_argument(
        "--oracle",
        action="store_true",
        help="align oracle logits made from the ground truth (implies --align)",
    )
    parser.add_argument("--oracle-peak", type=float, default=10.0, help=argparse.SUPPRESS)
    parser.add_argument("--oracle-confusion", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--tolerance-ms", type=float, default=100.0)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench" / "align_accuracy.json")
    args = parser.parse_args()
    if args.align or args.oracle:
        from galvasr.align.stage import load_contract, run_align
        from galvasr.config import load_config
        from galvasr.spark import get_spark

        config = load_config(args.config)
        spark = get_spark("galvasr-align-accuracy")
        spark.sparkContext.setLogLevel("WARN")
        if args.oracle:
            contract = write_oracle_logits(
                spark, args.corpus, args.root, args.oracle_peak, args.oracle_confusion
            )
        else:
            contract = load_contract(args.model or config.infer.model or None, None)
        print(run_align(spark, str(args.root), contract, config.align).to_json(), file=sys.stderr)
    result = evaluate(args.corpus, args.root, args.tolerance_ms)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

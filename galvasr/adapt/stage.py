"""Stage ``adapt``: self-training inside a run (``[adapt] rounds``; 0, the default, is off).

    galvasr run --set adapt.rounds=1
    galvasr adapt --root runs/sample --set adapt.rounds=1

Round ``n`` (files under ``<root>/adapt/round-<n>/``):

1. ``data/``: the training segments the current alignment is sure of
   (galvasr.adapt.select), their audio and text (``text_normalized``: the
   one normalizer's output). Round 1 also writes ``<root>/adapt/heldout/``:
   every segment of the held-out files, under the base model's alignment,
   and ``heldout.json`` (their audio_ids); later rounds measure on the same set.
2. ``checkpoint.msgpack`` while training, then ``model/``: a checkpoint
   folder ``load_model`` reads, named ``<base name>-adapt<n>``, its version
   the hash of its weights (galvasr.adapt.finetune).
3. Held-out greedy CER of the model before and after. If it did not fall,
   the round's model is not used and adaptation stops there.
4. Otherwise infer (``logits/<adapted version>/``, beside the base model's)
   and align run again with it (``ctx.rerun``), replacing ``alignments``,
   ``segments`` and align's rejects, and ``adapt/current.json`` names the
   model, so release's card names it too.

``lineage.json`` of each round records the base model, the corpus
fingerprint, the settings, the held-out CER before and after, the training
set's size and the seconds spent. Everything is a function of the inputs and
the settings (fixed seeds, data order from ``(seed, step)``); a killed stage
resumes from the files already written (``adapt/stamp.json`` says which
settings made them; other settings start over) and ends with the same bytes.
With ``rounds = 0`` the stage leaves segments as align cut them, and when an
earlier run had replaced them, aligns again with the base model.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from galvasr import runroot
from galvasr.adapt import finetune
from galvasr.adapt.select import Candidate, Cue, heldout_files, select
from galvasr.config import to_dict
from galvasr.context import StageContext, Summary
from galvasr.corpus_files import corpus_fingerprint
from galvasr.model import load_model
from galvasr.schemas import ALIGNMENTS, SAMPLE_RATE, SEGMENTS
from galvasr.storage import open_store

STAMP = f"{runroot.ADAPT_DIR}/stamp.json"
HELDOUT = f"{runroot.ADAPT_DIR}/heldout"
HELDOUT_FILES = f"{runroot.ADAPT_DIR}/heldout.json"


def round_dir(n: int) -> str:
    return f"{runroot.ADAPT_DIR}/round-{n}"


def _local(root: str) -> Path:
    if "://" in root:
        raise ValueError("adapt: training needs a local run root (not gs://)")
    return Path(root)


def _stamp(ctx: StageContext, base_version: str) -> dict[str, Any]:
    """What the files under adapt/ depend on (more rounds resume; other settings restart)."""
    settings = to_dict(ctx.config)
    release = settings["release"]
    return {
        "base_model": base_version,
        "corpus": corpus_fingerprint(ctx.corpus) if ctx.corpus else None,
        "adapt": {k: v for k, v in settings["adapt"].items() if k != "rounds"},
        "align": settings["align"],
        "infer": settings["infer"],
        "release": {k: release[k] for k in ("dirty_max_cer", "min_score")},
    }


def _json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def _candidates(ctx: StageContext) -> tuple[list[Candidate], list[Cue]]:
    from galvasr.tables import read_table

    s, a = SEGMENTS.c, ALIGNMENTS.c
    segs = read_table(ctx.spark, ctx.root, SEGMENTS).select(
        s.segment_id, s.audio_id, s.start_ms, s.end_ms, s.score, s.cer
    )
    cues = read_table(ctx.spark, ctx.root, ALIGNMENTS).select(
        a.audio_id, a.start_ms, a.end_ms, a.score, a.cer
    )
    return (
        [Candidate(**r.asDict()) for r in segs.orderBy(s.segment_id).collect()],
        [Cue(**r.asDict()) for r in cues.orderBy(a.audio_id, a.start_ms).collect()],
    )


def _write_segments(ctx: StageContext, ids: tuple[int, ...], folder: Path) -> tuple[int, float]:
    """Audio and text of segments ``ids`` as a set under ``folder``; (count, hours)."""
    from pyspark.sql import functions as F

    from galvasr.tables import read_table

    s = SEGMENTS.c
    rows = (
        read_table(ctx.spark, ctx.root, SEGMENTS)
        .filter(F.col(s.segment_id).isin(list(ids)))
        .select(s.segment_id, s.text_normalized, s.flac)
        .orderBy(s.segment_id)
        .collect()
    )
    pcms = [finetune.flac_pcm(r[s.flac]) for r in rows]
    finetune.write_set(folder, pcms, [r[s.text_normalized] for r in rows])
    return len(rows), sum(len(p) for p in pcms) / SAMPLE_RATE / 3600


def _set_size(folder: Path) -> tuple[int, float]:
    utts = finetune.read_set(folder)
    return len(utts), utts.seconds / 3600


def _current(model_version: str, round_: int = 0) -> dict[str, Any]:
    """``adapt/current.json``: the model the run's alignment comes from (round 0: the base)."""
    return {"model_version": model_version, "round": round_}


def _rerun(ctx: StageContext, stage: str, model: str) -> None:
    if ctx.rerun is None:
        raise ValueError("adapt: run it through the stage registry (it re-runs infer and align)")
    ctx.rerun(stage, ctx, model)


def run(ctx: StageContext, stop_after_steps: int | None = None) -> Summary:
    """The registry's entry. ``stop_after_steps`` stops training there (tests: a kill)."""
    cfg = ctx.config.adapt
    base = ctx.require_model()
    root = _local(ctx.root)
    store = open_store(ctx.root)
    console: Console = ctx.console
    base_version = load_model(base, sample_rate=None).info.model_version
    stamp = _stamp(ctx, base_version)
    adapt_dir = root / runroot.ADAPT_DIR
    stale = store.exists(STAMP) and json.loads(store.read_bytes(STAMP)) != stamp
    restore = (cfg.rounds == 0 or stale) and store.exists(runroot.ADAPT_CURRENT)
    if restore and json.loads(store.read_bytes(runroot.ADAPT_CURRENT)) != _current(base_version):
        console.print("adapt: aligning again with the base model (an adapted one made segments)")
        _rerun(ctx, "align", base)
    if stale:
        shutil.rmtree(adapt_dir)
    if restore:  # logits of several models are there now: name the one aligned with
        adapt_dir.mkdir(parents=True, exist_ok=True)
        _json(adapt_dir / "current.json", _current(base_version))
    if cfg.rounds == 0:
        return {"rounds": 0, "model_version": base_version}
    adapt_dir.mkdir(parents=True, exist_ok=True)
    _json(adapt_dir / "stamp.json", stamp)

    started, cpu0 = time.monotonic(), time.process_time()
    model, version, name = base, base_version, finetune.base_params(base)[0]
    rounds: list[dict[str, Any]] = []
    previous_cer: float | None = None
    stopped = "rounds done"
    heldout = root / HELDOUT
    for n in range(1, cfg.rounds + 1):
        rdir = root / round_dir(n)
        data = rdir / "data"
        t_round, c_round = time.monotonic(), time.process_time()
        if not finetune.has_set(data):
            segments, cues = _candidates(ctx)
            if not (root / HELDOUT_FILES).exists():
                held = heldout_files((s.audio_id for s in segments), cfg.heldout_fraction)
                _json(root / HELDOUT_FILES, sorted(held))
            held = frozenset(json.loads((root / HELDOUT_FILES).read_text()))
            chosen = select(segments, cues, held, cfg, ctx.config.release)
            if not finetune.has_set(heldout):
                if not chosen.heldout:
                    stopped = "no held-out segments"
                    break
                _write_segments(ctx, chosen.heldout, heldout)
            count, hours = _write_segments(ctx, chosen.train, data) if chosen.train else (0, 0.0)
            _json(rdir / "selection.json", {"not_selected": chosen.reasons, "train": count})
        count, hours = _set_size(data)
        if hours * 3600 < cfg.min_train_s:
            stopped = f"round {n}: {hours * 3600:.0f} s of training speech < min_train_s"
            break
        held_utts = finetune.read_set(heldout)
        if previous_cer is None:
            _, config, params = finetune.base_params(model)
            previous_cer = finetune.heldout_cer(config, params, held_utts)
        lineage = {
            "round": n,
            "base_model": base_version,
            "started_from": version,
            "corpus": stamp["corpus"],
            "settings": to_dict(ctx.config)["adapt"],
            "train_segments": count,
            "train_hours": round(hours, 4),
            "heldout_segments": len(held_utts),
            "heldout_hours": round(held_utts.seconds / 3600, 4),
        }
        export = rdir / "model"
        if (export / "model.json").is_file():
            trained_version = load_model(export, sample_rate=None).info.model_version
            train_s, train_cpu = 0.0, 0.0
        else:
            console.print(
                f"adapt: round {n}: {cfg.steps} steps on {count} segments ({hours:.3f} h)"
            )
            trained = finetune.finetune(
                model,
                finetune.read_set(data),
                cfg,
                rdir,
                export,
                name=f"{name}-adapt{n}",
                seed=cfg.seed * 1000 + n,
                extra={"adapt": lineage},
                stop_after=stop_after_steps,
            )
            if trained is None:
                return {"rounds": n, "interrupted_at_step": stop_after_steps}
            trained_version, train_s, train_cpu = (
                trained.model_version,
                trained.train_seconds,
                trained.cpu_seconds,
            )
        _, config, params = finetune.base_params(export)
        cer = finetune.heldout_cer(config, params, held_utts)
        adopted = cer < previous_cer - cfg.min_cer_gain
        console.print(
            f"adapt: round {n}: held-out CER {previous_cer:.4f} -> {cer:.4f}"
            f" ({'kept' if adopted else 'not kept'})"
        )
        record = {
            **lineage,
            "model_version": trained_version,
            "heldout_cer_before": round(previous_cer, 4),
            "heldout_cer_after": round(cer, 4),
            "adopted": adopted,
            "train_seconds": train_s,
            "train_cpu_seconds": train_cpu,
        }
        if adopted:
            _rerun(ctx, "infer", str(export))
            _rerun(ctx, "align", str(export))
            _json(adapt_dir / "current.json", _current(trained_version, n))
            model, version, previous_cer = str(export), trained_version, cer
        record["seconds"] = round(time.monotonic() - t_round, 1)
        record["cpu_seconds_this_process"] = round(time.process_time() - c_round, 1)
        _json(rdir / "lineage.json", record)
        rounds.append(record)
        if not adopted:
            stopped = f"round {n}: held-out CER did not fall"
            break
    ctx.state["model_version"] = version
    return {
        "rounds": len(rounds),
        "model_version": version,
        "base_model_version": base_version,
        "stopped": stopped,
        "heldout_cer": [r["heldout_cer_before"] for r in rounds[:1]]
        + [r["heldout_cer_after"] for r in rounds],
        "per_round": [
            {
                k: r[k]
                for k in (
                    "round",
                    "model_version",
                    "adopted",
                    "train_segments",
                    "train_hours",
                    "heldout_cer_after",
                    "seconds",
                )
            }
            for r in rounds
        ],
        "cpu_seconds_this_process": round(time.process_time() - cpu0, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
    }

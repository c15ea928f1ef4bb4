"""Does a second aligner trained on real speech confirm galvasr's segment edges?

    .venv/bin/python benchmarks/realspeech_pipeline.py --work /tmp/rsp \\
        --set release.dirty_max_cer=1.0 --out /tmp/rsp_cer1.json   # every segment released
    PYTHONPATH=/tmp/ps .venv/bin/python \\
        models/galvasr-small/experiments/pocketsphinx/boundary_agreement.py \\
        --work /tmp/rsp --verdicts /tmp/rsp_cer1.json --out boundary_agreement.json

For every released segment of the realspeech pipeline benchmark (its
``segment_verdicts`` say whether the segment is exact), PocketSphinx 5.1.1
(en-us acoustic model, trained on real speech) force-aligns the text of the
cue before, the segment's cues and the cue after over the audio from the
previous cue's start to the next cue's end (galvasr's placements, 300 ms
padding). Words outside its dictionary become a spoken-noise word (+SPN+) so
the word count holds. The segment's edges by PocketSphinx are the start of its
first word and the end of its last word; ``d_start``/``d_end`` are those minus
galvasr's edges. "Agree" is both within 100 ms (the benchmark's tolerance).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO))

from galvasr.decode.audio import decode_pcm16k  # noqa: E402

PAD_MS = 300
TOLERANCE_MS = 100
FILLERS = ("<s>", "</s>", "<sil>", "(NULL)")


def _read(run: Path, table: str, columns: list[str]) -> list[dict[str, Any]]:
    files = sorted(glob.glob(f"{run}/{table}/**/*.parquet", recursive=True))
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files]).to_pylist()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True, help="the benchmark's --work")
    parser.add_argument("--verdicts", type=Path, required=True, help="the benchmark's JSON")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    from pocketsphinx import Decoder

    run = args.work / "run"
    verdicts = {
        s["segment_id"]: s for s in json.loads(args.verdicts.read_text())["segment_verdicts"]
    }
    paths = {
        r["audio_id"]: r["audio_path"] for r in _read(run, "catalog", ["audio_id", "audio_path"])
    }
    cues: dict[int, list[dict[str, Any]]] = {}
    for r in _read(
        run, "alignments", ["audio_id", "cue_index", "start_ms", "end_ms", "text_normalized"]
    ):
        if r["start_ms"] is not None and r["text_normalized"]:
            cues.setdefault(r["audio_id"], []).append(r)
    for file_cues in cues.values():
        file_cues.sort(key=lambda r: r["cue_index"])
    segments = _read(run, "segments", ["segment_id", "audio_id", "start_ms", "end_ms", "cer"])

    decoder = Decoder(loglevel="ERROR")
    decoder.add_word("gspn", "+SPN+", False)

    def words(text: str) -> list[str]:
        return [w if decoder.lookup_word(w) is not None else "gspn" for w in text.split()]

    pcms: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    cpu0, audio_s = time.process_time(), 0.0
    for seg in segments:
        verdict = verdicts.get(seg["segment_id"])
        if verdict is None:
            continue
        path = paths[seg["audio_id"]]
        if path not in pcms:
            pcms[path] = np.concatenate(list(decode_pcm16k(args.work / "corpus" / path)))
        pcm = pcms[path]
        file_cues = cues[seg["audio_id"]]
        inside = [
            i
            for i, c in enumerate(file_cues)
            if seg["start_ms"] <= (c["start_ms"] + c["end_ms"]) // 2 < seg["end_ms"]
        ]
        row = dict(verdict, start_ms=seg["start_ms"], end_ms=seg["end_ms"])
        rows.append(row)
        if not inside:
            row["error"] = "no cues"
            continue
        before = file_cues[inside[0] - 1] if inside[0] > 0 else None
        after = file_cues[inside[-1] + 1] if inside[-1] + 1 < len(file_cues) else None
        w_before = words(before["text_normalized"]) if before else []
        w_seg = words(" ".join(file_cues[i]["text_normalized"] for i in inside))
        w_after = words(after["text_normalized"]) if after else []
        start = max(
            0, min(before["start_ms"] if before else seg["start_ms"], seg["start_ms"]) - PAD_MS
        )
        end = max(after["end_ms"] if after else seg["end_ms"], seg["end_ms"]) + PAD_MS
        window = pcm[start * 16 : end * 16]
        audio_s += len(window) / 16_000
        try:
            decoder.set_align_text(" ".join(w_before + w_seg + w_after))
            decoder.start_utt()
            decoder.process_raw(window.tobytes(), full_utt=True)
            decoder.end_utt()
            aligned = [
                s for s in decoder.seg() if s.word not in FILLERS and not s.word.startswith("[")
            ]
        except Exception as e:  # the search found no path through the text
            row["error"] = type(e).__name__
            continue
        if len(aligned) != len(w_before) + len(w_seg) + len(w_after):
            row["error"] = f"{len(aligned)} words aligned of {len(w_before + w_seg + w_after)}"
            continue
        first, last = aligned[len(w_before)], aligned[len(w_before) + len(w_seg) - 1]
        row["d_start"] = start + 10 * first.start_frame - seg["start_ms"]
        row["d_end"] = start + 10 * (last.end_frame + 1) - seg["end_ms"]

    def agree(r: dict[str, Any]) -> bool:
        return "d_start" in r and max(abs(r["d_start"]), abs(r["d_end"])) <= TOLERANCE_MS

    summary = {}
    for name, released in (("own_cer_at_most_0.5", True), ("own_cer_above_0.5", False)):
        for exact in (True, False):
            group = [r for r in rows if (r["cer"] <= 0.5) == released and r["exact"] == exact]
            summary[f"{name}/{'exact' if exact else 'inexact'}"] = {
                "segments": len(group),
                "agree": sum(agree(r) for r in group),
                "alignment_failed": sum("error" in r for r in group),
            }
    result = {
        "what": __doc__.split("\n\n")[0],
        "cpu_s": round(time.process_time() - cpu0, 1),
        "audio_s": round(audio_s, 1),
        "summary": summary,
        "segments": rows,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()

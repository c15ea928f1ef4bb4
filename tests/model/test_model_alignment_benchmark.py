"""benchmarks/model_alignment.py aligns a long file in one window.

ctc-segmentation's default 8,000-frame sliding window (160 s of 20 ms
frames) returned a wrong path, without a warning, for the last 13 sentences
of the 337 s sample file below: up to 35 s early.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from galvasr.decode.audio import decode_pcm16k
from galvasr.model import DEFAULT_MODEL, load_model

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import model_alignment  # noqa: E402

SAMPLE = ROOT / "data" / "sample"
IDENTIFIER, AUDIO = "oakhill-readings-john-01", "john_part1.mp3"


def test_every_sentence_of_a_337_s_file_starts_where_it_is_spoken() -> None:
    if not (DEFAULT_MODEL / "model.json").exists():
        pytest.skip("models/galvasr-small is not in this checkout")
    rows = [
        r
        for r in map(json.loads, (SAMPLE / "ground_truth.jsonl").open())
        if (r["identifier"], r["audio_file"]) == (IDENTIFIER, AUDIO)
    ]
    rows.sort(key=lambda r: r["sentence_index"])
    pcm = np.concatenate(list(decode_pcm16k(SAMPLE / "items" / IDENTIFIER / AUDIO)))
    assert len(pcm) / 16_000 > 300  # longer than the library's default window
    model = load_model(DEFAULT_MODEL)
    lpz = model_alignment.file_logprobs(model, pcm)
    found = model_alignment.align(model, lpz, [r["text"] for r in rows])
    errors = [
        abs(f["first_char_s"] - r["start_ms"] / 1000) for f, r in zip(found, rows, strict=True)
    ]
    assert len(errors) == 71
    assert max(errors) < 0.5, max(errors)

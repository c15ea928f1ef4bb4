"""The real-speech benchmark's corpus builder (benchmarks/realspeech_corpus.py) on a tiny input.

Three short clips of ../shared/realspeech (two readers) make one recording:
the same seed gives the same bytes, and the truth says what the files hold.
Never runs the pipeline; skipped where ../shared/realspeech is absent.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import realspeech_corpus as rc

pytestmark = pytest.mark.skipif(
    not (rc.SOURCE / "manifest.jsonl").exists(), reason="../shared/realspeech is absent"
)

PLAN = [
    rc.ItemPlan(
        "realspeech-tiny",
        "Tiny",
        (
            rc.RecordingPlan(
                "tiny.mp3",
                (
                    ("lj", ("ljspeech/LJ001-0002.wav", "ljspeech/LJ001-0008.wav")),
                    ("mfa-clips", ("mfa/mfa_kmg.flac",)),
                ),
                16000,
                bit_rate=32_000,
            ),
        ),
    )
]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("realspeech") / "corpus"
    rc.build_corpus(out, PLAN, seed=7)
    return out


def test_same_seed_same_bytes(built: Path, tmp_path: Path) -> None:
    rc.build_corpus(tmp_path / "again", PLAN, seed=7)
    assert _files(tmp_path / "again") == _files(built)


def test_catalog_names_the_files_it_ships(built: Path) -> None:
    (line,) = _jsonl(built / "catalog.jsonl")
    assert line["metadata"]["identifier"] == "realspeech-tiny"
    assert line["metadata"]["licenseurl"].startswith("https://creativecommons.org/licenses/by/")
    for f in line["files"]:
        data = (built / "items" / "realspeech-tiny" / f["name"]).read_bytes()
        assert f["size"] == str(len(data)) and f["md5"] == hashlib.md5(data).hexdigest()


def test_cue_times_are_truth_plus_offset_and_drift(built: Path) -> None:
    (facts,) = json.loads((built / "manifest.json").read_text())["files"]
    offset, drift, duration = facts["offset_ms"], facts["drift_ms"], facts["duration_ms"]
    assert 500 <= abs(offset) <= 2000 and 500 <= abs(drift) <= 2000
    cues = _jsonl(built / "cue_truth.jsonl")
    for c in cues:
        for side in ("start", "end"):
            base = c[f"base_{side}_ms"]
            assert c[f"{side}_ms"] == round(base + offset + drift * base / duration)
    # and the subtitle file says exactly that, in order
    srt = (built / "items" / "realspeech-tiny" / "tiny.srt").read_text()
    times = re.findall(r"(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})", srt)
    written = [
        (
            ((int(a) * 60 + int(b)) * 60 + int(c)) * 1000 + int(d),
            ((int(e) * 60 + int(f)) * 60 + int(g)) * 1000 + int(h),
        )
        for a, b, c, d, e, f, g, h in times
    ]
    assert written == [(c["start_ms"], c["end_ms"]) for c in cues]
    assert [c["start_ms"] for c in cues] == sorted({c["start_ms"] for c in cues})


def test_truth_is_consistent(built: Path) -> None:
    clips = _jsonl(built / "ground_truth.jsonl")
    cues = {c["cue_index"]: c for c in _jsonl(built / "cue_truth.jsonl")}
    events = _jsonl(built / "events.jsonl")
    assert [c["reader"] for c in clips] == ["lj", "lj", "mfa-clips"]
    for a, b in zip(clips, clips[1:], strict=False):
        assert a["true_end_ms"] + 300 <= b["true_start_ms"]  # a pause of 0.3 s or more
    for clip in clips:
        assert clip["true_start_ms"] < clip["true_end_ms"]
        assert clip["subtitled"] == bool(clip["cue_indices"])
        said = []
        for i in clip["cue_indices"]:
            cue = cues[i]
            assert cue["kind"] == "speech"
            (_, part, parts) = next(x for x in cue["clips"] if x[0] == clip["clip_index"])
            assert parts == clip["parts"]
            if part == 0:
                assert cue["true_start_ms"] == clip["true_start_ms"]
            if part == parts - 1:
                assert cue["true_end_ms"] == clip["true_end_ms"]
            if parts > 1:
                said.append(cue["spoken_text"])
        if said:
            assert " ".join(said) == clip["spoken_text"]
    # the planted unspoken line: no speech under it, and listed as such
    unspoken = [c for c in cues.values() if c["kind"] == "unspoken"]
    assert unspoken
    for c in unspoken:
        assert c["spoken_text"] is None and c["true_start_ms"] is None
        assert not any(
            k["true_start_ms"] < c["base_end_ms"] and c["base_start_ms"] < k["true_end_ms"]
            for k in clips
        )
        assert any(
            e["kind"] == "unspoken" and e["start_ms"] <= c["base_start_ms"] < c["base_end_ms"]
            <= e["end_ms"] for e in events
        )  # fmt: skip
    # two readers: a music-like interlude between them
    (interlude,) = [e for e in events if e["kind"] == "interlude"]
    assert clips[1]["true_end_ms"] < interlude["start_ms"] < interlude["end_ms"]
    assert interlude["end_ms"] < clips[2]["true_start_ms"]


def test_speech_span_energy_rule() -> None:
    rate = 16000
    rng = np.random.default_rng(0)
    x = 1e-4 * rng.standard_normal(rate * 2)
    x[8000:24000] += 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / rate)
    start, stop, _ = rc.speech_span(x, rate)
    assert abs(start - 8000) <= 160 and abs(stop - 24000) <= 160

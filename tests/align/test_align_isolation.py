"""Align: a cue no rule foresaw (a number of 5,000 digits) or a file whose alignment
raises refuses its own cues, never the stage (issue 18)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from galvasr import quantize
from galvasr.align import stage as align_stage
from galvasr.align.oracle import cut_windows, speak
from galvasr.config import AlignConfig
from galvasr.model.normalize import to_alphabet
from galvasr.model.vocab import DEFAULT_VOCAB
from tests.align.test_align_stage import CONTRACT, STRIDE, WORDS

HUGE = "7" * 5_000  # past Python's 4,300-digit limit for int(str)


def _rows(extra_cue_text: str | None = None) -> list[dict]:
    """One file's joined rows (as mapInArrow gives them), cues on the first."""
    rng = np.random.default_rng(3)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 10)))) for _ in range(6)]
    logprobs, truth = speak(texts, DEFAULT_VOCAB, rng, pause_frames=(15, 40))
    pcm = rng.integers(-2000, 2000, size=logprobs.shape[0] * STRIDE).astype(np.int16)
    cues = [
        {"cue_index": i, "start_ms": t.start_frame * 20, "end_ms": t.end_frame * 20,
         "text_raw": t.text, "text": t.text}
        for i, t in enumerate(truth)
    ]  # fmt: skip
    if extra_cue_text is not None:
        last = cues[-1]["end_ms"]
        cues.append({"cue_index": len(cues), "start_ms": last + 100, "end_ms": last + 400,
                     "text_raw": extra_cue_text, "text": extra_cue_text})  # fmt: skip
    rows = []
    for w in cut_windows(logprobs, pcm, STRIDE, 10 * 16_000, 16_000):
        rows.append(
            {
                "audio_id": 42,
                "chunk_index": w.chunk_index,
                "start_sample": w.start_sample,
                "num_samples": w.num_samples,
                "context_before_samples": w.context_before_samples,
                "pcm": w.pcm,
                "num_frames": w.logprobs.shape[0],
                "vocab_size": len(CONTRACT.vocab),
                "encoding": "float16",
                "logprobs": quantize.encode_logprobs(w.logprobs, "float16"),
                "cues": cues if w.chunk_index == 0 else None,
                "identifier": "item42",
                "audio_file": "a.mp3",
                "license": "cc-by",
            }
        )
    return rows


CONFIG = AlignConfig(snap_with="energy")


def test_a_cue_with_a_number_of_5000_digits_is_aligned_or_rejected_not_fatal():
    rows = _rows(f"and then {HUGE} of them")
    out = align_stage.align_rows(rows, CONTRACT, CONFIG)
    assert not [r for r in out.rejects if r.reason.startswith("internal:")]
    fates = {a.cue_index for a in out.alignments} | {r.cue_index for r in out.rejects}
    assert fates == {c["cue_index"] for c in rows[0]["cues"]}
    # 30,000 letters for 0.3 s: the aligner refuses its piece (this file is one piece).
    assert {r.reason for r in out.rejects} == {"align:text-longer-than-audio"}


def test_a_file_whose_alignment_raises_rejects_each_of_its_cues(monkeypatch):
    def boom(*args, **kwargs):
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    monkeypatch.setattr(align_stage, "align_file", boom)
    rows = _rows()
    out = align_stage.align_rows(rows, CONTRACT, CONFIG)
    assert not out.alignments and not out.segments
    assert sorted(r.cue_index for r in out.rejects) == [c["cue_index"] for c in rows[0]["cues"]]
    assert {(r.stage, r.reason, r.audio_id, r.identifier, r.file_name) for r in out.rejects} == {
        ("align", "internal:ValueError", 42, "item42", "a.mp3")
    }
    assert "4300 digits" in out.rejects[0].detail and "Traceback" not in out.rejects[0].detail


def test_rows_that_cannot_be_read_reject_the_file_not_the_partition():
    rows = _rows()
    rows[0]["cues"] = [*rows[0]["cues"][:2], {"cue_index": 2}]  # a cue no rule expects
    out = align_stage.align_rows(rows, CONTRACT, CONFIG)
    assert not out.alignments
    assert [(r.cue_index, r.reason) for r in out.rejects] == [
        (i, "internal:KeyError") for i in range(3)
    ]
    # The next file of the partition is aligned as usual.
    batches = list(align_stage.process_batches(_batches([*rows, *_rows_of(43)]), CONTRACT, CONFIG))
    kinds = {(r["audio_id"], r["kind"]) for b in batches for r in b.to_pylist()}
    assert (43, "alignment") in kinds and (42, "reject") in kinds and (42, "alignment") not in kinds


def _rows_of(audio_id: int) -> list[dict]:
    return [{**r, "audio_id": audio_id} for r in _rows()]


def _batches(rows: list[dict]):
    import pyarrow as pa

    yield pa.RecordBatch.from_pylist(rows)


# ------------------------------------------------------------ the normalizer


@pytest.mark.parametrize(
    ("text", "starts"),
    [
        (HUGE, "seven seven"),
        (f"{HUGE}th", "seven seven"),
        (f"${HUGE}.99", "seven seven"),
        (f"£{HUGE}.5", "seven seven"),
        (f"{HUGE}%", "seven seven"),
        (f"3.{HUGE}", "three point seven seven"),
        ("1" + ",000" * 2_000, "one zero zero"),
    ],
)
def test_numbers_past_pythons_digit_limit_are_read_digit_by_digit(text, starts):
    words = to_alphabet(text, DEFAULT_VOCAB)
    assert words.startswith(starts)
    assert words.count("seven") in (0, 5_000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50%", "fifty percent"),
        ("1,5%", "one five percent"),
        (
            "1,234,567 %",
            "one million two hundred and thirty four thousand five hundred and sixty seven percent",
        ),  # fmt: skip
        ("$1.01", "one dollar one cent"),
        ("$01", "zero one dollar"),
        ("$1.000", "one dollar"),
        ("$2.001", "two point zero zero one dollars"),
        ("1,2345%", "one two thousand three hundred and forty five percent"),
        (
            "1234567890123456",
            "one two three four five six seven eight nine zero one two three four five six",
        ),  # fmt: skip
    ],
)
def test_numbers_read_as_before(text, expected):
    assert to_alphabet(text, DEFAULT_VOCAB) == expected


def test_long_digit_runs_normalize_in_linear_time():
    """The percent rule was tried from every digit of a run: 100,000 digits took minutes."""
    for text in ("7" * 100_000, "1" + ",000" * 25_000, "9" * 100_000 + "th"):
        start = time.monotonic()
        to_alphabet(text, DEFAULT_VOCAB)
        assert time.monotonic() - start < 10, text[:20]

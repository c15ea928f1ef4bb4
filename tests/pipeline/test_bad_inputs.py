"""Inputs worse than the sample corpus's planted faults: the run completes, and every
bad file or line ends in `rejects` with a reason a person can read."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf
from rich.console import Console

from galvasr import schemas
from galvasr.config import load_config
from galvasr.ingest.subtitles import decode_text
from galvasr.pipeline import run_pipeline
from galvasr.tables import read_table
from tests.run_fixtures import RUN_SETTINGS, SAMPLE

pytestmark = pytest.mark.slow

LICENSE = "https://creativecommons.org/licenses/by/4.0/"
GOOD = SAMPLE / "items" / "thessalonians-phone-recording"


def _item(identifier: str, files: list[tuple[str, str]], license_url: str = LICENSE) -> str:
    return json.dumps(
        {
            "metadata": {"identifier": identifier, "title": identifier, "licenseurl": license_url},
            "files": [{"name": name, "format": fmt} for name, fmt in files],
        }
    )


def _wav_of_unknown_codec(pcm: bytes, rate: int = 16_000) -> bytes:
    """A WAV whose format tag (0x1234) no FFmpeg decoder knows."""
    fmt = struct.pack("<HHIIHH", 0x1234, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


HUGE_NUMBER = "7" * 5_000  # past Python's 4,300-digit limit for int(str)


def _video_only_mp4(path: Path) -> None:
    rng = np.random.default_rng(1)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(20):
            pixels = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _ten_hour_silence(path: Path) -> None:
    """10 h of digital silence as 8 kHz FLAC: tiny on disk (constant subframes)."""
    block = np.zeros(8_000 * 600, dtype=np.int16)  # 10 minutes
    with sf.SoundFile(path, "w", samplerate=8_000, channels=1, format="FLAC") as f:
        for _ in range(60):
            f.write(block)


BAD_TIMES_SRT = """1
00:00:01,000 --> 00:00:03,000
Paul, and Silvanus, and Timotheus.

2
00:00:09,000 --> 00:00:04,000
This cue ends before it starts.

3
-00:00:02,000 --> 00:00:01,000
This cue starts before the file.
"""


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad") / "corpus"
    items = root / "items"
    srt = (GOOD / "thessalonians.srt").read_bytes()
    lines = [_item("good", [("thessalonians.wav", "WAVE"), ("thessalonians.srt", "SubRip")])]
    shutil.copytree(GOOD, items / "good")

    def add(identifier: str, files: dict[str, bytes | None], formats: list[str]) -> None:
        (items / identifier).mkdir(parents=True)
        for name, data in files.items():
            if data is not None:
                (items / identifier / name).write_bytes(data)
        lines.append(_item(identifier, list(zip(files, formats, strict=True))))

    john = SAMPLE / "items" / "oakhill-readings-john-01"
    mp3 = (john / "john_part1.mp3").read_bytes()
    john_srt = (john / "john_part1.srt").read_bytes()
    add("truncated", {"a.mp3": mp3[: len(mp3) * 2 // 5], "a.srt": john_srt}, ["MP3", "SubRip"])
    junk = np.random.default_rng(7).integers(0, 256, 60_000, dtype=np.uint8).tobytes()
    add("random-bytes", {"a.mp3": junk, "a.srt": srt}, ["MP3", "SubRip"])
    (items / "video").mkdir(parents=True)
    _video_only_mp4(items / "video" / "a.mp4")
    (items / "video" / "a.srt").write_bytes(srt)
    lines.append(_item("video", [("a.mp4", "MPEG4"), ("a.srt", "SubRip")]))
    wav = (GOOD / "thessalonians.wav").read_bytes()
    add("bad-times", {"a.wav": wav, "a.srt": BAD_TIMES_SRT.encode()}, ["WAVE", "SubRip"])
    add("junk-srt", {"a.wav": wav, "a.srt": b"\x00\xff\x13" + junk[:4000]}, ["WAVE", "SubRip"])
    (items / "ten-hours").mkdir(parents=True)
    _ten_hour_silence(items / "ten-hours" / "a.flac")
    (items / "ten-hours" / "a.srt").write_bytes(srt)
    lines.append(_item("ten-hours", [("a.flac", "Flac"), ("a.srt", "SubRip")]))
    # Files no reader may open or follow: a FIFO (it would block), a link loop,
    # a link out of the corpus; and beside the catalog, for the run's
    # fingerprint, a dangling link, a loop and a FIFO that no line names.
    for identifier, make in (
        ("fifo", os.mkfifo),
        ("loop", lambda p: os.symlink(p.name, p)),
        ("passwd", lambda p: os.symlink("/etc/passwd", p)),
    ):
        (items / identifier).mkdir(parents=True)
        make(items / identifier / "a.mp3")
        (items / identifier / "a.srt").write_bytes(srt)
        lines.append(_item(identifier, [("a.mp3", "MP3"), ("a.srt", "SubRip")]))
    # Issue 18: a codec FFmpeg does not know; a cue with a number of 5,000 digits;
    # an item whose names climb out and whose folder does not exist; an identifier
    # ending in a newline; a license URL of another scheme.
    tone = (np.sin(np.arange(32_000) / 5) * 8000).astype("<i2").tobytes()
    add("unknown-codec", {"a.wav": _wav_of_unknown_codec(tone), "a.srt": srt}, ["WAVE", "SubRip"])
    cue = f"\n\n99\n00:00:05,000 --> 00:00:06,000\nAll {HUGE_NUMBER} of them.\n"
    big = (decode_text(srt)[0].rstrip("\n") + cue).encode()  # this SRT is UTF-16
    add("big-number", {"a.wav": wav, "a.srt": big}, ["WAVE", "SubRip"])
    lines.append(_item("no-media", [("../../../etc/passwd", "Text"), ("../up/x.txt", "Text")]))
    lines.append(_item("newline\n", [("a.mp3", "MP3"), ("a.srt", "SubRip")]))
    (items / "js-license").mkdir(parents=True)
    (items / "js-license" / "a.wav").write_bytes(wav)
    (items / "js-license" / "a.srt").write_bytes(srt)
    lines.append(_item("js-license", [("a.wav", "WAVE"), ("a.srt", "SubRip")],
                       "javascript://creativecommons.org/licenses/by/4.0/"))  # fmt: skip
    os.symlink("nowhere", root / "dangling")
    os.symlink("loop", root / "loop")
    os.mkfifo(root / "stray.fifo")
    lines.insert(3, '{"metadata": {"identifier": "broken", "licenseurl": ')  # line 4
    (root / "catalog.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def bad_run(spark, bad_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-run") / "root"
    run_pipeline(bad_corpus, root, Console(quiet=True), config=load_config(None, RUN_SETTINGS))
    return root


def _rejects(spark, root: Path) -> list[schemas.RejectRow]:
    rows = read_table(spark, str(root), schemas.REJECTS).collect()
    return [schemas.RejectRow(**row.asDict()) for row in rows]


def _reasons(rejects: list[schemas.RejectRow], identifier: str) -> set[str]:
    return {r.reason for r in rejects if r.identifier == identifier}


def test_run_completes_with_a_release_and_a_report(bad_run: Path):
    assert list((bad_run / "release").rglob("SHA256SUMS"))
    assert (bad_run / "report" / "index.html").exists()


def test_malformed_catalog_line_is_rejected_with_its_line_number(spark, bad_run: Path):
    rows = [r for r in _rejects(spark, bad_run) if r.reason == "catalog:malformed-line"]
    assert [r.line_number for r in rows] == [4]
    assert rows[0].detail


@pytest.mark.parametrize(
    ("identifier", "reason"),
    [
        ("random-bytes", "audio:undecodable"),
        ("video", "audio:undecodable"),
        ("junk-srt", "subtitle:unparsable"),
        ("ten-hours", "audio:too-long"),
        ("fifo", "audio:missing"),
        ("loop", "audio:unreadable"),
        ("passwd", "catalog:unsafe-path"),
        ("unknown-codec", "audio:undecodable"),
        ("no-media", "catalog:no-media"),
        ("newline\n", "catalog:unsafe-path"),
        ("js-license", "license:unknown"),
    ],
)
def test_bad_file_is_rejected_with_a_readable_reason(spark, bad_run, identifier, reason):
    rejects = _rejects(spark, bad_run)
    assert reason in _reasons(rejects, identifier)
    details = [r.detail for r in rejects if r.identifier == identifier and r.reason == reason]
    assert all(d and len(d) > 10 for d in details), details
    if identifier == "video":
        assert any("no audio stream" in (d or "") for d in details), details


def test_bad_cue_timings_are_rejected_and_the_good_cue_kept(spark, bad_run: Path):
    rejects = [r for r in _rejects(spark, bad_run) if r.identifier == "bad-times"]
    assert sorted(r.cue_index for r in rejects if r.reason == "cue:bad-timing") == [1, 2]
    catalog = read_table(spark, str(bad_run), schemas.CATALOG)
    audio_id = catalog.where("identifier = 'bad-times'").collect()[0]["audio_id"]
    cues = read_table(spark, str(bad_run), schemas.TRANSCRIPTS).where(f"audio_id = {audio_id}")
    assert [r["text"] for r in cues.collect()] == ["Paul, and Silvanus, and Timotheus."]


def test_truncated_mp3_keeps_what_decodes_and_rejects_cues_past_its_end(spark, bad_run: Path):
    catalog = read_table(spark, str(bad_run), schemas.CATALOG)
    audio_id = catalog.where("identifier = 'truncated'").collect()[0]["audio_id"]
    audio = read_table(spark, str(bad_run), schemas.AUDIO).where(f"audio_id = {audio_id}")
    duration_ms = audio.collect()[0]["duration_ms"]
    cues = read_table(spark, str(bad_run), schemas.TRANSCRIPTS).where(f"audio_id = {audio_id}")
    past_end = {r["cue_index"] for r in cues.collect() if r["start_ms"] > duration_ms + 5_000}
    assert past_end, "the test needs cues past the truncation"
    rejected = {
        r.cue_index
        for r in _rejects(spark, bad_run)
        if r.audio_id == audio_id and r.stage == "align"
    }
    assert past_end <= rejected


def test_every_catalog_file_is_accounted_for(spark, bad_run: Path, bad_corpus: Path):
    """Each audio file of a parsable line is in `audio` (decoded) or in `rejects`."""
    catalog = {r["audio_id"]: r for r in read_table(spark, str(bad_run), schemas.CATALOG).collect()}
    decoded = {r["audio_id"] for r in read_table(spark, str(bad_run), schemas.AUDIO).collect()}
    rejected = {r.audio_id for r in _rejects(spark, bad_run) if r.stage == "decode"}
    assert set(catalog) == decoded | rejected
    assert not decoded & rejected


def test_every_catalog_line_ends_in_catalog_or_rejects(spark, bad_run: Path, bad_corpus: Path):
    """Issue 18: no line vanishes, not even an item with no file to pair."""
    kept = {r["identifier"] for r in read_table(spark, str(bad_run), schemas.CATALOG).collect()}
    rejected_lines = {
        r.line_number for r in _rejects(spark, bad_run) if r.stage == "ingest" and r.line_number
    }
    for number, line in enumerate((bad_corpus / "catalog.jsonl").read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            identifier = json.loads(line)["metadata"]["identifier"]
        except ValueError:
            identifier = None
        assert identifier in kept or number in rejected_lines, (number, line[:80])


def test_no_input_here_needed_the_last_resort(spark, bad_run: Path):
    """Every bad input above has a rule: none is refused as internal:<ExceptionType>."""
    internal = [r for r in _rejects(spark, bad_run) if r.reason.startswith("internal:")]
    assert not internal, internal


def test_a_cue_with_a_huge_number_does_not_stop_align(spark, bad_run: Path):
    catalog = read_table(spark, str(bad_run), schemas.CATALOG)
    audio_id = catalog.where("identifier = 'big-number'").collect()[0]["audio_id"]
    cues = read_table(spark, str(bad_run), schemas.TRANSCRIPTS).where(f"audio_id = {audio_id}")
    huge = [r["cue_index"] for r in cues.collect() if HUGE_NUMBER in r["text"]]
    assert len(huge) == 1
    aligned = read_table(spark, str(bad_run), schemas.ALIGNMENTS).where(f"audio_id = {audio_id}")
    fates = {r["cue_index"] for r in aligned.collect()} | {
        r.cue_index for r in _rejects(spark, bad_run) if r.audio_id == audio_id
    }
    assert huge[0] in fates

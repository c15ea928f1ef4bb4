"""The report's explorer: its sample, its audio and images, and hostile text kept inert.

The run root is the fake run (tests/fake_run.py) with what a fake run lacks:
real PCM in its windows, align and release rejects, a release with a clean
and a dirty subset, and subtitle text, an identifier and a segment text that
try to run script.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from galvasr import runroot, schemas
from galvasr.release import formats as release_formats
from galvasr.report import explorer
from galvasr.report import stage as report
from galvasr.tables import write_table
from tests import fake_run

RELEASE = "explorertest"
MARGIN_S = 1.0
HOSTILE_CUE = "<script>document.title='pwned'</script> hello"
HOSTILE_TEXT = "<img src=x onerror=\"document.title='pwned-img'\"> words"
HOSTILE_ID = "\"><script>document.body.setAttribute('data-pwned','1')</script>"


def _file_pcm(audio_id: int) -> np.ndarray:
    rng = np.random.default_rng(audio_id)
    return (rng.standard_normal(fake_run.FILE_MS * 16) * 3000).astype(np.int16)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclasses.dataclass
class Run:
    root: Path
    fake: fake_run.FakeRun
    released: list[dict[str, Any]]
    cue_rejects: list[schemas.RejectRow]
    segment_rejects: list[schemas.RejectRow]


def _frame(spark: Any, table: schemas.Table, rows: list[Any]) -> Any:
    return spark.createDataFrame([table.to_dict(r) for r in rows], table.spark)


def build(spark: Any, root: Path) -> Run:
    fake = fake_run.build(spark, root)
    # Windows that hold the whole file, with a known PCM; the last file has none.
    no_audio = fake.chunks[-1].audio_id
    chunks = [
        dataclasses.replace(c, pcm=_file_pcm(c.audio_id).tobytes())
        for c in fake.chunks if c.audio_id != no_audio
    ]  # fmt: skip
    write_table(_frame(spark, schemas.CHUNKS, chunks), fake.root, schemas.CHUNKS)
    transcripts = list(fake.transcripts)
    transcripts[3] = dataclasses.replace(transcripts[3], text=HOSTILE_CUE, text_raw=HOSTILE_CUE)
    write_table(_frame(spark, schemas.TRANSCRIPTS, transcripts), fake.root, schemas.TRANSCRIPTS)
    segments = list(fake.segments)
    # The clean segment the explorer shows first carries the hostile text.
    first = min(
        (i for i, s in enumerate(segments) if s.cer <= 0.1),
        key=lambda i: _md5(release_formats.segment_key(segments[i].segment_id)),
    )
    segments[first] = dataclasses.replace(segments[first], text=HOSTILE_TEXT, identifier=HOSTILE_ID)
    write_table(_frame(spark, schemas.SEGMENTS, segments), fake.root, schemas.SEGMENTS)
    fake.segments, fake.transcripts, fake.chunks = segments, transcripts, chunks

    reasons = ("align:not-heard", "align:low-score")
    cue_rejects = [
        schemas.reject_row("align", reasons[i % 2], f"detail {i}", identifier="item-by",
                           file_name="part0.mp3", audio_id=t.audio_id, cue_index=t.cue_index)
        for i, t in enumerate(transcripts[:8])
    ]  # fmt: skip
    cue_rejects.append(
        schemas.reject_row("align", "align:no-cues", "no cues", identifier=HOSTILE_ID,
                           file_name="x.mp3", audio_id=fake.catalog[-1].audio_id)
    )  # fmt: skip
    cue_rejects.append(
        schemas.reject_row("align", "align:no-audio", "no chunks", identifier="item-copy",
                           file_name="part0.mp3", audio_id=no_audio, cue_index=0)
    )  # fmt: skip
    segment_rejects = [
        schemas.reject_row("release", "cer-too-high", f"cer {s.cer}", identifier=s.identifier,
                           audio_id=s.audio_id, segment_id=s.segment_id)
        for s in segments if s.cer > 0.5
    ]  # fmt: skip
    for stage, rejects in (("align", cue_rejects), ("release", segment_rejects)):
        frame = _frame(spark, schemas.REJECTS, rejects)
        write_table(frame, fake.root, schemas.REJECTS, stage=stage)

    released = []
    for seg in segments:
        if seg.cer > 0.5:
            continue
        row = {c: getattr(seg, c) for c in release_formats.COLUMNS if hasattr(seg, c)}
        subset = "clean" if seg.cer <= 0.1 else "dirty"
        key = release_formats.segment_key(seg.segment_id)
        released.append(row | {"id": key, "split": "train", "subset": subset, "flac": seg.flac})
    for subset in ("clean", "dirty"):
        rows = [r for r in released if r["subset"] == subset]
        path = root / runroot.release_parquet(RELEASE) / subset
        path.mkdir(parents=True, exist_ok=True)
        shard = release_formats.parquet_shard(rows, 100)
        (path / "train-00000-of-00001.parquet").write_bytes(shard)
    return Run(root, fake, released, cue_rejects, segment_rejects)


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory) -> Run:
    return build(spark, tmp_path_factory.mktemp("explorer") / "root")


@pytest.fixture(scope="module")
def out(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    report.write_report(None, str(run.root), str(out), release_name=RELEASE, margin_s=MARGIN_S)
    return out


def _srcs(text: str) -> list[str]:
    return re.findall(r'<(?:img|audio)\b[^>]*?\bsrc="([^"]*)"', text)


def test_every_src_is_a_file_under_the_report(out):
    page = out / explorer.DIR / "index.html"
    text = page.read_text()
    srcs = _srcs(text)
    assert len(srcs) > 20
    for src in srcs:
        assert not src.startswith(("/", "http", "file:")) and ".." not in src
        data = (page.parent / src).read_bytes()
        magic = b"fLaC" if src.endswith(".flac") else b"\x89PNG\r\n\x1a\n"
        assert data.startswith(magic), src
    assert "script-src 'none'" in explorer.CSP
    for html_text in (text, (out / "index.html").read_text()):
        csp = [m["content"] for m in Elements(html_text).named("meta") if m.get("http-equiv")]
        assert csp == [explorer.CSP]


def test_sample_is_the_first_ids_by_md5(run, out):
    text = (out / explorer.DIR / "index.html").read_text()
    for subset in ("clean", "dirty"):
        ids = sorted(
            (r["id"] for r in run.released if r["subset"] == subset),
            key=lambda i: (_md5(i), i),
        )
        section = text.split(f'id="{explorer.subset_anchor(subset)}"')[1].split("<h2")[0]
        shown = re.findall(r'src="audio/([0-9a-f]{16})\.flac"', section)
        assert shown == ids[: explorer.SEGMENTS_PER_SUBSET]
        assert len(ids) > explorer.SEGMENTS_PER_SUBSET or subset == "dirty"


def test_segment_audio_is_the_segment(run, out):
    by_key = {release_formats.segment_key(s.segment_id): s for s in run.fake.segments}
    for path in (out / explorer.DIR / "audio").glob("*.flac"):
        if path.stem in by_key:
            assert path.read_bytes() == by_key[path.stem].flac


def test_refused_cue_plays_the_span_align_searched(run, out):
    by_cue = {(t.audio_id, t.cue_index): t for t in run.fake.transcripts}
    checked = 0
    for path in sorted((out / explorer.DIR / "audio").glob("align-*.flac")):
        _, audio_hex, cue = path.stem.split("-")
        audio_id = int(audio_hex, 16)
        cue_row = by_cue[(audio_id, int(cue))]
        start = max(0, cue_row.start_ms - int(MARGIN_S * 1000))
        end = min(fake_run.FILE_MS, cue_row.end_ms + int(MARGIN_S * 1000))
        pcm, rate = sf.read(io.BytesIO(path.read_bytes()), dtype="int16")
        assert rate == schemas.SAMPLE_RATE
        assert np.array_equal(pcm, _file_pcm(audio_id)[start * 16 : end * 16])
        checked += 1
    assert checked == 8  # the 4 rows of each of the two cue reasons


def test_every_align_and_release_reason_is_linked_from_the_report(run, out):
    index = (out / "index.html").read_text()
    page = (out / explorer.DIR / "index.html").read_text()
    reasons = {(r.stage, r.reason) for r in run.cue_rejects + run.segment_rejects}
    assert len(reasons) == 5
    for stage, reason in reasons:
        anchor = explorer.reject_anchor(stage, reason)
        assert f'href="explorer/index.html#{anchor}"' in index
        assert f'id="{anchor}"' in page
    assert 'href="explorer/index.html#subset-clean"' in index
    n_too_high = len(run.segment_rejects)
    assert f"{n_too_high:,} rows; {min(n_too_high, explorer.CUES_PER_REASON)} shown" in page


def test_a_cue_without_decoded_audio_has_no_player(out):
    page = (out / explorer.DIR / "index.html").read_text()
    section = page.split(f'id="{explorer.reject_anchor("align", "align:no-audio")}"')[1]
    section = section.split("<h2")[0]
    assert "no audio to play" in section and "<audio" not in section
    assert "words of segment 0 in item-copy" in section  # the cue's text


def test_hostile_text_is_escaped(out):
    page = (out / explorer.DIR / "index.html").read_text()
    for hostile in (HOSTILE_CUE, HOSTILE_TEXT, HOSTILE_ID):
        assert hostile not in page
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt; hello" in page
    assert "<script" not in page and "onerror=" not in page.replace("onerror=&quot;", "")


def test_same_run_same_bytes_in_both_engines(spark, run, out, tmp_path):
    again = tmp_path / "again"
    report.write_report(spark, str(run.root), str(again), RELEASE, "spark", margin_s=MARGIN_S)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    second = {p.relative_to(again): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert sorted(first) == sorted(second)
    assert [k for k in first if first[k] != second[k]] == []


def test_a_rewrite_drops_old_explorer_files(run, out, tmp_path):
    copy = tmp_path / "report"
    shutil.copytree(out, copy)
    (copy / explorer.DIR / "audio" / "stale.flac").write_bytes(b"old")
    report.write_report(None, str(run.root), str(copy), release_name=RELEASE, margin_s=MARGIN_S)
    assert not (copy / explorer.DIR / "audio" / "stale.flac").exists()


# ------------------------------------------------------------- in Chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/setup.sh installs it)"
)


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after load (and 3 s of virtual time for handlers), from Chromium."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the title's text."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def named(self, *names: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.tags if tag in names]


@needs_chromium
def test_chromium_runs_script_in_an_unescaped_page(tmp_path):
    """The control: the checks below would see a payload that ran."""
    page = tmp_path / "control.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><title>control</title></head><body>"
        f"{HOSTILE_CUE}{HOSTILE_TEXT}{HOSTILE_ID}</body></html>"
    )
    dom = Elements(dump_dom(page, tmp_path / "profile"))
    assert dom.title in ("pwned", "pwned-img")
    assert dom.named("body")[0].get("data-pwned") == "1"
    assert dom.named("script") and [a for a in dom.named("img") if a.get("src") == "x"]


@needs_chromium
@pytest.mark.parametrize("name", ["index.html", f"{explorer.DIR}/index.html"])
def test_pages_in_chromium_run_no_script_from_data(out, tmp_path, name):
    page = out / name
    source = Elements(page.read_text())
    dom = Elements(dump_dom(page, tmp_path / "profile"))
    assert dom.title == source.title and "pwned" not in dom.title
    assert dom.named("script") == [] and "data-pwned" not in dom.named("body")[0]
    assert not [a for a in dom.named("img") if a.get("src") == "x"]
    srcs = [str(a["src"]) for a in dom.named("img", "audio")]
    assert srcs == [str(a["src"]) for a in source.named("img", "audio")] and srcs
    for src in srcs:
        assert (page.parent / src).is_file(), src
    assert all(a.get("onerror") is None for _, a in dom.tags)

"""The release of a small run root, read back by each format's own reader."""

from __future__ import annotations

import glob
import hashlib
import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from galvasr import registry, runlog, runroot
from galvasr.config import ReleaseConfig, load_config
from galvasr.context import StageContext
from galvasr.release import alignfiles
from galvasr.release import formats as release_formats
from galvasr.release import stage as release
from galvasr.schemas import REJECTS
from galvasr.tables import read_table
from tests import fake_run
from tests.fake_run import FakeRun

# With these fractions the fake run's items land in all three splits; with
# this shard size, train/clean (five segments) takes more than one shard.
SETTINGS = {
    "name": "t",
    "validation_fraction": 0.2,
    "test_fraction": 0.3,
    "shard_target_bytes": 150_000,
}


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory) -> FakeRun:
    return fake_run.fake_run(spark, tmp_path_factory)


@pytest.fixture(scope="module")
def built(spark, run) -> release.ReleaseSummary:
    return release.build_release(spark, run.root, load_config(overrides={"release": SETTINGS}))


def _dir(summary: release.ReleaseSummary) -> Path:
    return Path(summary.url)


def _expected(run: FakeRun) -> dict[int, tuple[str, str]]:
    """segment_id -> (split, subset) of every segment that should be released."""
    cfg = ReleaseConfig(**SETTINGS)  # type: ignore[arg-type]
    out = {}
    for s in run.segments:
        if s.cer > cfg.dirty_max_cer or s.segment_id in run.duplicate_of:
            continue
        split = release.split_of(s.identifier, cfg.validation_fraction, cfg.test_fraction)
        out[s.segment_id] = (split, release.subset_of(s.cer, s.license, cfg))
    return out


# ------------------------------------------------------------ pure rules


def test_split_rule_is_the_same_in_python_and_spark(spark):
    from pyspark.sql import functions as F

    ids = [f"item-{i}" for i in range(300)] + ["", "ünïcode-ø", "a b/c"]
    df = spark.createDataFrame([(i,) for i in ids], "identifier string")
    split = release.split_column(F.col("identifier"), 0.1, 0.2)
    got = {r[0]: r[1] for r in df.select("identifier", split).collect()}
    assert got == {i: release.split_of(i, 0.1, 0.2) for i in ids}
    counts = {s: list(got.values()).count(s) for s in ("train", "validation", "test")}
    assert 30 < counts["test"] < 95 and 10 < counts["validation"] < 55  # about 20 % and 10 %


def test_verdict_and_subsets():
    cfg = ReleaseConfig(clean_max_cer=0.1, dirty_max_cer=0.5, min_score=-5.0)
    assert release.verdict("cc-by", -1.0, 0.1, cfg) == (None, None, "clean")
    assert release.verdict("cc-by-sa", -1.0, 0.2, cfg) == (None, None, "dirty_sa")
    assert release.verdict("cc0", -1.0, 0.0, cfg)[2] == "clean"
    assert release.verdict("cc-by", -1.0, 0.51, cfg)[0] == "cer-too-high"
    assert release.verdict("cc-by", -1.0, math.nan, cfg)[0] == "cer-too-high"
    assert release.verdict("cc-by", -6.0, 0.0, cfg)[0] == "score-too-low"
    assert release.verdict("cc-by-nc", -1.0, 0.0, cfg)[0] == "license-not-releasable"


def test_pcm_hash_sees_decoded_audio_not_file_bytes():
    pcm = (np.sin(np.arange(8000) / 5) * 9000).astype(np.int16)
    a, b = io.BytesIO(), io.BytesIO()
    sf.write(a, pcm, 16000, format="FLAC", compression_level=0.0)
    sf.write(b, pcm, 16000, format="FLAC", compression_level=1.0)
    assert a.getvalue() != b.getvalue()
    assert release.pcm_sha256(a.getvalue()) == release.pcm_sha256(b.getvalue())
    assert release.pcm_sha256(fake_run.flac_bytes(pcm[:-1])) != release.pcm_sha256(a.getvalue())


def test_segment_key_is_unsigned_hex():
    assert release_formats.segment_key(-1) == "f" * 16
    assert release_formats.segment_key(255) == "00000000000000ff"


# ---------------------------------------------------------- the release


def test_every_segment_is_released_or_rejected(spark, run, built):
    rejects = read_table(spark, run.root, REJECTS).filter("stage = 'release'").collect()
    reasons = {r.segment_id: r.reason for r in rejects}
    expected = _expected(run)
    assert set(reasons) | set(expected) == {s.segment_id for s in run.segments}
    assert not set(reasons) & set(expected)
    assert {i for i, r in reasons.items() if r == "duplicate-audio"} == set(run.duplicate_of)
    assert {i for i, r in reasons.items() if r == "cer-too-high"} == {
        s.segment_id for s in run.segments if s.cer > 0.5
    }
    kept_of_duplicates = {
        r.detail.rsplit(" ", 1)[1] for r in rejects if r.reason == "duplicate-audio"
    }
    assert kept_of_duplicates == {str(v) for v in run.duplicate_of.values()}
    assert built.rejected == {"cer-too-high": 6, "duplicate-audio": 2}
    # the other stages' rejects are untouched
    assert read_table(spark, run.root, REJECTS).filter("stage != 'release'").count() == 3


def test_parquet_loads_with_datasets(run, built, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from datasets import Audio, load_dataset

    root = _dir(built)
    expected = _expected(run)
    by_id = {s.segment_id: s for s in run.segments}
    seen = {}
    for subset in ("clean", "dirty", "clean_sa", "dirty_sa"):
        files = {
            split: sorted(glob.glob(str(root / "parquet" / subset / f"{split}-*.parquet")))
            for split in ("train", "validation", "test")
        }
        files = {k: v for k, v in files.items() if v}
        if not files:
            continue
        ds = load_dataset("parquet", data_files=files, cache_dir=str(tmp_path / "hf"))
        for split, part in ds.items():
            assert isinstance(part.features["audio"], Audio)
            for row in part:
                seg = by_id[row["segment_id"]]
                audio = row["audio"]
                assert audio["sampling_rate"] == 16000
                assert len(audio["array"]) == seg.duration_ms * 16
                assert row["text"] == seg.text and row["identifier"] == seg.identifier
                assert (row["split"], row["subset"]) == (split, subset)
                seen[row["segment_id"]] = (split, subset)
    assert seen == expected

    # The card's YAML names the configs: the folder itself loads by subset name.
    clean = load_dataset(str(root), "clean", cache_dir=str(tmp_path / "hf2"))
    want = sorted(i for i, (_, sub) in expected.items() if sub == "clean")
    assert sorted(i for part in clean.values() for i in part["segment_id"]) == want


def test_webdataset_reads_back(run, built):
    import webdataset as wds

    root = _dir(built)
    by_id = {s.segment_id: s for s in run.segments}
    tars = sorted(glob.glob(str(root / "webdataset" / "*" / "*.tar")))
    assert tars
    seen = {}
    for sample in wds.WebDataset(tars, shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        pcm, rate = sf.read(io.BytesIO(sample["flac"]), dtype="int16")
        seg = by_id[meta["segment_id"]]
        assert sample["__key__"] == release_formats.segment_key(seg.segment_id) == meta["id"]
        assert rate == 16000 and len(pcm) == seg.duration_ms * 16
        assert meta["text"] == seg.text and meta["cer"] == seg.cer
        seen[seg.segment_id] = (meta["split"], meta["subset"])
    assert seen == _expected(run)


def test_nemo_manifests_point_at_real_audio(run, built):
    root = _dir(built)
    by_id = {s.segment_id: s for s in run.segments}
    seen = {}
    for manifest in sorted((root / "nemo").glob("*/*.jsonl")):
        for line in manifest.read_text().splitlines():
            entry = json.loads(line)
            path = manifest.parent / entry["audio_filepath"]
            assert not os.path.isabs(entry["audio_filepath"]) and path.is_file()
            info = sf.info(str(path))
            assert info.samplerate == 16000
            assert entry["duration"] == pytest.approx(info.frames / 16000)
            assert entry["text"] == by_id[entry["segment_id"]].text
            seen[entry["segment_id"]] = (entry["split"], entry["subset"])
    assert seen == _expected(run)


def test_no_source_in_two_splits(built, run):
    splits: dict[str, set[str]] = {}
    for sid, (split, _) in _expected(run).items():
        ident = next(s.identifier for s in run.segments if s.segment_id == sid)
        splits.setdefault(ident, set()).add(split)
    assert all(len(v) == 1 for v in splits.values())
    assert {s for v in splits.values() for s in v} == {"train", "validation", "test"}


def test_card_states_the_figures(run, built):
    text = (_dir(built) / "README.md").read_text()
    expected = _expected(run)
    by_id = {s.segment_id: s for s in run.segments}
    total_ms = sum(by_id[i].duration_ms for i in expected)
    sources = {by_id[i].identifier for i in expected}
    assert f"**{len(expected)}** segments, **{total_ms / 3.6e6:.3f}** hours" in text
    assert f"from **{len(sources)}** sources" in text
    for split in ("train", "validation", "test"):
        ids = [i for i, (s, _) in expected.items() if s == split]
        ms = sum(by_id[i].duration_ms for i in ids)
        n_src = len({by_id[i].identifier for i in ids})
        assert f"| {split} | {len(ids)} | {ms / 3.6e6:.3f} | {n_src} |" in text
    assert "acoustic model version: fake\\-v1" in text or "acoustic model version: fake-v1" in text
    assert "built by galvasr 0.1.0" in text
    assert "| character error rate | \\<= 0.5 | 6 |" in text
    assert "duplicate audio" in text and "| decode | undecodable | 1 |" in text
    assert "| release.clean\\_max\\_cer | 0.1 |" in text
    assert text.startswith("---\n") and "- config_name: clean_sa" in text


def test_attribution_credits_cc_by_sources_safely(run, built):
    text = (_dir(built) / "ATTRIBUTION").read_text()
    assert '"Lecture on Rivers"' in text and '"Ada Example"' in text
    assert "https://archive.org/details/item-by" in text
    assert "item-pd" not in text and "item-cc0" not in text  # no attribution needed
    assert "Copy of Rivers" in text  # item-copy still has a released segment
    evil = [line for line in text.splitlines() if "evil" in line]
    assert len(evil) == 1 and evil[0].startswith("[") and '"[click me]' in evil[0]
    assert not any(line.startswith("[9]") for line in text.splitlines())
    assert "3 sources credited." in text


def _tree(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_sha256sums_cover_every_file(built):
    root = _dir(built)
    tree = _tree(root)
    listed = {}
    for line in (root / "SHA256SUMS").read_text().splitlines():
        sha, path = line.split("  ", 1)
        listed[path] = sha
    assert listed == {p: h for p, h in tree.items() if p != "SHA256SUMS"}


def test_second_release_is_byte_identical_and_recorded(spark, run, built):
    before = _tree(_dir(built))
    (_dir(built) / "parquet" / "stale.parquet").write_bytes(b"left over")
    # Run as every entry point runs it: through the registry, which records it.
    ctx = StageContext(root=run.root, config=load_config(overrides={"release": SETTINGS}))
    ctx._spark = spark
    summary = registry.run_stage(registry.stage("release"), ctx)
    assert summary["url"] == built.url == runroot.release_url(run.root, SETTINGS["name"])
    assert _tree(_dir(built)) == before
    counts = {r.stage: r for r in runlog.read_stages(run.root)}["release"].counts
    expected = _expected(run)
    assert counts["segments"] == len(expected) == built.figures.total.segments
    assert counts["duration_ms"] == sum(
        s.duration_ms for s in run.segments if s.segment_id in expected
    )
    assert counts["files"] == len(built.files)
    assert counts["sources"] == built.figures.total.sources
    assert {k: v for k, v in counts.items() if k.startswith("rejected.")} == {
        "rejected.cer-too-high": 6,
        "rejected.duplicate-audio": 2,
    }


def test_shards_are_numbered_without_gaps(built):
    paths = [p for p, _ in built.files]
    for fmt, pattern in (
        ("parquet", "parquet/clean/train-"),
        ("webdataset", "webdataset/clean/train-"),
    ):
        shards = sorted(p for p in paths if p.startswith(pattern))
        assert len(shards) == 2, fmt
    parquet = sorted(p for p in paths if p.startswith("parquet/clean/train-"))
    assert parquet == [f"parquet/clean/train-{k:05d}-of-00002.parquet" for k in range(2)]


def test_parquet_split_names_are_hugging_faces(built):
    splits = {Path(p).name.split("-")[0] for p, _ in built.files if p.startswith("parquet/")}
    assert splits == {"train", "validation", "test"}
    assert "- split: validation" in (_dir(built) / "README.md").read_text()


# ------------------------------------------------------------ Lhotse Shar


def test_lhotse_shar_loads_with_lhotse(run, built):
    from lhotse import CutSet
    from lhotse.qa import validate

    root = _dir(built)
    by_id = {s.segment_id: s for s in run.segments}
    seen = {}
    folders = sorted(p for p in (root / "lhotse").glob("*/*") if p.is_dir())
    assert folders
    for folder in folders:
        subset, split = folder.parent.name, folder.name
        for cut in CutSet.from_shar(in_dir=folder):
            validate(cut, read_data=True)
            (sup,) = cut.supervisions
            seg = by_id[sup.custom["segment_id"]]
            assert cut.id == release_formats.segment_key(seg.segment_id)
            audio = cut.load_audio()
            want, _ = sf.read(io.BytesIO(seg.flac), dtype="float32")
            assert audio.shape == (1, seg.duration_ms * 16) and cut.sampling_rate == 16000
            np.testing.assert_allclose(audio[0], want, atol=1e-4)
            assert cut.duration == sup.duration == seg.duration_ms / 1000
            assert sup.text == seg.text and sup.custom["text_normalized"] == seg.text_normalized
            assert (sup.custom["split"], sup.custom["subset"]) == (split, subset)
            words = sup.alignment["word"]
            assert [w.symbol for w in words] == [w.word for w in seg.words] != []
            for got, w in zip(words, seg.words, strict=True):
                assert round(got.start * 1000) == w.start_ms
                assert round((got.start + got.duration) * 1000) == w.end_ms
                assert got.score == pytest.approx(w.score)
            seen[seg.segment_id] = (split, subset)
    assert seen == _expected(run)


# ---------------------------------------------------- alignment files


def _released_spans(run: FakeRun) -> dict[int, list[tuple[int, int]]]:
    by_id = {s.segment_id: s for s in run.segments}
    spans: dict[int, list[tuple[int, int]]] = {}
    for sid in _expected(run):
        seg = by_id[sid]
        spans.setdefault(seg.audio_id, []).append((seg.start_ms, seg.end_ms))
    return spans


def _kept_cues(run: FakeRun) -> dict[int, list]:
    """audio_id -> its alignment rows that lie inside a released segment, in time order."""
    spans = _released_spans(run)
    kept: dict[int, list] = {}
    for a in run.alignments:
        if any(s <= a.start_ms and a.end_ms <= e for s, e in spans.get(a.audio_id, ())):
            kept.setdefault(a.audio_id, []).append(a)
    return {k: sorted(v, key=lambda a: a.start_ms) for k, v in kept.items()}


def _index(built) -> dict[int, dict]:
    lines = (_dir(built) / "alignments" / "index.jsonl").read_text().splitlines()
    return {entry["audio_id"]: entry for entry in map(json.loads, lines)}


def _alignment_file(built, entry: dict, ext: str) -> Path:
    path = _dir(built) / "alignments" / entry["split"] / f"{entry['name']}.{ext}"
    assert path.is_file(), path
    return path


def test_alignment_index_names_every_file_with_released_cues(run, built):
    index = _index(built)
    kept = _kept_cues(run)
    assert set(index) == set(kept)
    catalog = {c.audio_id: c for c in run.catalog}
    expected = _expected(run)
    split_of_file = {
        s.audio_id: expected[s.segment_id][0] for s in run.segments if s.segment_id in expected
    }
    for audio_id, entry in index.items():
        c = catalog[audio_id]
        assert (entry["identifier"], entry["audio_file"], entry["license"]) == (
            c.identifier,
            c.audio_file,
            c.license,
        )
        assert entry["split"] == split_of_file[audio_id]
        assert entry["cues"] == len(kept[audio_id])
        assert entry["words"] == sum(len(a.words) for a in kept[audio_id])
        assert entry["name"] == alignfiles.file_name(c.identifier, c.audio_file, audio_id)
        assert sorted(f["path"] for f in entry["files"]) == sorted(
            f"alignments/{entry['split']}/{entry['name']}.{ext}" for ext in alignfiles.EXTENSIONS
        )


@pytest.mark.parametrize("ext", ["srt", "vtt"])
def test_subtitles_are_retimed_to_the_alignments(run, built, ext):
    import pysubs2

    transcripts = {(t.audio_id, t.cue_index): t for t in run.transcripts}
    for audio_id, entry in _index(built).items():
        subs = pysubs2.load(str(_alignment_file(built, entry, ext)), format_=ext)
        got = [(e.start, e.end, e.plaintext) for e in subs]
        cues = _kept_cues(run)[audio_id]
        assert got == [(a.start_ms, a.end_ms, a.text) for a in cues]
        # the times are the aligner's, not the subtitle file's
        t = transcripts[(audio_id, cues[0].cue_index)]
        assert got[0][:2] != (t.start_ms, t.end_ms)


def test_ctm_lists_the_words_of_released_cues(run, built):
    for audio_id, entry in _index(built).items():
        rows = [
            line.split() for line in _alignment_file(built, entry, "ctm").read_text().splitlines()
        ]
        words = [w for a in _kept_cues(run)[audio_id] for w in a.words]
        assert len(rows) == len(words)
        for fields, w in zip(rows, words, strict=True):
            name, channel, start, duration, token, conf = fields
            assert (name, channel, token) == (entry["name"], "1", w.word)
            assert round(float(start) * 1000) == w.start_ms
            assert round(float(duration) * 1000) == w.end_ms - w.start_ms
            assert float(conf) == pytest.approx(math.exp(w.score), abs=1e-4)


def test_textgrid_has_cue_and_word_tiers(run, built):
    from praatio import textgrid

    durations = {a.audio_id: a.duration_ms for a in run.audio}
    for audio_id, entry in _index(built).items():
        path = _alignment_file(built, entry, "TextGrid")
        tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
        assert tg.tierNames == (alignfiles.CUE_TIER, alignfiles.WORD_TIER)
        assert tg.maxTimestamp == pytest.approx(durations[audio_id] / 1000)
        cues = _kept_cues(run)[audio_id]
        got = [(round(e.start * 1000), round(e.end * 1000), e.label) for e in
               tg.getTier(alignfiles.CUE_TIER).entries]  # fmt: skip
        assert got == [(a.start_ms, a.end_ms, a.text) for a in cues]
        got = [(round(e.start * 1000), round(e.end * 1000), e.label) for e in
               tg.getTier(alignfiles.WORD_TIER).entries]  # fmt: skip
        assert got == [(w.start_ms, w.end_ms, w.word) for a in cues for w in a.words]
        # Praat's own layout: intervals tile the grid, empty ones included
        full = textgrid.openTextgrid(str(path), includeEmptyIntervals=True)
        for tier in full.tiers:
            ends = [(e.start, e.end) for e in tier.entries]
            assert ends[0][0] == 0 and ends[-1][1] == pytest.approx(tg.maxTimestamp)
            assert all(a[1] == b[0] for a, b in zip(ends, ends[1:], strict=False))


def test_alignment_files_of_awkward_cues(tmp_path):
    import pysubs2
    from praatio import textgrid

    words = [
        {"word": "A", "text": "a", "start_ms": 1000, "end_ms": 1200, "score": -0.5},
        {"word": "B", "text": "b", "start_ms": 1150, "end_ms": 1900, "score": float("nan")},
    ]
    cues = [
        {"cue_index": 1, "start_ms": 3_723_004, "end_ms": 3_724_000, "text": "x --> y & z",
         "text_normalized": "X Y Z", "words": []},
        {"cue_index": 0, "start_ms": 1000, "end_ms": 2000, "text": 'line one\n\n"two"',
         "text_normalized": "LINE ONE TWO", "words": words},
    ]  # fmt: skip
    srt = pysubs2.SSAFile.from_string(alignfiles.srt(cues).decode(), format_="srt")
    assert [(e.start, e.end, e.plaintext) for e in srt] == [
        (1000, 2000, 'line one\n"two"'),  # the blank line would have ended the cue
        (3_723_004, 3_724_000, "x -> y & z"),  # "-->" would have been a timing line
    ]
    vtt_text = alignfiles.webvtt(cues).decode()
    vtt = pysubs2.SSAFile.from_string(vtt_text, format_="vtt")
    assert [(e.start, e.end) for e in vtt] == [(1000, 2000), (3_723_004, 3_724_000)]
    assert vtt_text.startswith("WEBVTT\n\n") and vtt_text.count("-->") == 2
    assert "x -> y &amp; z" in vtt_text  # WebVTT's escape for "&"
    ctm = alignfiles.ctm("f", cues).decode().splitlines()
    assert ctm == ["f 1 1.000 0.200 A 0.6065", "f 1 1.150 0.750 B 0.0000"]
    path = tmp_path / "awkward.TextGrid"
    path.write_bytes(alignfiles.textgrid(cues, duration_ms=5000))
    tg = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert tg.maxTimestamp == pytest.approx(3724.0)  # the last cue ends after the file's 5 s
    assert [e.label for e in tg.getTier("cues").entries] == ['line one "two"', "x --> y & z"]
    # overlapping words: the later one starts where the earlier ends
    assert [(e.start, e.end) for e in tg.getTier("words").entries] == [(1.0, 1.2), (1.2, 1.9)]


@pytest.mark.parametrize(
    "identifier,audio_file",
    [
        ("../../etc", "../../passwd.mp3"),
        ("..", ".."),
        ("", "/abs/path/.hidden"),
        ("item", "dir\\sub/a b\x00c.mp3"),
        ("ünïcode-ø", "CON.mp3"),
        ("x" * 500, "y" * 500 + ".mp3"),
        ("item", "disc 1/part0.mp3"),
    ],
)
def test_alignment_file_names_are_one_safe_path_part(identifier, audio_file, tmp_path):
    from galvasr.storage import check_path

    name = alignfiles.file_name(identifier, audio_file, -5)
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name), name
    assert name.endswith("f" * 15 + "b") and len(name) <= 2 * 60 + 20
    check_path(f"alignments/train/{name}.srt")
    for ext in alignfiles.EXTENSIONS:
        target = (tmp_path / f"{name}.{ext}").resolve()
        assert target.parent == tmp_path.resolve()


def test_file_names_differ_per_audio_file():
    names = {alignfiles.file_name("item", "a/b.mp3", i) for i in range(100)}
    names |= {alignfiles.file_name("item", "a_b.mp3", 0)}
    assert len(names) == 100  # same id: same name; else different
    assert alignfiles.file_name("item", "disc 1/part0.mp3", 1) == "item__disc_1_part0__" + (
        "0" * 15 + "1"
    )


def test_covered():
    assert alignfiles.covered(10, 20, [(0, 20)])
    assert alignfiles.covered(10, 20, [(15, 30), (0, 15)])  # a cue split across two segments
    assert not alignfiles.covered(10, 20, [(0, 15)])
    assert not alignfiles.covered(10, 20, [(0, 12), (14, 30)])  # a gap
    assert alignfiles.covered(10, 10, [(10, 10)])
    assert not alignfiles.covered(10, 20, [])


def test_release_without_lhotse_and_alignment_files(spark, run, tmp_path):
    import shutil

    root = tmp_path / "root"
    shutil.copytree(run.root, root)
    settings = {**SETTINGS, "lhotse_shar": False, "alignment_files": False, "formats": ["nemo"]}
    summary = release.build_release(spark, str(root), load_config(overrides={"release": settings}))
    tops = {p.split("/")[0] for p, _ in summary.files}
    assert tops == {"nemo", "README.md", "ATTRIBUTION"}

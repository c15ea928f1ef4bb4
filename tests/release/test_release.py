"""The release of a small run root, read back by each format's own reader."""

from __future__ import annotations

import glob
import hashlib
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from galvasr import registry, runlog, runroot
from galvasr.config import ReleaseConfig, load_config
from galvasr.context import StageContext
from galvasr.release import formats as release_formats
from galvasr.release import stage as release
from galvasr.schemas import REJECTS
from galvasr.tables import read_table
from tests import fake_run
from tests.fake_run import FakeRun

# With these fractions the fake run's items land in all three splits; with
# this shard size, train/clean (five segments) takes more than one shard.
SETTINGS = {"name": "t", "dev_fraction": 0.2, "test_fraction": 0.3, "shard_target_bytes": 150_000}


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
        split = release.split_of(s.identifier, cfg.dev_fraction, cfg.test_fraction)
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
    counts = {s: list(got.values()).count(s) for s in ("train", "dev", "test")}
    assert 30 < counts["test"] < 95 and 10 < counts["dev"] < 55  # about 20 % and 10 %


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
            for split in ("train", "dev", "test")
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
    assert {s for v in splits.values() for s in v} == {"train", "dev", "test"}


def test_card_states_the_figures(run, built):
    text = (_dir(built) / "README.md").read_text()
    expected = _expected(run)
    by_id = {s.segment_id: s for s in run.segments}
    total_ms = sum(by_id[i].duration_ms for i in expected)
    sources = {by_id[i].identifier for i in expected}
    assert f"**{len(expected)}** segments, **{total_ms / 3.6e6:.3f}** hours" in text
    assert f"from **{len(sources)}** sources" in text
    for split in ("train", "dev", "test"):
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

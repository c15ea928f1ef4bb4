"""Ingest: per-item logic without Spark, then the stage's accounting with Spark."""

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from galvasr import keys
from galvasr.config import IngestConfig
from galvasr.corpus_files import LocalCorpus, StoreCorpus, open_corpus
from galvasr.ingest.catalog import Item, parse_catalog_line
from galvasr.ingest.stage import ingest_item, run_ingest
from galvasr.schemas import CATALOG, REJECTS, TRANSCRIPTS
from galvasr.storage import open_store
from galvasr.tables import read_table

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "sample"
BY = "https://creativecommons.org/licenses/by/4.0/"

SRT = b"""1
00:00:00,500 --> 00:00:02,000
<i>In the beginning</i> was the Word.

2
00:00:02,500 --> 00:00:03,000
[MUSIC]

3
00:00:03,000 --> 00:00:05,000
JOHN: and the Word was with God.
"""
VTT = b"WEBVTT\n\n00:01.000 --> 00:02.000\n<v Anna>Hello there\n"
HTML = b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>\n"


def write_corpus(root: Path, lines: list, files: dict[str, bytes | None], gz: bool = False):
    """A corpus folder: ``lines`` (dicts become JSON) as the catalog; ``files`` under items/."""
    root.mkdir(parents=True, exist_ok=True)
    text = "".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines)
    if gz:
        (root / "catalog.jsonl.gz").write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        (root / "catalog.jsonl").write_text(text)
    for name, data in files.items():
        path = root / "items" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if data is not None:
            path.write_bytes(data)
    return root


def item_line(identifier: str, names: list[str], license_url: str | None = BY) -> dict:
    metadata = {"identifier": identifier, "title": f"Title of {identifier}", "language": "eng"}
    if license_url is not None:
        metadata["licenseurl"] = license_url
    return {"metadata": metadata, "files": [{"name": n, "source": "original"} for n in names]}


# What each audio and subtitle file of the fixture corpus becomes at ingest.
EXPECTED = {
    ("good", "a.mp3"): "keep", ("good", "a.srt"): "keep",
    ("good", "b.ogg"): "keep", ("good", "b.vtt"): "keep",  # 0-byte audio: decode refuses it
    ("good", "c.mp3"): "audio:missing", ("good", "c.srt"): "audio:missing",
    ("good", "d.mp3"): "subtitle:empty", ("good", "d.srt"): "subtitle:empty",
    ("good", "e.mp3"): "subtitle:unparsable", ("good", "e.srt"): "subtitle:unparsable",
    ("good", "f.wav"): "subtitle:none", ("good", "g.srt"): "subtitle:unpaired",
    ("good", "../h.mp3"): "catalog:unsafe-path",
    ("nc", "x.mp3"): "license:cc-by-nc", ("nc", "x.srt"): "license:cc-by-nc",
    ("nolicense", "y.mp3"): "license:missing", ("nolicense", "y.srt"): "license:missing",
    ("arr", "z.mp3"): "license:all-rights-reserved",
    ("arr", "z.srt"): "license:all-rights-reserved",
    ("../evil", "p.mp3"): "catalog:unsafe-path", ("../evil", "p.srt"): "catalog:unsafe-path",
    ("good", "dup.mp3"): "catalog:duplicate-item",
    ("linky", "l.mp3"): "catalog:unsafe-path", ("linky", "l.srt"): "catalog:unsafe-path",
    ("utf16", "u.flac"): "keep", ("utf16", "u.srt"): "keep",
}  # fmt: skip


@pytest.fixture(scope="module")
def fixture_corpus(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("corpus")
    outside = base / "outside.mp3"
    outside.write_bytes(b"secret")
    root = write_corpus(
        base / "corpus",
        [
            item_line(
                "good",
                [
                    "a.mp3",
                    "a.srt",
                    "b.ogg",
                    "b.vtt",
                    "c.mp3",
                    "c.srt",
                    "d.mp3",
                    "d.srt",
                    "e.mp3",
                    "e.srt",
                    "f.wav",
                    "g.srt",
                    "../h.mp3",
                    "good_meta.xml",
                    "cover.jpg",
                ],
            ),  # fmt: skip
            item_line("nc", ["x.mp3", "x.srt"], "http://creativecommons.org/licenses/by-nc/3.0/"),
            "",
            item_line("nolicense", ["y.mp3", "y.srt"], None),
            "{this is not json",
            item_line("arr", ["z.mp3", "z.srt"], "All rights reserved"),
            item_line("../evil", ["p.mp3", "p.srt"]),
            item_line("good", ["dup.mp3"]),
            item_line(
                "linky", ["l.mp3", "l.srt"], "https://creativecommons.org/publicdomain/zero/1.0/"
            ),
            item_line(
                "utf16", ["u.flac", "u.srt"], "http://creativecommons.org/publicdomain/mark/1.0/"
            ),
        ],  # fmt: skip
        {
            "good/a.mp3": b"ID3 not really audio",
            "good/a.srt": SRT,
            "good/b.ogg": b"",
            "good/b.vtt": VTT,
            "good/c.srt": SRT,
            "good/d.mp3": b"audio",
            "good/d.srt": b"",
            "good/e.mp3": b"audio",
            "good/e.srt": HTML,
            "good/f.wav": b"RIFF",
            "good/g.srt": SRT,
            "good/good_meta.xml": b"<xml/>",
            "nc/x.mp3": b"audio",
            "nc/x.srt": SRT,
            "linky/l.srt": SRT,
            "utf16/u.flac": b"fLaC",
            "utf16/u.srt": b"\xff\xfe" + SRT.decode().replace("\n", "\r\n").encode("utf-16-le"),
        },
    )
    os.symlink(outside, root / "items" / "linky" / "l.mp3")
    return root


# --------------------------------------------------------- per item, pure


def _item(line: dict) -> Item:
    item = parse_catalog_line(1, json.dumps(line))
    assert isinstance(item, Item)
    return item


def test_kept_item_rows(fixture_corpus):
    out = ingest_item(_item(item_line("good", ["a.mp3", "a.srt", "cover.jpg"])),
                      LocalCorpus(str(fixture_corpus)), IngestConfig())  # fmt: skip
    (row,) = out.catalog
    assert row.audio_id == keys.audio_id("good", "a.mp3")
    assert (row.audio_file, row.subtitle_file, row.audio_size_bytes) == ("a.mp3", "a.srt", 20)
    assert row.audio_path == "items/good/a.mp3"  # where decode finds it, relative to the corpus
    assert (row.license, row.license_url, row.title) == ("cc-by", BY, "Title of good")
    assert row.source_url == "https://archive.org/details/good"
    assert [(t.cue_index, t.start_ms, t.end_ms, t.text) for t in out.transcripts] == [
        (0, 500, 2000, "In the beginning was the Word."),
        (2, 3000, 5000, "and the Word was with God."),
    ]
    assert out.transcripts[0].text_raw == "<i>In the beginning</i> was the Word."
    (cue,) = out.rejects
    assert (cue.reason, cue.cue_index, cue.audio_id, cue.file_name) == (
        "cue:no-speech-text", 1, row.audio_id, "a.srt",
    )  # fmt: skip
    assert out.ignored_files == 1


def test_item_file_fates(fixture_corpus):
    names = [n for (i, n) in EXPECTED if i == "good" and n != "dup.mp3"]
    out = ingest_item(_item(item_line("good", names)), LocalCorpus(str(fixture_corpus)),
                      IngestConfig())  # fmt: skip
    fates = {(r.identifier, r.file_name): r.reason for r in out.rejects if r.cue_index is None}
    for row in out.catalog:
        fates[("good", row.audio_file)] = "keep"
        fates[("good", row.subtitle_file)] = "keep"
    assert fates == {k: v for k, v in EXPECTED.items() if k[0] == "good" and k[1] != "dup.mp3"}
    for r in out.rejects:  # rows about audio files carry their would-be audio_id
        if r.file_name and r.file_name.endswith(".mp3") and r.reason != "catalog:unsafe-path":
            assert r.audio_id == keys.audio_id("good", r.file_name)


def test_a_symlink_out_of_the_corpus_is_never_followed(fixture_corpus):
    corpus = LocalCorpus(str(fixture_corpus))
    out = ingest_item(_item(item_line("linky", ["l.mp3", "l.srt"])), corpus, IngestConfig())
    assert not out.catalog
    assert {(r.file_name, r.reason) for r in out.rejects} == {
        ("l.mp3", "catalog:unsafe-path"), ("l.srt", "catalog:unsafe-path"),
    }  # fmt: skip


def test_the_catalog_records_where_a_file_was_found(tmp_path):
    root = tmp_path / "corpus"
    (root / "media" / "x").mkdir(parents=True)
    (root / "media" / "x" / "a.mp3").write_bytes(b"audio")
    (root / "media" / "x" / "a.srt").write_bytes(SRT)
    out = ingest_item(_item(item_line("x", ["a.mp3", "a.srt"])), LocalCorpus(str(root)),
                      IngestConfig(items_dir="media"))  # fmt: skip
    assert [r.audio_path for r in out.catalog] == ["media/x/a.mp3"]


def test_special_files_are_never_opened(tmp_path):
    """A FIFO would block its reader forever: it counts as no file, as a folder does."""
    root = write_corpus(tmp_path / "corpus", [], {"odd/a.srt": SRT, "odd/b.mp3": b"audio"})
    os.mkfifo(root / "items" / "odd" / "a.mp3")
    os.mkfifo(root / "items" / "odd" / "b.srt")
    (root / "items" / "odd" / "c.mp3").mkdir()
    (root / "items" / "odd" / "c.srt").write_bytes(SRT)
    out = ingest_item(_item(item_line("odd", ["a.mp3", "a.srt", "b.mp3", "b.srt", "c.mp3",
                                              "c.srt"])),
                      LocalCorpus(str(root)), IngestConfig())  # fmt: skip
    assert not out.catalog
    assert {(r.file_name, r.reason) for r in out.rejects} == {
        ("a.mp3", "audio:missing"), ("a.srt", "audio:missing"),
        ("b.mp3", "subtitle:missing"), ("b.srt", "subtitle:missing"),
        ("c.mp3", "audio:missing"), ("c.srt", "audio:missing"),
    }  # fmt: skip


def test_names_storage_refuses_are_refused_not_fatal(fixture_corpus):
    name = "a.galvasr-tmp-x.mp3"  # galvasr.storage's temporary-file marker
    out = ingest_item(_item(item_line("good", [name, "a.srt"])),
                      LocalCorpus(str(fixture_corpus)), IngestConfig())  # fmt: skip
    assert {(r.file_name, r.reason) for r in out.rejects} == {
        (name, "catalog:unsafe-path"), ("a.srt", "catalog:unsafe-path"),
    }  # fmt: skip


def test_oversized_subtitles_are_refused(fixture_corpus):
    config = IngestConfig(max_subtitle_bytes=100)
    out = ingest_item(_item(item_line("good", ["a.mp3", "a.srt"])),
                      LocalCorpus(str(fixture_corpus)), config)  # fmt: skip
    assert {r.reason for r in out.rejects} == {"subtitle:too-large"}
    assert len(out.rejects) == 2


def test_store_corpus_reads_like_local(fixture_corpus):
    store = StoreCorpus(open_store(str(fixture_corpus)))
    local = open_corpus(str(fixture_corpus))
    for path in ("items/good/a.srt", "items/good/b.ogg", "items/good/none.mp3"):
        assert store.size(path) == local.size(path)
    assert store.read_bytes("items/good/a.srt") == local.read_bytes("items/good/a.srt") == SRT


# ------------------------------------------------------------ the stage


def _tables(spark, root: Path):
    def rows(table, order):
        df = read_table(spark, str(root), table)
        return [tuple(r) for r in df.orderBy(*order).collect()]

    return (
        rows(CATALOG, ["audio_id"]),
        rows(TRANSCRIPTS, ["audio_id", "cue_index"]),
        rows(REJECTS, [c for c in REJECTS.columns]),
    )


def _fates(spark, root: Path) -> dict[tuple[str, str], str]:
    """(identifier, file) -> "keep" or the reject reason; fails if a file has two fates."""
    fates: dict[tuple[str, str], str] = {}
    seen: list[tuple[str, str]] = []
    for r in read_table(spark, str(root), CATALOG).collect():
        seen.append((r.identifier, r.audio_file))
        fates[(r.identifier, r.audio_file)] = fates[(r.identifier, r.subtitle_file)] = "keep"
    rejects = read_table(spark, str(root), REJECTS).where("cue_index is null").collect()
    for r in rejects:
        if r.file_name is not None:
            seen.append((r.identifier, r.file_name))
            fates[(r.identifier, r.file_name)] = r.reason
    assert len(seen) == len(set(seen)), "a file has more than one fate"
    return fates


def test_stage_accounts_for_every_file_and_is_deterministic(spark, fixture_corpus, tmp_path):
    summary = run_ingest(spark, str(fixture_corpus), str(tmp_path / "run1"), IngestConfig())
    assert _fates(spark, tmp_path / "run1") == EXPECTED
    rejects = read_table(spark, str(tmp_path / "run1"), REJECTS)
    malformed = rejects.where("reason = 'catalog:malformed-line'").collect()
    assert [(r.line_number, r.file_name) for r in malformed] == [(5, None)]
    assert {r.stage for r in rejects.collect()} == {"ingest"}
    assert summary.catalog_lines == 9
    assert summary.counts["catalog_rows"] == 3
    assert summary.counts["transcript_rows"] == 5  # a.srt 2, b.vtt 1, u.srt 2
    assert summary.counts["rejects:cue:no-speech-text"] == 2
    assert summary.counts["ignored_files"] == 2
    assert summary.counts["rejects:license:cc-by-nc"] == 2
    for row in read_table(spark, str(tmp_path / "run1"), CATALOG).collect():
        assert row.audio_path == f"items/{row.identifier}/{row.audio_file}"
    transcripts = read_table(spark, str(tmp_path / "run1"), TRANSCRIPTS)
    u_id = keys.audio_id("utf16", "u.flac")
    assert [r.text for r in transcripts.where(f"audio_id = {u_id}").orderBy("cue_index").collect()
            ] == ["In the beginning was the Word.", "and the Word was with God."]  # fmt: skip

    # Again, from a gzipped catalog and with another partitioning: the same tables.
    gz_corpus = tmp_path / "gz"
    shutil.copytree(fixture_corpus, gz_corpus, symlinks=True)
    (gz_corpus / "catalog.jsonl.gz").write_bytes(
        gzip.compress((gz_corpus / "catalog.jsonl").read_bytes())
    )
    (gz_corpus / "catalog.jsonl").unlink()
    # (the symlink still points outside the copied corpus)
    again = run_ingest(spark, str(gz_corpus), str(tmp_path / "run2"), IngestConfig(partitions=3))
    assert again == summary
    assert _tables(spark, tmp_path / "run2") == _tables(spark, tmp_path / "run1")


def test_the_tally_finds_every_audio_id_that_names_two_files(spark):
    """The counts' job also finds collisions (ingest checks them there, not in a query)."""
    from dataclasses import astuple

    from galvasr.ingest import stage
    from galvasr.schemas import CatalogRow, RejectRow

    def catalog(audio_id, identifier, audio_file):
        row = CatalogRow(audio_id, identifier, audio_file, "p", "s.srt", 1, *[None] * 7)
        return "catalog", astuple(row)

    records = [
        catalog(7, "item-a", "one.mp3"),
        catalog(7, "item-c", "three.mp3"),  # another file, the same id
        catalog(8, "item-b", "two.mp3"),
        catalog(8, "item-b", "two.mp3"),  # the same file twice: not a collision
        catalog(9, "item-d", "four.mp3"),
        ("reject", astuple(RejectRow("ingest", "subtitle:none", "d", *[None] * 5))),
        (stage.COUNT, "catalog_lines"),
    ]
    tally = (
        spark.sparkContext.parallelize(records, 3)
        .flatMap(stage._tally_keys)
        .reduceByKey(stage._tally_add)
        .filter(stage._is_reported)
        .collectAsMap()
    )
    assert {k: v for k, v in tally.items() if isinstance(k, str)} == {
        "catalog_rows": 5, "rejects:subtitle:none": 1, "catalog_lines": 1
    }  # fmt: skip
    found = [(k, v) for k, v in tally.items() if isinstance(k, int)]
    assert found == [(7, (("item-a", "one.mp3"), ("item-c", "three.mp3")))]
    error = keys.collision_error(found)
    assert isinstance(error, keys.AudioIdCollision)
    assert "audio_id 7: item-a/one.mp3 and item-c/three.mp3" in str(error)


@pytest.mark.skipif(not (SAMPLE / "manifest.json").exists(), reason="no sample corpus yet")
def test_sample_corpus_accounting(spark, tmp_path):
    """Every audio and subtitle file of the sample corpus has the fate its manifest expects."""
    manifest = json.loads((SAMPLE / "manifest.json").read_text())
    run_ingest(spark, str(SAMPLE), str(tmp_path), IngestConfig())
    fates = _fates(spark, tmp_path)
    expected = {}
    for item in manifest["items"]:
        for f in item["files"]:
            # decode, not ingest, refuses empty and undecodable audio
            fate = (
                "keep" if f["expected"] in ("audio:empty", "audio:undecodable") else f["expected"]
            )
            expected[(item["identifier"], f["audio_file"])] = fate
            expected[(item["identifier"], f["subtitle_file"])] = fate
    assert fates == expected


@pytest.mark.slow
def test_spark_submit_runs_the_job(fixture_corpus, tmp_path):
    root = tmp_path / "run"
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               GALVASR_SHUFFLE_PARTITIONS="2")  # fmt: skip
    spark_submit = Path(sys.executable).parent / "spark-submit"
    done = subprocess.run(
        [str(spark_submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
         str(REPO / "jobs" / "ingest.py"), "--corpus", str(fixture_corpus), "--root", str(root)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads([x for x in done.stdout.splitlines() if x.startswith("{")][-1])
    assert summary["counts"]["catalog_rows"] == 3
    assert summary["counts"]["rejects:audio:missing"] == 2
    import pyarrow.parquet as pq

    catalog = pq.read_table(root / "catalog")
    assert sorted(catalog.column("audio_file").to_pylist()) == ["a.mp3", "b.ogg", "u.flac"]
    assert sorted(catalog.column(CATALOG.c.audio_path).to_pylist()) == [
        "items/good/a.mp3", "items/good/b.ogg", "items/utf16/u.flac",
    ]  # fmt: skip
    assert (root / "rejects" / "stage=ingest").is_dir()

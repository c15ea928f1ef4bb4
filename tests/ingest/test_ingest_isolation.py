"""Ingest: no catalog line is lost, and what no rule foresaw refuses one cue, one
subtitle or one item, never the run (issue 18)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from galvasr import keys
from galvasr.config import Config, IngestConfig, load_config, parse_overrides
from galvasr.corpus_files import LocalCorpus
from galvasr.ingest import stage as ingest_stage
from galvasr.ingest import subtitles
from galvasr.ingest.catalog import Item, LineReject, parse_catalog_line
from galvasr.ingest.stage import NO_MEDIA, ingest_item, run_ingest
from galvasr.schemas import AUDIO, CATALOG, REJECTS
from galvasr.tables import read_table
from tests.ingest.test_ingest_stage import SRT, item_line

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
GOOD = SAMPLE / "items" / "thessalonians-phone-recording"


def _item(line: dict, line_number: int = 1) -> Item:
    item = parse_catalog_line(line_number, json.dumps(line))
    assert isinstance(item, Item)
    return item


# ------------------------------------------------------ every line ends somewhere


@pytest.mark.parametrize(
    "names",
    [["../../../etc/passwd"], [], ["cover.jpg", "meta.xml"], [".."]],
    ids=["climbs-out-no-extension", "no-files", "no-media", "dot-dot"],
)
def test_an_item_without_audio_or_subtitles_is_rejected_not_lost(tmp_path: Path, names):
    """Its folder does not even exist: the line still ends in rejects, with its number."""
    out = ingest_item(_item(item_line("ghost", names), 7), LocalCorpus(str(tmp_path)),
                      IngestConfig())  # fmt: skip
    assert not out.catalog and not out.transcripts
    assert [(r.reason, r.identifier, r.line_number, r.file_name) for r in out.rejects] == [
        (NO_MEDIA, "ghost", 7, None)
    ]
    assert all(name in out.rejects[0].detail for name in names)


def test_an_item_refused_for_its_license_and_without_media_keeps_one_row(tmp_path: Path):
    line = item_line("nc-ghost", [], "http://creativecommons.org/licenses/by-nc/3.0/")
    out = ingest_item(_item(line), LocalCorpus(str(tmp_path)), IngestConfig())
    assert [r.reason for r in out.rejects] == ["license:cc-by-nc"]


def test_an_identifier_ending_in_a_newline_is_no_identifier():
    parsed = parse_catalog_line(3, json.dumps(item_line("good\n", ["a.mp3", "a.srt"])))
    assert isinstance(parsed, LineReject)
    assert parsed.reason == "catalog:unsafe-path"
    assert parsed.file_names == ("a.mp3", "a.srt")


# ----------------------------------------------------------- items at the root


def test_items_at_the_corpus_root_as_ia_download_lays_them_out(tmp_path: Path):
    root = tmp_path / "corpus"
    (root / "x").mkdir(parents=True)
    (root / "x" / "a.mp3").write_bytes(b"audio")
    (root / "x" / "a.srt").write_bytes(SRT)
    config = load_config(None, parse_overrides(['ingest.items_dir="."'])).ingest
    out = ingest_item(_item(item_line("x", ["a.mp3", "a.srt"])), LocalCorpus(str(root)), config)
    assert [r.audio_path for r in out.catalog] == ["x/a.mp3"]
    assert not [r for r in out.rejects if r.cue_index is None]
    # Other spellings of the root; and a folder that climbs out is no setting.
    for items_dir in ("", "./"):
        again = ingest_item(_item(item_line("x", ["a.mp3", "a.srt"])), LocalCorpus(str(root)),
                            IngestConfig(items_dir=items_dir))  # fmt: skip
        assert [r.audio_path for r in again.catalog] == ["x/a.mp3"]
    for bad in ("..", "../x", "/abs", "a/../.."):
        with pytest.raises(ValueError, match="items_dir"):
            IngestConfig(items_dir=bad)


def test_a_corpus_laid_out_at_its_root_ingests_and_decodes(spark, tmp_path: Path):
    from galvasr.decode.stage import run_decode

    root = tmp_path / "corpus"
    shutil.copytree(GOOD, root / "good")
    (root / "catalog.jsonl").write_text(
        json.dumps(item_line("good", ["thessalonians.wav", "thessalonians.srt"])) + "\n"
    )
    config = Config(ingest=IngestConfig(items_dir="."))
    run = str(tmp_path / "run")
    run_ingest(spark, str(root), run, config.ingest)
    run_decode(spark, str(root), run, config.decode)
    [row] = read_table(spark, run, CATALOG).collect()
    assert row.audio_path == "good/thessalonians.wav"
    assert [r.audio_id for r in read_table(spark, run, AUDIO).collect()] == [row.audio_id]
    assert not read_table(spark, run, REJECTS).where("cue_index is null").collect()


# ------------------------------------------------------ what no rule foresaw


def _boom(*args, **kwargs):
    raise RuntimeError("cannot parse /tmp/spark-1234/secret/dir/a.srt at all")


def test_a_cue_whose_cleaning_raises_is_dropped_alone(monkeypatch):
    real = subtitles.clean_cue_text

    def clean(raw: str) -> str:
        if "Word was with" in raw:
            raise RuntimeError("boom")
        return real(raw)

    monkeypatch.setattr(subtitles, "clean_cue_text", clean)
    parsed = subtitles.parse_subtitle(SRT, "a.srt")
    assert isinstance(parsed, subtitles.Subtitle)
    assert [c.index for c in parsed.cues] == [0]
    assert {(d.index, d.reason) for d in parsed.dropped} == {
        (1, "cue:no-speech-text"), (2, "internal:RuntimeError"),
    }  # fmt: skip


def test_a_subtitle_whose_parser_raises_refuses_its_pair_alone(tmp_path: Path, monkeypatch):
    root = tmp_path / "corpus"
    (root / "items" / "x").mkdir(parents=True)
    for name in ("a.mp3", "b.mp3"):
        (root / "items" / "x" / name).write_bytes(b"audio")
    for name in ("a.srt", "b.srt"):
        (root / "items" / "x" / name).write_bytes(SRT)
    real = ingest_stage.parse_subtitle
    monkeypatch.setattr(
        ingest_stage, "parse_subtitle",
        lambda data, name: _boom() if name == "b.srt" else real(data, name),
    )  # fmt: skip
    out = ingest_item(_item(item_line("x", ["a.mp3", "a.srt", "b.mp3", "b.srt"])),
                      LocalCorpus(str(root)), IngestConfig())  # fmt: skip
    assert [r.audio_file for r in out.catalog] == ["a.mp3"]
    assert {(r.file_name, r.reason) for r in out.rejects if r.cue_index is None} == {
        ("b.mp3", "internal:RuntimeError"), ("b.srt", "internal:RuntimeError"),
    }  # fmt: skip
    detail = next(r.detail for r in out.rejects if r.file_name == "b.mp3")
    assert "a.srt" in detail and "/tmp" not in detail and "spark-1234" not in detail
    assert "Traceback" not in detail


def test_an_item_whose_logic_raises_refuses_each_of_its_files(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(ingest_stage, "ingest_item", _boom)
    item = _item(item_line("x", ["a.mp3", "a.srt", "cover.jpg"]), 5)
    records = list(ingest_stage._item_records([("x", [item])], str(tmp_path), IngestConfig()))
    rejects = [dict(zip(REJECTS.columns, v, strict=True)) for k, v in records if k == "reject"]
    assert {(r["file_name"], r["reason"], r["line_number"]) for r in rejects} == {
        ("a.mp3", "internal:RuntimeError", 5), ("a.srt", "internal:RuntimeError", 5),
    }  # fmt: skip
    assert {r["audio_id"] for r in rejects if r["file_name"] == "a.mp3"} == {
        keys.audio_id("x", "a.mp3")
    }
    assert ("count", "ignored_files") in records


def test_a_line_whose_parsing_raises_is_rejected_with_its_number(monkeypatch):
    monkeypatch.setattr(ingest_stage, "parse_catalog_line", _boom)
    records = list(ingest_stage._parsed_records(('{"metadata": {}}', 11)))
    [reject] = [dict(zip(REJECTS.columns, v, strict=True)) for k, v in records if k == "reject"]
    assert (reject["reason"], reject["line_number"]) == ("internal:RuntimeError", 12)

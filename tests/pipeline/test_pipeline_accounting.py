"""Ingest and decode on the sample corpus: every catalog file is accounted for.

The corpus's manifest.json is the oracle: for each audio file of each item it
says "keep" or the reason it must be rejected for (a planted fault). After
both stages, each kept file is in ``audio`` with its chunks, each faulty one
in ``rejects`` with exactly the expected reason, and nothing is in both or
neither. A second run gives identical tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from galvasr.config import Config
from galvasr.decode.stage import run_decode
from galvasr.ingest.stage import run_ingest
from galvasr.schemas import AUDIO, CATALOG, CHUNKS, REJECTS, TRANSCRIPTS
from galvasr.tables import read_table

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
MANIFEST = SAMPLE / "manifest.json"
pytestmark = pytest.mark.skipif(
    not MANIFEST.exists(), reason="no sample corpus: run `galvasr sample-corpus` first"
)


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    config = Config()
    out = []
    for name in ("first", "second"):
        root = str(tmp_path_factory.mktemp(name))
        run_ingest(spark, str(SAMPLE), root, config.ingest)
        summary = run_decode(spark, str(SAMPLE), root, config.decode)
        out.append((root, summary))
    return out


def _expected() -> dict[tuple[str, str], tuple[str, dict]]:
    manifest = json.loads(MANIFEST.read_text())
    return {
        (item["identifier"], f["audio_file"]): (f["expected"], f["audio"])
        for item in manifest["items"]
        for f in item["files"]
    }


def test_every_catalog_file_is_decoded_or_rejected_with_the_expected_reason(spark, runs):
    root, summary = runs[0]
    catalog = {
        r.audio_id: (r.identifier, r.audio_file) for r in read_table(spark, root, CATALOG).collect()
    }
    audio = {r.audio_id: r for r in read_table(spark, root, AUDIO).collect()}
    rejects = read_table(spark, root, REJECTS).collect()
    decode_rejects = {r.audio_id: r.reason for r in rejects if r.stage == "decode"}

    # Each catalog file in exactly one of audio and the decode rejects; nothing else there.
    assert not set(audio) & set(decode_rejects)
    assert set(audio) | set(decode_rejects) == set(catalog)
    assert summary.files == len(catalog) and summary.decoded == len(audio)

    # The oracle: "keep" files are decoded; the others rejected for exactly their fault.
    reasons_of: dict[tuple[str, str], set[str]] = {}
    for r in rejects:
        if r.file_name is not None:
            reasons_of.setdefault((r.identifier, r.file_name), set()).add(r.reason)
    kept = {catalog[a] for a in audio}
    for key, (expected, _) in _expected().items():
        if expected == "keep":
            assert key in kept, key
            assert key not in reasons_of, (key, reasons_of.get(key))
        else:
            assert key not in kept, key
            assert reasons_of.get(key) == {expected}, (key, reasons_of.get(key))


def test_kept_files_have_their_measured_duration_and_all_their_chunks(spark, runs):
    root, summary = runs[0]
    catalog = {
        r.audio_id: (r.identifier, r.audio_file) for r in read_table(spark, root, CATALOG).collect()
    }
    expected = _expected()
    chunk_index = {}
    for r in read_table(spark, root, CHUNKS).select("audio_id", "chunk_index").collect():
        chunk_index.setdefault(r.audio_id, []).append(r.chunk_index)
    for row in read_table(spark, root, AUDIO).collect():
        truth = expected[catalog[row.audio_id]][1]
        # Lossy codecs pad a little (AAC, Vorbis priming); MP3 delay is trimmed.
        assert abs(row.duration_ms - truth["duration_ms"]) <= 50, (catalog[row.audio_id], row)
        assert row.source_sample_rate == truth["sample_rate"]
        assert row.source_channels == truth["channels"]
        assert sorted(chunk_index[row.audio_id]) == list(range(row.num_chunks))
    assert summary.padding["padding_fraction"] < 0.03


def _table(spark, root, table):
    from pyspark.sql import functions as F

    df = read_table(spark, root, table)
    if table is CHUNKS:  # compare the PCM by digest, not 100 MB of rows
        df = df.withColumn("pcm", F.sha2(F.col("pcm"), 256))
    return sorted(tuple(r) for r in df.collect())


def test_a_second_run_gives_identical_tables(spark, runs):
    (first, summary1), (second, summary2) = runs
    for table in (CATALOG, TRANSCRIPTS, REJECTS, AUDIO, CHUNKS):
        assert _table(spark, first, table) == _table(spark, second, table), table.name
    assert summary1 == summary2

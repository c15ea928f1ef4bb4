"""The decode stage end to end on a tiny corpus with one of every fault."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from galvasr.config import DecodeConfig
from galvasr.decode import audio
from galvasr.decode import stage as decode
from galvasr.schemas import AUDIO, CATALOG, CHUNKS, REJECTS, CatalogRow
from galvasr.tables import read_table, write_table

REPO = Path(__file__).resolve().parents[2]

# Small windows so that a few seconds of audio make several chunks.
CONFIG = DecodeConfig(
    window_ms=4_000,
    context_ms=500,
    bucket_edges_ms=(1_000, 2_000, 3_000, 4_500),
    max_duration_ms=12_000,
    chunks_per_file=2,
)
CONFIG_TOML = """[decode]
window_ms = 4000
context_ms = 500
bucket_edges_ms = [1000, 2000, 3000, 4500]
max_duration_ms = 12000
chunks_per_file = 2
"""


def _tone(seconds: float, rate: int, hz: float) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 6000).astype(np.int16)


def _corpus(tmp_path):
    """(corpus dir, catalog rows, expected reason or None per audio_id).

    Decode reads each file at the catalog's ``audio_path``: most are under
    items/<identifier>/ as ingest lays them out, one is elsewhere (decode
    knows nothing of that layout), and some paths are hostile.
    """
    corpus = tmp_path / "corpus"
    files = {}  # audio_id -> (identifier, audio_file, audio_path, expected reason)

    def put(audio_id, identifier, name, reason, write=None, path=None):
        path = path or f"items/{identifier}/{name}"
        files[audio_id] = (identifier, name, path, reason)
        if write is not None:
            full = corpus / path
            full.parent.mkdir(parents=True, exist_ok=True)
            write(full)

    put(1, "talk", "a.mp3", None,
        lambda p: audio.encode_file(p, np.stack([_tone(9.5, 44_100, 300)] * 2), 44_100,
                                    codec="libmp3lame"))  # fmt: skip
    put(
        2,
        "talk",
        "sub/b.flac",
        None,
        lambda p: audio.encode_file(p, _tone(0.7, 22_050, 500), 22_050),
    )
    put(3, "garbage", "g.mp3", audio.UNDECODABLE,
        lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)))  # fmt: skip
    put(
        4,
        "silent",
        "s.flac",
        audio.SILENT,
        lambda p: audio.encode_file(p, np.zeros(8000, np.int16), 16_000),
    )
    put(
        5,
        "long",
        "l.flac",
        audio.TOO_LONG,
        lambda p: audio.encode_file(p, _tone(13, 16_000, 200), 16_000),
    )
    put(6, "zero", "z.mp3", audio.EMPTY, lambda p: p.write_bytes(b""))
    put(7, "gone", "m.mp3", audio.MISSING)
    put(8, "talk", "../garbage/g.mp3", decode.BAD_PATH)
    put(9, "elsewhere", "e.flac", None, path="media/elsewhere/e.flac",
        write=lambda p: audio.encode_file(p, _tone(0.5, 16_000, 400), 16_000))  # fmt: skip
    put(10, "fifo", "f.mp3", audio.MISSING, write=os.mkfifo)  # never opened: it would block
    put(11, "linky", "l.mp3", decode.BAD_PATH,
        write=lambda p: p.symlink_to(tmp_path / "outside.mp3"))  # fmt: skip
    (tmp_path / "outside.mp3").write_bytes((corpus / "items/talk/a.mp3").read_bytes())
    put(12, "loop", "o.mp3", audio.UNDECODABLE, write=lambda p: p.symlink_to(p.name))
    rows = [
        CatalogRow(
            audio_id=audio_id,
            identifier=identifier,
            audio_file=name,
            audio_path=path,
            subtitle_file="x.srt",
            audio_size_bytes=None,
            title=None,
            creator=None,
            license="cc-by",
            license_url="",
            language=None,
            date=None,
            source_url=None,
        )  # fmt: skip
        for audio_id, (identifier, name, path, _) in files.items()
    ]
    return corpus, rows, {a: r for a, (_, _, _, r) in files.items()}


@pytest.fixture(scope="module")
def decoded(spark, tmp_path_factory):
    """(corpus, run root, expected reasons, summary) of one in-process run."""
    tmp_path = tmp_path_factory.mktemp("decode")
    corpus, rows, expected = _corpus(tmp_path)
    root = str(tmp_path / "run")
    catalog = spark.createDataFrame([CATALOG.to_dict(r) for r in rows], CATALOG.spark)
    write_table(catalog, root, CATALOG)
    summary = decode.run_decode(spark, str(corpus), root, CONFIG)
    return corpus, root, expected, summary


def _sorted(spark, root, table):
    return sorted(tuple(r) for r in read_table(spark, root, table).collect())


def test_every_catalog_file_is_decoded_or_rejected_with_its_reason(spark, decoded):
    _, root, expected, summary = decoded
    kept = {r.audio_id for r in read_table(spark, root, AUDIO).collect()}
    rejects = read_table(spark, root, REJECTS).collect()
    assert {r.audio_id: r.reason for r in rejects} == {
        a: reason for a, reason in expected.items() if reason
    }
    assert all(r.stage == "decode" and r.detail for r in rejects)
    assert kept == {a for a, reason in expected.items() if reason is None}
    assert summary.files == 12 and summary.decoded == 3 and sum(summary.rejected.values()) == 9


def test_chunks_put_the_whole_file_back_together(spark, decoded):
    corpus, root, _, summary = decoded
    lengths = decode.DecodePlan.from_config(CONFIG).lengths
    audio_rows = {r.audio_id: r for r in read_table(spark, root, AUDIO).collect()}
    chunks = sorted(
        read_table(spark, root, CHUNKS).collect(), key=lambda r: (r.audio_id, r.chunk_index)
    )
    for audio_id, path in ((1, "items/talk/a.mp3"), (2, "items/talk/sub/b.flac"),
                           (9, "media/elsewhere/e.flac")):  # fmt: skip
        pcm = np.concatenate(list(audio.decode_pcm16k(str(corpus / path))))
        mine = [c for c in chunks if c.audio_id == audio_id]
        assert [c.chunk_index for c in mine] == list(range(len(mine)))
        assert audio_rows[audio_id].num_samples == len(pcm) == sum(c.num_samples for c in mine)
        assert audio_rows[audio_id].num_chunks == len(mine)
        for c in mine:
            x = np.frombuffer(c.pcm, dtype="<i2")
            assert len(x) == c.bucket_samples == lengths[c.bucket]
            first = c.start_sample - c.context_before_samples
            used = c.context_before_samples + c.num_samples + c.context_after_samples
            assert np.array_equal(x[:used], pcm[first : first + used])
            assert not x[used:].any()
    assert audio_rows[1].duration_ms == 9_500 and audio_rows[1].source_codec.startswith("mp3")
    assert (audio_rows[1].source_sample_rate, audio_rows[1].source_channels) == (44_100, 2)
    # 9.5 s: 4 + 4 + 1.5 s owned. The first chunk has no context before it
    # (4.5 s bucket), the middle one both (5 s, full), the last 0.5 + 1.5 s (2 s).
    assert [(c.num_samples, c.bucket_samples) for c in chunks if c.audio_id == 1] == [
        (64_000, 72_000), (64_000, 80_000), (24_000, 32_000)
    ]  # fmt: skip
    assert summary.chunks == len(chunks) == 5
    padded = sum(c.bucket_samples - c.context_before_samples - c.num_samples
                 - c.context_after_samples for c in chunks)  # fmt: skip
    assert summary.padding["padded_samples"] == padded


def test_chunk_files_are_partitioned_by_bucket_and_bounded(decoded):
    _, root, _, _ = decoded
    files = sorted((Path(root) / "chunks").glob("bucket=*/*.parquet"))
    assert {f.parent.name for f in files} == {"bucket=0", "bucket=1", "bucket=3", "bucket=4"}
    assert all(pq.ParquetFile(f).metadata.num_rows <= CONFIG.chunks_per_file for f in files)


def test_config_refuses_lengths_off_the_model_frame():
    with pytest.raises(ValueError, match="20 ms"):
        dataclasses.replace(CONFIG, context_ms=510)


def test_a_second_run_under_spark_submit_writes_identical_tables(spark, decoded, tmp_path):
    corpus, first, _, _ = decoded
    root = tmp_path / "submitted"
    write_table(read_table(spark, first, CATALOG), str(root), CATALOG)
    (tmp_path / "run.toml").write_text(CONFIG_TOML)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]",
         "--conf", "spark.ui.enabled=false", str(REPO / "jobs" / "decode.py"),
         "--corpus", str(corpus), "--root", str(root), "--config", str(tmp_path / "run.toml")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads([x for x in done.stdout.splitlines() if x.startswith("{")][-1])
    assert summary["files"] == 12 and summary["decoded"] == 3 and summary["chunks"] == 5
    for table in (CHUNKS, AUDIO, REJECTS):
        assert _sorted(spark, str(root), table) == _sorted(spark, first, table)


def test_a_corpus_on_gcs_decodes_like_a_local_one(decoded, gcs_emulator, gcs_bucket):
    from galvasr.corpus_files import open_corpus
    from galvasr.storage import open_store

    corpus, _, _, _ = decoded
    plan = decode.DecodePlan.from_config(CONFIG)
    url = f"gs://{gcs_bucket}/decode-corpus"
    store = open_store(url, client=gcs_emulator.client())
    for path in ("items/talk/a.mp3", "items/garbage/g.mp3"):
        store.write_bytes(path, (corpus / path).read_bytes())
    gcs = open_corpus(url, client=gcs_emulator.client())
    for identifier, name in (("talk", "a.mp3"), ("garbage", "g.mp3"), ("gone", "m.mp3"),
                             ("talk", "../garbage/g.mp3")):  # fmt: skip
        path = f"items/{identifier}/{name}"
        local = list(decode.decode_file(1, identifier, name, path, open_corpus(str(corpus)), plan))
        remote = list(decode.decode_file(1, identifier, name, path, gcs, plan))
        assert [type(r) for r in remote] == [type(r) for r in local]
        assert [r for r in remote if not hasattr(r, "detail")] == [
            r for r in local if not hasattr(r, "detail")
        ]
        assert [getattr(r, "reason", None) for r in remote] == [
            getattr(r, "reason", None) for r in local
        ]


@pytest.mark.parametrize(
    ("files", "partitions"), [(0, 1), (1, 1), (13, 13), (14, 3), (200, 7), (50, 1)]
)
def test_tasks_are_the_ranges_spark_would_cut(spark, files, partitions):
    """plan_tasks cuts the catalog as repartitionByRange on (size desc, audio_id) does."""
    import random

    from pyspark.sql import functions as F

    c = CATALOG.c
    rng = random.Random(files)
    sizes = [None, 0, 5, 5, 100]  # ties and nulls (as 0) too
    rows = [(rng.randrange(-(2**63), 2**63), rng.choice([*sizes, rng.randrange(10**9)]))
            for _ in range(files)]  # fmt: skip
    df = spark.createDataFrame(rows, f"{c.audio_id} long, {c.audio_size_bytes} long")
    order = (F.coalesce(F.col(c.audio_size_bytes), F.lit(0)).desc(), F.col(c.audio_id))
    by_spark = df.repartitionByRange(partitions, *order).rdd.glom().collect()
    tasks = decode.plan_tasks(df.collect(), partitions)
    assert [sorted(r[c.audio_id] for r in t) for t in tasks] == [
        sorted(r[c.audio_id] for r in p) for p in by_spark
    ]
    for task in tasks:  # largest first within a task too
        keys = [(-(r[c.audio_size_bytes] or 0), r[c.audio_id]) for r in task]
        assert keys == sorted(keys)

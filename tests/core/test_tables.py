import pytest

from galvasr import schemas
from galvasr.tables import SchemaMismatch, read_table, reject_frame, write_table


def _reject(stage: str, reason: str) -> schemas.RejectRow:
    return schemas.RejectRow(
        stage=stage, reason=reason, detail=None, identifier="item", file_name="a.mp3",
        audio_id=1, cue_index=None, line_number=None,
    )  # fmt: skip


def _types(schema):
    """Names and types; Spark reads every Parquet column back as nullable."""
    return [(f.name, f.dataType) for f in schema.fields]


def test_rejects_are_overwritten_per_stage(spark, tmp_path):
    root = str(tmp_path)
    t = schemas.REJECTS
    write_table(spark.createDataFrame([t.to_dict(_reject("ingest", "a"))], t.spark),
                root, t, stage="ingest")  # fmt: skip
    write_table(spark.createDataFrame([t.to_dict(_reject("decode", "b"))], t.spark),
                root, t, stage="decode")  # fmt: skip
    write_table(spark.createDataFrame([t.to_dict(_reject("ingest", "c"))], t.spark),
                root, t, stage="ingest")  # fmt: skip
    df = read_table(spark, root, t)
    assert _types(df.schema) == _types(t.spark)
    rows = sorted((r.stage, r.reason) for r in df.collect())
    assert rows == [("decode", "b"), ("ingest", "c")]


def test_partitioned_table_round_trip(spark, tmp_path):
    t = schemas.CHUNKS
    rows = [
        schemas.ChunkRow(
            audio_id=i,
            chunk_index=0,
            bucket=i % 2,
            bucket_samples=4,
            start_sample=0,
            num_samples=4,
            context_before_samples=0,
            context_after_samples=0,
            pcm=b"\x00" * 8,
        )  # fmt: skip
        for i in range(5)
    ]
    write_table(spark.createDataFrame([t.to_dict(r) for r in rows], t.spark), str(tmp_path), t)
    assert (tmp_path / "chunks" / "bucket=1").is_dir()
    back = read_table(spark, str(tmp_path), t)
    assert _types(back.schema) == _types(t.spark)
    assert sorted(r.audio_id for r in back.collect()) == list(range(5))


def test_missing_table_reads_empty_and_bad_frames_are_refused(spark, tmp_path):
    assert read_table(spark, str(tmp_path), schemas.CATALOG).count() == 0
    with pytest.raises(SchemaMismatch, match="missing columns"):
        write_table(spark.createDataFrame([(1,)], "audio_id long"), str(tmp_path), schemas.CATALOG)


def test_reject_frame_makes_the_rows_reject_row_makes(spark):
    df = spark.createDataFrame(
        [("too-low", "y" * 1500, "item", 7, 70), ("dup", None, "item2", 8, 80)],
        "why string, text string, identifier string, audio_id long, segment_id long",
    )
    frame = reject_frame(df, "release", reason="why", detail="text", identifier="identifier",
                         audio_id="audio_id", segment_id=df["segment_id"])  # fmt: skip
    assert _types(frame.schema) == _types(schemas.REJECTS.spark)
    got = [schemas.RejectRow(**r.asDict()) for r in frame.orderBy("reason").collect()]
    assert got == [
        schemas.reject_row("release", "dup", None, identifier="item2", audio_id=8, segment_id=80),
        schemas.reject_row("release", "too-low", "y" * 1500, identifier="item", audio_id=7,
                           segment_id=70),
    ]  # fmt: skip
    with pytest.raises(SchemaMismatch):
        reject_frame(df, "release", reason="why", file="text")
    with pytest.raises(SchemaMismatch):
        reject_frame(df, "release", reason="why", stage="why")
    with pytest.raises(SchemaMismatch):
        reject_frame(df, "release", detail="text")

import dataclasses

import pyarrow as pa
import pytest

from galvasr import schemas
from galvasr.schemas import TABLES


@pytest.mark.parametrize("name", sorted(TABLES))
def test_spark_and_arrow_schemas_agree(spark, name):
    """Spark's own Arrow conversion of the Spark schema gives back the Arrow twin."""
    from pyspark.sql.pandas.types import to_arrow_schema

    table = TABLES[name]
    assert table.spark.fieldNames() == list(table.arrow.names)
    round_trip = to_arrow_schema(table.spark)
    assert round_trip.names == table.arrow.names
    for ours, spark_field in zip(table.arrow, round_trip, strict=True):
        assert ours.type == spark_field.type, name
        assert ours.nullable == spark_field.nullable, name


@pytest.mark.parametrize("name", sorted(TABLES))
def test_empty_dataframe_has_the_declared_schema(spark, name):
    table = TABLES[name]
    df = spark.createDataFrame([], table.spark)
    assert df.schema == table.spark


def test_required_tables_and_keys():
    for name in ("catalog", "transcripts", "rejects", "chunks", "logits", "alignments", "segments"):
        assert name in TABLES
    assert TABLES["catalog"].arrow.field("audio_id").type == pa.int64()
    assert TABLES["chunks"].arrow.field("chunk_index").type == pa.int32()
    assert TABLES["segments"].arrow.field("segment_id").type == pa.int64()
    assert not TABLES["chunks"].arrow.field("audio_id").nullable


def test_columns_reject_typos():
    assert schemas.CHUNKS.c.audio_id == "audio_id"
    with pytest.raises(AttributeError):
        _ = schemas.CHUNKS.c.audio_idd


def test_to_arrow_round_trip():
    row = schemas.TranscriptRow(
        audio_id=-5, cue_index=0, start_ms=10, end_ms=20, text_raw="<i>hi</i>", text="hi"
    )
    table = schemas.TRANSCRIPTS.to_arrow([row])
    assert table.schema == schemas.TRANSCRIPTS.arrow
    assert table.to_pylist()[0]["text_raw"] == "<i>hi</i>"
    with pytest.raises(TypeError):
        schemas.CATALOG.to_arrow([row])


def test_reject_row_names_what_it_is_about_and_nulls_the_rest():
    row = schemas.reject_row("decode", "audio:silent", "x" * 2000, identifier="i", audio_id=3)
    assert row == schemas.RejectRow(
        stage="decode", reason="audio:silent", detail="x" * schemas.MAX_DETAIL_CHARS,
        identifier="i", file_name=None, audio_id=3, cue_index=None, line_number=None,
        segment_id=None,
    )  # fmt: skip
    line = schemas.reject_row("ingest", "catalog:malformed-line", None, line_number=4)
    assert line.detail is None and line.line_number == 4


def test_a_list_of_rows_is_a_list_of_structs_nullable_inside():
    words = schemas.SEGMENTS.arrow.field("words")
    assert not words.nullable
    element = words.type.value_field
    assert element.nullable and pa.types.is_struct(element.type)
    assert [(f.name, f.type, f.nullable) for f in element.type] == [
        ("word", pa.string(), True),
        ("text", pa.string(), True),
        ("start_ms", pa.int64(), True),
        ("end_ms", pa.int64(), True),
        ("score", pa.float64(), True),
    ]
    assert schemas.ALIGNMENTS.arrow.field("words") == words
    row = schemas.WordRow(word="hello", text="Hello,", start_ms=10, end_ms=300, score=-0.1)
    seg = schemas.SegmentRow(segment_id=1, audio_id=2, identifier="i", start_ms=0, end_ms=1000,
                             duration_ms=1000, text="Hello,", text_normalized="hello", score=-0.1,
                             cer=0.0, llr=-0.05, license="cc-by", flac=b"",
                             words=(row,))  # fmt: skip
    assert schemas.SEGMENTS.to_arrow([seg]).to_pylist()[0]["words"] == [dataclasses.asdict(row)]


def test_a_list_column_must_be_a_tuple_of_rows():
    @dataclasses.dataclass(frozen=True)
    class Bad:
        values: tuple[int, ...]

    with pytest.raises(TypeError, match="tuple\\[Row, ...\\]"):
        schemas.arrow_schema(Bad)


def test_an_unforeseen_exception_becomes_a_short_reason_and_detail():
    """internal:<ExceptionType>, the message without directories or addresses, and where
    it was raised: no traceback, no path beyond a file's own name."""
    from galvasr.schemas import unforeseen

    def parse() -> None:
        raise ValueError(f"cannot read /tmp/spark-9/secret dir/x/a.srt near {object()}\nline 2")

    try:
        parse()
    except ValueError as e:
        reason, detail = unforeseen(e)
    assert reason == "internal:ValueError"
    assert detail.startswith("ValueError: cannot read ")
    assert "a.srt" in detail and "/tmp" not in detail and "spark-9" not in detail
    assert "\n" not in detail and "Traceback" not in detail
    assert "0x..." in detail
    assert "(in parse, test_schemas.py:" in detail
    assert unforeseen(KeyError("x")) == ("internal:KeyError", "KeyError: 'x'")
    assert len(unforeseen(RuntimeError("y" * 5000))[1]) < 400

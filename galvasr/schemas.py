"""Every table galvasr writes, declared once.

A table is a frozen dataclass whose fields are the columns. Each field's type
is an ``Annotated`` alias that carries its Arrow type; the Spark schema is
derived from the Arrow one, so the two cannot drift apart. Stages import the
``Table`` objects below and refer to columns through ``TABLE.c.<name>``, which
fails loudly on a misspelt column instead of producing an empty join.

Units travel in names: ``_ms`` milliseconds, ``_samples`` PCM samples at
16 kHz, ``_frames`` acoustic-model output frames, ``_bytes`` bytes.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import pyarrow as pa

Int64 = Annotated[int, pa.int64()]
Int32 = Annotated[int, pa.int32()]
Float64 = Annotated[float, pa.float64()]
Float32 = Annotated[float, pa.float32()]
Bool = Annotated[bool, pa.bool_()]
Str = Annotated[str, pa.string()]
Bytes = Annotated[bytes, pa.binary()]

SAMPLE_RATE = 16_000
"""Every decoded PCM column in galvasr is 16 kHz mono int16 little-endian."""


# ---------------------------------------------------------------- row types


@dataclass(frozen=True)
class CatalogRow:
    """One kept audio file of a catalog item, paired with its subtitle file."""

    audio_id: Int64  # deterministic hash of (identifier, audio_file)
    identifier: Str  # archive.org item identifier
    audio_file: Str  # path of the audio file inside the item, as the catalog names it
    audio_path: Str  # where ingest found it: relative to the corpus root, checked safe
    subtitle_file: Str
    audio_size_bytes: Int64 | None
    title: Str | None
    creator: Str | None
    license: Str  # one of galvasr.licenses.LICENSES
    license_url: Str
    language: Str | None
    date: Str | None
    source_url: Str | None


@dataclass(frozen=True)
class TranscriptRow:
    """One subtitle cue of a kept audio file."""

    audio_id: Int64
    cue_index: Int32  # position of the cue in its file, from 0, in start order
    start_ms: Int64
    end_ms: Int64
    text_raw: Str  # as the subtitle file had it, markup and all
    text: Str  # markup removed; what a reader would see


@dataclass(frozen=True)
class RejectRow:
    """Anything a stage dropped, and why. Every input row ends in a table or here."""

    stage: Str  # ingest, decode, infer, align, release
    reason: Str  # short machine-readable reason, e.g. "license:cc-by-nc"
    detail: Str | None  # human-readable explanation
    identifier: Str | None
    file_name: Str | None
    audio_id: Int64 | None
    cue_index: Int32 | None
    line_number: Int64 | None  # line in the catalog, for malformed catalog lines
    segment_id: Int64 | None = None  # for a segment that was cut (align) or not released


MAX_DETAIL_CHARS = 1000
"""A reject's ``detail`` is cut to this many characters."""


def reject_row(
    stage: str,
    reason: str,
    detail: str | None,
    *,
    identifier: str | None = None,
    file_name: str | None = None,
    audio_id: int | None = None,
    cue_index: int | None = None,
    line_number: int | None = None,
    segment_id: int | None = None,
) -> RejectRow:
    """The one way a reject row is made (its Spark twin: galvasr.tables.reject_frame).

    Name what the row is about and leave the rest null; ``detail`` is cut to
    :data:`MAX_DETAIL_CHARS`.
    """
    return RejectRow(
        stage=stage,
        reason=reason,
        detail=None if detail is None else detail[:MAX_DETAIL_CHARS],
        identifier=identifier,
        file_name=file_name,
        audio_id=audio_id,
        cue_index=cue_index,
        line_number=line_number,
        segment_id=segment_id,
    )


INTERNAL = "internal"
"""Reason prefix of a reject no rule foresaw: ``internal:<ExceptionType>``."""

MAX_INTERNAL_MESSAGE_CHARS = 300
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")  # an object's address in a repr
# A directory part of an absolute path ("/tmp/spark-1/x/" of "/tmp/spark-1/x/a.mp3").
_DIRECTORIES = re.compile(r"(?<![\w.~-])(?:[A-Za-z]:)?[/\\](?:[^/\\\s'\"]*[/\\])+")


def unforeseen(error: BaseException) -> tuple[str, str]:
    """``(reason, detail)`` of a reject for an exception no rule of a stage foresaw.

    Every per-file, per-item and per-cue function of a stage catches what it
    did not foresee and rejects that one input with this, so that one bad
    input never stops a run. The reason is ``internal:<ExceptionType>``; the
    detail is the exception's message (absolute paths shortened to their last
    component, objects' addresses blanked, cut to
    :data:`MAX_INTERNAL_MESSAGE_CHARS`) and the function, file name and line
    where it was raised; never a traceback.
    """
    kind = type(error).__name__
    message = _DIRECTORIES.sub("", str(error)).replace("\n", " ").strip()
    message = _ADDRESS.sub("0x...", message)  # "<object at 0x7f...>": the same every run
    if len(message) > MAX_INTERNAL_MESSAGE_CHARS:
        message = message[: MAX_INTERNAL_MESSAGE_CHARS - 3] + "..."
    where = ""
    tb = error.__traceback__
    if tb is not None:
        while tb.tb_next is not None:
            tb = tb.tb_next
        code = tb.tb_frame.f_code
        where = f" (in {code.co_name}, {os.path.basename(code.co_filename)}:{tb.tb_lineno})"
    return f"{INTERNAL}:{kind}", f"{kind}: {message or 'no message'}{where}"


@dataclass(frozen=True)
class AudioRow:
    """What decode measured of each decoded audio file."""

    audio_id: Int64
    num_samples: Int64  # after resampling to 16 kHz mono
    duration_ms: Int64
    source_sample_rate: Int32
    source_channels: Int32
    source_codec: Str
    num_chunks: Int32


@dataclass(frozen=True)
class ChunkRow:
    """A fixed-length window of decoded audio, padded to its bucket's length.

    ``pcm`` holds ``bucket_samples`` int16 samples: ``context_before_samples``
    of left context, ``num_samples`` of audio this window owns, then right
    context, then zero padding. Stitching keeps only the owned part.
    """

    audio_id: Int64
    chunk_index: Int32
    bucket: Int32  # index into the bucket table; the partition column
    bucket_samples: Int32  # padded length of every window in this bucket
    start_sample: Int64  # first owned sample, counted from the start of the file
    num_samples: Int32  # owned samples
    context_before_samples: Int32
    context_after_samples: Int32
    pcm: Bytes  # int16 little-endian, bucket_samples long


@dataclass(frozen=True)
class LogitsRow:
    """CTC log-probabilities of one window, as the accelerator stage wrote them.

    ``logprobs`` is a row-major ``[num_frames, vocab_size]`` array in the
    encoding named by ``encoding`` (see galvasr.model for the contract:
    blank index, frame stride and vocabulary travel with ``model_version``).
    """

    audio_id: Int64
    chunk_index: Int32
    bucket: Int32
    model_version: Str
    num_frames: Int32  # frames covering the whole window, context included
    vocab_size: Int32
    encoding: Str  # "float16" or "uint8q"
    logprobs: Bytes


@dataclass(frozen=True)
class WordRow:
    """One word of a cue, where the aligner found it: an element of a ``words`` column.

    Its times come from the CTC path: the first frame of its first letter's
    spike, and just past its last letter's spike(s) (no pads, no snapping).
    """

    word: Str  # in the model's alphabet, as in text_normalized
    # As the cue's text writes it (case and punctuation kept); null unless the
    # cue's text and its normalized text pair word for word.
    text: Str | None
    start_ms: Int64
    end_ms: Int64
    score: Float64  # mean log-probability along the path over the word's frames


@dataclass(frozen=True)
class AlignmentRow:
    """Where one cue was found in its audio."""

    audio_id: Int64
    cue_index: Int32
    start_ms: Int64
    end_ms: Int64
    score: Float64  # ctc-segmentation confidence (log-probability per character)
    cer: Float64  # greedy decode of the span against text_normalized
    # Per-character log-likelihood ratio of the text against the model's free
    # decode of the same frames (galvasr.align.gates): 0 when heard exactly,
    # below -ln(letters) when less likely than chance; NaN for an empty span.
    llr: Float64
    text_raw: Str
    text: Str
    text_normalized: Str  # in the model's alphabet
    decoded: Str  # greedy CTC decode of the aligned span
    words: tuple[WordRow, ...] = ()  # the words of text_normalized, in the file's time


@dataclass(frozen=True)
class SegmentRow:
    """A ~15 s piece of audio with its text: a row of the dataset."""

    segment_id: Int64
    audio_id: Int64
    identifier: Str
    start_ms: Int64
    end_ms: Int64
    duration_ms: Int64
    text: Str
    text_normalized: Str
    score: Float64  # lowest cue score in the segment
    cer: Float64
    llr: Float64  # lowest cue llr in the segment (see AlignmentRow.llr)
    license: Str
    flac: Bytes  # 16 kHz mono FLAC
    # The words of text_normalized; times relative to the segment's start_ms.
    words: tuple[WordRow, ...] = ()


# ------------------------------------------------------------------- tables


class Columns:
    """Attribute access to a table's column names; a typo raises AttributeError."""

    def __init__(self, names: tuple[str, ...]):
        self._names = frozenset(names)

    def __getattr__(self, name: str) -> str:
        if name.startswith("_") or name not in self._names:
            raise AttributeError(f"no column {name!r}")
        return name


@dataclass(frozen=True)
class Table:
    name: str
    row: type
    partition_by: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.row))

    @property
    def c(self) -> Any:
        return Columns(self.columns)

    @property
    def arrow(self) -> pa.Schema:
        return arrow_schema(self.row)

    @property
    def spark(self) -> Any:  # pyspark.sql.types.StructType; imported lazily
        return spark_schema(self.arrow)

    def to_dict(self, row: Any) -> dict[str, Any]:
        if not isinstance(row, self.row):
            raise TypeError(f"{self.name} expects {self.row.__name__}, got {type(row).__name__}")
        return dataclasses.asdict(row)  # type: ignore[call-overload]

    def to_arrow(self, rows: list[Any]) -> pa.Table:
        """Rows (dataclass instances) to an Arrow table with exactly this schema."""
        return pa.Table.from_pylist([self.to_dict(r) for r in rows], schema=self.arrow)


CATALOG = Table("catalog", CatalogRow)
TRANSCRIPTS = Table("transcripts", TranscriptRow)
REJECTS = Table("rejects", RejectRow, partition_by=("stage",))
AUDIO = Table("audio", AudioRow)
CHUNKS = Table("chunks", ChunkRow, partition_by=("bucket",))
LOGITS = Table("logits", LogitsRow, partition_by=("bucket",))
ALIGNMENTS = Table("alignments", AlignmentRow)
SEGMENTS = Table("segments", SegmentRow)

TABLES: Mapping[str, Table] = {
    t.name: t for t in (CATALOG, TRANSCRIPTS, REJECTS, AUDIO, CHUNKS, LOGITS, ALIGNMENTS, SEGMENTS)
}


# -------------------------------------------------------- schema derivation


def _field_type(hint: Any) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) of one annotated field.

    Besides the annotated scalars above, a field may be a list of rows,
    ``tuple[Row, ...]`` where ``Row`` is a dataclass declared like a table's
    row: Arrow ``list<struct<...>>``, the struct's fields derived from
    ``Row``'s. Inside the list everything is declared nullable, whatever
    ``Row`` says: Spark reads Parquet back with every nested field nullable,
    and no cast makes a nested field non-null again, so a table read back
    could not be written again under a stricter schema.
    """
    nullable = False
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {hint!r}")
        nullable = True
        hint = args[0]
    if get_origin(hint) is tuple:
        row, *rest = get_args(hint)
        if rest != [Ellipsis] or not (isinstance(row, type) and dataclasses.is_dataclass(row)):
            raise TypeError(f"a list column is tuple[Row, ...] of a dataclass, not {hint!r}")
        element = pa.struct([f.with_nullable(True) for f in arrow_schema(row)])
        return pa.list_(pa.field("element", element, nullable=True)), nullable
    if get_origin(hint) is not Annotated:
        raise TypeError(f"column type {hint!r} carries no Arrow type")
    arrow_type = hint.__metadata__[0]
    if not isinstance(arrow_type, pa.DataType):
        raise TypeError(f"column type {hint!r} carries no Arrow type")
    return arrow_type, nullable


def arrow_schema(row: type) -> pa.Schema:
    hints = get_type_hints(row, include_extras=True)
    fields = []
    for f in dataclasses.fields(row):
        arrow_type, nullable = _field_type(hints[f.name])
        fields.append(pa.field(f.name, arrow_type, nullable=nullable))
    return pa.schema(fields)


_SPARK_TYPE_NAMES: dict[pa.DataType, str] = {
    pa.int64(): "LongType",
    pa.int32(): "IntegerType",
    pa.float64(): "DoubleType",
    pa.float32(): "FloatType",
    pa.bool_(): "BooleanType",
    pa.string(): "StringType",
    pa.binary(): "BinaryType",
}


def spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql import types as T

    return T.StructType([_spark_field(field) for field in schema])


def _spark_field(field: pa.Field) -> Any:
    from pyspark.sql import types as T

    return T.StructField(field.name, _spark_type(field.type), field.nullable)


def _spark_type(arrow_type: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if pa.types.is_list(arrow_type):
        element = arrow_type.value_field
        return T.ArrayType(_spark_type(element.type), containsNull=element.nullable)
    if pa.types.is_struct(arrow_type):
        return T.StructType([_spark_field(f) for f in arrow_type])
    type_name = _SPARK_TYPE_NAMES.get(arrow_type)
    if type_name is None:
        raise TypeError(f"no Spark type for Arrow {arrow_type}")
    return getattr(T, type_name)()


# ---------------------------------------------------------------- releases


@dataclass(frozen=True)
class ReleaseRow:
    """One released segment: the columns of every release format, audio aside."""

    id: Str  # segment_id as 16 hex digits (unsigned): file names and sample keys
    segment_id: Int64
    audio_id: Int64
    identifier: Str  # the source item; every segment of a source is in one split
    start_ms: Int64
    end_ms: Int64
    duration_ms: Int64
    text: Str
    text_normalized: Str
    score: Float64
    cer: Float64
    license: Str
    split: Str  # train, validation, test (Hugging Face's names)
    subset: Str  # clean, dirty, clean_sa, dirty_sa


RELEASE = Table("release", ReleaseRow)
"""The rows of a release (its Parquet shards) and the ``release`` SQL view. Not
in :data:`TABLES`: a release is no table of the run root but a folder of its own,
``release/<name>/`` (:func:`galvasr.runroot.release_dir`)."""


__all__ = [
    "ALIGNMENTS",
    "AUDIO",
    "CATALOG",
    "CHUNKS",
    "LOGITS",
    "REJECTS",
    "RELEASE",
    "SEGMENTS",
    "TABLES",
    "TRANSCRIPTS",
    "ReleaseRow",
    "Table",
    "reject_row",
    "unforeseen",
]

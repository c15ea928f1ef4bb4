"""The bytes of one release shard in each format: Parquet, WebDataset tar, NeMo, Lhotse Shar.

Pure functions from a list of release rows (dicts with the fields of
:class:`galvasr.schemas.ReleaseRow` and the segment's ``flac`` bytes) to file
contents. The same rows
always give the same bytes: rows keep the order they are given in (the release
sorts them by ``segment_id``), tar members carry fixed times and owners, JSON
keys are sorted, and Parquet files carry no timestamp (pyarrow writes only its
own version into ``created_by``).

- Parquet: the columns below, with the audio as Hugging Face's ``Audio``
  struct ``{bytes, path}``; the ``huggingface`` schema metadata tells
  ``datasets`` that the column is audio at 16 kHz.
- WebDataset: per segment ``<id>.flac`` and ``<id>.json`` (every column but
  the audio), in ``id`` order.
- NeMo: a JSON-lines manifest (``audio_filepath``, ``duration`` in seconds,
  ``text``, plus the other columns) and one FLAC file per segment; the paths
  are relative to the manifest's folder, which NeMo resolves.
- Lhotse Shar: ``cuts.NNNNNN.jsonl.gz`` (one ``MonoCut`` per segment: its
  recording, and one supervision over the whole segment with its text, the
  other columns under ``custom``, and the segment's words as the ``word``
  alignment: ``[symbol, start, duration, score]`` in seconds from the
  segment's start) and ``recording.NNNNNN.tar`` (per segment ``<id>.flac`` and
  ``<id>.json``, the recording manifest), as ``lhotse.CutSet.from_shar`` reads
  them. The gzip header carries no time and no file name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import tarfile
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from galvasr.schemas import RELEASE, SAMPLE_RATE, SEGMENTS

TAR_MTIME = 946684800  # 2000-01-01T00:00:00Z: a fixed time keeps tar bytes identical
SAMPLES_PER_MS = SAMPLE_RATE // 1000

COLUMNS: tuple[str, ...] = RELEASE.columns
AUDIO = "audio"  # the Parquet column of the audio: Hugging Face's Audio struct
FLAC = SEGMENTS.c.flac  # a row's audio, as the segment holds it
WORDS = SEGMENTS.c.words  # a row's words (segment-relative), where a format carries them
AUDIO_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])


def _hf_feature(dtype: pa.DataType) -> dict[str, str]:
    names = {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64"}
    return {"dtype": names[dtype], "_type": "Value"}


def parquet_schema() -> pa.Schema:
    """The Arrow schema of a Parquet shard, with ``datasets``' feature metadata."""
    base, key = RELEASE.arrow, RELEASE.c.id
    # Nullable as `datasets` declares it: its metadata only applies to an equal field.
    fields = [base.field(key), pa.field(AUDIO, AUDIO_TYPE)]
    fields += [base.field(name) for name in COLUMNS if name != key]
    features: dict[str, Any] = {}
    for f in fields:
        if f.name == AUDIO:
            features[AUDIO] = {"sampling_rate": SAMPLE_RATE, "_type": "Audio"}
        else:
            features[f.name] = _hf_feature(f.type)
    meta = json.dumps({"info": {"features": features}}, sort_keys=False)
    return pa.schema(fields, metadata={"huggingface": meta})


def segment_key(segment_id: int) -> str:
    """The id of a segment in file names: 16 lowercase hex digits of the unsigned id."""
    return f"{segment_id & 0xFFFF_FFFF_FFFF_FFFF:016x}"


def audio_name(row: Mapping[str, Any]) -> str:
    return f"{row[RELEASE.c.id]}.flac"


def parquet_shard(rows: Sequence[Mapping[str, Any]], row_group_rows: int) -> bytes:
    """A Parquet file of ``rows`` in the order given."""
    schema, r = parquet_schema(), RELEASE.c
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in COLUMNS:
            columns[name].append(row[name])
        columns[AUDIO].append({"bytes": row[FLAC], "path": audio_name(row)})
    table = pa.Table.from_pydict(columns, schema=schema)
    sink = io.BytesIO()
    # No dictionary for the audio bytes (never repeated); statistics and the
    # page index stay off so that files hold data and the schema only.
    pq.write_table(
        table,
        sink,
        row_group_size=row_group_rows,
        compression="zstd",
        use_dictionary=[n for n in schema.names if n not in (AUDIO, r.text, r.text_normalized)],
        write_statistics=[r.segment_id, r.audio_id, r.duration_ms, r.split, r.subset],
    )
    return sink.getvalue()


def metadata(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column but the audio, as plain JSON values."""
    return {name: row[name] for name in COLUMNS}


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = TAR_MTIME
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    tar.addfile(info, io.BytesIO(data))


def webdataset_shard(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """A tar of ``<id>.flac`` and ``<id>.json`` per row, members of a row adjacent."""
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for row in rows:
            _add(tar, audio_name(row), row[FLAC])
            _add(tar, f"{row[RELEASE.c.id]}.json", _json_bytes(metadata(row)))
    return sink.getvalue()


def nemo_audio_path(row: Mapping[str, Any]) -> str:
    """Where a row's FLAC file lies, relative to its manifest's folder."""
    return f"{row[RELEASE.c.split]}/{audio_name(row)}"


def nemo_manifest(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """NeMo's JSON lines: ``audio_filepath``, ``duration`` (s), ``text`` and the rest."""
    lines = []
    for row in rows:
        entry = metadata(row)
        entry["audio_filepath"] = nemo_audio_path(row)
        entry["duration"] = row[RELEASE.c.duration_ms] / 1000
        lines.append(_json_bytes(entry) + b"\n")
    return b"".join(lines)


# ------------------------------------------------------------ Lhotse Shar

LHOTSE_CUTS = "cuts"  # Shar's field names: the file names' first part
LHOTSE_RECORDING = "recording"


def lhotse_shard_names(shard: int) -> tuple[str, str]:
    """Names of Shar shard ``shard``: (cuts manifest, recording tar), as lhotse numbers them."""
    return f"{LHOTSE_CUTS}.{shard:06d}.jsonl.gz", f"{LHOTSE_RECORDING}.{shard:06d}.tar"


def _seconds(ms: int) -> float:
    return ms / 1000


def lhotse_recording(row: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A Lhotse ``Recording`` manifest of a row's audio, with a placeholder ``source``."""
    return {
        "id": row[RELEASE.c.id],
        "sources": [{"type": "shar", "channels": [0], "source": source}],
        "sampling_rate": SAMPLE_RATE,
        "num_samples": row[RELEASE.c.duration_ms] * SAMPLES_PER_MS,
        "duration": _seconds(row[RELEASE.c.duration_ms]),
        "channel_ids": [0],
    }


def lhotse_words(row: Mapping[str, Any]) -> list[list[Any]]:
    """The row's ``words`` as Lhotse alignment items: [symbol, start s, duration s, score]."""
    items = []
    for w in row.get(WORDS) or ():
        start, end = int(w["start_ms"]), int(w["end_ms"])
        score = w["score"] if w["score"] is not None and math.isfinite(w["score"]) else None
        items.append([w["word"], _seconds(start), _seconds(max(0, end - start)), score])
    return items


def lhotse_cut(row: Mapping[str, Any]) -> dict[str, Any]:
    """A Lhotse ``MonoCut`` of a row: its recording and one supervision over all of it."""
    r = RELEASE.c
    key, duration = row[r.id], _seconds(row[r.duration_ms])
    supervision: dict[str, Any] = {
        "id": key,
        "recording_id": key,
        "start": 0.0,
        "duration": duration,
        "channel": 0,
        "text": row[r.text],
        "custom": {name: row[name] for name in COLUMNS if name not in (r.id, r.text)},
    }
    words = lhotse_words(row)
    if words:
        supervision["alignment"] = {"word": words}
    return {
        "id": key,
        "start": 0.0,
        "duration": duration,
        "channel": 0,
        "supervisions": [supervision],
        "recording": lhotse_recording(row, ""),
        "type": "MonoCut",
    }


def lhotse_shar_shard(rows: Sequence[Mapping[str, Any]]) -> tuple[bytes, bytes]:
    """One Lhotse Shar shard of ``rows``: (``cuts.*.jsonl.gz``, ``recording.*.tar``) bytes."""
    lines = b"".join(_json_bytes(lhotse_cut(row)) + b"\n" for row in rows)
    cuts = gzip.compress(lines, compresslevel=9, mtime=0)
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for row in rows:  # the data first, then its manifest, as Shar pairs them
            _add(tar, audio_name(row), row[FLAC])
            _add(tar, f"{row[RELEASE.c.id]}.json", _json_bytes(lhotse_recording(row, "")) + b"\n")
    return cuts, sink.getvalue()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

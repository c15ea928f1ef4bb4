"""``audio_id``: the BIGINT key of an audio file, the same in every run.

``audio_id = xxhash64(identifier, audio_file)`` exactly as Spark SQL computes
it (:func:`audio_id_column`), and :func:`audio_id` gives the same number in
plain Python, so the per-item logic of ingest can name its rows without
Spark and anyone can look an id up with ``SELECT xxhash64(identifier,
audio_file)``. The value depends on the two strings only, never on
partitioning or run. Distinct files can still collide: :func:`check_audio_ids`
(or, where the files of each id are at hand, :func:`collision_error` with
:func:`check_spark_ids`, as ingest does) stops a stage on any collision,
naming both files.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from galvasr.schemas import CATALOG

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

SPARK_HASH_SEED = 42
"""The seed of Spark's ``xxhash64``; each further argument is hashed with the previous hash."""

_MASK = (1 << 64) - 1
_P1 = 0x9E3779B185EBCA87
_P2 = 0xC2B2AE3D27D4EB4F
_P3 = 0x165667B19E3779F9
_P4 = 0x85EBCA77C2B2AE63
_P5 = 0x27D4EB2F165667C5


class AudioIdCollision(ValueError):
    """Two different (identifier, audio_file) pairs hash to one audio_id."""


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _MASK


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & _MASK
    return (_rotl(acc, 31) * _P1) & _MASK


def _merge(acc: int, v: int) -> int:
    acc ^= _round(0, v)
    return (acc * _P1 + _P4) & _MASK


def xxhash64(data: bytes, seed: int) -> int:
    """XXH64 of ``data`` as an unsigned 64-bit integer (Spark's ``XXH64.hashUnsafeBytes``)."""
    seed &= _MASK
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & _MASK
        v2 = (seed + _P2) & _MASK
        v3 = seed
        v4 = (seed - _P1) & _MASK
        while i + 32 <= n:
            v1 = _round(v1, int.from_bytes(data[i : i + 8], "little"))
            v2 = _round(v2, int.from_bytes(data[i + 8 : i + 16], "little"))
            v3 = _round(v3, int.from_bytes(data[i + 16 : i + 24], "little"))
            v4 = _round(v4, int.from_bytes(data[i + 24 : i + 32], "little"))
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & _MASK
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & _MASK
    h = (h + n) & _MASK
    while i + 8 <= n:
        h ^= _round(0, int.from_bytes(data[i : i + 8], "little"))
        h = (_rotl(h, 27) * _P1 + _P4) & _MASK
        i += 8
    if i + 4 <= n:
        h ^= (int.from_bytes(data[i : i + 4], "little") * _P1) & _MASK
        h = (_rotl(h, 23) * _P2 + _P3) & _MASK
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & _MASK
        h = (_rotl(h, 11) * _P1) & _MASK
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _MASK
    h ^= h >> 29
    h = (h * _P3) & _MASK
    h ^= h >> 32
    return h


def spark_xxhash64(*values: str) -> int:
    """Spark SQL's ``xxhash64(values...)`` over non-null strings, as a signed BIGINT."""
    h = SPARK_HASH_SEED
    for value in values:
        h = xxhash64(value.encode("utf-8"), h)
    return h - (1 << 64) if h >= 1 << 63 else h


def audio_id(identifier: str, audio_file: str) -> int:
    """The audio_id of ``audio_file`` in catalog item ``identifier``."""
    return spark_xxhash64(identifier, audio_file)


def audio_id_column(identifier: str | Column, audio_file: str | Column) -> Column:
    """The same id as a Spark column: ``xxhash64(identifier, audio_file)``."""
    from pyspark.sql import functions as F

    return F.xxhash64(identifier, audio_file)


def collision_error(
    found: Iterable[tuple[int, Sequence[tuple[str, str]]]], limit: int = 5
) -> AudioIdCollision | None:
    """The error naming both files of every collision of ``found``, or None if none.

    ``found`` gives, per audio_id, the (identifier, audio_file) pairs that hash
    to it; a pair listed twice is not a collision. The error names the files of
    the ``limit`` smallest colliding ids, each id's pairs in order.
    """
    distinct = ((key, sorted(set(files))) for key, files in found)
    collisions = sorted((key, files) for key, files in distinct if len(files) > 1)[:limit]
    if not collisions:
        return None
    lines = [
        f"audio_id {key}: " + " and ".join(f"{ident}/{name}" for ident, name in files)
        for key, files in collisions
    ]
    return AudioIdCollision(
        "audio_id collision, two files would share one key: " + "; ".join(lines)
    )


def _not_spark_hash_error(files: Iterable[tuple[str, str]]) -> ValueError:
    return ValueError(
        "audio_id differs from Spark's xxhash64(identifier, audio_file) for "
        + "; ".join(f"{ident}/{name}" for ident, name in files)
    )


def check_spark_ids(df: DataFrame, limit: int = 5) -> None:
    """Raise ValueError unless every audio id of ``df`` is Spark's own
    ``xxhash64(identifier, audio_file)``; the error names the files of the
    ``limit`` smallest wrong ids.

    The guard of :func:`check_audio_ids` alone, for ids whose collisions were
    checked already (ingest checks them in plain Python, with its counts): one
    Spark job and no shuffle, as only the wrong rows (normally none) travel.
    """
    from pyspark.sql import functions as F

    c = CATALOG.c
    wrong = F.col(c.audio_id) != audio_id_column(c.identifier, c.audio_file)
    rows = df.where(wrong).select(c.audio_id, c.identifier, c.audio_file).collect()
    if rows:
        found = sorted({(r[0], r[1], r[2]) for r in rows})
        ids = sorted({key for key, _, _ in found})[:limit]
        raise _not_spark_hash_error((i, f) for key, i, f in found if key in ids)


def check_audio_ids(df: DataFrame, limit: int = 5) -> None:
    """Raise unless ``df``'s audio ids are Spark's xxhash64 and name one file each.

    ``df`` has columns ``audio_id``, ``identifier`` and ``audio_file``; a
    pair listed twice is not a collision. :class:`AudioIdCollision` names both
    files of every collision found (up to ``limit``). Else ValueError if an id
    is not Spark's own ``xxhash64(identifier, audio_file)``: a guard against a
    Spark release that changes its hash, which would silently give new ids
    to files of earlier runs. One Spark job does both checks.
    """
    from pyspark.sql import functions as F

    wrong = F.col("audio_id") != audio_id_column("identifier", "audio_file")
    pairs = df.select("audio_id", "identifier", "audio_file").distinct()
    found = (
        pairs.groupBy("audio_id")
        .agg(
            F.sort_array(F.collect_list(F.struct("identifier", "audio_file"))).alias("files"),
            F.max(wrong).alias("wrong"),
        )
        .where((F.size("files") > 1) | F.col("wrong"))
        .orderBy("audio_id")
        .limit(limit)
        .collect()
    )
    collision = collision_error(
        (row.audio_id, [(f.identifier, f.audio_file) for f in row.files]) for row in found
    )
    if collision is not None:
        raise collision
    if found:
        raise _not_spark_hash_error(
            (f.identifier, f.audio_file) for row in found for f in row.files
        )

"""The pure parts of the accelerator stage: shards, batch plans, padding, out-of-memory splits.

A *shard* is one Parquet file of ``chunks`` (``chunks/bucket=N/part-*.parquet``,
as Spark wrote it; ``bucket`` is in the path, not the file). Its output is one
Parquet file of ``logits`` at ``logits/<model_version>/bucket=N/<same name>``,
the shard's rows in input order. Leases and worker summaries live beside the
outputs in ``_leases/`` and ``_workers/``, which Spark's reader skips (names
starting with ``_``).

Every batch of a shard has a shape that depends only on the shard: full
batches of the bucket's batch size, then one tail batch padded to the next
power of two. So a shard's output bytes do not depend on which worker
computed it or what it computed before (the kill-and-resume test compares
bytes), and each host compiles at most ``1 + log2(batch)`` shapes per bucket,
each once. A bucket with little audio may run padded to the longest length
(:func:`merged_lengths`), decided from decode's complete listing, the same
for every worker. The runner is tpu/infer.py.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from galvasr import quantize, runroot
from galvasr.runroot import CHUNKS_PREFIX
from galvasr.schemas import CHUNKS, LOGITS

INPUT_COLUMNS = [
    CHUNKS.c.audio_id,
    CHUNKS.c.chunk_index,
    CHUNKS.c.bucket_samples,
    CHUNKS.c.num_samples,
    CHUNKS.c.context_before_samples,
    CHUNKS.c.context_after_samples,
    CHUNKS.c.pcm,
]

_SHARD = re.compile(r"^bucket=(\d+)/([^/]+\.parquet)$")


class ShardError(ValueError):
    """A shard that cannot be processed, with a short machine-readable reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# ------------------------------------------------------------------ shards


@dataclass(frozen=True, order=True)
class Shard:
    """One input file; ``key`` is its path under ``chunks/``, e.g. ``bucket=3/part-0.parquet``."""

    key: str
    bucket: int

    @property
    def input_path(self) -> str:
        return CHUNKS_PREFIX + self.key

    def output_path(self, model_version: str) -> str:
        return runroot.logits_shard(model_version, self.key)


def find_shards(paths: list[str]) -> list[Shard]:
    """The shards among a listing of ``chunks/`` (Spark's ``_SUCCESS``, ``.crc`` etc. skipped)."""
    shards = []
    for path in paths:
        m = _SHARD.match(path.removeprefix(CHUNKS_PREFIX))
        if path.startswith(CHUNKS_PREFIX) and m and not m.group(2).startswith(("_", ".")):
            shards.append(Shard(key=m.group(0), bucket=int(m.group(1))))
    return sorted(shards)


def rotate(shards: list[Shard], worker_id: str) -> list[Shard]:
    """``shards`` starting at a place that depends on the worker, so workers rarely collide."""
    if not shards:
        return shards
    start = int.from_bytes(worker_id.encode()[-8:].rjust(8, b"\0"), "little") % len(shards)
    return shards[start:] + shards[:start]


# ----------------------------------------------------------- batch plans


def per_device_batch(frames_per_row: int, batch_frames: int, max_batch: int) -> int:
    """Rows per device so that rows x frames stays within ``batch_frames`` (at least 1)."""
    if frames_per_row <= 0 or batch_frames <= 0 or max_batch <= 0:
        raise ValueError("frames, budget and max batch must be positive")
    return max(1, min(max_batch, batch_frames // frames_per_row))


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def tail_batch(rows: int, full: int, num_devices: int) -> int:
    """Padded size of a last batch of ``rows``: the next power of two, a multiple of the devices."""
    if rows <= 0:
        raise ValueError("a batch has at least one row")
    size = 1 << (rows - 1).bit_length()
    return min(full, round_up(size, num_devices))


def plan_batches(num_rows: int, full: int, num_devices: int) -> list[tuple[int, int, int]]:
    """``(first_row, rows, padded_size)`` of each batch of a shard of ``num_rows``."""
    if full % num_devices:
        raise ValueError(f"batch {full} is not a multiple of {num_devices} devices")
    plan = []
    for start in range(0, num_rows, full):
        rows = min(full, num_rows - start)
        plan.append((start, rows, full if rows == full else tail_batch(rows, full, num_devices)))
    return plan


def split_batch(size: int, num_devices: int) -> int:
    """Size of each half when a batch of ``size`` ran out of memory (0: cannot split)."""
    if size <= num_devices:
        return 0
    return round_up(size // 2, num_devices)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an accelerator allocation failure (XLA's RESOURCE_EXHAUSTED)."""
    import jax

    kinds: tuple[type[BaseException], ...] = (jax.errors.JaxRuntimeError, DeviceOutOfMemory)
    return isinstance(error, kinds) and "RESOURCE_EXHAUSTED" in str(error)


class DeviceOutOfMemory(RuntimeError):
    """Raised by the runner itself (a batch's input found no room, or a test injected it)."""

    def __init__(self, rows: int, why: str):
        super().__init__(f"RESOURCE_EXHAUSTED: {why} (batch of {rows} rows)")


# ------------------------------------------------------------------ input


@dataclass
class ShardInput:
    """A shard's rows, decoded: PCM ``[rows, bucket_samples]`` int16 and lengths."""

    audio_id: np.ndarray  # int64 [rows]
    chunk_index: np.ndarray  # int32 [rows]
    pcm: np.ndarray  # int16 [rows, bucket_samples]
    lengths: np.ndarray  # int32 [rows]: context + owned + context, the real audio
    owned_samples: np.ndarray  # int64 [rows]

    @property
    def num_rows(self) -> int:
        return len(self.audio_id)

    @property
    def bucket_samples(self) -> int:
        return int(self.pcm.shape[1])


def shard_input(table: pa.Table) -> ShardInput:
    """Check and decode one shard's table (columns :data:`INPUT_COLUMNS`).

    Raises ShardError for anything the model cannot take: mixed bucket
    lengths, a PCM value of the wrong size, lengths outside the bucket.
    """
    if table.num_rows == 0:
        raise ShardError("empty", "the shard has no rows")
    missing = [c for c in INPUT_COLUMNS if c not in table.column_names]
    if missing:
        raise ShardError("schema", f"missing columns {missing}")
    table = table.combine_chunks()

    def col(name: str, dtype: Any) -> np.ndarray:
        column = table.column(name)
        if column.null_count:
            raise ShardError("null", f"{column.null_count} nulls in {name}")
        return np.asarray(column.to_numpy(), dtype=dtype)

    bucket_samples = col(CHUNKS.c.bucket_samples, np.int64)
    size = int(bucket_samples[0])
    if size <= 0 or np.any(bucket_samples != size):
        raise ShardError("bucket_samples", f"rows of one shard have lengths {set(bucket_samples)}")
    before = col(CHUNKS.c.context_before_samples, np.int64)
    owned = col(CHUNKS.c.num_samples, np.int64)
    after = col(CHUNKS.c.context_after_samples, np.int64)
    lengths = before + owned + after
    if np.any(before < 0) or np.any(after < 0) or np.any(owned <= 0) or np.any(lengths > size):
        raise ShardError("lengths", f"context/owned samples outside a bucket of {size}")

    pcm_col = table.column(CHUNKS.c.pcm).chunk(0)  # one chunk after combine_chunks
    if pcm_col.null_count:
        raise ShardError("null", f"{pcm_col.null_count} nulls in pcm")
    # Zero-copy view of the binary column: every value is 2 * size bytes.
    buffers = pcm_col.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[
        pcm_col.offset : pcm_col.offset + len(pcm_col) + 1
    ]
    if np.any(np.diff(offsets) != 2 * size):
        raise ShardError("pcm", f"a pcm value is not {size} int16 samples")
    data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    pcm = data.view("<i2").reshape(len(offsets) - 1, size)
    return ShardInput(
        audio_id=col(CHUNKS.c.audio_id, np.int64),
        chunk_index=col(CHUNKS.c.chunk_index, np.int32),
        pcm=pcm,
        lengths=lengths.astype(np.int32),
        owned_samples=owned,
    )


def widen(data: ShardInput, samples: int) -> ShardInput:
    """``data`` with every row zero-padded to ``samples`` (a merged bucket's run length)."""
    if samples <= data.bucket_samples:
        return data
    pcm = np.zeros((data.num_rows, samples), dtype=data.pcm.dtype)
    pcm[:, : data.bucket_samples] = data.pcm
    return dataclasses.replace(data, pcm=pcm)


def merged_lengths(
    lengths: dict[int, int], rows: dict[int, int], budget_samples: int
) -> dict[int, int]:
    """Buckets that run padded to the longest length: ``{bucket: longest}``.

    ``lengths``: every bucket's length in samples; ``rows``: bucket -> rows,
    for the buckets whose rows were counted (one left out has too many shards
    to merge). A bucket merges when its rows x (longest - length) is at most
    ``budget_samples``: padding that costs less than a shape of its own.
    """
    if not lengths or budget_samples <= 0:
        return {}
    longest = max(lengths.values())
    return {
        b: longest
        for b, length in lengths.items()
        if length < longest and b in rows and rows[b] * (longest - length) <= budget_samples
    }


def pad_rows(pcm: np.ndarray, lengths: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``pcm`` and ``lengths`` with zero rows appended up to ``size`` rows (views if full)."""
    rows = len(lengths)
    if rows == size:
        return pcm, lengths
    if rows > size:
        raise ValueError(f"{rows} rows do not fit a batch of {size}")
    padded = np.zeros((size, pcm.shape[1]), dtype=pcm.dtype)
    padded[:rows] = pcm
    padded_lengths = np.zeros(size, dtype=lengths.dtype)
    padded_lengths[:rows] = lengths
    return padded, padded_lengths


# ----------------------------------------------------------------- output


def logits_table(
    data: ShardInput,
    bucket: int,
    model_version: str,
    encoding: str,
    vocab_size: int,
    num_frames: np.ndarray,
    logprobs: list[bytes],
) -> pa.Table:
    """The ``logits`` rows of one shard, in input order, with exactly LOGITS's schema."""
    rows = data.num_rows
    if len(logprobs) != rows or len(num_frames) != rows:
        raise ValueError(f"{len(logprobs)} outputs for {rows} rows")
    quantize.bytes_per_value(encoding)  # checks the name
    columns = {
        LOGITS.c.audio_id: pa.array(data.audio_id, pa.int64()),
        LOGITS.c.chunk_index: pa.array(data.chunk_index, pa.int32()),
        LOGITS.c.bucket: pa.array(np.full(rows, bucket), pa.int32()),
        LOGITS.c.model_version: pa.array([model_version] * rows, pa.string()),
        LOGITS.c.num_frames: pa.array(np.asarray(num_frames), pa.int32()),
        LOGITS.c.vocab_size: pa.array(np.full(rows, vocab_size), pa.int32()),
        LOGITS.c.encoding: pa.array([encoding] * rows, pa.string()),
        LOGITS.c.logprobs: pa.array(logprobs, pa.binary()),
    }
    assert tuple(columns) == LOGITS.columns, "logits_table out of step with LogitsRow"
    return pa.Table.from_pydict(columns, schema=LOGITS.arrow)


# ------------------------------------------------------------------ stats


@dataclass
class WorkerStats:
    """What one worker did; written as JSON to ``_workers/<worker_id>.json``."""

    worker_id: str
    model_version: str
    encoding: str
    devices: list[str]
    shards_total: int = 0
    shards_done: int = 0  # committed by this worker
    shards_skipped: int = 0  # output already there when this worker looked
    shards_committed_by_other: int = 0  # computed, but another worker committed first
    shards_lost_lease: int = 0  # abandoned: another worker took the expired lease
    shards_failed: list[dict[str, str]] = field(default_factory=list)
    rows: int = 0
    audio_samples: int = 0  # owned samples of committed rows: new audio
    window_samples: int = 0  # context + owned: audio the model saw
    computed_samples: int = 0  # rows x bucket length, padding rows included
    compile_s: float = 0.0
    compiles: list[dict[str, float]] = field(default_factory=list)
    compiles_from_cache: int = 0  # of which: loaded from JAX's persistent cache
    compile_wait_s: float = 0.0  # device loop blocked on a compilation (the rest overlapped)
    compilation_cache_dir: str = ""  # "": no persistent cache
    merged_buckets: dict[str, int] = field(default_factory=dict)  # bucket -> samples it ran at
    run_s: float = 0.0  # wall time from the first shard listing to the last commit
    loop_s: float = 0.0  # device loop wall time, compiles excluded
    device_s: float = 0.0  # dispatch to results ready
    input_wait_s: float = 0.0  # device loop blocked on the input queue
    first_input_wait_s: float = 0.0  # of which: waiting for the very first batch
    batches: int = 0
    batches_split_for_memory: int = 0
    lease_renewals: int = 0
    lease_errors: list[str] = field(default_factory=list)
    leases_swept: int = 0  # stale records of finished shards deleted at the end
    sample_rate: int = 16_000

    def to_dict(self) -> dict[str, Any]:
        sr = float(self.sample_rate)
        audio_s = self.audio_samples / sr
        steady = self.loop_s - self.first_input_wait_s
        return {
            "worker_id": self.worker_id,
            "model_version": self.model_version,
            "encoding": self.encoding,
            "devices": self.devices,
            "shards_total": self.shards_total,
            "shards_done": self.shards_done,
            "shards_skipped": self.shards_skipped,
            "shards_committed_by_other": self.shards_committed_by_other,
            "shards_lost_lease": self.shards_lost_lease,
            "shards_failed": self.shards_failed,
            "rows": self.rows,
            "audio_seconds": audio_s,
            "window_seconds": self.window_samples / sr,
            "computed_seconds": self.computed_samples / sr,
            "padded_fraction": (
                1.0 - self.window_samples / self.computed_samples if self.computed_samples else 0.0
            ),
            "compile_s": self.compile_s,
            "compiles": self.compiles,
            "compiles_from_cache": self.compiles_from_cache,
            "compile_wait_s": self.compile_wait_s,
            "compilation_cache_dir": self.compilation_cache_dir,
            "merged_buckets": self.merged_buckets,
            "run_s": self.run_s,
            "device_s": self.device_s,
            "loop_s": self.loop_s,
            "input_wait_s": self.input_wait_s,
            "input_wait_fraction": self.input_wait_s / self.loop_s if self.loop_s else 0.0,
            "input_wait_fraction_steady": (
                (self.input_wait_s - self.first_input_wait_s) / steady if steady > 0 else 0.0
            ),
            "batches": self.batches,
            "batches_split_for_memory": self.batches_split_for_memory,
            "rtfx": audio_s / self.run_s if self.run_s else 0.0,
            "rtfx_excluding_compile": (
                audio_s / (self.run_s - self.compile_s) if self.run_s > self.compile_s else 0.0
            ),
            "lease_renewals": self.lease_renewals,
            "lease_errors": self.lease_errors,
            "leases_swept": self.leases_swept,
        }


__all__ = [
    "CHUNKS_PREFIX",
    "INPUT_COLUMNS",
    "DeviceOutOfMemory",
    "Shard",
    "ShardError",
    "ShardInput",
    "WorkerStats",
    "find_shards",
    "is_out_of_memory",
    "logits_table",
    "merged_lengths",
    "pad_rows",
    "per_device_batch",
    "plan_batches",
    "rotate",
    "shard_input",
    "split_batch",
    "tail_batch",
    "widen",
]

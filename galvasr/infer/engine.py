"""The accelerator stage: CTC log-probabilities of every ``chunks`` shard of a run root.

    python -m accel.infer --root gs://bucket/run --model models/galvasr-small
    galvasr infer --root runs/sample

Start it on as many hosts as you like, pointed at one run root: workers share
the shards through expiring leases (galvasr.leases) and commit each output
with create-if-absent, so every shard's output is written exactly once, a
killed worker loses only the shards it held, and a re-run skips what exists.

One worker is three threads joined by bounded queues, so the device never
waits on storage:

- reader: lists shards, takes leases, reads and decodes Parquet, pads batches;
- device loop (the main thread): one compiled function per (bucket length,
  batch size), compiled ahead of its first use and timed apart from the run;
  buckets with little audio run padded to the longest length instead of
  compiling their own (``infer.merge_bucket_s``);
  the batch is split over every local device (``jax.sharding``, data
  parallel) and log-probabilities are encoded (float16 / uint8q) on the
  device; a batch that runs out of device memory is split in two and retried;
- writer: copies results back, builds the shard's ``logits`` table, commits
  it, releases the lease.

A progress bar shows shards, audio hours, RTFx and ETA; each worker writes a
JSON summary to ``logits/<model_version>/_workers/<worker_id>.json``.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from galvasr import quantize, runroot
from galvasr.config import InferConfig
from galvasr.infer import shards as plan
from galvasr.infer.leases import LeaseKeeper, Leases
from galvasr.model import LoadedModel
from galvasr.schemas import CHUNKS
from galvasr.storage import Store, commit_parquet_if_absent, open_store, read_parquet


class Hooks(Protocol):
    """Points where a test injects failures (tests/infer_faults.py): none in production."""

    def check_batch(self, rows: int) -> None:
        """Called before a batch of ``rows`` runs; raising DeviceOutOfMemory splits it."""

    def after_batch(self, shard_key: str, keeper: LeaseKeeper) -> None:
        """Called after each batch of a shard, while its lease is held."""


class NoHooks:
    def check_batch(self, rows: int) -> None:
        pass

    def after_batch(self, shard_key: str, keeper: LeaseKeeper) -> None:
        pass


# ------------------------------------------------------------- messages


@dataclass(eq=False)
class _Work:
    """One leased shard in flight; its fields are written by the writer thread only."""

    shard: plan.Shard
    data: plan.ShardInput
    batches: list[tuple[int, int, int]]
    remaining: int = 0
    num_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    logprobs: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.remaining = len(self.batches)
        self.num_frames = np.zeros(self.data.num_rows, np.int32)
        self.logprobs = [b""] * self.data.num_rows


@dataclass(eq=False)
class _Batch:
    work: _Work
    first_row: int
    rows: int
    size: int
    placed: tuple[Any, Any] | None  # PCM and lengths already on the devices


@dataclass(eq=False)
class _Failed:
    shard: plan.Shard
    reason: str
    detail: str


_DONE = object()
_Piece = tuple[int, int, Any, Any]  # first row, rows, encoded [size, T, V], frames [size]


def _get(q: queue.Queue[Any], stop: threading.Event) -> Any:
    """The next item, or _DONE once the worker is stopping."""
    while not stop.is_set():
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            continue
    return _DONE


class _CannotFit(Exception):
    pass


# Executables JAX loaded from its persistent compilation cache, per thread (JAX
# reports the event in the thread that compiles; compiles run on several).
_CACHE_HITS = threading.local()
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"


def _count_cache_hit(event: str, **kwargs: Any) -> None:
    if event == _CACHE_HIT_EVENT:
        _CACHE_HITS.n = _cache_hits() + 1


jax.monitoring.register_event_listener(_count_cache_hit)


def _cache_hits() -> int:
    return int(getattr(_CACHE_HITS, "n", 0))


# Models whose frames do not depend on zeros after a row's samples (galvasr's own: features
# normalised over valid frames, padded frames masked): their buckets may merge
# (InferConfig.merge_bucket_s). wav2vec2's group norm spans the padding: never merged.
_PADDING_INVARIANT = ("convctc",)


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless the worker is stopping; False if it is."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


# --------------------------------------------------------------- worker


class Worker:
    """One process's share of the stage; :meth:`run` returns its JSON summary."""

    def __init__(
        self,
        root: str,
        model: LoadedModel,
        config: InferConfig,
        worker_id: str | None = None,
        hooks: Hooks | None = None,
        progress: bool = True,
        console: Console | None = None,
        follow: Callable[[], bool] | None = None,
    ):
        self.root = root
        # Shards still being produced (decode running at the same time): after the
        # listed shards, list again until ``follow()`` says no more will come.
        self.follow = follow
        self.model = model
        self.config = config
        self.version = model.info.model_version
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.hooks: Hooks = hooks or NoHooks()
        self.console = console or Console(stderr=True)
        self.show_progress = progress
        self.devices = jax.local_devices()
        self.num_devices = len(self.devices)
        on_cpu = all(d.platform == "cpu" for d in self.devices)
        self.batch_frames = config.cpu_batch_frames if on_cpu else config.accelerator_batch_frames
        mesh = Mesh(np.array(self.devices), ("data",))
        self.data_sharding = NamedSharding(mesh, P("data"))
        replicated = NamedSharding(mesh, P())
        self.params = jax.device_put(model.params, replicated)
        encoding = config.encoding
        apply = model.apply

        stride = model.info.frame_stride_samples

        def step(params: Any, pcm: jnp.ndarray, lengths: jnp.ndarray) -> tuple[Any, Any]:
            logprobs, frames = apply(params, pcm, lengths)
            # A model whose frames need more samples than one stride (wav2vec2: 400
            # every 320) gives fewer than ceil(n / stride) frames for n samples; the
            # bucket's zero padding holds the rest, so every window keeps a frame for
            # each stride it owns and a file's last window is never short.
            covering = jnp.minimum(-(-lengths // stride), logprobs.shape[1])
            frames = jnp.maximum(frames, covering.astype(frames.dtype))
            return quantize.encode_device(logprobs, encoding), frames

        self._step = jax.jit(
            step,
            in_shardings=(replicated, self.data_sharding, self.data_sharding),
            out_shardings=(self.data_sharding, self.data_sharding),
        )
        self._compiled: dict[tuple[int, int], Future[Any]] = {}
        self._compile_lock = threading.RLock()  # held while compiling without threads
        # Shapes compile in these threads as soon as the reader knows them (a new
        # bucket listed, a shard read), while the device runs earlier batches.
        self._compiler = (
            ThreadPoolExecutor(config.compile_threads, thread_name_prefix="compile")
            if config.compile_threads > 0
            else None
        )
        self._peeked: set[int] = set()  # buckets whose first shard's shapes were queued
        self._merged: dict[int, int] = {}  # bucket -> the longer length its rows run at
        self._limits: dict[int, int] = {}  # bucket length -> largest batch that fit
        self.stats = plan.WorkerStats(
            worker_id=self.worker_id,
            model_version=self.version,
            encoding=encoding,
            devices=[str(d) for d in self.devices],
            sample_rate=model.info.sample_rate,
        )
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._in: queue.Queue[Any] = queue.Queue(maxsize=config.prefetch_batches)
        self._out: queue.Queue[Any] = queue.Queue(maxsize=config.write_queue_batches)
        self._progress: Progress | None = None
        self._task: Any = None
        self._started = 0.0

    # ------------------------------------------------------------ plan

    def batch_size(self, bucket_samples: int) -> int:
        frames = self.model.num_frames(bucket_samples)
        per_device = plan.per_device_batch(
            frames, self.batch_frames, self.config.max_batch_per_device
        )
        return per_device * self.num_devices

    # ---------------------------------------------------------- reader

    def _schedule(
        self, store: Store, keeper: LeaseKeeper, shards: list[plan.Shard]
    ) -> Iterator[plan.Shard]:
        """Leased shards whose output does not exist yet, until none is left to take.

        Following a producer (``self.follow``), new shards are listed once the
        known ones are done, until ``follow()`` was true before a listing that
        found nothing new: a shard committed before the producer said it was
        finished is always in that last listing.
        """
        known = set(shards)
        pending = plan.rotate(shards, self.worker_id)
        while not self._stop.is_set():
            if not (yield from self._take(store, keeper, pending)):
                return  # stopping, or leaving leased shards to others (wait_for_leased)
            if self.follow is None:
                break
            finished = self.follow()  # before listing: see the docstring
            new = [s for s in plan.find_shards(store.list(plan.CHUNKS_PREFIX)) if s not in known]
            if not new:
                if finished:
                    break
                self._stop.wait(self.config.follow_poll_s)
                continue
            known.update(new)
            self.stats.shards_total = len(known)
            if self._progress is not None:
                self._progress.update(self._task, total=len(known))
            pending = plan.rotate(new, self.worker_id)
        if not self._stop.is_set():
            # Leases left on finished shards (by a worker that died right after
            # taking a shard someone else committed) would otherwise stay forever.
            prefix = runroot.logits_prefix(self.version) + "/"
            outputs = set(store.list(prefix))
            done = {s.key for s in known if s.output_path(self.version) in outputs}
            self.stats.leases_swept = keeper.sweep(done)

    def _take(
        self, store: Store, keeper: LeaseKeeper, pending: list[plan.Shard]
    ) -> Generator[plan.Shard, None, bool]:
        """Leased shards of ``pending`` whose output does not exist yet; True once every
        one of them is done (False: stopping, or others hold the rest and
        ``wait_for_leased`` is off)."""
        prefix = runroot.logits_prefix(self.version) + "/"
        self._peek(store, pending)
        while pending and not self._stop.is_set():
            outputs = set(store.list(prefix))
            latest = keeper.scan()
            still: list[plan.Shard] = []
            taken = False
            for shard in pending:
                if self._stop.is_set():
                    return False
                out = shard.output_path(self.version)
                if out in outputs:
                    self.stats.shards_skipped += 1
                    self._advance()
                    continue
                if not keeper.try_acquire(shard.key, latest.get(shard.key, -1)):
                    still.append(shard)
                    continue
                if store.exists(out):  # committed since the listing
                    keeper.release(shard.key)
                    self.stats.shards_skipped += 1
                    self._advance()
                    continue
                taken = True
                yield shard
            pending = still
            if pending and not taken:
                if not self.config.wait_for_leased:
                    return False
                # Every remaining shard is leased by a live worker: wait for
                # it to finish, or for its lease to expire.
                self._stop.wait(self.config.poll_s)
        return not pending and not self._stop.is_set()

    def _merge_buckets(self, store: Store, shards: list[plan.Shard]) -> None:
        """Decide which buckets run padded to the longest length (``self._merged``).

        Called on decode's complete listing only, so every worker decides the same:
        reads the lengths column of each bucket's first shard, and of every shard
        of a bucket with few enough shards to merge (plan.merged_lengths).
        """
        budget = int(self.config.merge_bucket_s * self.model.info.sample_rate)
        if budget <= 0 or self.model.info.architecture not in _PADDING_INVARIANT:
            return
        groups: dict[int, list[plan.Shard]] = {}
        for shard in shards:
            groups.setdefault(shard.bucket, []).append(shard)

        def rows_and_length(shard: plan.Shard) -> tuple[int, int]:
            column = read_parquet(store, shard.input_path, columns=[CHUNKS.c.bucket_samples])
            values = column.column(0).to_pylist()
            if not values or not values[0]:
                raise ValueError(f"{shard.key}: no bucket length")
            return len(values), int(values[0])

        # Small reads, in parallel: each is a round trip on gs://.
        with ThreadPoolExecutor(8, thread_name_prefix="survey") as pool:
            try:
                firsts = [group[0] for group in groups.values()]
                heads = dict(zip(groups, pool.map(rows_and_length, firsts), strict=True))
                if not heads:
                    return
                longest = max(length for _, length in heads.values())
                # The longest bucket's shapes are needed whatever merges: compile them now.
                self._precompile_shard(longest, next(r for r, n in heads.values() if n == longest))
                rows: dict[int, int] = {}
                for b, (first_rows, length) in heads.items():
                    gap = longest - length
                    if gap > 0 and len(groups[b]) * gap <= budget:  # else too many rows surely
                        rows[b] = first_rows
                rest = [s for b in rows for s in groups[b][1:]]
                for shard, (n, _) in zip(rest, pool.map(rows_and_length, rest), strict=True):
                    rows[shard.bucket] += n
            except (FileNotFoundError, ValueError, OSError):  # pa.ArrowInvalid is a ValueError
                return  # merge nothing; the reader reports the shard when it reads it
        self._merged = plan.merged_lengths(
            {b: length for b, (_, length) in heads.items()}, rows, budget
        )
        self.stats.merged_buckets = {str(b): n for b, n in sorted(self._merged.items())}

    def _reader(self, keeper: LeaseKeeper, shards: list[plan.Shard], complete: bool) -> None:
        store = open_store(self.root)
        try:
            if complete and self.follow is None:
                self._merge_buckets(store, shards)
            for shard in self._schedule(store, keeper, shards):
                try:
                    table = read_parquet(store, shard.input_path, columns=plan.INPUT_COLUMNS)
                    data = plan.widen(plan.shard_input(table), self._merged.get(shard.bucket, 0))
                except plan.ShardError as e:
                    _put(self._in, _Failed(shard, e.reason, e.detail), self._stop)
                    continue
                except FileNotFoundError as e:
                    _put(self._in, _Failed(shard, "missing", str(e)), self._stop)
                    continue
                except (pa.ArrowInvalid, OSError) as e:
                    _put(self._in, _Failed(shard, "unreadable", str(e)), self._stop)
                    continue
                size = self.batch_size(data.bucket_samples)
                work = _Work(shard, data, plan.plan_batches(data.num_rows, size, self.num_devices))
                self._precompile_shard(data.bucket_samples, data.num_rows)
                for first, rows, padded in work.batches:
                    batch = _Batch(
                        work, first, rows, padded, self._place(data, first, rows, padded)
                    )
                    if not _put(self._in, batch, self._stop):
                        return
        except BaseException as e:
            self._fail(e)
        finally:
            _put(self._in, _DONE, self._stop)

    def _place(
        self, data: plan.ShardInput, first: int, rows: int, size: int
    ) -> tuple[Any, Any] | None:
        """A batch padded and copied to the devices ahead of its turn (None: no room now)."""
        pcm, lengths = plan.pad_rows(
            data.pcm[first : first + rows], data.lengths[first : first + rows], size
        )
        try:
            return (
                jax.device_put(pcm, self.data_sharding),
                jax.device_put(lengths, self.data_sharding),
            )
        except Exception as e:
            if plan.is_out_of_memory(e):
                return None  # the device loop places it when it runs it
            raise

    # ----------------------------------------------------------- device

    def _precompile(self, bucket_samples: int, size: int) -> Future[Any]:
        """The executable for ``size`` rows of ``bucket_samples``, compiling (once) if new."""
        key = (bucket_samples, size)
        with self._compile_lock:
            if key not in self._compiled:
                if self._compiler is not None:
                    self._compiled[key] = self._compiler.submit(self._compile_now, *key)
                else:
                    done: Future[Any] = Future()
                    self._compiled[key] = done
                    try:
                        done.set_result(self._compile_now(*key))
                    except Exception as e:
                        done.set_exception(e)
            return self._compiled[key]

    def _precompile_shard(self, bucket_samples: int, num_rows: int) -> None:
        size = self.batch_size(bucket_samples)
        if self._compiler is None:
            return
        for padded in sorted(
            {p for _, _, p in plan.plan_batches(num_rows, size, self.num_devices)}
        ):
            self._precompile(bucket_samples, padded)

    def _peek(self, store: Store, shards: list[plan.Shard]) -> None:
        """Queue the shapes of the first shard of every bucket not seen yet."""
        if self._compiler is None:
            return
        for shard in shards:
            if shard.bucket in self._peeked or self._stop.is_set():
                continue
            self._peeked.add(shard.bucket)
            try:
                lengths = read_parquet(store, shard.input_path, columns=[CHUNKS.c.bucket_samples])
            except (FileNotFoundError, pa.ArrowInvalid, OSError):
                continue  # the reader reports it when it reads the shard
            column = lengths.column(0).to_pylist()
            if column and column[0]:
                length = max(int(column[0]), self._merged.get(shard.bucket, 0))
                self._precompile_shard(length, len(column))

    def _compile(self, bucket_samples: int, size: int) -> Any:
        """The executable, waiting for its compilation if it is not ready yet."""
        with self._compile_lock:
            ready = self._compiled.get((bucket_samples, size))
        if ready is not None and ready.done():
            return ready.result()
        start = time.perf_counter()
        future = self._precompile(bucket_samples, size)  # without threads: compiles here
        wait([future])
        self.stats.compile_wait_s += time.perf_counter() - start
        return future.result()

    def _compile_now(self, bucket_samples: int, size: int) -> Any:
        hits_before = _cache_hits()
        start = time.perf_counter()
        compiled = self._step.lower(
            self.params,
            jax.ShapeDtypeStruct((size, bucket_samples), jnp.int16, sharding=self.data_sharding),
            jax.ShapeDtypeStruct((size,), jnp.int32, sharding=self.data_sharding),
        ).compile()
        seconds = time.perf_counter() - start
        cached = _cache_hits() > hits_before
        with self._compile_lock:
            self.stats.compile_s += seconds
            self.stats.compiles_from_cache += cached
            self.stats.compiles.append(
                {
                    "bucket_samples": bucket_samples,
                    "batch": size,
                    "seconds": seconds,
                    "from_cache": cached,
                }
            )
        return compiled

    def _execute(
        self,
        data: plan.ShardInput,
        first: int,
        rows: int,
        size: int,
        placed: tuple[Any, Any] | None = None,
    ) -> list[_Piece]:
        """Rows ``[first, first + rows)`` as a batch of ``size``; split if memory runs out."""
        bucket_samples = data.bucket_samples
        limit = self._limits.get(bucket_samples, size)
        if size > limit:
            return self._split(data, first, rows, limit)
        compiled = self._compile(bucket_samples, size)
        start = time.perf_counter()
        try:
            self.hooks.check_batch(size)
            pcm, lengths = placed or self._place(data, first, rows, size) or (None, None)
            if pcm is None:
                raise plan.DeviceOutOfMemory(size, "no room for the input")
            encoded, frames = compiled(self.params, pcm, lengths)
            encoded.block_until_ready()
        except Exception as e:
            if not plan.is_out_of_memory(e):
                raise
            half = plan.split_batch(size, self.num_devices)
            if not half:
                raise _CannotFit(str(e)) from e
            self.stats.batches_split_for_memory += 1
            self._limits[bucket_samples] = half
            return self._split(data, first, rows, half)
        self.stats.device_s += time.perf_counter() - start
        self.stats.batches += 1
        self.stats.computed_samples += size * bucket_samples
        self.stats.window_samples += int(data.lengths[first : first + rows].sum())
        return [(first, rows, encoded, frames)]

    def _split(self, data: plan.ShardInput, first: int, rows: int, size: int) -> list[_Piece]:
        pieces: list[_Piece] = []
        for start in range(first, first + rows, size):
            pieces += self._execute(data, start, min(size, first + rows - start), size)
        return pieces

    def _device_loop(self, keeper: LeaseKeeper) -> None:
        failed: set[plan.Shard] = set()
        loop_start = time.perf_counter()
        compile_before = self.stats.compile_wait_s
        first = True
        while True:
            wait_start = time.perf_counter()
            item = _get(self._in, self._stop)
            waited = time.perf_counter() - wait_start
            self.stats.input_wait_s += waited
            if first:
                self.stats.first_input_wait_s = waited
                first = False
            if item is _DONE:
                break
            if isinstance(item, _Failed):
                _put(self._out, item, self._stop)
                continue
            batch: _Batch = item
            shard = batch.work.shard
            if shard in failed:
                continue
            if keeper.is_lost(shard.key):
                failed.add(shard)
                _put(self._out, _Failed(shard, "lost_lease", "another worker took it"), self._stop)
                continue
            try:
                work = batch.work
                pieces = self._execute(
                    work.data, batch.first_row, batch.rows, batch.size, batch.placed
                )
                batch.placed = None  # free the device copy as soon as it is used
            except _CannotFit as e:
                failed.add(shard)
                _put(self._out, _Failed(shard, "out_of_memory", str(e)), self._stop)
                continue
            if not _put(self._out, (batch, pieces), self._stop):
                break
            self.hooks.after_batch(shard.key, keeper)
        self.stats.loop_s = (
            time.perf_counter() - loop_start - (self.stats.compile_wait_s - compile_before)
        )

    # ----------------------------------------------------------- writer

    def _writer(self, keeper: LeaseKeeper) -> None:
        store = open_store(self.root)
        vocab_size = len(self.model.info.vocab)
        try:
            while True:
                item = self._out.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    if item.reason == "lost_lease":
                        self.stats.shards_lost_lease += 1
                    else:
                        self.stats.shards_failed.append(
                            {"shard": item.shard.key, "reason": item.reason, "detail": item.detail}
                        )
                    keeper.release(item.shard.key)
                    continue
                batch, pieces = item
                work: _Work = batch.work
                for first, rows, encoded, frames in pieces:
                    host = np.asarray(encoded)
                    counts = np.asarray(frames)
                    for i in range(rows):
                        n = int(counts[i])
                        work.num_frames[first + i] = n
                        work.logprobs[first + i] = quantize.encoded_bytes(host[i, :n])
                work.remaining -= 1
                if work.remaining == 0:
                    self._commit(store, keeper, work, vocab_size)
        except BaseException as e:
            self._fail(e)
            # Keep draining so the device loop is never blocked on a dead writer.
            while self._out.get() is not _DONE:
                pass

    def _commit(self, store: Store, keeper: LeaseKeeper, work: _Work, vocab_size: int) -> None:
        table = plan.logits_table(
            work.data,
            work.shard.bucket,
            self.version,
            self.config.encoding,
            vocab_size,
            work.num_frames,
            work.logprobs,
        )
        if commit_parquet_if_absent(store, work.shard.output_path(self.version), table):
            self.stats.shards_done += 1
        else:
            self.stats.shards_committed_by_other += 1
        keeper.release(work.shard.key)
        self.stats.rows += work.data.num_rows
        self.stats.audio_samples += int(work.data.owned_samples.sum())
        self._advance()

    # --------------------------------------------------------- progress

    def _advance(self) -> None:
        """One more shard finished (by this worker or, found done, by another)."""
        if self._progress is None:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        audio_s = self.stats.audio_samples / self.model.info.sample_rate
        self._progress.update(
            self._task, advance=1, hours=audio_s / 3600, rtfx=f"{audio_s / elapsed:.0f}"
        )

    def _fail(self, error: BaseException) -> None:
        self._errors.append(error)
        self._stop.set()

    # -------------------------------------------------------------- run

    def run(self) -> dict[str, Any]:
        store = open_store(self.root)
        self._started = time.perf_counter()
        listing = store.list(plan.CHUNKS_PREFIX)
        shards = plan.find_shards(listing)
        complete = f"{plan.CHUNKS_PREFIX}_SUCCESS" in listing  # decode finished: all listed
        self.stats.shards_total = len(shards)
        leases = Leases(
            open_store(self.root),
            runroot.leases_prefix(self.version),
            self.worker_id,
            self.config.lease_ttl_s,
        )
        progress = Progress(
            TextColumn(f"[bold]infer[/bold] {self.version}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("shards"),
            TextColumn("{task.fields[hours]:.2f} h audio"),
            TextColumn("RTFx {task.fields[rtfx]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.show_progress,
        )
        with LeaseKeeper(leases) as keeper, progress:
            self._progress = progress
            self._task = progress.add_task("infer", total=len(shards), hours=0.0, rtfx="-")
            reader = threading.Thread(
                target=self._reader, args=(keeper, shards, complete), name="reader"
            )
            writer = threading.Thread(target=self._writer, args=(keeper,), name="writer")
            reader.start()
            writer.start()
            try:
                self._device_loop(keeper)
            except BaseException as e:
                self._fail(e)
            finally:
                reader.join()  # a reader blocked on a full queue gives up once stopping
                self._out.put(_DONE)
                writer.join()
                if self._compiler is not None:
                    self._compiler.shutdown(wait=True, cancel_futures=True)
            self.stats.lease_renewals = keeper.renewals
            self.stats.lease_errors = list(keeper.errors)
            for shard in keeper.held():  # only after a failure: let others take them now
                keeper.release(shard)
        self.stats.run_s = time.perf_counter() - self._started
        if self._errors:
            raise self._errors[0]
        summary = self.stats.to_dict()
        store.write_bytes(
            runroot.worker_summary(self.version, self.worker_id),
            (json.dumps(summary, indent=2) + "\n").encode(),
        )
        return summary

"""Tiny models and tiny ``chunks`` run roots for the accelerator stage's tests (no tests here)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pyarrow as pa

from galvasr.model.checkpoint import save_model
from galvasr.model.convctc import ConvCTC, ConvCTCConfig
from galvasr.model.vocab import DEFAULT_VOCAB
from galvasr.schemas import CHUNKS
from galvasr.storage import Store, write_parquet

TINY = ConvCTCConfig(width=16, num_blocks=1, kernel_size=3, n_mels=16, expansion=1)


def save_tiny_model(folder: Path, seed: int = 0, name: str = "tiny") -> str:
    """A random-weight ConvCTC small enough to compile in a second; returns its model_version."""
    params = ConvCTC(TINY).init(
        jax.random.PRNGKey(seed), jnp.zeros((1, 1600), jnp.int16), jnp.ones((1,), jnp.int32)
    )["params"]
    return save_model(folder, name, TINY, params, DEFAULT_VOCAB)


def chunk_table(bucket_samples: int, rows: int, seed: int, first_audio_id: int = 0) -> pa.Table:
    """``rows`` chunks of random speech-like noise, as decode writes them (no bucket column)."""
    rng = np.random.default_rng(seed)
    names = [c for c in CHUNKS.columns if c != CHUNKS.c.bucket]
    data: dict[str, list[object]] = {n: [] for n in names}
    for i in range(rows):
        context = min(160, bucket_samples // 8)
        owned = int(rng.integers(bucket_samples // 4, bucket_samples - 2 * context + 1))
        pcm = np.zeros(bucket_samples, np.int16)
        length = owned + 2 * context
        pcm[:length] = (rng.standard_normal(length) * 3000).astype(np.int16)
        data["audio_id"].append(first_audio_id + i // 3)
        data["chunk_index"].append(i % 3)
        data["bucket_samples"].append(bucket_samples)
        data["start_sample"].append(1000 * (i % 3))
        data["num_samples"].append(owned)
        data["context_before_samples"].append(context)
        data["context_after_samples"].append(context)
        data["pcm"].append(pcm.astype("<i2").tobytes())
    schema = pa.schema([f for f in CHUNKS.arrow if f.name != CHUNKS.c.bucket])
    return pa.Table.from_pydict(data, schema=schema)


def write_chunks(store: Store, layout: list[tuple[int, int, int]]) -> list[str]:
    """Shards ``(bucket, bucket_samples, rows)`` under ``chunks/``; returns their keys."""
    keys = []
    for n, (bucket, samples, rows) in enumerate(layout):
        key = f"bucket={bucket}/part-{n:05d}-c000.zstd.parquet"
        table = chunk_table(samples, rows, seed=n, first_audio_id=n * 100)
        write_parquet(store, f"chunks/{key}", table)
        keys.append(key)
    store.write_bytes("chunks/_SUCCESS", b"")
    return keys

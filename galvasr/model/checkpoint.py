"""galvasr's own checkpoint format: a folder with ``model.json`` and ``weights.msgpack``.

``model.json`` holds the architecture's hyper-parameters, the vocabulary, the
blank index, the frame stride, the sample rate and ``model_version``;
``weights.msgpack`` the parameters (flax.serialization, float32). Loading
checks every tensor's presence and shape, the vocabulary against the output
layer, the weights against the version's hash and the sample rate against
the caller's, so a bad checkpoint fails here with a message and never later
with a shape error.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization
from flax.traverse_util import flatten_dict

from galvasr.model.contract import CheckpointError, LoadedModel, ModelInfo
from galvasr.model.convctc import ConvCTC, ConvCTCConfig, num_frames
from galvasr.model.vocab import Vocabulary

FORMAT = "galvasr-model/1"
MODEL_JSON = "model.json"
WEIGHTS = "weights.msgpack"


def model_version(name: str, weights: bytes) -> str:
    return f"{name}-{hashlib.sha256(weights).hexdigest()[:8]}"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_model(
    folder: Path,
    name: str,
    config: ConvCTCConfig,
    params: Any,
    vocab: Vocabulary,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write a checkpoint folder; returns its model_version."""
    folder.mkdir(parents=True, exist_ok=True)
    host = jax.tree.map(lambda a: np.asarray(a, dtype=np.float32), params)
    weights = serialization.msgpack_serialize(serialization.to_state_dict(host))
    version = model_version(name, weights)
    meta = {
        "format": FORMAT,
        "name": name,
        "model_version": version,
        "architecture": "convctc",
        "config": config.to_dict(),
        "vocab": list(vocab.symbols),
        "blank_index": vocab.blank_index,
        "word_separator": vocab.word_separator,
        "frame_stride_samples": config.frame_stride_samples,
        "sample_rate": config.sample_rate,
        **(extra or {}),
    }
    _atomic_write(folder / WEIGHTS, weights)
    _atomic_write(folder / MODEL_JSON, (json.dumps(meta, indent=2) + "\n").encode())
    return version


def _expected_shapes(config: ConvCTCConfig) -> dict[str, tuple[int, ...]]:
    model = ConvCTC(config)
    shapes = jax.eval_shape(
        model.init,
        jax.random.PRNGKey(0),
        jnp.zeros((1, 1600), jnp.int16),
        jnp.ones((1,), jnp.int32),
    )
    return {"/".join(k): tuple(v.shape) for k, v in flatten_dict(shapes["params"]).items()}


def check_weights(params: Any, expected: dict[str, tuple[int, ...]], where: str) -> None:
    """Raise CheckpointError naming every missing, unexpected or misshapen tensor."""
    got = {"/".join(k): tuple(np.shape(v)) for k, v in flatten_dict(params).items()}
    problems = []
    for key in sorted(expected.keys() - got.keys()):
        problems.append(f"missing tensor {key} (shape {expected[key]})")
    for key in sorted(got.keys() - expected.keys()):
        problems.append(f"unexpected tensor {key} (shape {got[key]})")
    for key in sorted(expected.keys() & got.keys()):
        if expected[key] != got[key]:
            problems.append(f"tensor {key} has shape {got[key]}, the model needs {expected[key]}")
    if problems:
        raise CheckpointError(f"{where}: " + "; ".join(problems))


def _field(meta: dict[str, Any], key: str, where: Path) -> Any:
    if key not in meta:
        raise CheckpointError(f"{where}: {MODEL_JSON} lacks {key!r}")
    return meta[key]


def load_galvasr(folder: Path, *, sample_rate: int | None, precision: str) -> LoadedModel:
    meta_path, weights_path = folder / MODEL_JSON, folder / WEIGHTS
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise CheckpointError(f"{folder}: {p.name} is missing")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{meta_path}: not valid JSON ({e})") from None
    if _field(meta, "format", folder) != FORMAT:
        raise CheckpointError(f"{folder}: format {meta['format']!r}, expected {FORMAT!r}")
    try:
        config = ConvCTCConfig(**_field(meta, "config", folder))
    except TypeError as e:
        raise CheckpointError(f"{folder}: bad architecture config ({e})") from None
    try:
        vocab = Vocabulary(
            symbols=tuple(_field(meta, "vocab", folder)),
            blank_index=int(_field(meta, "blank_index", folder)),
            word_separator=str(meta.get("word_separator", " ")),
        )
    except ValueError as e:
        raise CheckpointError(f"{folder}: bad vocabulary: {e}") from None
    if len(vocab) != config.vocab_size:
        raise CheckpointError(
            f"{folder}: vocabulary has {len(vocab)} symbols, the model outputs {config.vocab_size}"
        )
    model_rate = int(_field(meta, "sample_rate", folder))
    if model_rate != config.sample_rate:
        raise CheckpointError(
            f"{folder}: sample_rate {model_rate} disagrees with the config's {config.sample_rate}"
        )
    if sample_rate is not None and sample_rate != model_rate:
        raise CheckpointError(
            f"{folder}: the model takes {model_rate} Hz audio, not {sample_rate} Hz"
        )
    stride = int(_field(meta, "frame_stride_samples", folder))
    if stride != config.frame_stride_samples:
        raise CheckpointError(
            f"{folder}: frame_stride_samples {stride} disagrees with the architecture's "
            f"{config.frame_stride_samples}"
        )
    weights = weights_path.read_bytes()
    name = str(_field(meta, "name", folder))
    version = model_version(name, weights)
    if _field(meta, "model_version", folder) != version:
        raise CheckpointError(
            f"{folder}: {WEIGHTS} hashes to {version}, but {MODEL_JSON} says "
            f"{meta['model_version']}: the weights changed after export"
        )
    try:
        params = serialization.msgpack_restore(weights)
    except Exception as e:  # msgpack raises several unrelated types on corrupt input
        raise CheckpointError(f"{weights_path}: not a readable msgpack file ({e})") from None
    check_weights(params, _expected_shapes(config), str(weights_path))
    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    params = jax.tree.map(lambda a: jnp.asarray(a, dtype=dtype), params)
    module = ConvCTC(config, dtype=dtype)

    def apply(p: Any, pcm: jnp.ndarray, lengths: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        return module.apply({"params": p}, pcm, lengths)  # type: ignore[return-value]

    info = ModelInfo(
        name=name,
        model_version=version,
        vocab=vocab,
        frame_stride_samples=stride,
        sample_rate=model_rate,
        architecture="convctc",
    )
    return LoadedModel(
        info=info,
        params=params,
        apply=apply,
        num_frames=lambda n: num_frames(n, config),
        precision=precision,
    )

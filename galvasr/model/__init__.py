"""CTC acoustic models behind one interface.

``load_model(path)`` returns a ``LoadedModel``: call it on PCM ``[batch,
samples]`` and lengths to get log-probabilities ``[batch, frames, vocab]``
and frame counts; its ``info`` (a ``ModelInfo``) is the log-probability
contract: vocabulary, blank index, frame stride in samples, sample rate and
model version. Two checkpoint kinds load:

- galvasr's own (``model.json`` + ``weights.msgpack``; see
  galvasr.model.checkpoint), such as the committed ``models/galvasr-small``;
- a Hugging Face CTC folder (wav2vec2, HuBERT, WavLM, data2vec-audio,
  wav2vec2-conformer: ``config.json``, ``model.safetensors``, ``vocab.json``;
  see galvasr.model.hf).
"""

from __future__ import annotations

from pathlib import Path

from galvasr.model.contract import (
    PRECISIONS,
    CheckpointError,
    FrameClock,
    LoadedModel,
    ModelInfo,
)
from galvasr.model.greedy import greedy_decode, greedy_decode_batch
from galvasr.model.vocab import DEFAULT_VOCAB, Vocabulary

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_MODEL = REPO_ROOT / "models" / "galvasr-small"


def load_model(
    path: Path | str = DEFAULT_MODEL,
    *,
    sample_rate: int | None = 16_000,
    precision: str = "float32",
) -> LoadedModel:
    """Load and check a checkpoint folder; raises CheckpointError naming any problem.

    ``sample_rate`` is the rate of the audio the caller will feed (``None``
    skips the check); a model that takes another rate fails here.
    """
    folder = Path(path)
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such checkpoint folder")
    if (folder / "model.json").exists():
        from galvasr.model.checkpoint import load_galvasr

        return load_galvasr(folder, sample_rate=sample_rate, precision=precision)
    if (folder / "config.json").exists():
        from galvasr.model.wav2vec2 import load_wav2vec2

        return load_wav2vec2(folder, sample_rate=sample_rate, precision=precision)
    raise CheckpointError(
        f"{folder}: neither a galvasr checkpoint (model.json) "
        "nor a Hugging Face CTC one (config.json)"
    )


__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_VOCAB",
    "PRECISIONS",
    "CheckpointError",
    "FrameClock",
    "LoadedModel",
    "ModelInfo",
    "Vocabulary",
    "greedy_decode",
    "greedy_decode_batch",
    "load_model",
]

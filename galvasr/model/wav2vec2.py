"""Hugging Face CTC checkpoints: the entry point ``load_model`` calls.

``load_wav2vec2`` loads any family of galvasr.model.hf (``Wav2Vec2ForCTC``,
``HubertForCTC``, ``WavLMForCTC``, ``Data2VecAudioForCTC``,
``Wav2Vec2ConformerForCTC``), choosing by ``architectures`` (or
``model_type``) in ``config.json``; see galvasr.model.hf for the forward
passes and what is checked at load time.

The feature extractor's input normalisation (zero mean, unit variance over
the valid samples, when ``do_normalize``) happens inside the jitted
function, so the model takes PCM like galvasr's own. The vocabulary keeps
its symbols (upper-case letters, ``|`` between words); ``pad_token_id`` is
the CTC blank. The model version hashes every file the outputs depend on,
not the folder's name.
"""

from __future__ import annotations

from pathlib import Path

from galvasr.model.contract import LoadedModel
from galvasr.model.hf.model import load_hf


def load_wav2vec2(folder: Path, *, sample_rate: int | None, precision: str) -> LoadedModel:
    """Load and check a Hugging Face CTC folder (any supported family)."""
    return load_hf(folder, sample_rate=sample_rate, precision=precision)

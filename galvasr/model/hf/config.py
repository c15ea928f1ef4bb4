"""``config.json`` of a Hugging Face CTC checkpoint: which family, and its hyper-parameters.

One frozen ``HFConfig`` holds the fields every supported family's forward
pass reads. Fields a family does not have keep the default of that family's
transformers config class (``save_pretrained`` omits nothing, but hand-written
or older files may), so a folder behaves here as it does in transformers.
Anything the JAX forward pass does not implement is refused here, in one
``CheckpointError`` line naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from galvasr.model.contract import CheckpointError


@dataclass(frozen=True)
class Family:
    """One transformers CTC class: its ``model_type`` and the prefix of its tensors."""

    architecture: str
    model_type: str
    prefix: str


FAMILIES = {
    f.architecture: f
    for f in (
        Family("Wav2Vec2ForCTC", "wav2vec2", "wav2vec2."),
        Family("HubertForCTC", "hubert", "hubert."),
        Family("WavLMForCTC", "wavlm", "wavlm."),
        Family("Data2VecAudioForCTC", "data2vec-audio", "data2vec_audio."),
        Family("Wav2Vec2ConformerForCTC", "wav2vec2-conformer", "wav2vec2_conformer."),
    )
}
_BY_MODEL_TYPE = {f.model_type: f for f in FAMILIES.values()}

ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "swish", "silu")
CONFORMER_POSITIONS = ("relative", "rotary", None)

# Defaults of Wav2Vec2Config, and where another family's class differs.
_DEFAULTS: dict[str, Any] = {
    "conv_bias": False,
    "feat_extract_norm": "group",
    "feat_extract_activation": "gelu",
    "hidden_act": "gelu",
    "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16,
    "do_stable_layer_norm": False,
    "layer_norm_eps": 1e-5,
    "pad_token_id": 0,
    "adapter_attn_dim": None,
    "feat_proj_layer_norm": True,  # HubertConfig
    "conv_pos_batch_norm": False,  # HubertConfig
    "conv_pos_kernel_size": 19,  # Data2VecAudioConfig
    "num_buckets": 320,  # WavLMConfig
    "max_bucket_distance": 800,  # WavLMConfig
    "position_embeddings_type": "relative",  # Wav2Vec2ConformerConfig
    "rotary_embedding_base": 10000,
    "conv_depthwise_kernel_size": 31,
}
_NULLABLE = ("adapter_attn_dim", "position_embeddings_type")
_FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "data2vec-audio": {"num_conv_pos_embeddings": 5},
}
# Fields whose value a family's modeling code ignores (it has one fixed structure,
# or the field belongs to another family's config class).
_NOT_HUBERT = {"feat_proj_layer_norm": True, "conv_pos_batch_norm": False}
_FAMILY_FIXED: dict[str, dict[str, Any]] = {
    "wav2vec2": _NOT_HUBERT,
    "wavlm": _NOT_HUBERT,
    "data2vec-audio": {**_NOT_HUBERT, "feat_extract_norm": "layer", "do_stable_layer_norm": False},
    "wav2vec2-conformer": {**_NOT_HUBERT, "do_stable_layer_norm": False},
}


def family_of(raw: dict[str, Any], where: Path) -> Family:
    """The supported family named by ``architectures`` (or, lacking it, ``model_type``)."""
    archs = raw.get("architectures")
    if archs:
        known = [FAMILIES[a] for a in archs if a in FAMILIES]
        if not known:
            raise CheckpointError(
                f"{where}: architectures {archs}, not a supported CTC model ({', '.join(FAMILIES)})"
            )
        return known[0]
    model_type = raw.get("model_type", "wav2vec2")
    if model_type not in _BY_MODEL_TYPE:
        raise CheckpointError(
            f"{where}: model_type {model_type!r} and no architectures; supported: "
            f"{', '.join(_BY_MODEL_TYPE)}"
        )
    return _BY_MODEL_TYPE[model_type]


@dataclass(frozen=True)
class HFConfig:
    """The ``config.json`` fields the forward pass of any supported family reads."""

    family: str
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    conv_dim: tuple[int, ...]
    conv_kernel: tuple[int, ...]
    conv_stride: tuple[int, ...]
    conv_bias: bool
    feat_extract_norm: str
    feat_extract_activation: str
    hidden_act: str
    num_conv_pos_embeddings: int
    num_conv_pos_embedding_groups: int
    do_stable_layer_norm: bool
    layer_norm_eps: float
    pad_token_id: int
    adapter_attn_dim: int | None
    feat_proj_layer_norm: bool
    conv_pos_batch_norm: bool
    conv_pos_kernel_size: int
    num_buckets: int
    max_bucket_distance: int
    position_embeddings_type: str | None
    rotary_embedding_base: float
    conv_depthwise_kernel_size: int

    @classmethod
    def from_json(cls, raw: dict[str, Any], family: Family, where: Path) -> HFConfig:
        defaults = {**_DEFAULTS, **_FAMILY_DEFAULTS.get(family.model_type, {})}
        values: dict[str, Any] = {"family": family.model_type}
        for f in fields(cls):
            name = f.name
            if name == "family":
                continue
            if name in raw and (raw[name] is not None or name in _NULLABLE):
                values[name] = raw[name]
            elif name in defaults:
                values[name] = defaults[name]
            else:
                raise CheckpointError(f"{where}: config.json lacks {name!r}")
        values.update(_FAMILY_FIXED.get(family.model_type, {}))
        for name in ("conv_dim", "conv_kernel", "conv_stride"):
            values[name] = tuple(int(v) for v in values[name])
        _check(values, raw, where)
        return cls(**values)

    @property
    def prefix(self) -> str:
        return _BY_MODEL_TYPE[self.family].prefix

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def has_adapters(self) -> bool:
        """MMS language adapters: only the pre-norm wav2vec2 (and HuBERT) layers have them."""
        return (
            self.adapter_attn_dim is not None
            and self.do_stable_layer_norm
            and self.family in ("wav2vec2", "hubert")
        )

    @property
    def frame_stride_samples(self) -> int:
        return int(np.prod(self.conv_stride))

    @property
    def frame_receptive_samples(self) -> int:
        """Samples the conv stack needs for one frame (400 for wav2vec2's)."""
        field, jump = 1, 1
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            field += (k - 1) * jump
            jump *= s
        return field

    def num_frames(self, num_samples: int) -> int:
        n = num_samples
        for k, s in zip(self.conv_kernel, self.conv_stride, strict=True):
            n = max(0, (n - k) // s + 1)
        return n


def _check(v: dict[str, Any], raw: dict[str, Any], where: Path) -> None:
    """Refuse, in one line, what the JAX forward pass does not implement."""
    if not len(v["conv_dim"]) == len(v["conv_kernel"]) == len(v["conv_stride"]):
        raise CheckpointError(f"{where}: conv_dim, conv_kernel and conv_stride differ in length")
    if v["feat_extract_norm"] not in ("group", "layer"):
        raise CheckpointError(
            f"{where}: feat_extract_norm {v['feat_extract_norm']!r}, not 'group' or 'layer'"
        )
    for key in ("feat_extract_activation", "hidden_act"):
        if v[key] not in ACTIVATIONS:
            raise CheckpointError(f"{where}: {key} {v[key]!r} is not supported ({ACTIVATIONS})")
    if v["hidden_size"] % v["num_attention_heads"]:
        raise CheckpointError(
            f"{where}: hidden_size {v['hidden_size']} is not a multiple of "
            f"num_attention_heads {v['num_attention_heads']}"
        )
    if raw.get("add_adapter"):
        raise CheckpointError(
            f"{where}: add_adapter (a convolutional adapter after the encoder) is not supported"
        )
    if v["family"] == "wav2vec2-conformer":
        if v["position_embeddings_type"] not in CONFORMER_POSITIONS:
            raise CheckpointError(
                f"{where}: position_embeddings_type {v['position_embeddings_type']!r} is not "
                "supported (relative, rotary or null)"
            )
        if v["conv_depthwise_kernel_size"] % 2 == 0:
            raise CheckpointError(
                f"{where}: conv_depthwise_kernel_size {v['conv_depthwise_kernel_size']} is even"
            )

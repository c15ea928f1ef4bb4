"""Tiny random-weight Hugging Face CTC folders, and transformers' log-probabilities on them.

Shared by the Hugging Face loader's tests: nothing is downloaded, every
folder is built here with ``XForCTC(config).save_pretrained``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"ETAONIHSRDLUMWCFGYPBVK'XJQZ"]

# architecture -> (config class, model class), both in transformers
CLASSES = {
    "Wav2Vec2ForCTC": ("Wav2Vec2Config", "Wav2Vec2ForCTC"),
    "HubertForCTC": ("HubertConfig", "HubertForCTC"),
    "WavLMForCTC": ("WavLMConfig", "WavLMForCTC"),
    "Data2VecAudioForCTC": ("Data2VecAudioConfig", "Data2VecAudioForCTC"),
    "Wav2Vec2ConformerForCTC": ("Wav2Vec2ConformerConfig", "Wav2Vec2ConformerForCTC"),
}

TINY: dict[str, Any] = {
    "vocab_size": len(VOCAB),
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 48,
    "conv_dim": (24, 24, 24),
    "conv_kernel": (10, 3, 3),
    "conv_stride": (5, 4, 2),
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "pad_token_id": 0,
}


def save_tiny(
    folder: Path,
    architecture: str = "Wav2Vec2ForCTC",
    *,
    seed: int = 0,
    processor: dict[str, Any] | None = None,
    vocab: dict[str, Any] | None = None,
    **overrides: Any,
) -> Path:
    """A random ``architecture`` folder: weights, config, vocab.json, preprocessor config.

    Every parameter and batch-norm statistic is perturbed, so no norm is
    trivially 1 or 0. ``processor`` (default: 16 kHz, normalised, attention
    mask for layer-norm encoders) goes to ``preprocessor_config.json``.
    """
    import torch
    import transformers

    config_cls, model_cls = (getattr(transformers, n) for n in CLASSES[architecture])
    config = config_cls(**{**TINY, **overrides})
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn_like(b) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(1.0 + torch.rand_like(b))
    model.save_pretrained(folder, safe_serialization=True)
    (folder / "vocab.json").write_text(
        json.dumps(vocab if vocab is not None else {s: i for i, s in enumerate(VOCAB)})
    )
    if processor is None:
        layer_norm = architecture == "Data2VecAudioForCTC" or config.feat_extract_norm == "layer"
        processor = {
            "sampling_rate": 16000,
            "do_normalize": True,
            "return_attention_mask": layer_norm,
        }
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


def audio(n: int, seed: int = 1) -> np.ndarray:
    t = np.arange(n) / 16000
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * 220 * t) * 0.3 + rng.standard_normal(n) * 0.05).astype(np.float32)


def transformers_logprobs(
    folder: Path,
    rows: list[np.ndarray],
    *,
    do_normalize: bool = True,
    attention_mask: bool = False,
    **from_pretrained: Any,
) -> list[np.ndarray]:
    """transformers' log-probabilities of ``rows``, padded and masked as its processor would.

    Each row normalised over its own samples (if ``do_normalize``), padded
    with zeros to the longest, the attention mask passed if asked; the
    result keeps each row's valid frames only.
    """
    import torch
    import transformers

    arch = json.loads((folder / "config.json").read_text())["architectures"][0]
    model = getattr(transformers, CLASSES[arch][1]).from_pretrained(folder, **from_pretrained)
    model.eval()
    longest = max(len(r) for r in rows)
    batch = np.zeros((len(rows), longest), np.float32)
    mask = np.zeros((len(rows), longest), np.int64)
    for i, r in enumerate(rows):
        batch[i, : len(r)] = (r - r.mean()) / np.sqrt(r.var() + 1e-7) if do_normalize else r
        mask[i, : len(r)] = 1
    with torch.no_grad():
        kwargs = {"attention_mask": torch.from_numpy(mask)} if attention_mask else {}
        logits = model(torch.from_numpy(batch), **kwargs).logits
        lengths = model._get_feat_extract_output_lengths(torch.tensor([len(r) for r in rows]))
    lp = torch.log_softmax(logits, dim=-1).numpy()
    return [lp[i, : int(n)] for i, n in enumerate(lengths)]

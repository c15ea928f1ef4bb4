"""The files of a Hugging Face checkpoint folder besides the weights.

- the processor settings (``preprocessor_config.json``, or transformers 5's
  ``processor_config.json`` with them under ``feature_extractor``):
  ``sampling_rate``, ``do_normalize``, ``return_attention_mask``;
- the vocabulary (``vocab.json``, with ``tokenizer_config.json``,
  ``special_tokens_map.json`` and ``added_tokens.json`` for the special
  tokens, the word delimiter and, for a multilingual MMS vocabulary, the
  language);
- the model version: a hash over the content of every file the outputs
  depend on, so that copying a folder keeps it and any change that can
  change a log-probability or its meaning gives a new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from galvasr.model.contract import CheckpointError
from galvasr.model.vocab import Vocabulary

SAMPLE_RATE = 16_000
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")
TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
# Keys of config.json that record who wrote the file, not what the model computes.
_VOLATILE = frozenset({"transformers_version", "_name_or_path"})
_SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
_DEFAULT_SPECIALS = ("<s>", "</s>", "<unk>", "<pad>")
_LOOKS_SPECIAL = re.compile(r"^(<[^<>\s]+>|\[[A-Za-z_]+\])$")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None


@dataclass(frozen=True)
class Processor:
    """What the feature extractor does to PCM before the model sees it."""

    sampling_rate: int
    do_normalize: bool
    # None when no file says; the loader then decides from the architecture.
    return_attention_mask: bool | None


def read_processor(folder: Path) -> Processor:
    """The feature-extractor settings of ``folder``; refuses what galvasr cannot feed."""
    found: dict[str, tuple[Any, str]] = {}
    for name in PROCESSOR_FILES:
        path = folder / name
        if not path.is_file():
            continue
        raw = read_json(path)
        settings = raw.get("feature_extractor", raw) if isinstance(raw, dict) else None
        if not isinstance(settings, dict):
            raise CheckpointError(f"{path}: expected a JSON object of feature-extractor settings")
        for key in ("sampling_rate", "do_normalize", "return_attention_mask", "feature_size"):
            if settings.get(key) is None:
                continue
            if key in found and found[key][0] != settings[key]:
                raise CheckpointError(
                    f"{folder}: {key} is {found[key][0]!r} in {found[key][1]} "
                    f"but {settings[key]!r} in {name}"
                )
            found[key] = (settings[key], name)
    rate, rate_file = found.get("sampling_rate", (SAMPLE_RATE, "default"))
    if int(rate) != SAMPLE_RATE:
        raise CheckpointError(
            f"{folder}: the model takes {rate} Hz audio (sampling_rate in {rate_file}); "
            f"galvasr feeds {SAMPLE_RATE} Hz only"
        )
    size, size_file = found.get("feature_size", (1, "default"))
    if int(size) != 1:
        raise CheckpointError(
            f"{folder}: feature_size {size} in {size_file}; only raw waveforms (1) are supported"
        )
    mask = found.get("return_attention_mask")
    return Processor(
        sampling_rate=int(rate),
        do_normalize=bool(found.get("do_normalize", (True, ""))[0]),
        return_attention_mask=None if mask is None else bool(mask[0]),
    )


def _tokenizer_settings(folder: Path) -> dict[str, Any]:
    """tokenizer_config.json over special_tokens_map.json, as transformers reads them."""
    merged: dict[str, Any] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        if (folder / name).is_file():
            raw = read_json(folder / name)
            if not isinstance(raw, dict):
                raise CheckpointError(f"{folder / name}: expected a JSON object")
            merged.update(raw)
    return merged


def _token(value: Any) -> str | None:
    if isinstance(value, dict):  # AddedToken as saved: {"content": "<unk>", ...}
        value = value.get("content")
    return value if isinstance(value, str) else None


def language(folder: Path) -> str | None:
    """``target_lang`` of the tokenizer: the language of an MMS checkpoint."""
    lang = _tokenizer_settings(folder).get("target_lang")
    return lang if isinstance(lang, str) and lang else None


@dataclass(frozen=True)
class VocabFile:
    """``vocab.json`` read: symbols by index, and which of them are never text."""

    symbols: tuple[str, ...]
    word_separator: str
    special_indices: tuple[int, ...]


def read_vocab(folder: Path, *, lang: str | None) -> VocabFile:
    """Symbols of ``vocab.json`` (of language ``lang`` if it is multilingual)."""
    path = folder / "vocab.json"
    raw = read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"{path}: expected a JSON object of symbol -> index")
    if all(isinstance(v, dict) for v in raw.values()):  # MMS: {lang: {symbol: index}}
        langs = sorted(raw)
        shown = ", ".join(langs[:8]) + (f" and {len(langs) - 8} more" if len(langs) > 8 else "")
        if lang is None:
            raise CheckpointError(
                f"{path}: a multilingual vocabulary ({shown}) and no target_lang in "
                "tokenizer_config.json to choose one"
            )
        if lang not in raw:
            raise CheckpointError(f"{path}: target_lang {lang!r} is not one of {shown}")
        raw = raw[lang]
    by_index: dict[int, str] = {}
    for sym, idx in raw.items():
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise CheckpointError(f"{path}: index of {sym!r} is {idx!r}, not an integer")
        if idx in by_index:
            raise CheckpointError(
                f"{path}: index {idx} given to both {by_index[idx]!r} and {sym!r}"
            )
        by_index[idx] = sym
    if sorted(by_index) != list(range(len(by_index))):
        raise CheckpointError(f"{path}: indices are not 0..{len(by_index) - 1} without gaps")
    symbols = tuple(by_index[i] for i in range(len(by_index)))

    settings = _tokenizer_settings(folder)
    separator = _token(settings.get("word_delimiter_token")) or "|"
    if separator not in symbols:
        raise CheckpointError(f"{path}: no word separator {separator!r} in the vocabulary")
    named = {_token(settings.get(k)) for k in _SPECIAL_TOKEN_KEYS} | set(_DEFAULT_SPECIALS)
    for entry in (settings.get("added_tokens_decoder") or {}).values():
        if isinstance(entry, dict) and entry.get("special"):
            named.add(_token(entry))
    special = tuple(
        i
        for i, s in enumerate(symbols)
        if s != separator and (s in named or _LOOKS_SPECIAL.match(s))
    )
    return VocabFile(symbols, separator, special)


def vocabulary(v: VocabFile, *, blank_index: int, where: Path) -> Vocabulary:
    """The galvasr Vocabulary of ``v`` with ``blank_index`` the CTC blank."""
    if not 0 <= blank_index < len(v.symbols):
        raise CheckpointError(
            f"{where}: pad_token_id {blank_index} (the blank) is outside the vocabulary"
        )
    letters = [s for s in v.symbols if len(s) == 1 and s.isalpha()]
    if not letters:
        raise CheckpointError(f"{where}: the vocabulary has no letters")
    upper = sum(s.isupper() for s in letters) > len(letters) / 2
    return Vocabulary(
        v.symbols,
        blank_index=blank_index,
        word_separator=v.word_separator,
        upper=upper,
        special_indices=tuple(sorted({*v.special_indices, blank_index})),
    )


# ------------------------------------------------------------------ version


def _canonical_json(path: Path) -> bytes:
    """The JSON value of ``path``, key order and layout not counted."""
    raw = read_json(path)
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k not in _VOLATILE}
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_version(model_type: str, folder: Path, weights: list[Path]) -> str:
    """``<model_type>-<8 hex digits>`` of a SHA-256 over everything the outputs depend on.

    The weight files byte for byte (each shard of a sharded checkpoint, and
    an MMS adapter file if one is loaded); ``config.json``, ``vocab.json``, the
    tokenizer files and the processor config as JSON values (so reformatting
    one is not a new model, but changing any value, such as an activation,
    ``do_normalize`` or which index a symbol has, is). The folder's name and
    place are not hashed: a copy has the same version.
    """
    h = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    for name in ("config.json", "vocab.json", *TOKENIZER_FILES, *PROCESSOR_FILES):
        if (folder / name).is_file():
            part(name, _canonical_json(folder / name))
    for path in weights:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                digest.update(block)
        part(path.name, digest.digest())
    return f"{model_type}-{h.hexdigest()[:8]}"

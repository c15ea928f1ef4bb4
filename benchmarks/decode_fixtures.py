"""Test audio for the decode benchmarks: synthetic speech over noise, looped to any length.

Speech comes from espeak-ng where it is installed (a tone-and-noise signal
otherwise), is looped and mixed with quiet noise in numpy, and is encoded by
the ffmpeg command line the way archive.org serves audio: 44.1 kHz stereo
MP3 at 128 kb/s, or 44.1 kHz stereo 16-bit FLAC. Every command is an argument
list; nothing goes through a shell.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

TEXT = (
    "The People's Speech is a free to download thirty thousand hour and growing "
    "supervised conversational English speech recognition dataset licensed for "
    "academic and commercial usage under CC-BY-SA. The data is collected via "
    "searching the Internet for appropriately licensed audio data with existing "
    "transcriptions. Speech recognition needs many hours of audio with text, and "
    "public archives hold thousands of hours of talks, lectures and meetings. "
)
SPEECH_RATE = 22_050


def speech(seconds: float, seed: int = 0) -> np.ndarray:
    """``seconds`` of mono int16 speech-like audio at 22.05 kHz, deterministic."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SPEECH_RATE)
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), TEXT * 2], check=True)
            voice, rate = soundfile.read(wav, dtype="int16")
        if rate != SPEECH_RATE:
            raise RuntimeError(f"espeak-ng wrote {rate} Hz, expected {SPEECH_RATE}")
        loop = np.resize(voice.astype(np.float64), n)
    else:
        t = np.arange(n) / SPEECH_RATE
        loop = 8000 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)
    noise = rng.normal(0, 150, n)
    return np.clip(loop + noise, -32768, 32767).astype(np.int16)


def encode(pcm: np.ndarray, out: Path, *, kind: str) -> Path:
    """Encode 22.05 kHz mono int16 to ``kind`` (mp3, mp3-low, flac) with the ffmpeg CLI."""
    args = {
        "mp3": ["-ar", "44100", "-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"],
        # Low bitrate, no Xing/ID3 headers: copies of it concatenate into one stream.
        "mp3-low": ["-ar", "22050", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "32k",
                    "-write_xing", "0", "-id3v2_version", "0", "-write_id3v1", "0"],
        "flac": ["-ar", "44100", "-ac", "2", "-c:a", "flac", "-sample_fmt", "s16"],
    }[kind]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        soundfile.write(wav, pcm, SPEECH_RATE, subtype="PCM_16")
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), *args, str(out)],
            check=True,
        )
    return out

"""Encoding PCM to MP3, Ogg/Vorbis, FLAC and WAV, byte-identically on every run.

MP3 goes through PyAV (in-process FFmpeg, libmp3lame) with the bit-exact
flags, so no encoder version or date is written. Ogg/Vorbis, FLAC and WAV go
through libsndfile (soundfile); libsndfile gives each Ogg stream a random
serial number, so ``fix_ogg_serial`` rewrites it (and each page's CRC) to a
constant. Encoders are deterministic given the same library versions, which
the manifest records.
"""

from __future__ import annotations

import io
import zlib

import av
import numpy as np
import soundfile as sf

FORMATS = ("mp3", "ogg", "flac", "wav")
OGG_SERIAL = 0x67A1_5A5D
_MP3_FRAME_SAMPLES = 1152
_OGG_WRITE_FRAMES = 4096


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1], shape (channels, n), to int16 with rounding and clipping."""
    return np.clip(np.rint(samples * 32767.0), -32768, 32767).astype(np.int16)


def encode(samples: np.ndarray, rate: int, fmt: str, bit_rate: int | None = None) -> bytes:
    """Encode float32 samples of shape (channels, n) as ``fmt``.

    ``bit_rate`` (bits per second) is the constant bit rate of MP3; Vorbis
    quality follows the sample rate (``_vorbis_compression``); FLAC and WAV
    are lossless.
    """
    if samples.ndim != 2 or samples.shape[0] not in (1, 2):
        raise ValueError(f"expected (channels, n) with 1 or 2 channels, got {samples.shape}")
    pcm = to_int16(samples)
    if fmt == "mp3":
        return _encode_mp3(pcm, rate, bit_rate or 32_000)
    buf = io.BytesIO()
    frames = np.ascontiguousarray(pcm.T)
    if fmt == "ogg":
        level = _vorbis_compression(rate)
        with sf.SoundFile(
            buf, "w", rate, pcm.shape[0], format="OGG", subtype="VORBIS", compression_level=level
        ) as f:
            # libsndfile's Vorbis writer crashes on very large single writes
            for start in range(0, frames.shape[0], _OGG_WRITE_FRAMES):
                f.write(frames[start : start + _OGG_WRITE_FRAMES])
        return fix_ogg_serial(buf.getvalue())
    if fmt == "flac":
        sf.write(buf, frames, rate, format="FLAC", subtype="PCM_16", compression_level=1.0)
        return buf.getvalue()
    if fmt == "wav":
        sf.write(buf, frames, rate, format="WAV", subtype="PCM_16")
        return buf.getvalue()
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def _vorbis_compression(rate: int) -> float:
    """libsndfile's compression level: 1 - Vorbis quality.

    Vorbis is VBR by quality only. At the lowest quality, narrow-band files
    smear each onset up to ~30 ms ahead (pre-echo), which would blur the
    ground truth, so files up to 24 kHz get quality 0.4 (~36 kbps mono at
    16 kHz); wider ones 0.1 (~58 kbps stereo at 48 kHz).
    """
    return 1.0 - (0.4 if rate <= 24_000 else 0.1)


def _encode_mp3(pcm: np.ndarray, rate: int, bit_rate: int) -> bytes:
    buf = io.BytesIO()
    layout = "mono" if pcm.shape[0] == 1 else "stereo"
    with av.open(buf, "w", format="mp3", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout=layout)
        stream.bit_rate = bit_rate
        stream.codec_context.flags |= av.codec.context.Flags.bitexact
        interleaved = np.ascontiguousarray(pcm.T).reshape(1, -1)
        channels = pcm.shape[0]
        step = _MP3_FRAME_SAMPLES * channels
        for start in range(0, interleaved.shape[1], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(interleaved[:, start : start + step]),
                format="s16",
                layout=layout,
            )
            frame.sample_rate = rate
            frame.pts = start // channels
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


# ------------------------------------------------------------------ Ogg pages


_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def ogg_crc(data: bytes) -> int:
    """The Ogg page checksum: CRC-32, polynomial 0x04C11DB7, no reflection, init 0.

    zlib's CRC-32 is the same polynomial reflected, so it gives the Ogg one on
    bit-reversed bytes, with zlib's initial and final inversions undone.
    """
    raw = zlib.crc32(data.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def fix_ogg_serial(data: bytes, serial: int = OGG_SERIAL) -> bytes:
    """The same Ogg stream with every page's serial number set to ``serial``."""
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos : pos + 4] != b"OggS":
            raise ValueError(f"no Ogg page at byte {pos}")
        n_segments = out[pos + 26]
        body = sum(out[pos + 27 : pos + 27 + n_segments])
        end = pos + 27 + n_segments + body
        out[pos + 14 : pos + 18] = serial.to_bytes(4, "little")
        out[pos + 22 : pos + 26] = b"\0\0\0\0"
        out[pos + 22 : pos + 26] = ogg_crc(bytes(out[pos:end])).to_bytes(4, "little")
        pos = end
    return bytes(out)

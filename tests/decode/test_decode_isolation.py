"""Decode: a file FFmpeg cannot decode, a file longer than allowed, and whatever no
rule foresaw refuse that one file, never the run (issue 18)."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from galvasr.config import DecodeConfig
from galvasr.corpus_files import LocalCorpus
from galvasr.decode import audio
from galvasr.decode import stage as decode
from galvasr.schemas import AudioRow, ChunkRow, RejectRow

LIMIT = 10**9
PLAN = decode.DecodePlan.from_config(
    DecodeConfig(window_ms=4_000, context_ms=500, bucket_edges_ms=(1_000, 2_000, 3_000, 4_500))
)


def _wav(format_tag: int, pcm: bytes, rate: int = 16_000) -> bytes:
    fmt = struct.pack("<HHIIHH", format_tag, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(pcm)) + pcm
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tone(seconds: float, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)


def _silence_flac(path: Path, hours: float) -> None:
    """Hours of digital silence as 8 kHz FLAC: a few hundred KB (constant subframes)."""
    block = np.zeros(8_000 * 600, dtype=np.int16)  # 10 minutes
    with sf.SoundFile(path, "w", samplerate=8_000, channels=1, format="FLAC") as f:
        for _ in range(int(hours * 6)):
            f.write(block)


def _outcomes(tmp_path: Path, name: str, plan: decode.DecodePlan = PLAN) -> list:
    return list(decode.decode_file(1, "x", name, f"items/x/{name}", LocalCorpus(tmp_path), plan))


def _put(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / "items" / "x").mkdir(parents=True, exist_ok=True)
    (tmp_path / "items" / "x" / name).write_bytes(data)


# ------------------------------------------------ a codec FFmpeg does not know


def test_a_wav_of_an_unknown_codec_is_undecodable_not_a_crash(tmp_path: Path):
    _put(tmp_path, "a.wav", _wav(0x1234, _tone(1.0).tobytes()))
    with pytest.raises(audio.DecodeFailure) as failure:
        audio.spool_pcm16k(str(tmp_path / "items/x/a.wav"), max_samples=LIMIT, silence_peak=30)
    assert failure.value.reason == audio.UNDECODABLE
    assert "codec" in failure.value.detail
    [row] = _outcomes(tmp_path, "a.wav")
    assert isinstance(row, RejectRow) and row.reason == audio.UNDECODABLE
    # The same samples as plain PCM decode: it is the codec, not the file.
    _put(tmp_path, "b.wav", _wav(1, _tone(1.0).tobytes()))
    assert isinstance(_outcomes(tmp_path, "b.wav")[-1], AudioRow)


# ---------------------------------------------------------- too long, early


def test_a_container_that_declares_too_long_a_file_is_refused_before_decoding(
    tmp_path: Path, monkeypatch
):
    _silence_flac(tmp_path / "ten-hours.flac", 10)
    assert (tmp_path / "ten-hours.flac").stat().st_size < 2 << 20
    decoded: list[object] = []
    real = audio.PCMDecoder.blocks

    def blocks(self):
        decoded.append(self)
        return real(self)

    monkeypatch.setattr(audio.PCMDecoder, "blocks", blocks)
    start = time.monotonic()
    with pytest.raises(audio.DecodeFailure) as failure:
        audio.spool_pcm16k(
            str(tmp_path / "ten-hours.flac"), max_samples=5 * 3600 * 16_000, silence_peak=30
        )
    assert failure.value.reason == audio.TOO_LONG
    assert "declares 36000 s" in failure.value.detail
    assert not decoded and time.monotonic() - start < 5


@pytest.mark.parametrize(
    ("name", "codec", "declared"),
    [("a.flac", "flac", 3.0), ("a.wav", "pcm_s16le", 3.0), ("a.mp3", "libmp3lame", None)],
)
def test_declared_durations_are_believed_only_where_read_from_the_file(
    tmp_path: Path, name, codec, declared
):
    """An MP3's duration may be a guess from its first frames' bit rate: not believed."""
    audio.encode_file(tmp_path / name, _tone(3.0, 22_050), 22_050, codec=codec)
    with audio.PCMDecoder(str(tmp_path / name)) as decoder:
        assert decoder.declared_duration_s == (
            None if declared is None else pytest.approx(declared, abs=0.05)
        )


def test_a_file_whose_length_is_not_believed_stops_decoding_at_the_limit(
    tmp_path: Path, monkeypatch
):
    """The running count still refuses what the container does not (or falsely) declare."""
    audio.encode_file(tmp_path / "a.mp3", _tone(8.0), 16_000, codec="libmp3lame")
    written: list[int] = []

    class Spool:
        def __init__(self, *args, **kwargs):
            pass

        def write(self, data: bytes) -> None:
            written.append(len(data))

        def close(self) -> None:
            pass

    monkeypatch.setattr(audio.tempfile, "SpooledTemporaryFile", Spool)
    with pytest.raises(audio.DecodeFailure) as failure:
        audio.spool_pcm16k(str(tmp_path / "a.mp3"), max_samples=2 * 16_000, silence_peak=30)
    assert failure.value.reason == audio.TOO_LONG
    assert "stopped there" in failure.value.detail
    assert sum(written) <= 2 * 2 * 16_000  # never more than the limit was spooled
    # A file that declares its length but says less than it holds: the same count.
    monkeypatch.setattr(audio.PCMDecoder, "declared_duration_s", property(lambda self: 1.0))
    audio.encode_file(tmp_path / "a.flac", _tone(8.0), 16_000)
    written.clear()
    with pytest.raises(audio.DecodeFailure) as failure:
        audio.spool_pcm16k(str(tmp_path / "a.flac"), max_samples=2 * 16_000, silence_peak=30)
    assert "stopped there" in failure.value.detail and sum(written) <= 2 * 2 * 16_000


def test_a_file_declared_at_the_limit_is_kept(tmp_path: Path):
    audio.encode_file(tmp_path / "a.flac", _tone(3.0), 16_000)
    with audio.spool_pcm16k(
        str(tmp_path / "a.flac"), max_samples=3 * 16_000, silence_peak=30
    ) as decoded:
        assert decoded.num_samples == 3 * 16_000


# ------------------------------------------------------ what no rule foresaw


def test_an_unforeseen_error_refuses_the_file_and_only_it(tmp_path: Path, monkeypatch):
    audio.encode_file(tmp_path / "good.flac", _tone(5.0), 16_000)
    _put(tmp_path, "good.flac", (tmp_path / "good.flac").read_bytes())
    _put(tmp_path, "bad.flac", (tmp_path / "good.flac").read_bytes())
    real = audio.spool_pcm16k

    def spool(source, **kwargs):
        if str(source).endswith("bad.flac"):
            raise AttributeError(f"'NoneType' object has no attribute 'x' ({source})")
        return real(source, **kwargs)

    monkeypatch.setattr(audio, "spool_pcm16k", spool)
    [reject] = _outcomes(tmp_path, "bad.flac")
    assert isinstance(reject, RejectRow)
    assert (reject.stage, reject.reason, reject.audio_id) == (
        "decode",
        "internal:AttributeError",
        1,
    )
    assert "bad.flac" in reject.detail and str(tmp_path) not in reject.detail
    good = _outcomes(tmp_path, "good.flac")
    assert isinstance(good[-1], AudioRow) and all(isinstance(r, ChunkRow) for r in good[:-1])


def test_an_io_error_of_the_store_still_propagates_for_spark_to_retry(tmp_path, monkeypatch):
    _put(tmp_path, "a.flac", b"fLaC")

    def spool(source, **kwargs):
        raise ConnectionResetError("the store hung up")

    monkeypatch.setattr(audio, "spool_pcm16k", spool)
    with pytest.raises(ConnectionResetError):
        _outcomes(tmp_path, "a.flac")


def test_a_file_is_refused_whole_or_emitted_whole(tmp_path: Path, monkeypatch):
    """An error while its windows are planned leaves no chunk of it behind."""
    audio.encode_file(tmp_path / "a.flac", _tone(9.0), 16_000)
    _put(tmp_path, "a.flac", (tmp_path / "a.flac").read_bytes())
    real = decode.bucket_for
    calls = []

    def bucket_for(length, lengths):
        calls.append(length)
        if len(calls) == 3:
            raise IndexError("no bucket")
        return real(length, lengths)

    monkeypatch.setattr(decode, "bucket_for", bucket_for)
    outcomes = _outcomes(tmp_path, "a.flac")
    assert [type(r) for r in outcomes] == [RejectRow]
    assert outcomes[0].reason == "internal:IndexError"

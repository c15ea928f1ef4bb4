import io

import av
import numpy as np
import pytest
import soundfile

from galvasr.decode import audio

LIMIT = 10**9


def tone(seconds: float, rate: int, hz: float = 440.0, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)


def dominant_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * 16_000 / len(pcm))


@pytest.mark.parametrize(
    ("name", "codec", "rate", "channels"),
    [
        ("a.mp3", "libmp3lame", 44_100, 2),
        ("a.flac", "flac", 22_050, 1),
        ("a.wav", "pcm_s16le", 8_000, 1),
    ],
)
def test_decodes_to_16k_mono_int16_of_the_right_length(tmp_path, name, codec, rate, channels):
    x = tone(3.0, rate)
    audio.encode_file(tmp_path / name, np.stack([x] * channels), rate, codec=codec)
    with audio.PCMDecoder(str(tmp_path / name)) as decoder:
        assert (decoder.info.sample_rate, decoder.info.channels) == (rate, channels)
        blocks = list(decoder.blocks())
    assert all(b.dtype == np.int16 and b.ndim == 1 for b in blocks)
    pcm = np.concatenate(blocks)
    assert len(pcm) == 48_000  # the MP3 encoder's delay and padding are trimmed
    assert dominant_hz(pcm) == pytest.approx(440, abs=1)


def test_spool_reads_back_what_was_decoded_even_when_spilled_to_disk(tmp_path):
    audio.encode_file(tmp_path / "a.flac", tone(2.0, 16_000), 16_000)
    expected = np.concatenate(list(audio.decode_pcm16k(str(tmp_path / "a.flac"))))
    with audio.spool_pcm16k(
        str(tmp_path / "a.flac"), max_samples=LIMIT, silence_peak=30, spool_memory_bytes=1000
    ) as decoded:
        assert decoded.num_samples == 32_000 and decoded.duration_ms == 2_000
        assert decoded.peak == np.abs(expected.astype(np.int32)).max()
        got = np.frombuffer(decoded.read(1000, 500), dtype="<i2")
        assert np.array_equal(got, expected[1000:1500])
        with pytest.raises(IndexError):
            decoded.read(31_900, 101)


def test_file_objects_decode_like_paths(tmp_path):
    audio.encode_file(tmp_path / "a.mp3", tone(1.0, 44_100), 44_100, codec="libmp3lame")
    by_path = np.concatenate(list(audio.decode_pcm16k(str(tmp_path / "a.mp3"))))
    data = (tmp_path / "a.mp3").read_bytes()
    by_object = np.concatenate(list(audio.decode_pcm16k(io.BytesIO(data))))
    assert np.array_equal(by_path, by_object)


def test_a_change_of_rate_midway_is_decoded_not_refused(tmp_path):
    audio.encode_file(tmp_path / "a.mp3", tone(1.0, 44_100), 44_100, codec="libmp3lame")
    audio.encode_file(tmp_path / "b.mp3", tone(1.0, 22_050), 22_050, codec="libmp3lame")
    both = tmp_path / "ab.mp3"
    both.write_bytes((tmp_path / "a.mp3").read_bytes() + (tmp_path / "b.mp3").read_bytes())
    samples = sum(b.size for b in audio.decode_pcm16k(str(both)))
    assert abs(samples - 32_000) < 2_000  # two encoders' delays are not trimmed in the join


def _reason(source, **kwargs) -> str:
    kwargs = {"max_samples": LIMIT, "silence_peak": audio.peak_threshold(-60.0)} | kwargs
    with pytest.raises(audio.DecodeFailure) as failure:
        audio.spool_pcm16k(source, **kwargs)
    return failure.value.reason


def test_every_bad_file_is_a_failure_with_its_reason(tmp_path):
    (tmp_path / "garbage.mp3").write_bytes(np.random.default_rng(0).bytes(20_000))
    (tmp_path / "zero.mp3").write_bytes(b"")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, np.int16), 16_000)
    audio.encode_file(tmp_path / "silent.flac", np.zeros(16_000, np.int16), 16_000)
    hiss = np.random.default_rng(1).integers(-20, 21, 16_000).astype(np.int16)  # about -64 dBFS
    audio.encode_file(tmp_path / "hiss.flac", hiss, 16_000)
    audio.encode_file(tmp_path / "long.flac", tone(2.0, 16_000), 16_000)
    assert _reason(str(tmp_path / "missing.mp3")) == audio.MISSING
    assert _reason(str(tmp_path / "garbage.mp3")) == audio.UNDECODABLE
    # an MP3 that keeps its ID3 tag and length, but every byte after it is noise
    audio.encode_file(tmp_path / "tagged.mp3", tone(1.0, 16_000), 16_000, codec="libmp3lame")
    tagged = (tmp_path / "tagged.mp3").read_bytes()
    assert tagged[:3] == b"ID3"
    tag = 10 + int.from_bytes(tagged[6:10], "big")
    noise = np.random.default_rng(2).integers(0, 255, len(tagged) - tag, dtype=np.uint8)
    (tmp_path / "corrupt.mp3").write_bytes(tagged[:tag] + noise.tobytes())
    assert _reason(str(tmp_path / "corrupt.mp3")) == audio.UNDECODABLE
    assert _reason(str(tmp_path / "zero.mp3")) == audio.EMPTY
    assert _reason(str(tmp_path / "empty.wav")) == audio.EMPTY
    assert _reason(str(tmp_path / "silent.flac")) == audio.SILENT
    assert _reason(str(tmp_path / "hiss.flac")) == audio.SILENT
    assert _reason(str(tmp_path / "long.flac"), max_samples=31_999) == audio.TOO_LONG
    # one click is not silence
    click = np.zeros(16_000, np.int16)
    click[8_000] = 3_000
    audio.encode_file(tmp_path / "click.flac", click, 16_000)
    audio.spool_pcm16k(str(tmp_path / "click.flac"), max_samples=LIMIT, silence_peak=32).close()


def test_only_allowed_demuxers_open_a_file_and_playlists_are_never_followed(tmp_path):
    audio.encode_file(tmp_path / "a.wav", tone(1.0, 16_000), 16_000, codec="pcm_s16le")
    assert _reason(str(tmp_path / "a.wav"), formats=("mp3", "flac")) == audio.UNDECODABLE
    # An HLS playlist naming another file: FFmpeg left to itself would follow it.
    audio.encode_file(tmp_path / "a.mp3", tone(1.0, 16_000), 16_000, codec="libmp3lame")
    playlist = tmp_path / "list.m3u8"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:5\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXTINF:1.0,\na.mp3\n#EXT-X-ENDLIST\n"
    )
    with av.open(str(playlist)) as unrestricted:
        assert unrestricted.format.name == "hls"
    assert _reason(str(playlist)) == audio.UNDECODABLE


def test_blocks_are_exactly_what_pyavs_own_resampler_makes(tmp_path):
    x = tone(2.5, 44_100, hz=1234.5)
    audio.encode_file(tmp_path / "a.mp3", np.stack([x, x // 2]), 44_100, codec="libmp3lame")
    reference = []
    with av.open(str(tmp_path / "a.mp3")) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16_000)
        for frame in container.decode(container.streams.audio[0]):
            reference += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        reference += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    blocks = list(audio.decode_pcm16k(str(tmp_path / "a.mp3")))
    assert [len(b) for b in blocks] == [16_000, 16_000, 8_000]
    assert np.array_equal(np.concatenate(blocks), np.concatenate(reference))

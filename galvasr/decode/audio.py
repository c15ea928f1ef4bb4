"""Untrusted media to 16 kHz mono int16 PCM, in-process with PyAV (FFmpeg), streaming.

:func:`decode_pcm16k` yields the PCM in blocks of one second,
so no file is ever whole in memory. :func:`spool_pcm16k` decodes a whole file
into a spool (memory up to a bound, then a temporary file) and measures it on
the way, so the file's fate (kept, or rejected with a reason) is known before
a single chunk of it is emitted. A file longer than allowed is refused before
it is decoded when its container declares its length (where that length is
read from the file, not estimated), else as soon as the decoded samples pass
the limit.

Media is untrusted: only the configured demuxers may open it (no playlist or
concat demuxer that could make FFmpeg open a file or URL named inside it),
and every way it can fail ends in a :class:`DecodeFailure` with a reason.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import av
import av.error
import av.filter
import numpy as np

from galvasr.schemas import SAMPLE_RATE

# Reject reasons of the decode stage (RejectRow.reason), named like ingest's.
MISSING = "audio:missing"  # the audio file is not there
UNDECODABLE = "audio:undecodable"  # no audio stream, unknown format, no decodable frame
EMPTY = "audio:empty"  # 0 bytes, or a well-formed stream of 0 samples
SILENT = "audio:silent"  # every sample at or below the silence threshold
TOO_LONG = "audio:too-long"  # more samples than the configured maximum
REASONS = (MISSING, UNDECODABLE, EMPTY, SILENT, TOO_LONG)

DEFAULT_FORMATS = ("mp3", "flac", "ogg", "wav", "mov", "matroska", "aac", "aiff")
EXACT_DURATION_FORMATS = frozenset({"flac", "wav", "aiff", "ogg", "mov", "matroska"})
"""Demuxers whose declared duration is read from the file, not estimated from a bit rate."""
DECLARED_DURATION_SLACK_S = 1.0
"""A file declaring up to this much more than the limit is decoded and measured."""
MAX_BAD_PACKETS = 16
"""Packets the decoder refuses are skipped (as the ffmpeg command line does);
a file with more than this many is undecodable. Each skipped MP3 packet
loses ~26 ms; the measured duration reflects it."""

Source = str | os.PathLike[str] | IO[bytes]


class DecodeFailure(Exception):
    """This file cannot become chunks. ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SourceInfo:
    """What the container says about the decoded audio stream."""

    sample_rate: int
    channels: int
    codec: str
    container: str


def peak_threshold(dbfs: float) -> int:
    """The int16 magnitude of ``dbfs`` (full scale 32768), rounded down."""
    return int(math.floor(32768 * 10 ** (dbfs / 20)))


class PCMDecoder:
    """One open media file, decoding its first audio stream to 16 kHz mono int16.

    Use as a context manager; :meth:`blocks` yields the PCM once.
    """

    def __init__(
        self,
        source: Source,
        *,
        formats: Sequence[str] = DEFAULT_FORMATS,
        max_bad_packets: int = MAX_BAD_PACKETS,
    ):
        self.max_bad_packets = max_bad_packets
        self.bad_packets = 0
        options = {"format_whitelist": ",".join(formats)}
        if not hasattr(source, "read"):
            options["protocol_whitelist"] = "file"
        if _size_bytes(source) == 0:
            raise DecodeFailure(EMPTY, "the file is 0 bytes")
        try:
            self._container: Any = av.open(
                source, mode="r", options=options, metadata_errors="replace"
            )
        except FileNotFoundError as e:  # av.error.FileNotFoundError is one too
            raise DecodeFailure(MISSING, str(e)) from e
        except av.error.FFmpegError as e:
            raise DecodeFailure(UNDECODABLE, f"cannot open: {e}") from e
        if not self._container.streams.audio:
            self.close()
            raise DecodeFailure(UNDECODABLE, "no audio stream")
        self._stream = self._container.streams.audio[0]
        ctx = self._stream.codec_context
        if ctx is None:  # FFmpeg has no decoder for the stream's codec (a WAV's unknown tag)
            self.close()
            raise DecodeFailure(UNDECODABLE, "no decoder for the audio stream's codec")
        self.info = SourceInfo(
            sample_rate=int(ctx.sample_rate or 0),
            channels=int(ctx.channels or 0),
            codec=str(ctx.name),
            container=str(self._container.format.name),
        )

    @property
    def declared_duration_s(self) -> float | None:
        """How long the container says the audio stream is, where that can be believed.

        Only demuxers that read the length from the file's own structure
        (:data:`EXACT_DURATION_FORMATS`): FLAC's sample count, a WAV's or
        AIFF's data size (FFmpeg clamps it to the file's size), Ogg's last
        granule, MP4's and Matroska's duration fields. Elsewhere (MP3 without a
        Xing header, raw AAC, MPEG) FFmpeg estimates it from the first frames'
        bit rate, which a variable bit rate can make several times too long:
        None there, and for a stream of unknown length.
        """
        names = set(str(self._container.format.name).split(","))
        if not names & EXACT_DURATION_FORMATS:
            return None
        stream = self._stream
        if stream.duration is not None and stream.duration > 0 and stream.time_base:
            return float(stream.duration * stream.time_base)
        duration = self._container.duration  # in AV_TIME_BASE units (microseconds)
        return duration / 1e6 if duration is not None and duration > 0 else None

    def __enter__(self) -> PCMDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def blocks(self) -> Iterator[np.ndarray]:
        """int16 mono blocks at 16 kHz, in order, ``BLOCK_SAMPLES`` long but the last."""
        resampler: _Resampler | None = None
        frame_format: tuple[str, str, int] | None = None
        try:
            for packet in self._container.demux(self._stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as e:
                    self.bad_packets += 1
                    if self.bad_packets > self.max_bad_packets:
                        raise DecodeFailure(
                            UNDECODABLE, f"more than {self.max_bad_packets} bad packets: {e}"
                        ) from e
                    continue
                for frame in frames:
                    # A stream may change rate or layout midway (concatenated
                    # MP3s, damaged headers); a resampler is fixed to its
                    # first frame's, so start a new one, flushing the old.
                    key = (frame.format.name, frame.layout.name, frame.sample_rate)
                    if resampler is None or key != frame_format:
                        if resampler is not None:
                            yield from resampler.flush()
                        resampler = _Resampler(frame)
                        frame_format = key
                    yield from resampler.push(frame)
            if resampler is not None:
                yield from resampler.flush()
        except av.error.FFmpegError as e:  # demuxing or resampling failed
            raise DecodeFailure(UNDECODABLE, f"decoding failed: {e}") from e


BLOCK_SAMPLES = SAMPLE_RATE
"""Samples per block out of the resampler: 1 s, 32 KB."""


class _Resampler:
    """FFmpeg's resampler to 16 kHz mono s16, as a filter graph, in 1 s blocks.

    The graph is the one PyAV's AudioResampler builds (abuffer -> aformat,
    which inserts libswresample with its defaults, as the ffmpeg command line
    does). AudioResampler pulls after every decoded frame, and an empty pull
    raises; pulling only when a whole block is due takes about a third off
    the CPU time of decoding an MP3 (benchmarks/decode_throughput.py).
    """

    def __init__(self, frame: Any):
        self.graph: Any = av.filter.Graph()
        extra = {"time_base": str(frame.time_base)} if frame.time_base is not None else {}
        source = self.graph.add(
            "abuffer",
            sample_rate=str(frame.sample_rate),
            sample_fmt=frame.format.name,
            channel_layout=frame.layout.name,
            **extra,
        )
        convert = self.graph.add(
            "aformat", sample_rates=str(SAMPLE_RATE), sample_fmts="s16", channel_layouts="mono"
        )
        sink = self.graph.add("abuffersink")
        source.link_to(convert)
        convert.link_to(sink)
        self.graph.configure()
        self.graph.set_audio_frame_size(BLOCK_SAMPLES)
        self.ratio = SAMPLE_RATE / frame.sample_rate
        self.due = 0.0  # output samples pushed in and not yet pulled out, roughly

    def push(self, frame: Any) -> Iterator[np.ndarray]:
        self.graph.push(frame)
        self.due += frame.samples * self.ratio
        # The margin covers the resampler's delay (a few dozen samples), so
        # a pull that finds no whole block (and raises) stays rare.
        while self.due >= BLOCK_SAMPLES + 64:
            try:
                out = self.graph.pull()
            except av.error.BlockingIOError:
                break
            self.due -= out.samples
            yield _pcm(out)

    def flush(self) -> Iterator[np.ndarray]:
        self.graph.push(None)
        while True:
            try:
                out = self.graph.pull()
            except (EOFError, av.error.BlockingIOError):
                return
            yield _pcm(out)


def _size_bytes(source: Source) -> int | None:
    """The file's size, or None where it cannot be told without reading it."""
    if isinstance(source, str | os.PathLike):
        try:
            return os.stat(source).st_size
        except FileNotFoundError as e:
            raise DecodeFailure(MISSING, str(e)) from e
        except OSError:
            return None  # let FFmpeg say what is wrong
    if source.seekable():
        position = source.tell()
        size = source.seek(0, os.SEEK_END)
        source.seek(position)
        return size
    return None


def _pcm(frame: Any) -> np.ndarray:
    # Packed s16 mono: one plane, shape (1, samples); native order is
    # little-endian on every platform galvasr runs on.
    return frame.to_ndarray().reshape(-1)


def decode_pcm16k(
    source: Source, *, formats: Sequence[str] = DEFAULT_FORMATS
) -> Iterator[np.ndarray]:
    """Stream ``source`` as int16 mono 16 kHz blocks; DecodeFailure if it cannot."""
    with PCMDecoder(source, formats=formats) as decoder:
        yield from decoder.blocks()


@dataclass
class DecodedAudio:
    """A whole decoded file in a spool: read any range of it back as int16 LE bytes."""

    info: SourceInfo
    num_samples: int
    peak: int  # largest |sample|
    bad_packets: int
    spool: IO[bytes] = field(repr=False)

    @property
    def duration_ms(self) -> int:
        return self.num_samples * 1000 // SAMPLE_RATE

    def read(self, first_sample: int, num_samples: int) -> bytes:
        """``num_samples`` int16 LE samples from ``first_sample`` on (must lie inside)."""
        if first_sample < 0 or num_samples < 0 or first_sample + num_samples > self.num_samples:
            raise IndexError(f"[{first_sample}, +{num_samples}) outside {self.num_samples}")
        self.spool.seek(2 * first_sample)
        data = self.spool.read(2 * num_samples)
        if len(data) != 2 * num_samples:
            raise OSError(f"short read from the PCM spool: {len(data)} bytes")
        return data

    def close(self) -> None:
        self.spool.close()

    def __enter__(self) -> DecodedAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spool_pcm16k(
    source: Source,
    *,
    max_samples: int,
    silence_peak: int,
    formats: Sequence[str] = DEFAULT_FORMATS,
    max_bad_packets: int = MAX_BAD_PACKETS,
    spool_memory_bytes: int = 32 << 20,
    spool_dir: str | None = None,
) -> DecodedAudio:
    """Decode all of ``source`` into a spool and measure it.

    Raises DecodeFailure: ``missing``, ``undecodable``, ``too_long`` (before
    decoding when the container declares a longer duration, see
    :attr:`PCMDecoder.declared_duration_s`; else as soon as more than
    ``max_samples`` have been decoded), ``empty``, or ``silent``
    (no sample's magnitude above ``silence_peak``). Memory stays within
    ``spool_memory_bytes`` plus one decoded frame; beyond that the PCM goes
    to a temporary file in ``spool_dir`` (default: the system's).
    """
    # Not a with-block: on success the spool is handed to the caller, open.
    spool = tempfile.SpooledTemporaryFile(max_size=spool_memory_bytes, dir=spool_dir)  # noqa: SIM115
    try:
        num_samples = 0
        peak = 0
        with PCMDecoder(source, formats=formats, max_bad_packets=max_bad_packets) as decoder:
            # Refused before a sample is decoded when the container itself says
            # it is too long (10 h of silence is a few hundred KB of FLAC);
            # the count below still stops a file that says less than it holds.
            declared = decoder.declared_duration_s
            limit_s = max_samples / SAMPLE_RATE
            if declared is not None and declared > limit_s + DECLARED_DURATION_SLACK_S:
                raise DecodeFailure(
                    TOO_LONG,
                    f"the container declares {declared:.0f} s, longer than {limit_s:.0f} s; "
                    "not decoded",
                )
            for block in decoder.blocks():
                if not block.size:
                    continue
                num_samples += block.size
                if num_samples > max_samples:
                    raise DecodeFailure(
                        TOO_LONG, f"longer than {max_samples / SAMPLE_RATE:.0f} s; stopped there"
                    )
                # int(...) before negating: -(-32768) does not fit in int16.
                peak = max(peak, int(block.max()), -int(block.min()))
                spool.write(block.astype("<i2", copy=False).tobytes())
            info, bad_packets = decoder.info, decoder.bad_packets
        if num_samples == 0 and (bad_packets or not info.sample_rate):
            # e.g. an ID3 tag followed by noise: the demuxer opens it, no frame decodes
            raise DecodeFailure(UNDECODABLE, f"no decodable frame ({bad_packets} bad packets)")
        if num_samples == 0:
            raise DecodeFailure(EMPTY, "the audio stream decodes to 0 samples")
        if peak <= silence_peak:
            raise DecodeFailure(
                SILENT, f"peak {peak} of 32768 over {num_samples} samples (limit {silence_peak})"
            )
    except BaseException:
        spool.close()
        raise
    return DecodedAudio(
        info=info, num_samples=num_samples, peak=peak, bad_packets=bad_packets, spool=spool
    )


def encode_file(
    path: str | os.PathLike[str],
    pcm: np.ndarray,
    sample_rate: int,
    *,
    codec: str = "flac",
    bit_rate: int | None = None,
) -> None:
    """Write int16 PCM (``[samples]`` or ``[channels, samples]``) as a media file.

    For fixtures and benchmarks: ``codec`` is an FFmpeg encoder (``flac``,
    ``libmp3lame``, ``aac``, ``libopus``, ``pcm_s16le``); the container
    follows the file name's extension.
    """
    planar = np.atleast_2d(np.asarray(pcm, dtype=np.int16))
    layout = {1: "mono", 2: "stereo"}[planar.shape[0]]
    with av.open(os.fspath(path), mode="w") as out:
        stream: Any = out.add_stream(codec, rate=sample_rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout=layout, rate=sample_rate
        )
        step = 1 << 16
        for start in range(0, planar.shape[1], step):
            block = np.ascontiguousarray(planar[:, start : start + step].T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            frame.sample_rate = sample_rate
            for f in resampler.resample(frame):
                out.mux(stream.encode(f))
        for f in resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))

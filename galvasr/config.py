"""Every parameter of a run, with defaults that run, in one place.

A run is configured by one TOML file whose tables mirror the dataclasses
below (``[decode]``, ``[align]``, ...); anything left out keeps its default.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class IngestConfig:
    """Read a corpus (catalog + item files), keep free-licensed audio paired with subtitles.

    The corpus is a folder (local or gs://) holding the catalog, one JSON
    item per line (gzip if its name ends in .gz), and every item's files at
    ``<items_dir>/<identifier>/<name>`` (``items_dir = "."``: at the corpus root,
    as ``ia download`` lays items out). Ingest records where it found each
    kept file in ``catalog.audio_path``; later stages read that, not this setting.
    """

    catalog_names: tuple[str, ...] = ("catalog.jsonl", "catalog.jsonl.gz")  # first found
    items_dir: str = "items"
    max_subtitle_bytes: int = 16 * 1024 * 1024  # larger: rejected as subtitle:too-large
    source_url_template: str = "https://archive.org/details/{identifier}"
    partitions: int = 0  # for the per-item work; 0: Spark's default parallelism

    def __post_init__(self) -> None:
        # Relative to the corpus root, "." for the root itself (as `ia download` lays items out).
        parts = self.items_dir.split("/")
        if self.items_dir.startswith("/") or any(
            p == ".." or "\\" in p or "\x00" in p for p in parts
        ):
            raise ValueError(f"ingest: items_dir {self.items_dir!r} must stay inside the corpus")


def _default_bucket_edges_ms() -> tuple[int, ...]:
    # Every 1 s up to 8 s, then every 2 s up to 32 s (= window + one context):
    # a last window pads at most 1-2 s, which stays under 3 % of the samples
    # of the sample corpus and of long-form audio (benchmarks/padding.py).
    return tuple(range(1_000, 8_000, 1_000)) + tuple(range(8_000, 32_001, 2_000))


@dataclass(frozen=True)
class DecodeConfig:
    """Decode every kept audio file to 16 kHz mono int16 and cut it into bucketed windows.

    A full chunk is context + window + context = 34 s (1.09 MB of PCM). The
    acoustic model's receptive field is about +-1.2 s (8 blocks of kernel 15
    at 20 ms), so 2 s of context on each side covers it. Every length is a
    multiple of the model's 20 ms frame.
    """

    window_ms: int = 30_000
    context_ms: int = 2_000  # on each side, where the file has it
    bucket_edges_ms: tuple[int, ...] = field(default_factory=_default_bucket_edges_ms)
    max_duration_ms: int = 5 * 3_600_000  # longer files are rejected (too_long)
    silence_peak_dbfs: float = -60.0  # a file whose peak is at or below this is silent
    chunks_per_file: int = 128  # maxRecordsPerFile of `chunks`: ~140 MB Parquet files
    spool_memory_bytes: int = 32 << 20  # decoded PCM kept in memory before spilling to disk
    partitions: int = 0  # Spark partitions of the decode; 0: one per file, at most 4096
    formats: tuple[str, ...] = (
        "mp3",
        "flac",
        "ogg",
        "wav",
        "mov",
        "matroska",
        "aac",
        "aiff",
        "avi",
        "mpeg",
    )
    """FFmpeg demuxers allowed to open a file; no playlist or concat demuxer can
    make FFmpeg open a second file or a URL named inside untrusted media."""

    def __post_init__(self) -> None:
        lengths = (self.window_ms, self.context_ms, *self.bucket_edges_ms)
        if any(v % 20 for v in lengths):
            raise ValueError("decode: window, context and bucket edges must be multiples of 20 ms")
        if self.window_ms <= 0 or self.context_ms < 0 or self.max_duration_ms <= 0:
            raise ValueError("decode: window and max duration must be positive, context >= 0")
        if self.chunks_per_file <= 0 or self.spool_memory_bytes < 0 or self.partitions < 0:
            raise ValueError("decode: chunks_per_file > 0, spool and partitions >= 0")


@dataclass(frozen=True)
class InferConfig:
    """CTC log-probabilities of every chunk, on the local accelerators (tpu/infer.py).

    Run: ``galvasr infer --root runs/sample`` on every host, or
    ``python -m tpu.infer --root gs://bucket/run``. A batch holds at most
    ``*_batch_frames`` output frames per device (a 34 s chunk is 1,700): on a
    CPU one chunk at a time is fastest (benchmarks/infer_cpu.py: 39x real
    time at batch 1, 22x at batch 8, cache-bound), an accelerator wants
    thousands of frames in flight. Log-probabilities are stored as float16
    (2.2 kB per audio second after zstd; uint8q: 1.2 kB). On the sample
    corpus's sentences neither encoding moved an alignment boundary, but
    uint8q changed scores 30x more and ties a frame's best symbol on 0.1 % of
    noisy frames (benchmarks/infer_quantize.py); float16 stays the default
    until the trained model's own posteriors are measured.
    """

    model: str = ""  # checkpoint folder; "": the committed models/galvasr-small
    precision: str = "float32"  # or bfloat16 (galvasr.model.PRECISIONS)
    encoding: str = "float16"  # or uint8q (galvasr.quantize)
    cpu_batch_frames: int = 2_048  # per device, when the devices are CPUs
    accelerator_batch_frames: int = 65_536  # per device on GPU/TPU (not measured here)
    max_batch_per_device: int = 64
    prefetch_batches: int = 4  # decoded batches queued ahead of the device
    write_queue_batches: int = 4  # results queued for the writer thread
    lease_ttl_s: float = 120.0  # a dead worker's shard is taken over after this
    poll_s: float = 5.0  # wait between looks when every remaining shard is leased
    wait_for_leased: bool = True  # False: exit instead of waiting for others' shards
    # galvasr run: infer starts with decode, on each chunks shard as decode commits it;
    # off (default): after decode. On 2 shared cores it gained nothing clear
    # (benchmarks/results/fixed_cost*.json): turn it on where the device would idle.
    overlap_decode: bool = False
    follow_poll_s: float = 0.5  # wait between listings of chunks/ while following decode
    # Threads that compile a bucket's shapes as soon as its first shard is listed, while
    # the device runs; 0: compile each shape on the device loop when first needed.
    compile_threads: int = 2
    # A bucket with little audio runs padded to the run's longest chunk length, sharing its
    # executables, when rows x (longest - its length) is at most this many seconds of audio:
    # on a CPU one shape costs ~2 s to compile and ~0.4 s to load from the cache, the time
    # it takes to run 10 min / 2 min of audio. Decided from decode's complete listing
    # (chunks/_SUCCESS; not while following decode), for galvasr's own model only (its
    # frames do not depend on padding: the sample's logits are the same bytes). 0: off.
    merge_bucket_s: float = 120.0
    # JAX's persistent cache: "auto" is <root>/_cache/jax for a local run root, a
    # folder under ~/.cache/galvasr for gs:// (galvasr.infer.stage); "": off; else a folder.
    compilation_cache_dir: str = "auto"

    def __post_init__(self) -> None:
        if self.encoding not in ("float16", "uint8q"):
            raise ValueError(f"infer: encoding is float16 or uint8q, not {self.encoding!r}")
        if self.precision not in ("float32", "bfloat16"):
            raise ValueError(f"infer: precision is float32 or bfloat16, not {self.precision!r}")
        batch = (self.cpu_batch_frames, self.accelerator_batch_frames, self.max_batch_per_device)
        if min(batch) <= 0:
            raise ValueError("infer: *_batch_frames and max_batch_per_device > 0")
        if min(self.prefetch_batches, self.write_queue_batches) <= 0:
            raise ValueError("infer: queue sizes > 0")
        if self.compile_threads < 0:
            raise ValueError("infer: compile_threads >= 0")
        if self.merge_bucket_s < 0:
            raise ValueError("infer: merge_bucket_s >= 0")
        if self.lease_ttl_s <= 0 or self.poll_s <= 0 or self.follow_poll_s <= 0:
            raise ValueError("infer: lease_ttl_s, poll_s and follow_poll_s > 0")


@dataclass(frozen=True)
class AlignConfig:
    """Align every cue to the log-probabilities and cut ~15 s segments (galvasr.align.stage).

    Long files are aligned in pieces of at most ``piece_max_s`` of subtitle
    time; each piece searches its subtitle times +- ``margin_s`` (shifted by
    the drift measured on the previous piece), and its ctc-segmentation
    table (frames x characters float32) may use at most ``max_table_mb``.

    Run: ``galvasr align --root runs/sample --model-version <version>`` or
    ``spark-submit jobs/align.py --root gs://bucket/run --model-version <version>``.
    """

    min_segment_s: float = 1.0  # The People's Speech bounds
    max_segment_s: float = 16.7
    target_segment_s: float = 15.0
    # Cue quality gates, set on galvasr-small (benchmarks/align_accuracy.py):
    # well-aligned cues score above -1.4 (5th percentile), misaligned ones
    # around -3.4 (median); a CER gate of 0.5 keeps a model with 0.3 CER usable.
    # Whether a cue was spoken is decided against chance, not against thresholds
    # fitted to one kind of voice (galvasr.align.gates): its text's per-character
    # log-likelihood ratio to the model's free path must reach -ln(alphabet size)
    # (+ llr_above_chance); below, align:not-heard. The absolute gates below, set on
    # synthetic voices (CER <= 0.5, score >= -2), rejected most cues of real voices
    # the model hears poorly (54 of 121 kept on benchmarks/realspeech_pipeline.py):
    # they are off by default and stay as knobs.
    llr_gate: bool = True
    llr_above_chance: float = 0.0
    max_cue_cer: float = 1.0  # a cue above never enters a segment (align:high-cer)
    min_cue_score: float = float("-inf")  # ctc-segmentation confidence; below: align:low-score
    # Greedy decode of the whole segment vs its text; off by default like max_cue_cer
    # (every cue already passed the likelihood gate; unsubtitled speech in a pause
    # ends a segment through gap_speech_chars).
    max_segment_cer: float = 1.0
    max_passes: int = 3  # re-alignments of a piece without its bad cues (see galvasr.align)
    score_window_frames: int = 30  # ctc-segmentation's score_min_mean_over_L
    margin_s: float = 5.0  # search window beyond the subtitle times, each side
    piece_max_s: float = 30.0  # subtitle time aligned in one ctc-segmentation call
    max_table_mb: int = 256
    # CTC emits a letter after its sound starts and before it ends: the first
    # spike comes ~10 ms after the speech starts (median), the last one ends
    # ~60 ms before it does; pads are capped at half the pause to a neighbour.
    pad_before_ms: int = 40  # segment audio before the first character's frame
    pad_after_ms: int = 170  # after the last character's frame (benchmarks/results)
    # Boundaries from the audio (galvasr.align.snap_to_audio): where the pause
    # around a cue is clearly quieter than the cue, its start and end move to
    # the audio's onset and offset of speech; elsewhere the pads above stay.
    snap_to_audio: bool = True
    # "energy": frame energies against the pause's (galvasr.align.ctc.snap_to_audio),
    # where the pause is snap_min_snr_db quieter than the cue; "energy+vad": the same,
    # and Silero VAD's speech probabilities (galvasr.align.boundaries) for the cues whose
    # pauses are too noisy for it; "vad": the detector alone. Measured (cue edges of kept
    # cues against truth): sample corpus |error| median 38 / 38 / 46 ms, p95 56 / 56 / 116;
    # real speech 31 / 31 / 97 ms, p95 110 / 110 / 195: Silero's offsets come 60-150 ms
    # after the speech ends, so the detector is the fallback, not the rule.
    snap_with: str = "energy+vad"
    # Silero VAD's own defaults: speech starts at 0.5 and lasts while >= 0.35.
    vad_threshold: float = 0.5
    vad_neg_threshold: float = 0.35
    snap_min_snr_db: float = 20.0  # cue's loud frames over the pause's quiet ones, at least
    snap_range_db: float = 50.0  # quieter than the cue's loud frames by this is silence
    snap_silence_ms: int = 60  # a silence at least this long ends (or precedes) speech
    snap_search_ms: int = 800  # how far beyond the first/last letter to look
    snap_pad_ms: int = 30  # audio kept around the onset and offset found
    max_pause_s: float = 3.0  # a longer pause between cues always ends a segment
    gap_speech_chars: int = 2  # letters decoded in a pause that mean unsubtitled speech there
    partitions: int = 0  # Spark partitions of the join by audio_id; 0: one per 64 MiB of
    # chunks + logits, at least spark.sql.shuffle.partitions (galvasr.align.stage)

    def __post_init__(self) -> None:
        if not 0 < self.min_segment_s <= self.target_segment_s <= self.max_segment_s:
            raise ValueError("align: 0 < min_segment_s <= target_segment_s <= max_segment_s")
        if self.margin_s < 0 or self.piece_max_s <= 0 or self.max_table_mb <= 0:
            raise ValueError("align: margin_s >= 0, piece_max_s > 0, max_table_mb > 0")
        if self.score_window_frames <= 0 or self.partitions < 0:
            raise ValueError("align: score_window_frames > 0, partitions >= 0")
        if self.snap_with not in ("energy", "energy+vad", "vad"):
            raise ValueError(
                f"align: snap_with is 'energy', 'energy+vad' or 'vad', not {self.snap_with!r}"
            )
        if not 0 < self.vad_neg_threshold <= self.vad_threshold < 1:
            raise ValueError("align: 0 < vad_neg_threshold <= vad_threshold < 1")


@dataclass(frozen=True)
class AdaptConfig:
    """Self-training inside a run (galvasr.adapt.stage): off while ``rounds`` is 0.

    Each round fine-tunes the current model on the run's own confident
    segments (cue text as labels), measures greedy CER on the segments of
    held-out files (``heldout_fraction`` of files by hash of ``audio_id``,
    never trained on), and keeps the new model only if that CER falls; a kept
    model's logits and alignment then replace the run's.

    Run: ``galvasr run --set adapt.rounds=1``.
    """

    rounds: int = 0  # 0: the stage does nothing
    steps: int = 150  # training steps per round
    batch_size: int = 4  # segments per step
    learning_rate: float = 3e-4  # peak; linear warm-up, hold, linear decay
    warmup_fraction: float = 0.1
    weight_decay: float = 1e-2
    heldout_fraction: float = 0.25  # of source files, by hash of audio_id; at least one
    # A training segment: kept by [release]'s CER and score rules (unless
    # only_released is false), and it and every cue in it decode (greedy)
    # within max_cer of the text, and every cue's ctc-segmentation confidence
    # is at least min_cue_score. Align's likelihood-ratio gate applies always.
    only_released: bool = True
    max_cer: float = 0.5
    min_cue_score: float = -2.0
    min_train_s: float = 30.0  # less selected speech than this: no round
    # A round's model is kept when held-out CER falls by more than this (tests: < 0 keeps any).
    min_cer_gain: float = 0.0
    augment: bool = True  # galvasr.model.trainset's noise, speed, VTLP and SpecAugment
    checkpoint_every: int = 25  # steps between training checkpoints in the run root
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rounds < 0 or self.steps <= 0 or self.batch_size <= 0:
            raise ValueError("adapt: rounds >= 0, steps and batch_size > 0")
        if not 0 < self.heldout_fraction < 1:
            raise ValueError("adapt: 0 < heldout_fraction < 1")
        if not 0 <= self.warmup_fraction < 1 or self.learning_rate <= 0:
            raise ValueError("adapt: 0 <= warmup_fraction < 1, learning_rate > 0")
        if self.checkpoint_every <= 0 or self.min_train_s < 0:
            raise ValueError("adapt: checkpoint_every > 0, min_train_s >= 0")


@dataclass(frozen=True)
class ReleaseConfig:
    """Turn ``segments`` into a published dataset under ``<root>/release/<name>/``.

    Splits are by source item (a hash of the identifier), so no source is in
    two splits; the rest of the hash range is train. Subsets follow The
    People's Speech: ``clean`` (CER at most ``clean_max_cer``) and ``dirty``
    (up to ``dirty_max_cer``), each for CC-BY / CC0 / public domain sources,
    and ``clean_sa`` / ``dirty_sa`` for CC-BY-SA ones.

    Run: ``galvasr release --root runs/sample`` or
    ``spark-submit jobs/release.py --root gs://bucket/run``.
    """

    name: str = "sample"
    validation_fraction: float = 0.1  # of source items, by hash of the identifier
    test_fraction: float = 0.1
    clean_max_cer: float = 0.1
    dirty_max_cer: float = 0.5  # segments above are rejected (cer-too-high)
    min_score: float = float("-inf")  # alignment score; below is rejected (score-too-low)
    drop_duplicate_audio: bool = True  # same decoded PCM: keep the smallest segment_id
    formats: tuple[str, ...] = ("parquet", "webdataset", "nemo")
    shard_target_bytes: int = 128 << 20  # FLAC bytes per shard; a shard is built in memory
    parquet_row_group_rows: int = 100  # small row groups let readers stream audio rows
    model_version: str = ""  # for the card; "": the only version under logits/
    # Lhotse Shar shards (lhotse/<subset>/<split>/cuts.*.jsonl.gz + recording.*.tar),
    # beside the formats above; with the segments' word alignments.
    lhotse_shar: bool = True
    # Per source audio file: SRT, WebVTT, CTM and Praat TextGrid of its released
    # cues, re-timed by the aligner (alignments/<split>/<name>.*, alignments/index.jsonl).
    alignment_files: bool = True

    def __post_init__(self) -> None:
        if min(self.validation_fraction, self.test_fraction) < 0 or (
            self.validation_fraction + self.test_fraction >= 1
        ):
            raise ValueError("release: dev and test fractions >= 0 and together below 1")
        if not 0 <= self.clean_max_cer <= self.dirty_max_cer:
            raise ValueError("release: 0 <= clean_max_cer <= dirty_max_cer")
        unknown = set(self.formats) - {"parquet", "webdataset", "nemo"}
        if unknown or not self.formats:
            raise ValueError(f"release: formats are parquet, webdataset, nemo; got {self.formats}")
        if self.shard_target_bytes <= 0 or self.parquet_row_group_rows <= 0:
            raise ValueError("release: shard_target_bytes and parquet_row_group_rows > 0")
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ValueError(f"release: bad name {self.name!r}")


@dataclass(frozen=True)
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    infer: InferConfig = field(default_factory=InferConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)


class ConfigError(ValueError):
    """A setting that is unknown, of the wrong type, or out of range: one line naming it."""


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _describe(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _typed(value: object, kind: Any, name: str) -> Any:
    """``value`` as the type ``kind`` of setting ``name``; ConfigError if it is not one.

    An integer is a number (5 for 5.0); nothing else is converted: a boolean
    is no number, "5" no integer, a list of numbers no string.
    """
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"setting {name}: expected a list, got {_describe(value)}")
        return tuple(_typed(v, item, f"{name}[{i}]") for i, v in enumerate(value))
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise ConfigError(
            f"setting {name}: expected {_TYPE_NAMES.get(kind, kind.__name__)}, "
            f"got {_describe(value)}"
        )
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    types = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {where}{key!r}; known: {', '.join(sorted(known))}")
        if dataclasses.is_dataclass(types[key]):
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table of settings, not {_describe(value)}")
            kwargs[key] = _build(types[key], value, f"{where}{key}.")
        else:
            kwargs[key] = _typed(value, types[key], f"{where}{key}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except ValueError as e:  # a section's own checks: "decode: ..."
        raise ConfigError(str(e)) from None


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The defaults, updated by a TOML file and then by ``overrides`` (same shape).

    Every setting is checked against its declared type before anything runs:
    ConfigError (a ValueError) names the first that is unknown, of the wrong
    type (``--set align.max_segment_s=abc``, a list where a number is
    expected) or out of range, in one line.
    """
    values: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as f:
            try:
                values = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ConfigError(f"config {path}: not TOML: {e}") from None
    for section, settings in (overrides or {}).items():
        current = values.setdefault(section, {})
        if not isinstance(current, dict) or not isinstance(settings, dict):
            raise ConfigError(f"[{section}] must be a table of settings, not {_describe(current)}")
        current.update(settings)
    config: Config = _build(Config, values, "")
    return config


def parse_overrides(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """``["decode.window_ms=20000"]`` -> ``{"decode": {"window_ms": 20000}}`` (TOML values)."""
    out: dict[str, dict[str, Any]] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not section or not name:
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw  # a bare word is a string
        out.setdefault(section, {})[name] = value
    return out


def to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)


def to_toml(config: Config) -> str:
    """The whole config as TOML, which ``load_config`` reads back to an equal config."""
    import tomli_w

    return tomli_w.dumps(to_dict(config))

"""Windows and length buckets: how one decoded file becomes fixed-shape chunks.

A file of ``N`` samples is cut into windows of ``window_samples`` that tile
``[0, N)`` exactly; only the last one is shorter. Each window also carries up
to ``context_samples`` of the audio on either side (fewer at the file's
edges), so the acoustic model sees context at window edges; stitching keeps
only the owned part. A chunk is ``context before + owned + context after``,
zero-padded at the end to the length of its bucket: the smallest bucket
that fits it.

The bucket table is the full length ``window + 2 * context`` plus the
configured edges below it, so the accelerator sees one static shape per
bucket. Pure functions on ints: no audio, no Spark.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Window:
    """One window of a file, in samples from the start of the file."""

    chunk_index: int
    start_sample: int  # first owned sample
    num_samples: int  # owned samples
    context_before_samples: int
    context_after_samples: int

    @property
    def first_sample(self) -> int:
        """First sample of the chunk, context included."""
        return self.start_sample - self.context_before_samples

    @property
    def length_samples(self) -> int:
        """Samples of real audio in the chunk: context, owned, context."""
        return self.context_before_samples + self.num_samples + self.context_after_samples


def plan_windows(total_samples: int, window_samples: int, context_samples: int) -> Iterator[Window]:
    """The windows of a file of ``total_samples``, in order (none for an empty file)."""
    if window_samples <= 0 or context_samples < 0 or total_samples < 0:
        raise ValueError("window must be positive; context and length non-negative")
    for index, start in enumerate(range(0, total_samples, window_samples)):
        end = min(start + window_samples, total_samples)
        yield Window(
            chunk_index=index,
            start_sample=start,
            num_samples=end - start,
            context_before_samples=min(context_samples, start),
            context_after_samples=min(context_samples, total_samples - end),
        )


def bucket_lengths(
    window_samples: int, context_samples: int, edges_samples: Iterable[int]
) -> tuple[int, ...]:
    """Every bucket's padded length, ascending: the edges, then the full window.

    Bucket ``i`` of the ``chunks`` table has length ``bucket_lengths(...)[i]``.
    """
    full = window_samples + 2 * context_samples
    edges = sorted(set(edges_samples))
    if edges and (edges[0] <= 0 or edges[-1] > full):
        raise ValueError(f"bucket edges must lie in (0, {full}] samples, got {edges}")
    return tuple(e for e in edges if e != full) + (full,)


def bucket_for(length_samples: int, lengths: tuple[int, ...]) -> int:
    """Index of the smallest bucket at least ``length_samples`` long."""
    i = bisect.bisect_left(lengths, length_samples)
    if i == len(lengths) or length_samples <= 0:
        raise ValueError(f"no bucket holds {length_samples} samples (buckets {lengths})")
    return i


@dataclass
class BucketTally:
    """Chunks and samples of one bucket; padding is what no audio fills."""

    bucket_samples: int
    chunks: int = 0
    audio_samples: int = 0  # context and owned samples, i.e. real audio

    @property
    def total_samples(self) -> int:
        return self.chunks * self.bucket_samples

    @property
    def padded_samples(self) -> int:
        return self.total_samples - self.audio_samples


@dataclass
class PaddingReport:
    """Padding per bucket and overall, accumulated chunk by chunk."""

    lengths: tuple[int, ...]
    buckets: dict[int, BucketTally] = field(default_factory=dict)

    def add(self, bucket: int, audio_samples: int, chunks: int = 1) -> None:
        tally = self.buckets.setdefault(bucket, BucketTally(self.lengths[bucket]))
        tally.chunks += chunks
        tally.audio_samples += audio_samples

    def add_file(self, total_samples: int, window_samples: int, context_samples: int) -> None:
        for w in plan_windows(total_samples, window_samples, context_samples):
            self.add(bucket_for(w.length_samples, self.lengths), w.length_samples)

    @property
    def padding_fraction(self) -> float:
        total = sum(t.total_samples for t in self.buckets.values())
        return sum(t.padded_samples for t in self.buckets.values()) / total if total else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready: per bucket (by index) and overall padded fraction of samples."""
        per_bucket = {
            str(b): {
                "bucket_samples": t.bucket_samples,
                "chunks": t.chunks,
                "total_samples": t.total_samples,
                "padded_samples": t.padded_samples,
                "padding_fraction": t.padded_samples / t.total_samples if t.chunks else 0.0,
            }
            for b, t in sorted(self.buckets.items())
        }
        return {
            "chunks": sum(t.chunks for t in self.buckets.values()),
            "total_samples": sum(t.total_samples for t in self.buckets.values()),
            "padded_samples": sum(t.padded_samples for t in self.buckets.values()),
            "padding_fraction": self.padding_fraction,
            "buckets": per_bucket,
        }

"""The layout of a run root (a local path or gs://bucket/prefix): the one place that knows it.

::

    <root>/
      catalog/ transcripts/ audio/ alignments/ segments/   one folder of Parquet per table
      rejects/stage=<stage>/                                each stage owns its partition
      chunks/bucket=<n>/                                    decode's windows, one shard per file
      logits/<model_version>/bucket=<n>/                    one folder per model: never mixed
      logits/<model_version>/_leases/ _workers/             infer's leases and worker summaries
      release/<name>/                                       a release: formats, card, SHA256SUMS,
                                                            lhotse/, alignments/
      report/                                               the HTML report
      adapt/                                                adapted models (galvasr.adapt)
      _pipeline/                                            ``galvasr run``'s markers and config
      _runs/<stage>.json                                    what each stage did last
      _cache/jax/                                           JAX's compiled executables (infer)

Folders whose names start with ``_`` are skipped by Spark's Parquet reader,
so bookkeeping never shows up as a table. Paths here are relative to the run
root (for :class:`galvasr.storage.Store`) unless a function takes ``root``.
"""

from __future__ import annotations

from galvasr.schemas import CHUNKS, LOGITS, Table

PIPELINE_DIR = "_pipeline"
RUNS_DIR = "_runs"
JAX_CACHE_DIR = "_cache/jax"  # infer.compilation_cache_dir = "auto" on a local run root
LEASES_DIR = "_leases"
WORKERS_DIR = "_workers"
RELEASE_DIR = "release"
# Folders inside a release (release/<name>/...) beside its parquet/, webdataset/ and nemo/.
RELEASE_LHOTSE = "lhotse"  # Lhotse Shar shards per subset and split
RELEASE_ALIGNMENTS = "alignments"  # SRT, WebVTT, CTM and TextGrid per source audio file
REPORT_DIR = "report"
ADAPT_DIR = "adapt"  # in-run adaptation: round-<n>/ (data, checkpoint, model/), lineage
ADAPT_CURRENT = f"{ADAPT_DIR}/current.json"  # the adapted model the alignment now comes from

CHUNKS_PREFIX = f"{CHUNKS.name}/"


def join(root: str, *parts: str) -> str:
    """Join path parts with '/', for local paths and gs:// URLs alike."""
    out = str(root).rstrip("/")
    for part in parts:
        part = part.strip("/")
        if not part or part in (".", "..") or "/../" in f"/{part}/":
            raise ValueError(f"bad path part {part!r}")
        out = f"{out}/{part}"
    return out


def table_path(root: str, table: Table, model_version: str | None = None) -> str:
    if table is LOGITS:
        if not model_version:
            raise ValueError("the logits table is stored per model version")
        return join(root, table.name, model_version)
    return join(root, table.name)


def logits_prefix(model_version: str) -> str:
    """``logits/<model_version>``: one model's log-probabilities, leases and worker summaries."""
    if not model_version or "/" in model_version or model_version.startswith(("_", ".")):
        raise ValueError(f"bad model version {model_version!r}")
    return f"{LOGITS.name}/{model_version}"


def logits_shard(model_version: str, shard_key: str) -> str:
    """Where the logits of the chunks shard ``bucket=N/<file>`` go."""
    return f"{logits_prefix(model_version)}/{shard_key}"


def leases_prefix(model_version: str) -> str:
    return f"{logits_prefix(model_version)}/{LEASES_DIR}"


def worker_summary(model_version: str, worker_id: str) -> str:
    return f"{logits_prefix(model_version)}/{WORKERS_DIR}/{worker_id}.json"


def model_versions(paths: list[str]) -> list[str]:
    """The model versions that have logits, from a listing of ``logits/``."""
    prefix = f"{LOGITS.name}/"
    found = set()
    for path in paths:
        if path.startswith(prefix):
            version = path[len(prefix) :].split("/", 1)[0]
            if version and not version.startswith(("_", ".")):
                found.add(version)
    return sorted(found)


def pipeline_marker(stage: str) -> str:
    return f"{PIPELINE_DIR}/{stage}.done.json"


PIPELINE_CONFIG = f"{PIPELINE_DIR}/config.toml"


def run_record(stage: str) -> str:
    return f"{RUNS_DIR}/{stage}.json"


def release_dir(name: str) -> str:
    """``release/<name>``; a name is one path part (no ``/``, not ``.`` or ``..``)."""
    join("", name)  # raises on a bad part
    if "/" in name.strip("/") or name != name.strip("/"):
        raise ValueError(f"bad release name {name!r}")
    return f"{RELEASE_DIR}/{name}"


def release_url(root: str, name: str) -> str:
    return join(root, release_dir(name))


def release_parquet(name: str) -> str:
    return f"{release_dir(name)}/parquet"

"""Where each table lives under a run root (a local path or gs://bucket/prefix).

Every table is a directory of Parquet files named after the table; logits are
further split by model version so two models never overwrite each other.
"""

from __future__ import annotations

from galvasr.schemas import LOGITS, Table


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

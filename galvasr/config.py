"""Every parameter of a run, with defaults that run, in one place.

A run is configured by one TOML file whose tables mirror the dataclasses
below (``[decode]``, ``[align]``, ...); anything left out keeps its default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class IngestConfig:
    pass


@dataclass(frozen=True)
class DecodeConfig:
    pass


@dataclass(frozen=True)
class Config:
    ingest: IngestConfig = field(default_factory=IngestConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"unknown setting {where}{key!r}; known: {', '.join(sorted(known))}")
        sub = known[key].default_factory
        if (
            isinstance(value, dict)
            and sub is not dataclasses.MISSING
            and dataclasses.is_dataclass(sub)
        ):
            kwargs[key] = _build(sub, value, f"{where}{key}.")
        elif isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The defaults, updated by a TOML file and then by ``overrides`` (same shape)."""
    values: dict[str, Any] = {}
    if path is not None:
        with open(path, "rb") as f:
            values = tomllib.load(f)
    for section, settings in (overrides or {}).items():
        values.setdefault(section, {}).update(settings)
    config: Config = _build(Config, values, "")
    return config


def to_dict(config: Config) -> dict[str, Any]:
    return dataclasses.asdict(config)

"""The accelerator stage's wiring: load the model, run one worker (galvasr.infer.engine)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import jax
from jax.experimental.compilation_cache.compilation_cache import reset_cache
from rich.console import Console

from galvasr import runroot
from galvasr.config import InferConfig
from galvasr.context import StageContext, Summary
from galvasr.infer.engine import Hooks, Worker
from galvasr.model import DEFAULT_MODEL, load_model
from galvasr.storage import open_store

CHUNKS_DONE = f"{runroot.CHUNKS_PREFIX}_SUCCESS"


def run_infer(
    root: str,
    model_path: str | Path | None = None,
    config: InferConfig | None = None,
    worker_id: str | None = None,
    progress: bool = True,
    hooks: Hooks | None = None,
    console: Console | None = None,
    follow: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run one worker on ``root`` until no shard is left; returns its summary.

    ``follow``: decode is still writing ``chunks``; take new shards as they
    appear until ``follow()`` is true (see :func:`decode_finished`).
    """
    config = config or InferConfig()
    cache_dir = use_compilation_cache(compilation_cache_dir(root, config.compilation_cache_dir))
    path = model_path or config.model or DEFAULT_MODEL
    model = load_model(path, precision=config.precision)
    worker = Worker(
        root,
        model,
        config,
        worker_id=worker_id,
        hooks=hooks,
        progress=progress,
        console=console,
        follow=follow,
    )
    worker.stats.compilation_cache_dir = cache_dir or ""
    return worker.run()


def compilation_cache_dir(root: str, setting: str) -> str | None:
    """Where JAX keeps compiled executables for a run on ``root`` (None: nowhere).

    ``"auto"``: ``<root>/_cache/jax`` for a local run root, so a second run
    (a resumed one, ``--force infer``, another worker on this machine)
    compiles nothing; for a ``gs://`` root a folder on this host
    (``$XDG_CACHE_HOME/galvasr/jax``, else ``~/.cache/galvasr/jax``), since
    every executable read or written over the network would cost more than
    it saves on small shapes. ``""``: no cache. Anything else: that folder.
    """
    if not setting:
        return None
    if setting != "auto":
        return setting
    if "://" not in root:
        return str(Path(runroot.join(str(Path(root).resolve()), runroot.JAX_CACHE_DIR)))
    home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(home) / "galvasr" / "jax")


def use_compilation_cache(path: str | None) -> str | None:
    """Point JAX's persistent compilation cache at ``path`` (None: leave JAX as it is).

    Every executable is kept, however fast it compiled or small it is: the
    shapes are few (one per bucket and batch size) and a CPU compiles each
    in seconds. Switching folders in one process (tests, two run roots)
    resets JAX's cache object, which it otherwise builds once per process.
    """
    if path is None:
        return None
    if "://" not in path:
        Path(path).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    if getattr(jax.config, "jax_compilation_cache_dir", None) != path:
        jax.config.update("jax_compilation_cache_dir", path)
        reset_cache()
    return path


def decode_finished(root: str) -> Callable[[], bool]:
    """True once decode has committed every ``chunks`` shard: Spark's ``chunks/_SUCCESS``,
    written when the write job commits (decode commits each task's shards as it ends)."""
    store = open_store(root)
    return lambda: store.exists(CHUNKS_DONE)


def run(ctx: StageContext, hooks: Hooks | None = None) -> Summary:
    """The registry's entry: one worker in this process until no shard is left.

    On a cluster the same work is shared by any number of hosts running
    ``galvasr infer --root gs://...`` (or ``python -m accel.infer``). ``hooks``
    is for tests that inject failures (tests/infer_faults.py).
    """
    summary = run_infer(
        ctx.root,
        ctx.require_model(),
        ctx.config.infer,
        worker_id=ctx.options.get("worker_id"),
        progress=bool(ctx.options.get("progress", True)) and ctx.progress,
        hooks=hooks,
        console=ctx.console,
        follow=_follow(ctx),
    )
    ctx.state["model_version"] = summary.get("model_version")
    return dict(summary)


def _follow(ctx: StageContext) -> Callable[[], bool] | None:
    """``--follow`` (or ``galvasr run`` with ``infer.overlap_decode``, which passes its own
    test: decode finished, or failed)."""
    follow = ctx.options.get("follow")
    if callable(follow):
        return cast(Callable[[], bool], follow)
    return decode_finished(ctx.root) if follow else None

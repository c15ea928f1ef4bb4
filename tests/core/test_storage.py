"""One suite, two backends: a local directory and a GCS emulator over HTTP."""

from __future__ import annotations

import multiprocessing
import os
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from galvasr.storage import (
    TMP_MARKER,
    GcsStore,
    LocalStore,
    Store,
    check_path,
    commit_parquet_if_absent,
    open_store,
    parquet_bytes,
    read_parquet,
    write_parquet,
)
from tests.gcs_emulator import Emulator

MiB = 1024 * 1024


def payload(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Backend:
    name: str
    base: str  # a test's private space: the store's root and its siblings live under it
    new_client: Callable[[], Any] | None

    @property
    def url(self) -> str:
        return f"{self.base}/run"

    def open(self, url: str | None = None) -> Store:
        """A new store (and, on GCS, a new client, as another host would have)."""
        client = self.new_client() if self.new_client else None
        return open_store(url or self.url, client=client)


@pytest.fixture(params=["local", "gcs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return Backend("local", str(tmp_path), None)
    emulator: Emulator = request.getfixturevalue("gcs_emulator")
    bucket: str = request.getfixturevalue("gcs_bucket")
    return Backend("gcs", f"gs://{bucket}/{uuid.uuid4().hex}", emulator.client)


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.open()


# ------------------------------------------------------------ basic verbs


def test_round_trip(store: Store, backend: Backend) -> None:
    data = payload(1, 1000)
    assert not store.exists("a/b.bin")
    store.write_bytes("a/b.bin", data)
    assert store.exists("a/b.bin")
    assert store.read_bytes("a/b.bin") == data
    assert store.list() == ["a/b.bin"]
    assert store.url() == backend.url
    assert store.url("a/b.bin") == f"{backend.url}/a/b.bin"
    store.write_bytes("empty", b"")
    assert store.read_bytes("empty") == b""


def test_overwrite_replaces(store: Store) -> None:
    store.write_bytes("x", b"first, longer content")
    store.write_bytes("x", b"second")
    assert store.read_bytes("x") == b"second"
    assert store.list() == ["x"]


def test_list_by_prefix(store: Store) -> None:
    assert store.list() == []
    for path in ["b/c/d", "a/2", "ab/3", "a/1", "top"]:
        store.write_bytes(path, path.encode())
    assert store.list() == ["a/1", "a/2", "ab/3", "b/c/d", "top"]
    assert store.list("a/") == ["a/1", "a/2"]
    assert store.list("a") == ["a/1", "a/2", "ab/3"]
    assert store.list("b/c") == ["b/c/d"]
    assert store.list("b/c/d") == ["b/c/d"]
    assert store.list("t") == ["top"]
    assert store.list("zzz/") == []
    assert store.list("a/1/") == []


def test_sibling_roots_do_not_see_each_other(backend: Backend) -> None:
    run, run2 = backend.open(f"{backend.base}/run"), backend.open(f"{backend.base}/run2")
    run.write_bytes("x", b"1")
    run2.write_bytes("y", b"2")
    assert run.list() == ["x"]
    assert run2.list() == ["y"]
    assert not run.exists("y")


def test_exists_and_delete(store: Store) -> None:
    store.write_bytes("d/f", b"1")
    assert store.exists("d/f")
    assert not store.exists("d")  # directories are not files
    store.delete("d/f")
    assert not store.exists("d/f")
    assert store.list() == []
    with pytest.raises(FileNotFoundError):
        store.delete("d/f")
    store.delete("d/f", missing_ok=True)


def test_clear_removes_a_prefix_and_what_killed_writers_left(store: Store) -> None:
    for path in ("r/a", "r/sub/b", "keep/c"):
        store.write_bytes(path, b"1")
    if isinstance(store, LocalStore):  # a writer killed before its rename leaves this
        leftover = Path(store.url("r/sub")) / f".b{TMP_MARKER}dead"
        leftover.write_bytes(b"torn")
    store.clear("r/")
    assert store.list() == ["keep/c"]
    if isinstance(store, LocalStore):
        assert not leftover.exists()
    store.clear()
    assert store.list() == []


def test_missing_file_raises_file_not_found(store: Store) -> None:
    with pytest.raises(FileNotFoundError):
        store.read_bytes("nope/none")
    with pytest.raises(FileNotFoundError):
        store.open_input("nope/none")
    with pytest.raises(FileNotFoundError):
        store.delete("nope/none")


def test_open_input_reads_pieces(store: Store) -> None:
    data = payload(2, 3 * MiB)
    store.write_bytes("big", data)
    with store.open_input("big") as f:
        assert f.read(10) == data[:10]
        f.seek(2 * MiB)
        assert f.read(100) == data[2 * MiB : 2 * MiB + 100]
        f.seek(0)
        assert f.read() == data


# ----------------------------------------------------------------- safety

BAD_PATHS = [
    "/etc/passwd",
    "../escape",
    "a/../../escape",
    "a/../b",
    "a//b",
    "./a",
    "a/.",
    "a/",
    "",
    "a\\..\\b",
    "nul\x00byte",
    f"x{TMP_MARKER}y",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_bad_paths_are_refused_everywhere(store: Store, backend: Backend, path: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.read_bytes(path),
        lambda: store.open_input(path),
        lambda: store.write_bytes(path, b"evil"),
        lambda: store.commit_if_absent(path, b"evil"),
        lambda: store.exists(path),
        lambda: store.delete(path),
    ]
    for call in calls:
        with pytest.raises(ValueError):
            call()
    if path:
        with pytest.raises(ValueError):
            store.url(path)
    # Nothing was written anywhere, inside the root or beside it.
    assert backend.open(backend.base).list() == []


@pytest.mark.parametrize("prefix", ["/abs", "../", "a/../", "a//", "./"])
def test_bad_list_prefixes_are_refused(store: Store, prefix: str) -> None:
    with pytest.raises(ValueError):
        store.list(prefix)


@given(st.text(alphabet="ab./\\", max_size=12))
def test_a_path_that_passes_stays_under_the_root(path: str) -> None:
    root = "/srv/run"
    try:
        check_path(path)
    except ValueError:
        return
    local = LocalStore(root).url(path)
    assert os.path.commonpath([root, os.path.normpath(local)]) == root
    assert os.path.normpath(local) != root


def test_bad_gcs_roots_are_refused(gcs_emulator: Emulator) -> None:
    client = gcs_emulator.client()
    for url in ["gs://", "gs:///x", "gs://b/a/../c", "gs://b/a//c"]:
        with pytest.raises(ValueError):
            GcsStore(url, client=client)


# ----------------------------------------------------------------- commit


def test_commit_if_absent_keeps_the_first_writer(store: Store) -> None:
    assert store.commit_if_absent("shard/00001", b"first") is True
    assert store.commit_if_absent("shard/00001", b"second") is False
    assert store.read_bytes("shard/00001") == b"first"
    store.write_bytes("shard/00002", b"written")
    assert store.commit_if_absent("shard/00002", b"late") is False
    assert store.read_bytes("shard/00002") == b"written"
    assert store.list() == ["shard/00001", "shard/00002"]


@pytest.mark.parametrize("size", [100, 3 * MiB])
def test_commit_race_between_threads_has_one_winner(backend: Backend, size: int) -> None:
    racers = 6
    stores = [backend.open() for _ in range(racers)]
    payloads = [payload(seed, size) for seed in range(racers)]
    barrier = threading.Barrier(racers)
    results: list[bool | None] = [None] * racers

    def race(i: int) -> None:
        barrier.wait(timeout=30)
        results[i] = stores[i].commit_if_absent("shard/0", payloads[i])

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=bool) == [False] * (racers - 1) + [True], results
    winner = results.index(True)
    assert stores[0].read_bytes("shard/0") == payloads[winner]
    assert stores[0].list() == ["shard/0"]


def _commit_in_process(url: str, seed: int, size: int, barrier: Any, out: Any) -> None:
    store = open_store(url)
    data = payload(seed, size)
    barrier.wait(timeout=60)
    out.put((seed, store.commit_if_absent("shard/0", data)))


def test_commit_race_between_processes_has_one_winner(tmp_path: Path) -> None:
    racers, size = 4, 3 * MiB
    url = str(tmp_path / "run")
    ctx = multiprocessing.get_context("spawn")  # no fork of a threaded test process
    barrier, out = ctx.Barrier(racers), ctx.Queue()
    procs = [
        ctx.Process(target=_commit_in_process, args=(url, seed, size, barrier, out))
        for seed in range(racers)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    winners = [seed for seed, won in results.items() if won]
    assert len(results) == racers and len(winners) == 1, results
    store = open_store(url)
    assert store.read_bytes("shard/0") == payload(winners[0], size)
    # Losers and the winner alike cleaned up their temporary files.
    assert os.listdir(tmp_path / "run" / "shard") == ["0"]


def test_large_commit_if_absent(backend: Backend, request: pytest.FixtureRequest) -> None:
    # Over 8 MiB, google-cloud-storage switches from one multipart request to
    # a resumable upload. Real GCS enforces ifGenerationMatch on both;
    # fake-gcs-server 1.54 drops it on resumable uploads (fsouza/fake-gcs-server#1967).
    if backend.name == "gcs":
        request.applymarker(
            pytest.mark.xfail(
                strict=True, reason="fake-gcs-server ignores preconditions on resumable uploads"
            )
        )
    store = backend.open()
    first, second = payload(10, 9 * MiB), payload(11, 9 * MiB)
    assert store.commit_if_absent("big", first) is True
    assert store.commit_if_absent("big", second) is False
    assert store.read_bytes("big") == first


def test_readers_never_see_a_torn_overwrite(backend: Backend) -> None:
    versions = [payload(20, 2 * MiB), payload(21, 2 * MiB)]
    writer_store, reader_store = backend.open(), backend.open()
    writer_store.write_bytes("f", versions[0])
    done = threading.Event()

    def write() -> None:
        for i in range(12):
            writer_store.write_bytes("f", versions[i % 2])
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    while not done.is_set():
        assert reader_store.read_bytes("f") in versions, "a reader saw a mix of two versions"
    writer.join()
    assert reader_store.read_bytes("f") == versions[1]
    assert reader_store.list() == ["f"]


def test_local_temporary_files_are_hidden_and_cleaned(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("d/a", b"1")
    store.commit_if_absent("d/b", b"2")
    store.commit_if_absent("d/b", b"3")
    assert sorted(os.listdir(tmp_path / "d")) == ["a", "b"]
    (tmp_path / "d" / f".c{TMP_MARKER}dead").write_bytes(b"left by a killed writer")
    assert store.list() == ["d/a", "d/b"]


# ---------------------------------------------------------------- opening


def test_open_store_picks_the_backend(tmp_path: Path, gcs_emulator: Emulator) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    assert open_store(f"file://{tmp_path}/r").url("x") == f"{tmp_path}/r/x"
    gcs = open_store("gs://bucket/some/prefix/", client=gcs_emulator.client())
    assert isinstance(gcs, GcsStore)
    assert gcs.url("x/y") == "gs://bucket/some/prefix/x/y"
    assert open_store("gs://bucket", client=gcs_emulator.client()).url("x") == "gs://bucket/x"
    with pytest.raises(ValueError):
        open_store("s3://bucket/x")


def test_default_client_honours_storage_emulator_host(
    gcs_emulator: Emulator, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.endpoint)
    store = open_store(f"gs://{gcs_bucket}/{uuid.uuid4().hex}")
    store.write_bytes("k", b"v")
    # Read back through an explicitly configured client: the write reached the emulator.
    assert open_store(store.url(), client=gcs_emulator.client()).read_bytes("k") == b"v"


# ---------------------------------------------------------------- Parquet


def _table(rows: int) -> pa.Table:
    return pa.table(
        {
            "audio_id": pa.array(range(rows), pa.int64()),
            "pcm": pa.array([payload(i, 1000) for i in range(rows)], pa.binary()),
            "text": pa.array([f"row {i}" for i in range(rows)], pa.string()),
        }
    )


def test_parquet_round_trip(store: Store) -> None:
    table = _table(500)
    write_parquet(store, "t/part-0.parquet", table)
    assert read_parquet(store, "t/part-0.parquet").equals(table)
    assert read_parquet(store, "t/part-0.parquet", columns=["text"]).equals(table.select(["text"]))


def test_parquet_bytes_are_deterministic(store: Store) -> None:
    table = _table(3000)
    rechunked = pa.concat_tables([table.slice(0, 1234), table.slice(1234, 17), table.slice(1251)])
    assert rechunked.column("pcm").num_chunks == 3
    write_parquet(store, "a.parquet", table)
    write_parquet(store, "b.parquet", table)
    write_parquet(store, "c.parquet", rechunked)
    a = store.read_bytes("a.parquet")
    assert a == store.read_bytes("b.parquet") == store.read_bytes("c.parquet")
    assert a == parquet_bytes(table)


def test_commit_parquet_if_absent(store: Store) -> None:
    first, second = _table(10), _table(20)
    assert commit_parquet_if_absent(store, "s.parquet", first) is True
    assert commit_parquet_if_absent(store, "s.parquet", second) is False
    assert read_parquet(store, "s.parquet").equals(first)

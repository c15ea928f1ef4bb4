"""Files under a run root, on local disk or on GCS, behind one small interface.

A :class:`Store` is rooted at a local directory or at ``gs://bucket/prefix``;
every method takes a path relative to that root, '/'-separated. Paths come
from data (audio ids, shard names), so they are checked: absolute paths,
empty, ``.`` and ``..`` components are refused, and nothing outside the root
is ever read, written, listed or deleted.

Two writes, two promises:

- :meth:`Store.write_bytes` overwrites, and no reader ever sees a torn file:
  a reader gets the old bytes or the new ones.
- :meth:`Store.commit_if_absent` creates the file only if nothing is there.
  When several writers race on one path, exactly one gets True and the file
  holds exactly that writer's bytes. This is the commit of the accelerator
  stage's output shards (a shard whose output exists is skipped), and the
  primitive a lease is built on.

On top of these, :func:`write_parquet`, :func:`read_parquet` and
:func:`commit_parquet_if_absent` move one Arrow table as one Parquet file;
the same table always gives the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from typing import IO, TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from google.cloud.storage import Client

TMP_MARKER = ".galvasr-tmp-"
"""Local temporary files carry this in their name; listings skip them."""


class Store(Protocol):
    """Files under one root. Every ``path`` is relative to the root."""

    def url(self, path: str = "") -> str:
        """Where ``path`` lives, in a form Spark and pyarrow accept ("" is the root)."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """The whole file; FileNotFoundError if there is none."""
        ...

    def open_input(self, path: str) -> IO[bytes]:
        """A seekable binary file object, for reading large files piece by piece."""
        ...

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or replace ``path``; readers see the old bytes or the new, never a mix."""
        ...

    def commit_if_absent(self, path: str, data: bytes) -> bool:
        """Create ``path`` holding ``data`` only if it does not exist; True if this call did."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file (not a directory) is at ``path``."""
        ...

    def list(self, prefix: str = "") -> list[str]:
        """Sorted paths of every file under the root whose path starts with ``prefix``."""
        ...

    def delete(self, path: str, missing_ok: bool = False) -> None:
        """Remove the file; FileNotFoundError if there is none, unless ``missing_ok``."""
        ...

    def clear(self, prefix: str = "") -> None:
        """Remove every file under ``prefix``, with what killed writers left behind."""
        ...


def check_path(path: str, *, allow_empty: bool = False) -> str:
    """``path`` if it is a safe relative path, else ValueError.

    Safe means '/'-separated components that are none of '', '.', '..', and
    contain no backslash, NUL or the temporary-file marker.
    """
    if not isinstance(path, str):
        raise TypeError(f"path must be str, got {type(path).__name__}")
    if path == "" and allow_empty:
        return path
    if path.startswith("/"):
        raise ValueError(f"absolute path {path!r}: paths are relative to the store's root")
    for part in path.split("/"):
        if part in ("", ".", ".."):
            raise ValueError(f"bad path {path!r}: empty, '.' or '..' component")
        if "\\" in part or "\x00" in part or TMP_MARKER in part:
            raise ValueError(f"bad path {path!r}: backslash, NUL or {TMP_MARKER!r} in a name")
    return path


def _check_prefix(prefix: str) -> str:
    """A list prefix: a safe path, or one ending in '/', or ''."""
    if prefix:
        check_path(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def open_store(url: str, client: Client | None = None) -> Store:
    """The store rooted at ``url``: a local path, ``file://`` URL or ``gs://bucket/prefix``."""
    if url.startswith("gs://"):
        return GcsStore(url, client=client)
    if url.startswith("file://"):
        return LocalStore(url.removeprefix("file://"))
    if "://" in url:
        raise ValueError(f"unsupported storage URL {url!r}: use a local path or gs://")
    return LocalStore(url)


# ------------------------------------------------------------------- local


class LocalStore:
    """A directory on a local or shared POSIX file system."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = os.path.abspath(os.fspath(root))

    def __repr__(self) -> str:
        return f"LocalStore({self.root!r})"

    def _local(self, path: str) -> str:
        return os.path.join(self.root, *check_path(path).split("/"))

    def url(self, path: str = "") -> str:
        check_path(path, allow_empty=True)
        return self._local(path) if path else self.root

    def read_bytes(self, path: str) -> bytes:
        with open(self._local(path), "rb") as f:
            return f.read()

    def open_input(self, path: str) -> IO[bytes]:
        return open(self._local(path), "rb")

    def _write_temp(self, final: str, data: bytes) -> str:
        """Write ``data`` to a new temporary file beside ``final`` and return its name.

        Beside, so that the rename or link that publishes it stays on one file
        system and is atomic. fsync, so that a file that is visible after a
        crash is also complete (a committed shard is never re-done).
        """
        directory, name = os.path.split(final)
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, f".{name}{TMP_MARKER}{uuid.uuid4().hex}")
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            _unlink_quietly(tmp)
            raise
        return tmp

    def write_bytes(self, path: str, data: bytes) -> None:
        final = self._local(path)
        tmp = self._write_temp(final, data)
        try:
            os.replace(tmp, final)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    def commit_if_absent(self, path: str, data: bytes) -> bool:
        # rename() would silently replace a file another writer committed
        # meanwhile, and open(O_EXCL) would show readers a half-written file.
        # link() does both halves at once: it publishes the complete temporary
        # file under the final name, and fails with EEXIST if the name is
        # taken, atomically, on local file systems and on NFS.
        final = self._local(path)
        tmp = self._write_temp(final, data)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        finally:
            _unlink_quietly(tmp)
        return True

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._local(path))

    def list(self, prefix: str = "") -> list[str]:
        _check_prefix(prefix)
        # Walk only the deepest directory the prefix names in full.
        start = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self._local(start) if start else self.root
        found = []
        for directory, _, files in os.walk(top):
            rel_dir = os.path.relpath(directory, self.root).replace(os.sep, "/")
            for name in files:
                if TMP_MARKER in name:
                    continue
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if rel.startswith(prefix):
                    found.append(rel)
        return sorted(found)

    def delete(self, path: str, missing_ok: bool = False) -> None:
        try:
            os.unlink(self._local(path))
        except FileNotFoundError:
            if not missing_ok:
                raise

    def clear(self, prefix: str = "") -> None:
        # list() hides temporary files; a writer killed before its rename
        # leaves one, and a folder rebuilt whole must not keep it.
        _check_prefix(prefix)
        start = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        top = self._local(start) if start else self.root
        for directory, _, files in os.walk(top):
            rel_dir = os.path.relpath(directory, self.root).replace(os.sep, "/")
            for name in files:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if rel.startswith(prefix):
                    _unlink_quietly(os.path.join(directory, name))


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# --------------------------------------------------------------------- GCS


class GcsStore:
    """Objects under ``gs://bucket/prefix``.

    The default client is ``google.cloud.storage.Client()``: application
    default credentials, or the emulator named by ``STORAGE_EMULATOR_HOST``.
    An upload becomes visible only when complete, so every write is atomic.
    """

    def __init__(self, url: str, client: Client | None = None):
        if not url.startswith("gs://"):
            raise ValueError(f"not a gs:// URL: {url!r}")
        bucket, _, prefix = url.removeprefix("gs://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        prefix = prefix.strip("/")
        check_path(prefix, allow_empty=True)
        if client is None:
            from google.cloud import storage

            client = storage.Client()
        self.client = client
        self.bucket = client.bucket(bucket)
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"GcsStore({self.url()!r})"

    def _name(self, path: str) -> str:
        check_path(path, allow_empty=True)
        return "/".join(p for p in (self.prefix, path) if p)

    def _blob(self, path: str) -> Any:
        return self.bucket.blob(self._name(check_path(path)))

    def url(self, path: str = "") -> str:
        return f"gs://{self.bucket.name}/{self._name(path)}".rstrip("/")

    def read_bytes(self, path: str) -> bytes:
        from google.api_core.exceptions import NotFound

        try:
            data: bytes = self._blob(path).download_as_bytes()
        except NotFound:
            raise FileNotFoundError(self.url(path)) from None
        return data

    def open_input(self, path: str) -> IO[bytes]:
        blob = self.bucket.get_blob(self._name(check_path(path)))
        if blob is None:
            raise FileNotFoundError(self.url(path))
        # Pinned to the generation just looked up: if the object is replaced
        # while we read, reads fail instead of mixing two versions.
        reader: IO[bytes] = blob.open("rb", if_generation_match=blob.generation)
        return reader

    def write_bytes(self, path: str, data: bytes) -> None:
        from google.cloud.storage.retry import DEFAULT_RETRY

        # Writing the same bytes twice is harmless, so transient errors are
        # retried (the library does not retry unconditional uploads by default).
        self._blob(path).upload_from_string(
            data, content_type="application/octet-stream", retry=DEFAULT_RETRY
        )

    def commit_if_absent(self, path: str, data: bytes) -> bool:
        """As :meth:`Store.commit_if_absent`, via ``if_generation_match=0``.

        The library retries conditional uploads. If an attempt lands but its
        response is lost, the retry finds the object and this returns False
        although the bytes there are ours; a caller that must know who won
        (a lease) writes a unique token and reads it back.
        """
        from google.api_core.exceptions import PreconditionFailed

        try:
            self._blob(path).upload_from_string(
                data, content_type="application/octet-stream", if_generation_match=0
            )
        except PreconditionFailed:
            return False
        return True

    def exists(self, path: str) -> bool:
        return bool(self._blob(path).exists())

    def list(self, prefix: str = "") -> list[str]:
        _check_prefix(prefix)
        # The root prefix ends in '/', so gs://b/run does not list gs://b/run2.
        root = f"{self.prefix}/" if self.prefix else ""
        blobs = self.client.list_blobs(self.bucket, prefix=root + prefix)
        # Names ending in '/' are folder placeholders made by other tools.
        return sorted(b.name[len(root) :] for b in blobs if not b.name.endswith("/"))

    def delete(self, path: str, missing_ok: bool = False) -> None:
        from google.api_core.exceptions import NotFound

        try:
            self._blob(path).delete()
        except NotFound:
            if not missing_ok:
                raise FileNotFoundError(self.url(path)) from None

    def clear(self, prefix: str = "") -> None:
        # GCS uploads are atomic: there are no temporary objects to find.
        for path in self.list(prefix):
            self.delete(path, missing_ok=True)


# ----------------------------------------------------------------- Parquet


def parquet_bytes(table: pa.Table, compression: str = "zstd") -> bytes:
    """``table`` as one Parquet file; equal tables give equal bytes.

    Chunks are combined first because the writer's page boundaries follow the
    in-memory chunk layout, which two equal tables need not share. Binary
    columns then need under 2 GiB per column: shards are far smaller.
    """
    sink = io.BytesIO()
    pq.write_table(table.combine_chunks(), sink, compression=compression)
    return sink.getvalue()


def write_parquet(store: Store, path: str, table: pa.Table) -> None:
    """Create or replace ``path`` with ``table`` as one Parquet file."""
    store.write_bytes(path, parquet_bytes(table))


def commit_parquet_if_absent(store: Store, path: str, table: pa.Table) -> bool:
    """Commit ``table`` to ``path`` unless a file is there; True if this call did."""
    return store.commit_if_absent(path, parquet_bytes(table))


def read_parquet(store: Store, path: str, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file, streamed from the store rather than read whole first.

    ``ParquetFile.read`` gives the table ``pq.read_table`` does without importing
    ``pyarrow.dataset`` (0.45 s of CPU for a process that reads only this way: infer);
    a missing column raises ArrowInvalid as there (``read`` would leave it out).
    """
    with store.open_input(path) as f:
        parquet = pq.ParquetFile(f)
        names = set(parquet.schema_arrow.names)
        missing = [c for c in columns or () if c not in names]
        if missing:
            raise pa.ArrowInvalid(f"{path}: no column {missing[0]!r}")
        return parquet.read(columns=columns)

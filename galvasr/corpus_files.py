"""A corpus's files, reached through untrusted paths: every check in one place.

A corpus is a folder, local or ``gs://bucket/prefix`` (through
galvasr.storage), whose catalog names its files. The names are data, so
ingest, decode and the run's fingerprint all reach the files through here:

- a path must be one galvasr.storage accepts (:func:`galvasr.storage.check_path`:
  relative, no empty, ``.`` or ``..`` component, no backslash or NUL), else
  :class:`UnsafePath`;
- on a local file system a symbolic link could point anywhere, so the path
  is resolved and must stay inside the corpus, else :class:`UnsafePath`;
- only regular files are ever opened: a FIFO would block its reader forever
  and a device is no media file. Anything else there counts as no file
  (``size`` None, FileNotFoundError);
- a file that is there but cannot be read (no permission, a link loop) is
  :class:`Unreadable`: the file's fault, refused, where an I/O error of a
  remote store propagates so that Spark retries.

GCS has no links or special files: there the path check is the whole story.

:func:`corpus_fingerprint` describes a corpus without opening anything but
its regular catalog files: links and special files are named, never followed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import stat
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Protocol

from galvasr import storage

if TYPE_CHECKING:
    from google.cloud.storage import Client


class UnsafePath(ValueError):
    """A path that is not a plain relative path, or that resolves outside the corpus."""


class Unreadable(OSError):
    """A file that is there but cannot be read: no permission, a link loop."""


def checked(path: str) -> str:
    """``path`` if galvasr.storage accepts it, else UnsafePath (a file is refused, not the run)."""
    try:
        return storage.check_path(path)
    except ValueError as e:
        raise UnsafePath(str(e)) from None


MediaSource = str | IO[bytes]
"""What FFmpeg is given: a local file's name, or a seekable file object."""


class CorpusFiles(Protocol):
    """Read access to a corpus's regular files; paths are relative to the corpus root."""

    def size(self, path: str) -> int | None:
        """The file's size in bytes; None if no regular file is there."""
        ...

    def read_bytes(self, path: str) -> bytes:
        """The whole file; FileNotFoundError if no regular file is there."""
        ...

    def media_source(self, path: str) -> contextlib.AbstractContextManager[MediaSource]:
        """The file for a decoder to open; FileNotFoundError if no regular file is there."""
        ...


class LocalCorpus:
    """A corpus folder on a local file system; nothing outside it is ever opened."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = os.path.realpath(root)

    def __repr__(self) -> str:
        return f"LocalCorpus({self.root!r})"

    def resolve(self, path: str) -> str:
        """The real location of ``path``; UnsafePath if it is outside the corpus."""
        # Names were checked (no '..', not absolute); a symbolic link inside
        # the corpus could still point anywhere, so resolve and compare.
        full = os.path.realpath(os.path.join(self.root, *checked(path).split("/")))
        if os.path.commonpath([full, self.root]) != self.root:
            raise UnsafePath(f"{path} resolves outside the corpus")
        return full

    def _regular(self, path: str) -> tuple[str, os.stat_result] | None:
        """(real location, stat) of the regular file at ``path``; None if there is none."""
        full = self.resolve(path)
        try:
            st = os.lstat(full)  # resolved: the last component is no link (unless a loop)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise Unreadable(e.errno, f"{path}: {e.strerror}") from None
        if stat.S_ISLNK(st.st_mode):  # what realpath leaves of a link loop
            raise Unreadable(errno.ELOOP, f"{path}: too many levels of symbolic links")
        return (full, st) if stat.S_ISREG(st.st_mode) else None

    def _existing(self, path: str) -> tuple[str, os.stat_result]:
        found = self._regular(path)
        if found is None:
            raise FileNotFoundError(errno.ENOENT, f"no file {path}")
        return found

    def size(self, path: str) -> int | None:
        found = self._regular(path)
        return None if found is None else found[1].st_size

    def open_input(self, path: str) -> IO[bytes]:
        """The regular file at ``path``, open for reading; never a FIFO or device."""
        full, before = self._existing(path)
        # O_NOFOLLOW and O_NONBLOCK: if the file was swapped for a link or a
        # FIFO since it was looked at, open fails or returns at once, and the
        # identity check below refuses it.
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, f"no file {path}") from None
        except OSError as e:
            raise Unreadable(e.errno, f"{path}: {e.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (
                before.st_dev,
                before.st_ino,
            ):
                raise FileNotFoundError(errno.ENOENT, f"no file {path} (it changed while opened)")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def read_bytes(self, path: str) -> bytes:
        with self.open_input(path) as f:
            return f.read()

    @contextlib.contextmanager
    def media_source(self, path: str) -> Iterator[MediaSource]:
        # By name: FFmpeg's own file I/O is the fastest way to read a local file.
        yield self._existing(path)[0]


class StoreCorpus:
    """A corpus behind a galvasr.storage Store without links or special files (GCS)."""

    def __init__(self, store: storage.Store):
        self.store = store

    def __repr__(self) -> str:
        return f"StoreCorpus({self.store!r})"

    def size(self, path: str) -> int | None:
        try:
            with self.store.open_input(checked(path)) as f:
                return f.seek(0, io.SEEK_END)
        except FileNotFoundError:
            return None

    def read_bytes(self, path: str) -> bytes:
        return self.store.read_bytes(checked(path))

    @contextlib.contextmanager
    def media_source(self, path: str) -> Iterator[MediaSource]:
        with self.store.open_input(checked(path)) as f:
            yield f


def open_corpus(url: str, client: Client | None = None) -> CorpusFiles:
    """The corpus at a local path, ``file://`` URL or ``gs://bucket/prefix``.

    ``client`` is a google.cloud.storage Client for a gs:// corpus (default: a new one).
    """
    if "://" in url and not url.startswith("file://"):
        return StoreCorpus(storage.open_store(url, client=client))
    return LocalCorpus(url.removeprefix("file://"))


# ------------------------------------------------------------ fingerprint

CATALOG_PREFIX = "catalog.jsonl"
"""Files whose path starts with this are fingerprinted by content, the rest by size."""


def corpus_fingerprint(corpus: str, client: Client | None = None) -> str:
    """The catalog's bytes plus the name and size of every other file of the corpus.

    Sizes, not contents, keep this cheap for a large corpus on GCS. Locally,
    nothing is opened but regular catalog files, and no link is followed:
    a link is named with its target's name (and, for a catalog, the size
    and time of what it points to, which ingest will read), any other file
    that is not a regular one with its kind. So a dangling link, a link
    loop, a FIFO or a link to a file outside the corpus neither stops nor
    hangs the run, nor is read. Regular files give the same fingerprint as
    before links were told apart. ``client`` is as for :func:`open_corpus`.
    """
    store = storage.open_store(corpus, client=client)
    facts = (
        _local_facts(store.root) if isinstance(store, storage.LocalStore) else _store_facts(store)
    )
    h = hashlib.sha256()
    for path, fact in sorted(facts):
        h.update(f"{path}\0{fact}\n".encode())
    return h.hexdigest()


def _store_facts(store: storage.Store) -> Iterator[tuple[str, str]]:
    for path in store.list(""):
        if path.startswith(CATALOG_PREFIX):
            fact = hashlib.sha256(store.read_bytes(path)).hexdigest()
        else:
            with store.open_input(path) as f:
                fact = str(f.seek(0, io.SEEK_END))
        yield path, fact


def _local_facts(root: str) -> Iterator[tuple[str, str]]:
    """(path, fact) of every entry under ``root`` but directories, from lstat alone."""
    pending = [""]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as it:
                entries = list(it)
        except OSError as e:
            yield rel_dir or ".", f"unreadable-dir:{e.errno}"
            continue
        for entry in entries:
            if storage.TMP_MARKER in entry.name:
                continue  # a writer's temporary file, as galvasr.storage lists them
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as e:
                yield rel, f"unreadable:{e.errno}"
                continue
            if stat.S_ISDIR(st.st_mode):
                pending.append(rel)
            elif stat.S_ISREG(st.st_mode):
                yield rel, _regular_fact(entry.path, rel, st)
            elif stat.S_ISLNK(st.st_mode):
                yield rel, _link_fact(entry.path, rel)
            else:
                yield rel, f"special:{_kind(st.st_mode)}"


def _regular_fact(full: str, rel: str, st: os.stat_result) -> str:
    if not rel.startswith(CATALOG_PREFIX):
        return str(st.st_size)
    h = hashlib.sha256()
    try:
        # O_NOFOLLOW | O_NONBLOCK: it was a regular file a moment ago; if it is
        # swapped for a link or a FIFO, this fails or returns at once.
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return "special:changed"
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        return f"unreadable:{e.errno}"
    return h.hexdigest()


def _link_fact(full: str, rel: str) -> str:
    try:
        fact = f"symlink:{os.readlink(full)}"
    except OSError as e:
        return f"symlink-unreadable:{e.errno}"
    if rel.startswith(CATALOG_PREFIX):
        # Ingest reads a catalog through a link; stat (never open) what it
        # points to, so an edited catalog still re-runs ingest.
        try:
            target = os.stat(full)
        except OSError as e:
            return f"{fact}:unreachable:{e.errno}"
        fact += f":{_kind(target.st_mode)}:{target.st_size}:{target.st_mtime_ns}"
    return fact


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "dir"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "char-device"),
        (stat.S_ISBLK, "block-device"),
    ):
        if test(mode):
            return name
    return "other"

"""galvasr.corpus_files: untrusted paths into a corpus, and the run's corpus fingerprint.

Nothing here may follow a link out of the corpus, open a FIFO (it would block
forever) or a device, or crash on a dangling link or a link loop.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from galvasr import corpus_files
from galvasr.corpus_files import (
    LocalCorpus,
    StoreCorpus,
    Unreadable,
    UnsafePath,
    corpus_fingerprint,
    open_corpus,
)
from galvasr.storage import open_store

CATALOG = b'{"metadata": {"identifier": "a"}, "files": ["x.mp3", "x.srt"]}\n'


def _plain_corpus(root: Path) -> Path:
    (root / "items" / "a" / "sub").mkdir(parents=True)
    (root / "catalog.jsonl").write_bytes(CATALOG)
    (root / "items" / "a" / "x.mp3").write_bytes(b"audio" * 100)
    (root / "items" / "a" / "x.srt").write_bytes(b"1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    (root / "items" / "a" / "sub" / "y.flac").write_bytes(b"")
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file and a folder beside the corpus, that nothing may read through a link."""
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "secret.mp3"
    secret.write_bytes(b"secret")
    (tmp_path / "outside" / "more.mp3").write_bytes(b"more secret")
    return secret


@pytest.fixture
def hostile(tmp_path: Path, outside: Path) -> Path:
    """A plain corpus plus a dangling link, two link loops, a FIFO, links out of it."""
    root = _plain_corpus(tmp_path / "corpus")
    a = root / "items" / "a"
    os.symlink("nowhere.mp3", a / "dangling.mp3")
    os.symlink("self.mp3", a / "self.mp3")
    os.symlink("pong.mp3", a / "ping.mp3")
    os.symlink("ping.mp3", a / "pong.mp3")
    os.mkfifo(a / "fifo.mp3")
    os.symlink(outside, a / "secret.mp3")
    os.symlink("/etc/passwd", a / "passwd.srt")
    os.symlink(outside.parent, root / "items" / "elsewhere")
    os.symlink("x.mp3", a / "inside.mp3")  # a link that stays inside is fine
    return root


class Opened:
    """Every path opened through builtins.open, io.open or os.open while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.paths: list[str] = []
        for owner, name in ((builtins, "open"), (io, "open"), (os, "open")):
            monkeypatch.setattr(owner, name, self._wrap(getattr(owner, name)))

    def _wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def opener(file: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, str | bytes | os.PathLike):
                self.paths.append(os.fsdecode(file))
            return real(file, *args, **kwargs)

        return opener


def _within(seconds: float, fn: Callable[[], Any]) -> Any:
    """``fn()``, failing (not hanging) if it takes longer than ``seconds``."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as e:  # noqa: BLE001 - handed to the test
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: blocked on a FIFO?"
    if errors:
        raise errors[0]
    return result[0]


# ------------------------------------------------------------ fingerprint


def _old_fingerprint(corpus: Path) -> str:
    """The fingerprint as galvasr.pipeline computed it before: every file opened."""
    store = open_store(str(corpus))
    h = hashlib.sha256()
    for path in store.list(""):
        if path.startswith("catalog.jsonl"):
            fact = hashlib.sha256(store.read_bytes(path)).hexdigest()
        else:
            with store.open_input(path) as f:
                fact = str(f.seek(0, 2))
        h.update(f"{path}\0{fact}\n".encode())
    return h.hexdigest()


def test_a_plain_corpus_keeps_its_fingerprint(tmp_path: Path):
    corpus = _plain_corpus(tmp_path / "corpus")
    assert corpus_fingerprint(str(corpus)) == _old_fingerprint(corpus)
    assert corpus_fingerprint(f"file://{corpus}") == _old_fingerprint(corpus)


def test_the_fingerprint_follows_catalog_bytes_and_file_sizes(tmp_path: Path):
    corpus = _plain_corpus(tmp_path / "corpus")
    before = corpus_fingerprint(str(corpus))
    (corpus / "catalog.jsonl").write_bytes(CATALOG.replace(b"x.srt", b"y.srt"))  # same size
    after = corpus_fingerprint(str(corpus))
    assert after != before
    (corpus / "items" / "a" / "x.mp3").write_bytes(b"audio" * 101)
    assert corpus_fingerprint(str(corpus)) != after


def test_the_fingerprint_opens_nothing_unsafe_and_never_blocks(
    hostile: Path, monkeypatch: pytest.MonkeyPatch
):
    opened = Opened(monkeypatch)
    fingerprint = _within(30, lambda: corpus_fingerprint(str(hostile)))
    assert len(fingerprint) == 64
    # Only the catalog is opened; items are measured with lstat, links never followed.
    assert [Path(p).name for p in opened.paths] == ["catalog.jsonl"]


@pytest.mark.parametrize(
    "change",
    [
        lambda root: os.unlink(root / "items" / "a" / "fifo.mp3"),
        lambda root: os.unlink(root / "items" / "a" / "dangling.mp3"),
        lambda root: (
            os.unlink(root / "items" / "a" / "secret.mp3"),
            os.symlink("/etc/hostname", root / "items" / "a" / "secret.mp3"),
        ),
        lambda root: os.unlink(root / "items" / "a" / "self.mp3"),
    ],
    ids=["fifo-gone", "dangling-gone", "link-retargeted", "loop-gone"],
)
def test_links_and_special_files_are_named_in_the_fingerprint(hostile: Path, change):
    before = corpus_fingerprint(str(hostile))
    change(hostile)
    assert corpus_fingerprint(str(hostile)) != before


def test_a_linked_catalog_still_changes_the_fingerprint(tmp_path: Path):
    corpus = _plain_corpus(tmp_path / "corpus")
    real = tmp_path / "catalogs" / "v1.jsonl"
    real.parent.mkdir()
    real.write_bytes(CATALOG)
    (corpus / "catalog.jsonl").unlink()
    os.symlink(real, corpus / "catalog.jsonl")
    before = corpus_fingerprint(str(corpus))
    real.write_bytes(CATALOG + CATALOG)  # ingest reads through the link: so must this notice
    assert corpus_fingerprint(str(corpus)) != before


def test_a_gcs_corpus_fingerprints_like_a_local_one(tmp_path: Path, gcs_emulator, gcs_bucket):
    corpus = _plain_corpus(tmp_path / "corpus")
    url = f"gs://{gcs_bucket}/fingerprint-corpus"
    gcs = open_store(url, client=gcs_emulator.client())
    local = open_store(str(corpus))
    for path in local.list(""):
        gcs.write_bytes(path, local.read_bytes(path))
    remote = corpus_fingerprint(url, client=gcs_emulator.client())
    assert remote == corpus_fingerprint(str(corpus))


# ---------------------------------------------------------- corpus files


def test_local_corpus_reads_regular_files_inside(hostile: Path):
    files = LocalCorpus(str(hostile))
    assert files.size("items/a/x.mp3") == 500
    assert files.read_bytes("items/a/x.mp3") == b"audio" * 100
    assert files.size("items/a/inside.mp3") == 500  # a link that stays inside
    assert files.size("items/a/none.mp3") is None
    assert files.size("items/a") is None  # a folder is no file
    with files.media_source("items/a/x.mp3") as source:
        assert source == str(hostile.resolve() / "items" / "a" / "x.mp3")


@pytest.mark.parametrize(
    "path", ["items/a/secret.mp3", "items/a/passwd.srt", "items/elsewhere/more.mp3"]
)
def test_no_link_out_of_the_corpus_is_followed(hostile: Path, path: str):
    files = LocalCorpus(str(hostile))
    with pytest.raises(UnsafePath):
        files.size(path)
    with pytest.raises(UnsafePath):
        files.read_bytes(path)
    with pytest.raises(UnsafePath), files.media_source(path):
        pass


@pytest.mark.parametrize(
    "path", ["../corpus/items/a/x.mp3", "/etc/passwd", "items//a/x.mp3", "items/./a/x.mp3", ""]
)
def test_unsafe_names_are_refused(hostile: Path, path: str):
    for files in (LocalCorpus(str(hostile)), StoreCorpus(open_store(str(hostile)))):
        with pytest.raises(UnsafePath):
            files.size(path)


def test_a_fifo_is_no_file_and_is_never_opened(hostile: Path, monkeypatch: pytest.MonkeyPatch):
    files = LocalCorpus(str(hostile))
    opened = Opened(monkeypatch)

    def attempts() -> list[str]:
        out = [str(files.size("items/a/fifo.mp3"))]
        for fn in (files.read_bytes, files.open_input):
            try:
                fn("items/a/fifo.mp3")
            except FileNotFoundError as e:
                out.append(type(e).__name__)
        try:
            with files.media_source("items/a/fifo.mp3"):
                pass
        except FileNotFoundError as e:
            out.append(type(e).__name__)
        return out

    assert _within(30, attempts) == ["None"] + ["FileNotFoundError"] * 3
    assert opened.paths == []


@pytest.mark.parametrize("path", ["items/a/dangling.mp3"])
def test_a_dangling_link_inside_is_a_missing_file(hostile: Path, path: str):
    files = LocalCorpus(str(hostile))
    assert files.size(path) is None
    with pytest.raises(FileNotFoundError):
        files.read_bytes(path)


@pytest.mark.parametrize("path", ["items/a/self.mp3", "items/a/ping.mp3"])
def test_a_link_loop_is_unreadable_not_a_crash(hostile: Path, path: str):
    files = LocalCorpus(str(hostile))
    with pytest.raises(Unreadable):
        files.size(path)
    with pytest.raises(Unreadable):
        files.read_bytes(path)
    assert isinstance(Unreadable(), OSError)  # ingest refuses it as audio:unreadable


def test_open_corpus_picks_the_kind_of_store(tmp_path: Path):
    assert isinstance(open_corpus(str(tmp_path)), LocalCorpus)
    assert isinstance(open_corpus(f"file://{tmp_path}"), LocalCorpus)
    assert corpus_files.checked("items/a/x.mp3") == "items/a/x.mp3"


def test_folder_links_that_loop_neither_hang_nor_escape(tmp_path: Path):
    """A folder linked to itself or to its parent: the walk never follows it, and a
    path through it resolves to the real file inside the corpus (or to nothing)."""
    corpus = _plain_corpus(tmp_path / "corpus")
    os.symlink(".", corpus / "items" / "a" / "again")
    os.symlink("..", corpus / "items" / "a" / "up")
    os.symlink("../../..", corpus / "items" / "a" / "out")
    fingerprint = _within(30, lambda: corpus_fingerprint(str(corpus)))
    assert len(fingerprint) == 64
    files = LocalCorpus(str(corpus))
    assert files.size("items/a/again/again/again/x.mp3") == 500
    assert files.size("items/a/up/a/x.mp3") == 500
    assert files.size("items/a/out/corpus/items/a/x.mp3") == 500  # out and back in
    (tmp_path / "secret.mp3").write_bytes(b"secret")
    with pytest.raises(UnsafePath):
        files.size("items/a/out/secret.mp3")

"""A writer's journal: finished runs on disk at once, in SQLite a moment later.

Committing each test's run to SQLite as it finishes costs tens of µs a test for the commit
alone (every index page the run touches is written again, test after test) and, under xdist,
a turn at the one write lock. A buffered store (the session's) instead appends each finished
run to its own journal file with one ``write()`` and commits the runs in batches: a batch
leaves with its journal file, removed once the batch is committed, and the next run starts a
new file (so a batch's file never holds a run that is not committed with it). A write that
returned is in the operating system's cache: killing the process (SIGKILL, the OOM killer)
loses nothing, exactly as with a committed transaction; the next open of the store imports
what a dead writer left (:func:`leftovers`).

The format is a file of records, each ``length (4 bytes) · crc32 (4 bytes) · marshal``; a record
cut short (a power loss mid-write) ends the file's readable part. A live writer holds an
exclusive ``flock`` on its file for as long as it is open, so another process never imports a
journal that is still being written. Where ``fcntl`` does not exist (Windows), nothing is
journalled: the store commits each run as it comes.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["SUPPORTED", "Journal", "journal_dir", "leftovers", "records", "release", "set_aside"]

SUPPORTED = fcntl is not None
_HEADER = struct.Struct("<II")
_SUFFIX = ".journal"


def journal_dir(db: Path) -> Path:
    """Where the journals of the store at ``db`` live: beside it, like SQLite's ``-wal``."""
    return db.with_name(db.name + "-journals")


class Journal:
    """This process's journal for one store: append records, forget them once committed."""

    def __init__(self, db: Path) -> None:
        assert fcntl is not None
        directory = journal_dir(db)
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # Locked under a name nobody imports, then renamed: a journal is never seen unlocked.
        unlocked = directory / f"{name}.new"
        while True:
            directory.mkdir(parents=True, exist_ok=True)
            try:
                self._fd = os.open(unlocked, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
                break
            except FileNotFoundError:  # the last journal in it was just removed, and with it
                continue  # the directory (another writer's close, or our own committer's)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.path = directory / f"{name}{_SUFFIX}"
        os.rename(unlocked, self.path)

    def append(self, record: Any) -> None:
        """Write one record (marshal-able: ints, strings, tuples, lists, None) in one write."""
        data = marshal.dumps(record)
        os.writev(self._fd, (_HEADER.pack(len(data), zlib.crc32(data)), data))

    def close(self, *, keep: bool = False) -> None:
        """Let go of the file and remove it; with ``keep`` (its records could not be
        committed) leave it for the next open of the store to import."""
        if not keep:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)
        _remove_if_empty(self.path.parent)


def records(path: Path) -> Iterator[Any]:
    """The whole records of a journal file, in the order they were written."""
    data = path.read_bytes()
    at = 0
    while at + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, at)
        body = data[at + _HEADER.size : at + _HEADER.size + length]
        if len(body) < length or zlib.crc32(body) != crc:
            return  # cut short: nothing after it was ever written whole
        yield marshal.loads(body)
        at += _HEADER.size + length


def leftovers(db: Path) -> Iterator[tuple[Path, int]]:
    """Journals of ``db`` whose writer is gone, each with its file descriptor, locked.

    The caller imports each one's records and then hands it to :func:`release`.
    """
    directory = journal_dir(db)
    if fcntl is None or not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:  # its writer closed it meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live writer still holds it
            os.close(fd)
            continue
        yield path, fd


def release(path: Path, fd: int) -> None:
    """A leftover journal was imported: remove it."""
    path.unlink(missing_ok=True)
    os.close(fd)
    _remove_if_empty(path.parent)


def set_aside(path: Path, fd: int) -> Path:
    """A leftover journal that cannot be imported: renamed out of the way (``.unreadable``),
    so it is neither lost nor tried again."""
    kept = path.with_suffix(".unreadable")
    os.rename(path, kept)
    os.close(fd)
    return kept


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: another writer's journal is in it
        directory.rmdir()

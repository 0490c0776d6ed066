"""Who writes the embedded store: one process at a time, named in a lock file beside its folder.

Qdrant Edge lets one process open a shard, and finds out only when the shard is opened, deep in
a write. `kura serve` (its upload worker), `kura worker`, `kura ingest` and `kura reindex` take
this lock before anything else, so the second of them learns at once who holds the store and
what to do: `kura ingest` hands its files to a running server's queue, `kura reindex` its
rebuild to the server's API, `kura worker` refuses with the fix.
The lock is an ``flock``: the kernel drops it when its holder dies, kill -9 included. A Qdrant
server (``KURA_QDRANT_URL``) takes any number of writers, so there is no lock then.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import StoreUnavailable
from ingest.private import FILE_MODE
from ingest.settings import IndexSettings


@dataclass(frozen=True)
class Holder:
    """The process that holds the embedded store."""

    pid: int
    role: str  # serve | worker | ingest | reindex
    url: str | None = None  # a server's address: for messages, and `kura reindex` calls it

    def describe(self) -> str:
        """E.g. ``kura serve (pid 123, http://127.0.0.1:8000)``."""
        where = f", {self.url}" if self.url else ""
        return f"kura {self.role} (pid {self.pid}{where})"


class StoreInUse(StoreUnavailable):
    """Another kura process writes the embedded store."""

    def __init__(self, holder: Holder | None, message: str) -> None:
        super().__init__(message)
        self.holder = holder


def lock_path(settings: IndexSettings) -> Path:
    """The lock file: beside the store's folder, so every data dir on that folder shares it."""
    folder = settings.qdrant_location
    return folder.with_name(folder.name + ".writer.lock")


@dataclass
class WriterLock:
    """The embedded store's writer lock, held by this process until ``release``."""

    path: Path
    _fd: int | None

    def release(self) -> None:
        """Let another process write the store."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def hold(settings: IndexSettings, role: str, url: str | None = None) -> WriterLock | None:
    """Take the writer lock of the embedded store for this process; None with a Qdrant server.
    Raises StoreInUse naming the holder when another process has it."""
    if settings.qdrant_url:
        return None
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = read_holder(path)
        who = holder.describe() if holder else "another kura process"
        raise StoreInUse(
            holder, f"the embedded store at {settings.qdrant_location} is being written by {who}"
        ) from None
    record = json.dumps({"pid": os.getpid(), "role": role, "url": url}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    return WriterLock(path, fd)


def read_holder(path: Path) -> Holder | None:
    """Who the lock file names (None when unreadable: a holder still writing its name)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(int(data["pid"]), str(data["role"]), data.get("url"))
    except (OSError, ValueError, KeyError, TypeError):
        return None

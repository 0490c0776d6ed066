"""kura's state database (``<data_dir>/kura.db``): the one opener, and the store base class.

One SQLite file holds what Qdrant cannot: collections and failures (ingest/registry.py), API
keys (app/auth.py), the audit log (app/audit.py) and upload jobs (app/jobs.py). Whoever opens it
first, `kura ingest` or `kura serve` or `kura keys`, opens it here, so it is owner-only, in WAL
mode and waits for a writer in the same way every time.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Self

from ingest.private import FILE_MODE

BUSY_TIMEOUT_S = 10.0  # another process (kura ingest beside kura serve) holds the write lock
# SQLite gives its -wal and -shm files the main file's mode, but ones left by an older kura
# (or a copy) keep theirs: they hold the same rows, so they are tightened too.
_SIDE_FILES = ("-wal", "-shm", "-journal")


def _owner_only(path: Path) -> None:
    # Created 0600 before SQLite touches it: sqlite3.connect would create it 0644 under a
    # shell's umask, and it holds key hashes and the questions people asked.
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for file in (path, *(path.with_name(path.name + side) for side in _SIDE_FILES)):
        try:
            if file.stat().st_mode & 0o777 != FILE_MODE:
                file.chmod(FILE_MODE)
        except FileNotFoundError:
            continue


def open_state(path: Path) -> sqlite3.Connection:
    """Open kura's state database: owner-only, WAL, autocommit, shareable across threads
    (callers serialise its use with a lock; StateStore does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _owner_only(path)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


class StateStore:
    """One connection to the state database, its tables created from ``SCHEMA``, used under a
    lock: safe to share between the threads of FastAPI's threadpool."""

    SCHEMA: ClassVar[str] = ""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn = open_state(path)
        with self._lock:
            self._conn.executescript(self.SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, inside one write transaction (all or nothing)."""
        with self._lock:
            # IMMEDIATE takes the write lock now, so a transaction that reads then writes
            # cannot fail half way on another process's write.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

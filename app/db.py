"""kura's state database (``<data_dir>/kura.db``): one SQLite file, a table set per store."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import ClassVar, Self


def connect(path: Path) -> sqlite3.Connection:
    """Open kura's state database in WAL mode; callers serialise use of it with a lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created owner-only: it holds key hashes and the questions people asked.
    path.touch(mode=0o600, exist_ok=True)
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
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
        self._conn = connect(path)
        with self._lock:
            self._conn.executescript(self.SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

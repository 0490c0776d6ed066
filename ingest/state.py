"""kura's state stores: the base class every store of the state database shares.

The state (collections and failures: ingest/registry.py; API keys: app/keys.py; the audit
record: app/audit.py; upload jobs: app/job_store.py) lives in one database: SQLite in
``<data_dir>/kura.db`` by default, PostgreSQL when ``KURA_DATABASE_URL`` is set
(ingest/database). Whoever opens it first, `kura ingest` or `kura serve` or `kura keys`,
brings it to the newest schema here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from sqlalchemy import Connection, Engine

from ingest.database import BUSY_TIMEOUT_S, WRITE, open_engine, owner_only
from ingest.database.migrate import ensure_current

__all__ = ["BUSY_TIMEOUT_S", "StateStore", "open_state"]


def open_state(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection to a kura.db file: owner-only, WAL, autocommit (for SQLite's
    online backup and for tests that build an old kura.db)."""
    owner_only(path)
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


class StateStore:
    """A store in the state database, at the newest schema; safe to share between the
    threads of FastAPI's threadpool (each use takes a pooled connection).

    ``database`` is a SQLite file, a database URL, or an engine to share (the caller closes
    that one)."""

    def __init__(self, database: Path | str | Engine) -> None:
        if isinstance(database, Engine):
            self.engine, self._owned = database, False
        else:
            self.engine, self._owned = open_engine(database), True
        try:
            ensure_current(self.engine)
        except BaseException:
            self.close()
            raise

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one write transaction (all or nothing)."""
        with self.engine.connect() as conn:
            # On SQLite the write lock is taken at BEGIN, so a transaction that reads then
            # writes cannot fail half way on another process's write.
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A connection for reads (one consistent snapshot on SQLite)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        """Close the store's connections (not those of an engine it was given)."""
        if self._owned:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

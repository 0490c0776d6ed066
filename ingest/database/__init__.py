"""kura's state database: SQLite in ``<data_dir>/kura.db`` by default, PostgreSQL when
``KURA_DATABASE_URL`` is set. One opener for both, so every store connects the same way.

SQLite is opened owner-only, in WAL mode, with a busy timeout, and a write transaction takes
the write lock at its start (``BEGIN IMMEDIATE``), so one that reads then writes cannot fail
half way on another process's write. PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ingest.private import FILE_MODE

if TYPE_CHECKING:
    from ingest.settings import IndexSettings

__all__ = [
    "BUSY_TIMEOUT_S",
    "WRITE",
    "engine",
    "open_engine",
    "owner_only",
    "safe_url",
    "upsert",
]

BUSY_TIMEOUT_S = 10.0  # another process (kura ingest beside kura serve) holds the write lock
# Execution option of a connection whose transactions write: BEGIN IMMEDIATE on SQLite.
WRITE = "kura_write"
# SQLite gives its -wal and -shm files the main file's mode, but ones left by an older kura
# (or a copy) keep theirs: they hold the same rows, so they are tightened too.
_SIDE_FILES = ("-wal", "-shm", "-journal")


def owner_only(path: Path) -> None:
    """Create ``path`` 0600 if missing, and tighten it and its SQLite side files."""
    # Created 0600 before SQLite touches it: sqlite3.connect would create it 0644 under a
    # shell's umask, and it holds key hashes and the questions people asked. Never opened
    # when it exists: closing any descriptor of the file drops every POSIX lock this process
    # holds on it, SQLite's for its open connections included (another process could then
    # reset the WAL under them, and their later commits would be lost).
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for file in (path, *(path.with_name(path.name + side) for side in _SIDE_FILES)):
        try:
            if file.stat().st_mode & 0o777 != FILE_MODE:
                file.chmod(FILE_MODE)
        except FileNotFoundError:
            continue


def engine(settings: IndexSettings) -> Engine:
    """The state database the settings name (KURA_DATABASE_URL, else <data_dir>/kura.db)."""
    return open_engine(settings.state_database)


def open_engine(target: Path | str) -> Engine:
    """An engine on a SQLite file (a path) or a database URL (``postgresql://...``)."""
    if isinstance(target, Path):
        return _sqlite(target)
    url = make_url(target)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("kura's state needs a file or a server, not an in-memory SQLite")
        return _sqlite(Path(url.database))
    if url.get_backend_name() != "postgresql":
        raise ValueError(
            f"KURA_DATABASE_URL names {url.get_backend_name()!r}: kura's state runs on "
            "PostgreSQL (postgresql://...) or SQLite (unset)"
        )
    if url.drivername == "postgresql":  # SQLAlchemy's default driver is psycopg2: use psycopg 3
        url = url.set(drivername="postgresql+psycopg")
    # pre_ping: a replica outlives a database restart without handing out dead connections.
    return create_engine(url, pool_pre_ping=True)


def safe_url(engine: Engine) -> str:
    """The engine's URL without its password, for messages and logs."""
    return engine.url.render_as_string(hide_password=True)


def _sqlite(path: Path) -> Engine:
    owner_only(path)
    created = create_engine(
        URL.create("sqlite", database=str(path)),
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    )
    event.listen(created, "connect", _on_connect)
    event.listen(created, "begin", _on_begin)
    return created


def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # pysqlite's own transaction handling would BEGIN lazily and never IMMEDIATE: turn it off
    # and let _on_begin say how each transaction starts (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA journal_mode=WAL")


def _on_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def upsert(conn: Connection, table: Table, values: dict[str, Any], update: tuple[str, ...]) -> None:
    """Insert a row, or on a primary-key clash update its ``update`` columns (no-op if none)."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).values(**values)
    keys = [column.name for column in table.primary_key]
    if update:
        excluded = {name: statement.excluded[name] for name in update}
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=excluded))
    else:
        conn.execute(statement.on_conflict_do_nothing(index_elements=keys))

"""kura's own record of collections and of documents that failed to index (SQLite).

Qdrant holds what is indexed; this small database holds what Qdrant cannot: each collection's
settings (who may read it, who may add documents, the groups new documents get) and the
reason a document could not be indexed, so the document list can show it. It lives in
``<data_dir>/kura.db`` beside the API keys and the audit log.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

EVERYONE = "*"  # the group every key holder is in

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    read_groups TEXT NOT NULL,
    write_groups TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    collection TEXT NOT NULL,
    source TEXT NOT NULL,
    document_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (collection, source)
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class CollectionConfig:
    """A collection's settings."""

    name: str
    read_groups: tuple[str, ...] = (EVERYONE,)  # who may search it; new documents' default
    write_groups: tuple[str, ...] = ()  # who may add and delete documents (admins always)
    description: str = ""
    created_at: str = field(default_factory=_now)

    def readable_by(self, groups: tuple[str, ...] | list[str]) -> bool:
        """Whether a member of ``groups`` may read the collection."""
        return EVERYONE in self.read_groups or bool(set(groups) & set(self.read_groups))

    def writable_by(self, groups: tuple[str, ...] | list[str]) -> bool:
        """Whether a member of ``groups`` may add or delete documents."""
        return EVERYONE in self.write_groups or bool(set(groups) & set(self.write_groups))


@dataclass(frozen=True)
class Failure:
    """A document that could not be indexed, and why."""

    collection: str
    source: str
    document_id: str
    reason: str
    failed_at: str


class Registry:
    """Collections and failures in ``path`` (SQLite, WAL; safe across threads)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # -- collections -------------------------------------------------------------------------

    def save_collection(self, config: CollectionConfig) -> None:
        """Create or update a collection's settings."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO collections VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "description=excluded.description, read_groups=excluded.read_groups, "
                "write_groups=excluded.write_groups",
                (
                    config.name,
                    config.description,
                    json.dumps(list(config.read_groups)),
                    json.dumps(list(config.write_groups)),
                    config.created_at,
                ),
            )

    def collection(self, name: str) -> CollectionConfig | None:
        """A collection's settings, or None if it was never registered."""
        with self._lock:
            row = self._db.execute(
                "SELECT name, description, read_groups, write_groups, created_at "
                "FROM collections WHERE name = ?",
                (name,),
            ).fetchone()
        return _config(row) if row else None

    def collections(self) -> list[CollectionConfig]:
        """Every registered collection, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, description, read_groups, write_groups, created_at "
                "FROM collections ORDER BY name"
            ).fetchall()
        return [_config(row) for row in rows]

    def delete_collection(self, name: str) -> None:
        """Forget a collection and its failures."""
        with self._tx() as db:
            db.execute("DELETE FROM collections WHERE name = ?", (name,))
            db.execute("DELETE FROM failures WHERE collection = ?", (name,))

    # -- failures ----------------------------------------------------------------------------

    def record_failure(self, collection: str, source: str, document_id: str, reason: str) -> None:
        """Remember that ``source`` could not be indexed (replacing an older reason)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?)",
                (collection, source, document_id, reason, _now()),
            )

    def clear_failure(self, collection: str, source: str) -> None:
        """Forget a failure (the document was indexed or deleted since)."""
        with self._tx() as db:
            db.execute(
                "DELETE FROM failures WHERE collection = ? AND source = ?", (collection, source)
            )

    def failures(self, collection: str) -> list[Failure]:
        """The collection's documents that failed, newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT collection, source, document_id, reason, failed_at FROM failures "
                "WHERE collection = ? ORDER BY failed_at DESC",
                (collection,),
            ).fetchall()
        return [Failure(*row) for row in rows]


def _config(row: tuple[str, str, str, str, str]) -> CollectionConfig:
    name, description, read, write, created = row
    return CollectionConfig(
        name=name,
        read_groups=tuple(json.loads(read)),
        write_groups=tuple(json.loads(write)),
        description=description,
        created_at=created,
    )

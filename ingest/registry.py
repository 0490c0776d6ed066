"""kura's own record of collections and of documents that failed to index (SQLite).

Qdrant holds what is indexed; this small database holds what Qdrant cannot: each collection's
settings (who may read it, who may add documents, the groups new documents get) and the
reason a document could not be indexed, so the document list can show it. It lives in
``<data_dir>/kura.db`` beside the API keys and the audit log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from ingest.state import StateStore

EVERYONE = "*"  # the group every key holder is in

_FAILURES_TABLE = """
CREATE TABLE {exists}failures (
    collection TEXT NOT NULL,
    source TEXT NOT NULL,
    document_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    failed_at TEXT NOT NULL,
    allowed_groups TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (collection, source, allowed_groups)
);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    read_groups TEXT NOT NULL,
    write_groups TEXT NOT NULL,
    created_at TEXT NOT NULL
);
""" + _FAILURES_TABLE.format(exists="IF NOT EXISTS ")
# Failures recorded before they carried groups: kept, with no groups (listed to nobody; they
# clear when the file is indexed), since who may read them is not known.
_MIGRATE_FAILURES = """
ALTER TABLE failures RENAME TO failures_without_groups;
{table}INSERT INTO failures (collection, source, document_id, reason, failed_at)
    SELECT collection, source, document_id, reason, failed_at FROM failures_without_groups;
DROP TABLE failures_without_groups;
""".format(table=_FAILURES_TABLE.format(exists=""))


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
    """A document that could not be indexed, and why; listed only to ``allowed_groups``."""

    collection: str
    source: str
    document_id: str
    reason: str
    failed_at: str
    allowed_groups: tuple[str, ...] = ()

    def readable_by(self, groups: list[str] | None) -> bool:
        """Whether a member of ``groups`` may see it (None: no access control)."""
        return groups is None or bool(set(self.allowed_groups) & set(groups))


class Registry(StateStore):
    """Collections and failures in ``path`` (SQLite, WAL; safe across threads)."""

    SCHEMA: ClassVar[str] = _SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        # CREATE TABLE IF NOT EXISTS left an old failures table as it was: migrate it now.
        with self._lock:
            columns = {row[1] for row in self._conn.execute("PRAGMA table_info(failures)")}
            if "allowed_groups" not in columns:
                self._conn.executescript(f"BEGIN;{_MIGRATE_FAILURES}COMMIT;")

    # -- collections -------------------------------------------------------------------------

    def save_collection(self, config: CollectionConfig) -> None:
        """Create or update a collection's settings."""
        with self.transaction() as db:
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
            row = self._conn.execute(
                "SELECT name, description, read_groups, write_groups, created_at "
                "FROM collections WHERE name = ?",
                (name,),
            ).fetchone()
        return _config(row) if row else None

    def collections(self) -> list[CollectionConfig]:
        """Every registered collection, by name."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, description, read_groups, write_groups, created_at "
                "FROM collections ORDER BY name"
            ).fetchall()
        return [_config(row) for row in rows]

    def delete_collection(self, name: str) -> None:
        """Forget a collection and its failures."""
        with self.transaction() as db:
            db.execute("DELETE FROM collections WHERE name = ?", (name,))
            db.execute("DELETE FROM failures WHERE collection = ?", (name,))

    # -- failures ----------------------------------------------------------------------------

    def record_failure(
        self,
        collection: str,
        source: str,
        document_id: str,
        reason: str,
        groups: tuple[str, ...] | list[str] = (EVERYONE,),
    ) -> None:
        """Remember that ``source``, to be read by ``groups``, could not be indexed (replacing
        an older reason for the same name and groups)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO failures VALUES (?, ?, ?, ?, ?, ?)",
                (collection, source, document_id, reason, _now(), _groups_key(groups)),
            )

    def clear_failure(
        self, collection: str, source: str, groups: tuple[str, ...] | list[str] | None = None
    ) -> None:
        """Forget a failure (the document was indexed or deleted since): the one for
        ``groups``, or every one of that name (None)."""
        with self.transaction() as db:
            if groups is None:
                db.execute(
                    "DELETE FROM failures WHERE collection = ? AND source = ?", (collection, source)
                )
            else:
                db.execute(
                    "DELETE FROM failures WHERE collection = ? AND source = ? "
                    "AND allowed_groups = ?",
                    (collection, source, _groups_key(groups)),
                )

    def failures(self, collection: str) -> list[Failure]:
        """The collection's documents that failed, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT collection, source, document_id, reason, failed_at, allowed_groups "
                "FROM failures WHERE collection = ? ORDER BY failed_at DESC",
                (collection,),
            ).fetchall()
        return [
            Failure(
                collection=row[0],
                source=row[1],
                document_id=row[2],
                reason=row[3],
                failed_at=row[4],
                allowed_groups=tuple(json.loads(row[5])),
            )
            for row in rows
        ]


def _groups_key(groups: tuple[str, ...] | list[str]) -> str:
    return json.dumps(sorted(set(groups)))


def _config(row: tuple[str, str, str, str, str]) -> CollectionConfig:
    name, description, read, write, created = row
    return CollectionConfig(
        name=name,
        read_groups=tuple(json.loads(read)),
        write_groups=tuple(json.loads(write)),
        description=description,
        created_at=created,
    )

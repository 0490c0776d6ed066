"""kura's own record of collections and of documents that failed to index.

Qdrant holds what is indexed; the state database holds what Qdrant cannot: each collection's
settings (who may read it, who may add documents, the groups new documents get) and the
reason a document could not be indexed, so the document list can show it. It lives beside
the API keys and the audit log (``<data_dir>/kura.db``, or PostgreSQL: ingest/database).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select

from ingest.database import upsert
from ingest.database.tables import collections as _collections
from ingest.database.tables import failures as _failures
from ingest.state import StateStore

EVERYONE = "*"  # the group every key holder is in


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
    """Collections and failures in the state database; safe across threads."""

    # -- collections -------------------------------------------------------------------------

    def save_collection(self, config: CollectionConfig) -> None:
        """Create or update a collection's settings."""
        with self.transaction() as db:
            upsert(
                db,
                _collections,
                {
                    "name": config.name,
                    "description": config.description,
                    "read_groups": json.dumps(list(config.read_groups)),
                    "write_groups": json.dumps(list(config.write_groups)),
                    "created_at": config.created_at,
                },
                update=("description", "read_groups", "write_groups"),
            )

    def collection(self, name: str) -> CollectionConfig | None:
        """A collection's settings, or None if it was never registered."""
        with self.reading() as db:
            row = db.execute(select(_collections).where(_collections.c.name == name)).first()
        return _config(row._mapping) if row else None

    def collections(self) -> list[CollectionConfig]:
        """Every registered collection, by name."""
        with self.reading() as db:
            rows = db.execute(select(_collections).order_by(_collections.c.name)).all()
        return [_config(row._mapping) for row in rows]

    def delete_collection(self, name: str) -> None:
        """Forget a collection and its failures."""
        with self.transaction() as db:
            db.execute(delete(_collections).where(_collections.c.name == name))
            db.execute(delete(_failures).where(_failures.c.collection == name))

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
            upsert(
                db,
                _failures,
                {
                    "collection": collection,
                    "source": source,
                    "document_id": document_id,
                    "reason": reason,
                    "failed_at": _now(),
                    "allowed_groups": _groups_key(groups),
                },
                update=("document_id", "reason", "failed_at"),
            )

    def clear_failure(
        self, collection: str, source: str, groups: tuple[str, ...] | list[str] | None = None
    ) -> None:
        """Forget a failure (the document was indexed or deleted since): the one for
        ``groups``, or every one of that name (None)."""
        statement = delete(_failures).where(
            _failures.c.collection == collection, _failures.c.source == source
        )
        if groups is not None:
            statement = statement.where(_failures.c.allowed_groups == _groups_key(groups))
        with self.transaction() as db:
            db.execute(statement)

    def failures(self, collection: str) -> list[Failure]:
        """The collection's documents that failed, newest first."""
        with self.reading() as db:
            rows = db.execute(
                select(_failures)
                .where(_failures.c.collection == collection)
                .order_by(_failures.c.failed_at.desc())
            ).all()
        return [
            Failure(
                collection=row.collection,
                source=row.source,
                document_id=row.document_id,
                reason=row.reason,
                failed_at=row.failed_at,
                allowed_groups=tuple(json.loads(row.allowed_groups)),
            )
            for row in rows
        ]


def _groups_key(groups: tuple[str, ...] | list[str]) -> str:
    return json.dumps(sorted(set(groups)))


def _config(row: Any) -> CollectionConfig:
    return CollectionConfig(
        name=row["name"],
        read_groups=tuple(json.loads(row["read_groups"])),
        write_groups=tuple(json.loads(row["write_groups"])),
        description=row["description"],
        created_at=row["created_at"],
    )

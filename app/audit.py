"""The evidence record: who asked what, what they were shown, and under which settings.

Rows live in the ``audit`` table of kura's state database (``<data_dir>/kura.db``, or
PostgreSQL). Triggers in the database make the table append-only: any UPDATE or DELETE (and
TRUNCATE on PostgreSQL) aborts, whoever issues it, the table's owner too. That stops
application bugs and careless tools; it does not stop someone who can write the file, or a
PostgreSQL superuser, who drops the triggers first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import insert, select

from ingest.database.tables import audit as _audit
from ingest.state import StateStore


class AuditPassage(BaseModel):
    """A passage the model was given, by reference (the text stays in the index)."""

    n: int | None = Field(None, description="Its number in the prompt, as cited ([n]).")
    chunk_id: str
    document_id: str
    document_version: str = ""
    source: str
    page: str | None = Field(None, description="Page or page range, e.g. '3' or '3-4'.")


class AccessDecision(BaseModel):
    """What the access filter was and whether the request got through it."""

    groups: list[str] = Field(description="The groups the retrieval filter allowed.")
    decision: Literal["allowed", "denied"]
    reason: str | None = None


class ProxyInfo(BaseModel):
    """The proxy key a front end used to act for the user (e.g. Open WebUI's)."""

    user: str = Field(description="The proxy key's user, e.g. openwebui.")
    key_id: str


class AuditEntry(BaseModel):
    """One request that read documents."""

    id: int | None = Field(None, description="Assigned when recorded.")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    user: str = Field(description="Who asked: the end user, also when a proxy acted for them.")
    key_id: str = ""
    proxy: ProxyInfo | None = Field(None, description="Set when a proxy key acted for the user.")
    endpoint: str
    collection: str | None = None
    question: str = ""
    answer: str | None = None
    passages: list[AuditPassage] = Field(default_factory=list)
    access: AccessDecision
    model: str | None = None
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Request settings: reasoning_effort, top_k, mode, num_ctx, temperature, ...",
    )
    citations: list[int] = Field(default_factory=list, description="Passage numbers cited.")
    status: int = Field(200, description="HTTP status of the response.")

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Naive times are taken as UTC; stored times are always UTC so text order is time order.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


MAX_LIMIT = 10_000


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Fixed width and always +00:00, so comparing the text compares the times.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class AuditLog(StateStore):
    """Append-only audit record in the state database; safe to share between threads."""

    def record(self, entry: AuditEntry) -> int:
        """Append ``entry`` (its ``id`` is ignored) and return the id it was given."""
        data = entry.model_dump(mode="json")
        row = {
            "at": _iso(entry.at),
            "user": entry.user,
            "key_id": entry.key_id,
            "endpoint": entry.endpoint,
            "collection": entry.collection,
            "question": entry.question,
            "answer": entry.answer,
            "passages": _json(data["passages"]),
            "access": _json(data["access"]),
            "model": entry.model,
            "settings": _json(data["settings"]),
            "citations": _json(data["citations"]),
            "status": entry.status,
            "proxy": _json(data["proxy"]) if entry.proxy else None,
        }
        with self.transaction() as db:
            key = db.execute(insert(_audit).values(**row)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def query(
        self,
        user: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        collection: str | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Entries matching every filter given, newest first; ``since`` inclusive, ``until`` not."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        query = select(_audit)
        if user is not None:
            query = query.where(_audit.c.user == user)
        if collection is not None:
            query = query.where(_audit.c.collection == collection)
        if since is not None:
            query = query.where(_audit.c.at >= _iso(since))
        if until is not None:
            query = query.where(_audit.c.at < _iso(until))
        query = query.order_by(_audit.c.at.desc(), _audit.c.id.desc()).limit(limit)
        with self.reading() as db:
            rows = db.execute(query).all()
        return [
            AuditEntry(
                id=row.id,
                at=datetime.fromisoformat(row.at),
                user=row.user,
                key_id=row.key_id,
                endpoint=row.endpoint,
                collection=row.collection,
                question=row.question,
                answer=row.answer,
                passages=json.loads(row.passages),
                access=json.loads(row.access),
                model=row.model,
                settings=json.loads(row.settings),
                citations=json.loads(row.citations),
                status=row.status,
                proxy=json.loads(row.proxy) if row.proxy else None,
            )
            for row in rows
        ]

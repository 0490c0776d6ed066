"""The evidence record: who asked what, what they were shown, and under which settings.

Rows live in the ``audit`` table of ``<data_dir>/kura.db``. Triggers make the table append-only:
any UPDATE or DELETE aborts, whoever issues it. That stops application bugs and careless tools;
it does not stop someone who can write the file and drops the triggers first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, field_validator

from ingest.state import StateStore

if TYPE_CHECKING:
    from pathlib import Path


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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    user       TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    endpoint   TEXT NOT NULL,
    collection TEXT,
    question   TEXT NOT NULL,
    answer     TEXT,
    passages   TEXT NOT NULL,
    access     TEXT NOT NULL,
    model      TEXT,
    settings   TEXT NOT NULL,
    citations  TEXT NOT NULL,
    status     INTEGER NOT NULL,
    proxy      TEXT
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_user_at ON audit (user, at);
CREATE INDEX IF NOT EXISTS audit_collection_at ON audit (collection, at);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit record is append-only');
END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit record is append-only');
END;
"""

_COLUMNS = (
    "id, at, user, key_id, endpoint, collection, question, answer, passages, access, model, "
    "settings, citations, status, proxy"
)
MAX_LIMIT = 10_000


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Fixed width and always +00:00, so comparing the text compares the times.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


class AuditLog(StateStore):
    """Append-only audit record in SQLite; safe to share between threads."""

    SCHEMA = _SCHEMA

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        with self._lock:
            columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(audit)")}
            if "proxy" not in columns:  # a kura.db from before proxy keys
                self._conn.execute("ALTER TABLE audit ADD COLUMN proxy TEXT")

    def record(self, entry: AuditEntry) -> int:
        """Append ``entry`` (its ``id`` is ignored) and return the id it was given."""
        data = entry.model_dump(mode="json")
        row = (
            _iso(entry.at),
            entry.user,
            entry.key_id,
            entry.endpoint,
            entry.collection,
            entry.question,
            entry.answer,
            _json(data["passages"]),
            _json(data["access"]),
            entry.model,
            _json(data["settings"]),
            _json(data["citations"]),
            entry.status,
            _json(data["proxy"]) if entry.proxy else None,
        )
        with self._lock:
            cursor = self._conn.execute(
                f"INSERT INTO audit ({_COLUMNS.removeprefix('id, ')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

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
        where: list[str] = []
        params: list[Any] = []
        if user is not None:
            where.append("user = ?")
            params.append(user)
        if collection is not None:
            where.append("collection = ?")
            params.append(collection)
        if since is not None:
            where.append("at >= ?")
            params.append(_iso(since))
        if until is not None:
            where.append("at < ?")
            params.append(_iso(until))
        sql = f"SELECT {_COLUMNS} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY at DESC, id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [
            AuditEntry(
                id=row["id"],
                at=datetime.fromisoformat(row["at"]),
                user=row["user"],
                key_id=row["key_id"],
                endpoint=row["endpoint"],
                collection=row["collection"],
                question=row["question"],
                answer=row["answer"],
                passages=json.loads(row["passages"]),
                access=json.loads(row["access"]),
                model=row["model"],
                settings=json.loads(row["settings"]),
                citations=json.loads(row["citations"]),
                status=row["status"],
                proxy=json.loads(row["proxy"]) if row["proxy"] else None,
            )
            for row in rows
        ]

"""The state database's tables (SQLAlchemy Core), as the newest migration leaves them.

Columns keep the types kura.db has always had (text timestamps in ISO 8601 UTC, so text order
is time order; lists as JSON text; flags as integers), so a kura.db made before the migrations
is adopted as it is and copies to PostgreSQL row for row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

metadata = MetaData()

# SQLite's rowid alias must be INTEGER; PostgreSQL gets room for billions of audit rows.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")

collections = Table(
    "collections",
    metadata,
    Column("name", Text, primary_key=True),
    Column("description", Text, nullable=False, server_default=""),
    Column("read_groups", Text, nullable=False),
    Column("write_groups", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

failures = Table(
    "failures",
    metadata,
    Column("collection", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("document_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("failed_at", Text, nullable=False),
    Column("allowed_groups", Text, nullable=False, server_default="[]"),
    PrimaryKeyConstraint("collection", "source", "allowed_groups"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("user", Text, nullable=False),
    Column("groups_json", Text, nullable=False),
    Column("admin", Integer, nullable=False),
    Column("key_hash", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    Column("last_used_at", Text),
    Column("revoked_at", Text),
    Column("proxy", Integer, nullable=False, server_default="0"),
    Column("expires_at", Text),  # none: valid until revoked
)

proxy_users = Table(
    "proxy_users",
    metadata,
    Column("proxy_key_id", Text, nullable=False),
    Column("external", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("groups_json", Text, nullable=False),
    Column("created_at", Text, nullable=False),
    PrimaryKeyConstraint("proxy_key_id", "external"),
)

# Append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) for every role.
audit = Table(
    "audit",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("key_id", Text, nullable=False),
    Column("endpoint", Text, nullable=False),
    Column("collection", Text),
    Column("question", Text, nullable=False),
    Column("answer", Text),
    Column("passages", Text, nullable=False),
    Column("access", Text, nullable=False),
    Column("model", Text),
    Column("settings", Text, nullable=False),
    Column("citations", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("proxy", Text),
    Index("audit_at", "at"),
    Index("audit_user_at", "user", "at"),
    Index("audit_collection_at", "collection", "at"),
    sqlite_autoincrement=True,
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("collection", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", Text, nullable=False),
)

job_files = Table(
    "job_files",
    metadata,
    Column("job_id", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("source", Text, nullable=False),
    Column("path", Text, nullable=False),
    Column("groups", Text),
    Column("spec", Text),
    Column("status", Text, nullable=False, server_default="queued"),
    Column("chunks", Integer, nullable=False, server_default="0"),
    Column("reason", Text),
    Column("document_id", Text),
    Column("note", Text),
    Column("uploader_groups", Text),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("worker", Text),  # who holds the file's lease while it runs
    Column("lease_until", Float),  # epoch seconds (the database's clock on PostgreSQL)
    # A file waiting for its embedding host: not claimed before retry_at, failed once it has
    # waited KURA_EMBED_RETRY_FOR since waiting_since (epoch seconds, as lease_until); detail
    # is the reason naming the host, for admins only.
    Column("retry_at", Float),
    Column("waiting_since", Float),
    Column("detail", Text),
    PrimaryKeyConstraint("job_id", "position"),
    Index("job_files_status", "status"),
)

# In the order a copy must insert them.
ALL = (collections, failures, api_keys, proxy_users, audit, jobs, job_files)

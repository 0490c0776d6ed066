"""The state as kura kept it before migrations: created where missing, older shapes adopted.

A kura.db made by an older kura already holds some or all of these tables, perhaps in an older
shape (api_keys and audit without ``proxy``, failures without ``allowed_groups``): they are
kept with their rows and brought to this shape, as the stores used to do at every start.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY = "the audit record is append-only"


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def _has(table: str) -> bool:
    return sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    text = sa.Text
    if not _has("collections"):
        op.create_table(
            "collections",
            sa.Column("name", text, primary_key=True),
            sa.Column("description", text, nullable=False, server_default=""),
            sa.Column("read_groups", text, nullable=False),
            sa.Column("write_groups", text, nullable=False),
            sa.Column("created_at", text, nullable=False),
        )
    if _has("failures") and "allowed_groups" not in _columns("failures"):
        # Failures recorded before they carried groups: kept, with no groups (listed to
        # nobody; they clear when the file is indexed), since who may read them is not known.
        op.rename_table("failures", "failures_without_groups")
    if not _has("failures"):
        op.create_table(
            "failures",
            sa.Column("collection", text, nullable=False),
            sa.Column("source", text, nullable=False),
            sa.Column("document_id", text, nullable=False),
            sa.Column("reason", text, nullable=False),
            sa.Column("failed_at", text, nullable=False),
            sa.Column("allowed_groups", text, nullable=False, server_default="[]"),
            sa.PrimaryKeyConstraint("collection", "source", "allowed_groups"),
        )
    if _has("failures_without_groups"):
        op.execute(
            "INSERT INTO failures (collection, source, document_id, reason, failed_at) "
            "SELECT collection, source, document_id, reason, failed_at "
            "FROM failures_without_groups"
        )
        op.drop_table("failures_without_groups")
    if not _has("api_keys"):
        op.create_table(
            "api_keys",
            sa.Column("id", text, primary_key=True),
            sa.Column("user", text, nullable=False),
            sa.Column("groups_json", text, nullable=False),
            sa.Column("admin", sa.Integer, nullable=False),
            sa.Column("key_hash", text, nullable=False),
            sa.Column("created_at", text, nullable=False),
            sa.Column("last_used_at", text),
            sa.Column("revoked_at", text),
            sa.Column("proxy", sa.Integer, nullable=False, server_default="0"),
        )
    elif "proxy" not in _columns("api_keys"):  # a kura.db from before proxy keys
        op.add_column(
            "api_keys", sa.Column("proxy", sa.Integer, nullable=False, server_default="0")
        )
    if not _has("proxy_users"):
        op.create_table(
            "proxy_users",
            sa.Column("proxy_key_id", text, nullable=False),
            sa.Column("external", text, nullable=False),
            sa.Column("user", text, nullable=False),
            sa.Column("groups_json", text, nullable=False),
            sa.Column("created_at", text, nullable=False),
            sa.PrimaryKeyConstraint("proxy_key_id", "external"),
        )
    _audit()
    if not _has("jobs"):
        op.create_table(
            "jobs",
            sa.Column("id", text, primary_key=True),
            sa.Column("collection", text, nullable=False),
            sa.Column("user", text, nullable=False),
            sa.Column("status", text, nullable=False),
            sa.Column("created_at", text, nullable=False),
        )
    if not _has("job_files"):
        op.create_table(
            "job_files",
            sa.Column("job_id", text, nullable=False),
            sa.Column("position", sa.Integer, nullable=False),
            sa.Column("source", text, nullable=False),
            sa.Column("path", text, nullable=False),
            sa.Column("groups", text),
            sa.Column("spec", text),
            sa.Column("status", text, nullable=False, server_default="queued"),
            sa.Column("chunks", sa.Integer, nullable=False, server_default="0"),
            sa.Column("reason", text),
            sa.Column("document_id", text),
            sa.Column("note", text),
            sa.Column("uploader_groups", text),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
            sa.PrimaryKeyConstraint("job_id", "position"),
        )


def _audit() -> None:
    if not _has("audit"):
        op.create_table(
            "audit",
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                primary_key=True,
                autoincrement=True,
            ),
            sa.Column("at", sa.Text, nullable=False),
            sa.Column("user", sa.Text, nullable=False),
            sa.Column("key_id", sa.Text, nullable=False),
            sa.Column("endpoint", sa.Text, nullable=False),
            sa.Column("collection", sa.Text),
            sa.Column("question", sa.Text, nullable=False),
            sa.Column("answer", sa.Text),
            sa.Column("passages", sa.Text, nullable=False),
            sa.Column("access", sa.Text, nullable=False),
            sa.Column("model", sa.Text),
            sa.Column("settings", sa.Text, nullable=False),
            sa.Column("citations", sa.Text, nullable=False),
            sa.Column("status", sa.Integer, nullable=False),
            sa.Column("proxy", sa.Text),
            sqlite_autoincrement=True,
        )
    elif "proxy" not in _columns("audit"):  # a kura.db from before proxy keys
        op.add_column("audit", sa.Column("proxy", sa.Text))
    op.create_index("audit_at", "audit", ["at"], if_not_exists=True)
    op.create_index("audit_user_at", "audit", ["user", "at"], if_not_exists=True)
    op.create_index("audit_collection_at", "audit", ["collection", "at"], if_not_exists=True)
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER IF NOT EXISTS audit_no_{action.lower()} BEFORE {action} ON audit "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
        return
    # PostgreSQL: triggers bind every role, the table's owner too (a REVOKE would not: the
    # role that ran the migration owns the table and keeps its rights).
    op.execute(
        "CREATE OR REPLACE FUNCTION kura_audit_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_no_update_or_delete BEFORE UPDATE OR DELETE ON audit "
        "FOR EACH ROW EXECUTE FUNCTION kura_audit_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
        "FOR EACH STATEMENT EXECUTE FUNCTION kura_audit_append_only()"
    )

"""A kura.db as kura made it before the migrations, built with the SQL it used to run."""

from __future__ import annotations

from pathlib import Path

from ingest.state import open_state

# The tables as kura created them before Alembic, in their oldest shapes: api_keys and audit
# from before proxy keys, failures from before they carried groups.
OLD_SCHEMA = """
CREATE TABLE collections (name TEXT PRIMARY KEY, description TEXT NOT NULL DEFAULT '',
    read_groups TEXT NOT NULL, write_groups TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE failures (collection TEXT NOT NULL, source TEXT NOT NULL,
    document_id TEXT NOT NULL, reason TEXT NOT NULL, failed_at TEXT NOT NULL,
    PRIMARY KEY (collection, source));
CREATE TABLE api_keys (id TEXT PRIMARY KEY, user TEXT NOT NULL, groups_json TEXT NOT NULL,
    admin INTEGER NOT NULL, key_hash TEXT NOT NULL, created_at TEXT NOT NULL,
    last_used_at TEXT, revoked_at TEXT);
CREATE TABLE proxy_users (proxy_key_id TEXT NOT NULL, external TEXT NOT NULL,
    user TEXT NOT NULL, groups_json TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (proxy_key_id, external));
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL,
    user TEXT NOT NULL, key_id TEXT NOT NULL, endpoint TEXT NOT NULL, collection TEXT,
    question TEXT NOT NULL, answer TEXT, passages TEXT NOT NULL, access TEXT NOT NULL,
    model TEXT, settings TEXT NOT NULL, citations TEXT NOT NULL, status INTEGER NOT NULL);
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_user_at ON audit (user, at);
CREATE INDEX audit_collection_at ON audit (collection, at);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit record is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit record is append-only'); END;
CREATE TABLE jobs (id TEXT PRIMARY KEY, collection TEXT NOT NULL, user TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE job_files (job_id TEXT NOT NULL, position INTEGER NOT NULL, source TEXT NOT NULL,
    path TEXT NOT NULL, groups TEXT, spec TEXT, status TEXT NOT NULL DEFAULT 'queued',
    chunks INTEGER NOT NULL DEFAULT 0, reason TEXT, document_id TEXT, note TEXT,
    uploader_groups TEXT, attempts INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, position));

INSERT INTO collections VALUES ('契約書', '取引先との契約', '["法務"]', '["法務"]',
    '2026-01-01T00:00:00+00:00');
INSERT INTO failures VALUES ('契約書', '秘密保持契約.pdf', 'd1', '暗号化されている',
    '2026-01-02T00:00:00+00:00');
INSERT INTO api_keys VALUES ('0123456789ab', 'tanaka', '["法務"]', 0,
    '0000000000000000000000000000000000000000000000000000000000000000',
    '2026-01-01T00:00:00.000000+00:00', NULL, NULL);
INSERT INTO audit (at, user, key_id, endpoint, collection, question, answer, passages,
    access, model, settings, citations, status) VALUES ('2026-01-03T00:00:00.000000+00:00',
    'tanaka', '0123456789ab', '/v1/query', '契約書', '解約の通知期間は？', '三十日前 [1]', '[]',
    '{"decision": "allowed", "groups": ["法務"], "reason": null}', 'gpt-oss:20b', '{}', '[1]',
    200);
INSERT INTO jobs VALUES ('job1', '契約書', 'tanaka', 'queued', '2026-01-04T00:00:00+00:00');
INSERT INTO job_files (job_id, position, source, path) VALUES
    ('job1', 0, '業務委託契約.docx', '/uploads/job1/0');
"""


def old_kura_db(path: Path) -> None:
    """Write a kura.db with the old tables and a row in each."""
    conn = open_state(path)
    conn.executescript(OLD_SCHEMA)
    conn.close()

"""A kura.db made before the migrations (by the SQL kura used to run) is adopted with its rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.audit import AuditLog
from app.job_store import JobStore
from app.keys import KeyStore
from ingest.database.migrate import HEAD, current
from ingest.registry import Registry
from tests.support.legacy_state import old_kura_db

pytestmark = pytest.mark.unit


def test_an_old_kura_db_keeps_every_row(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    old_kura_db(path)
    with Registry(path) as registry:
        assert current(registry.engine) == HEAD
        [config] = registry.collections()
        assert (config.name, config.description, config.read_groups) == (
            "契約書",
            "取引先との契約",
            ("法務",),
        )
        [failure] = registry.failures("契約書")
        assert failure.reason == "暗号化されている"
        assert failure.allowed_groups == ()  # readers unknown: listed to nobody
    with KeyStore(path) as keys:
        [record] = keys.list()
        assert (record.id, record.user, record.groups, record.proxy) == (
            "0123456789ab",
            "tanaka",
            ["法務"],
            False,
        )
        key, _ = keys.create("suzuki", proxy=True)  # the new column works
        assert keys.authenticate(key) is not None
    with AuditLog(path) as audit:
        [entry] = audit.query()
        assert entry.question == "解約の通知期間は？"
        assert entry.access.groups == ["法務"]
        assert entry.proxy is None
    with JobStore(path) as jobs:
        claimed = jobs.claim("worker-a", 60)  # the queue works on the old job's file
        assert claimed is not None
        assert (claimed.job_id, claimed.upload.name) == ("job1", "業務委託契約.docx")


def test_an_adopted_audit_record_stays_append_only(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    old_kura_db(path)
    with (
        AuditLog(path) as audit,
        audit.transaction() as conn,
        pytest.raises(DBAPIError, match="append-only"),
    ):
        conn.execute(text("UPDATE audit SET answer = '改ざん'"))
    conn2 = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn2.execute("DELETE FROM audit")
    conn2.close()

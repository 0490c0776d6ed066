"""`kura db copy-from-sqlite`: a kura.db (old or current) into PostgreSQL, in one command."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.audit import AccessDecision, AuditEntry, AuditLog
from app.job_store import JobStore
from app.keys import KeyStore
from ingest.database import open_engine
from ingest.database.copy import copy_from_sqlite
from ingest.database.migrate import HEAD
from ingest.errors import KuraError
from ingest.registry import CollectionConfig, Registry
from tests.support.legacy_state import old_kura_db
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.integration  # a real PostgreSQL server


def kura(args: list[str], data_dir: Path, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KURA_DATA_DIR": str(data_dir)}
    env.pop("KURA_DATABASE_URL", None)
    if url is not None:
        env["KURA_DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True, timeout=300
    )


def question(text: str) -> AuditEntry:
    return AuditEntry(
        user="tanaka",
        endpoint="/v1/query",
        question=text,
        access=AccessDecision(groups=["legal"], decision="allowed"),
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_command_copies_an_old_kura_db_and_a_second_run_adds_nothing(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    source = tmp_path / "old" / "kura.db"
    source.parent.mkdir()
    old_kura_db(source)
    before = digest(source)
    url = postgres.database()

    done = kura(["db", "copy-from-sqlite", str(source)], tmp_path / "data", url)
    assert done.returncode == 0, done.stderr
    assert "audit 1" in done.stderr
    assert digest(source) == before  # the source is read, never migrated in place

    with Registry(url) as registry:
        [failure] = registry.failures("契約書")
        assert failure.reason == "暗号化されている"
        config = registry.collection("契約書")
        assert config is not None
        assert config.description == "取引先との契約"
    with KeyStore(url) as keys:
        assert [k.user for k in keys.list()] == ["tanaka"]
    with AuditLog(url) as audit:
        [copied] = audit.query()
        assert copied.question == "解約の通知期間は？"
        new_id = audit.record(question("再委託は可能か？"))
        assert copied.id is not None
        assert new_id > copied.id  # numbering goes on after the copied rows
    with JobStore(url) as jobs:
        claimed = jobs.claim("worker-a", 60)
        assert claimed is not None
        assert claimed.upload.name == "業務委託契約.docx"

    again = kura(["db", "copy-from-sqlite", str(source)], tmp_path / "data", url)
    assert again.returncode == 0, again.stderr
    assert "collections 0, failures 0, api_keys 0" in again.stderr
    with AuditLog(url) as audit:
        assert len(audit.query()) == 2  # nothing doubled


def test_a_current_kura_db_copies_keys_that_still_authenticate(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    source = tmp_path / "kura.db"
    with KeyStore(source) as keys:
        key, _ = keys.create("suzuki", groups=["hr"], admin=True)
    with AuditLog(source) as audit:
        for n in range(3):
            audit.record(question(f"就業規則 第{n}条"))
    url = postgres.database()
    engine = open_engine(url)
    try:
        added = copy_from_sqlite(source, engine)
    finally:
        engine.dispose()
    assert added["api_keys"] == 1
    assert added["audit"] == 3
    with KeyStore(url) as keys:
        user = keys.authenticate(key)
        assert user is not None
        assert (user.name, user.admin) == ("suzuki", True)


def test_a_target_with_rows_of_its_own_is_refused_without_merge(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    source = tmp_path / "kura.db"
    with Registry(source) as registry:
        registry.save_collection(CollectionConfig("規程"))
    url = postgres.database()
    with Registry(url) as registry:
        registry.save_collection(CollectionConfig("manuals"))
    engine = open_engine(url)
    try:
        with pytest.raises(KuraError, match="--merge"):
            copy_from_sqlite(source, engine)
        with Registry(url) as registry:
            assert [c.name for c in registry.collections()] == ["manuals"]  # untouched
        added = copy_from_sqlite(source, engine, merge=True)
        assert added["collections"] == 1
        with Registry(url) as registry:
            assert sorted(c.name for c in registry.collections()) == ["manuals", "規程"]
    finally:
        engine.dispose()


def test_audit_rows_that_clash_are_refused_not_skipped(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    source = tmp_path / "kura.db"
    with AuditLog(source) as audit:
        audit.record(question("元の質問"))
    url = postgres.database()
    with AuditLog(url) as audit:
        audit.record(question("別の質問"))  # id 1 too, other content
    engine = open_engine(url)
    try:
        with pytest.raises(KuraError, match="audit record 1 differs"):
            copy_from_sqlite(source, engine, merge=True)
    finally:
        engine.dispose()


def test_bad_sources_and_targets_fail_with_the_reason(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.database()
    missing = kura(["db", "copy-from-sqlite", str(tmp_path / "none.db")], tmp_path, url)
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"not sqlite at all" * 100)
    broken = kura(["db", "copy-from-sqlite", str(garbage)], tmp_path, url)
    assert broken.returncode == 1
    assert "not a readable SQLite database" in broken.stderr
    unset = kura(["db", "copy-from-sqlite", str(garbage)], tmp_path, None)
    assert unset.returncode == 1
    assert "KURA_DATABASE_URL" in unset.stderr
    down = kura(["db", "upgrade"], tmp_path, f"postgresql://kura@127.0.0.1:{postgres.port + 1}/x")
    assert down.returncode == 1
    assert "error:" in down.stderr
    assert "Traceback" not in down.stderr


def test_db_upgrade_brings_a_database_to_the_newest_revision(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    url = postgres.database()
    done = kura(["db", "upgrade"], tmp_path, url)
    assert done.returncode == 0, done.stderr
    assert f"is at revision {HEAD}" in done.stderr
    sqlite = kura(["db", "upgrade"], tmp_path, None)
    assert sqlite.returncode == 0, sqlite.stderr
    assert (tmp_path / "kura.db").stat().st_mode & 0o777 == 0o600
    stamp = datetime.now(UTC)
    with AuditLog(tmp_path / "kura.db") as audit:
        audit.record(question("動作確認"))
        assert audit.query()[0].at >= stamp

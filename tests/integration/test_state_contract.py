"""Every state store keeps the same contract on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.audit import AccessDecision, AuditEntry, AuditLog, AuditPassage
from app.keys import KeyStore
from ingest.database import open_engine
from ingest.database.migrate import HEAD, current
from ingest.registry import EVERYONE, CollectionConfig, Registry

pytestmark = pytest.mark.integration  # a real PostgreSQL server


def test_collections_and_failures(state_db: Path | str) -> None:
    with Registry(state_db) as registry:
        assert current(registry.engine) == HEAD
        registry.save_collection(CollectionConfig("契約書", read_groups=("法務",)))
        registry.save_collection(CollectionConfig("manuals"))
        registry.save_collection(
            CollectionConfig("契約書", read_groups=("法務", "総務"), description="取引先")
        )
        config = registry.collection("契約書")
        assert config is not None
        assert (config.read_groups, config.description) == (("法務", "総務"), "取引先")
        assert [c.name for c in registry.collections()] == sorted(["manuals", "契約書"])
        assert registry.collection("none") is None
        registry.record_failure("契約書", "秘密.pdf", "d1", "暗号化されている", ["法務"])
        registry.record_failure("契約書", "秘密.pdf", "d1", "壊れている", ["法務"])
        registry.record_failure("契約書", "秘密.pdf", "d1", "空", [EVERYONE])
        reasons = sorted(f.reason for f in registry.failures("契約書"))
        assert reasons == ["壊れている", "空"]  # one per name and groups, the newest reason
        registry.clear_failure("契約書", "秘密.pdf", [EVERYONE])
        [left] = registry.failures("契約書")
        assert left.allowed_groups == ("法務",)
        registry.delete_collection("契約書")
        assert registry.failures("契約書") == []
        assert [c.name for c in registry.collections()] == ["manuals"]


def test_keys_and_proxy_users(state_db: Path | str) -> None:
    with KeyStore(state_db) as keys:
        key, record = keys.create("tanaka", groups=["legal", "hr"])
        user = keys.authenticate(key)
        assert user is not None
        assert (user.name, user.groups, user.admin) == ("tanaka", ("hr", "legal"), False)
        assert keys.list()[0].last_used_at is not None
        assert keys.authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
        proxy_key, proxy = keys.create("openwebui", proxy=True)
        keys.map_proxy_user(proxy.id, "Hanako@例え.JP", "hanako", ["soumu"])
        keys.map_proxy_user(proxy.id, "hanako@例え.jp", "hanako", ["legal"])  # replaces
        proxy_user = keys.authenticate(proxy_key)
        assert proxy_user is not None
        acting = keys.act_for(proxy_user, "HANAKO@例え.jp")
        assert acting is not None
        assert (acting.name, acting.groups, acting.via) == ("hanako", ("legal",), "openwebui")
        with pytest.raises(ValueError, match="not a proxy key"):
            keys.map_proxy_user(record.id, "x@example.jp", "x", [])
        assert keys.revoke(proxy.id)
        assert keys.proxy_users() == []
        assert keys.authenticate(proxy_key) is None
        assert not keys.unmap_proxy_user(proxy.id, "hanako@例え.jp")
        assert not keys.revoke("000000000000")


def entry(question: str, at: datetime, user: str = "tanaka") -> AuditEntry:
    return AuditEntry(
        at=at,
        user=user,
        key_id="0123456789ab",
        endpoint="/v1/query",
        collection="契約書",
        question=question,
        answer="三十日前です [1]",
        passages=[AuditPassage(n=1, chunk_id="c1", document_id="d1", source="契約.pdf")],
        access=AccessDecision(groups=["法務"], decision="allowed"),
        settings={"top_k": 6},
        citations=[1],
    )


def test_audit_records_and_queries(state_db: Path | str) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with AuditLog(state_db) as audit:
        ids = [
            audit.record(
                entry(f"質問{n}", start + timedelta(hours=n), "tanaka" if n % 2 else "sato")
            )
            for n in range(5)
        ]
        assert ids == sorted(ids)
        assert len(set(ids)) == 5
        newest = audit.query(limit=2)
        assert [e.question for e in newest] == ["質問4", "質問3"]
        assert newest[0].passages[0].source == "契約.pdf"
        window = audit.query(since=start + timedelta(hours=1), until=start + timedelta(hours=3))
        assert [e.question for e in window] == ["質問2", "質問1"]
        assert [e.question for e in audit.query(user="tanaka")] == ["質問3", "質問1"]


def test_the_audit_record_is_append_only_in_the_database(state_db: Path | str) -> None:
    with AuditLog(state_db) as audit:
        audit.record(entry("解約の条件は？", datetime.now(UTC)))
    # Another client than kura's stores, as the table's owner: the database itself refuses.
    engine = open_engine(state_db)
    statements = ["UPDATE audit SET answer = '改ざん'", "DELETE FROM audit"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit")
    try:
        for statement in statements:
            with engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(statement))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT answer FROM audit")).scalar() == "三十日前です [1]"
    finally:
        engine.dispose()


def test_stores_are_safe_across_threads(state_db: Path | str) -> None:
    errors: list[BaseException] = []
    with Registry(state_db) as registry:

        def save(n: int) -> None:
            try:
                for i in range(10):
                    registry.save_collection(CollectionConfig(f"c{n}-{i}", description="規程"))
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=save, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(registry.collections()) == 40


def test_two_stores_opening_a_new_database_at_once_migrate_it_once(state_db: Path | str) -> None:
    errors: list[BaseException] = []
    opened: list[str | None] = []

    def open_one() -> None:
        try:
            with KeyStore(state_db) as keys:
                opened.append(current(keys.engine))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert opened == [HEAD] * 3

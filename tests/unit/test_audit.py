"""The audit record: round trip, filters, and append-only enforced by the database."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.audit import AccessDecision, AuditEntry, AuditLog, AuditPassage
from app.keys import KeyStore

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "kura.db") as a:
        yield a


def entry(user: str = "alice", at: datetime = T0, collection: str = "manuals") -> AuditEntry:
    return AuditEntry(
        at=at,
        user=user,
        key_id="0123456789ab",
        endpoint="/v1/query",
        collection=collection,
        question="Wie kündige ich den Vertrag? 解約方法は?",
        answer="Mit einer Frist von drei Monaten [1].",
        passages=[
            AuditPassage(
                n=1,
                chunk_id="c1",
                document_id="manuals/contract.pdf",
                document_version="ab" * 32,
                source="contract.pdf",
                page="3-4",
            ),
            AuditPassage(n=2, chunk_id="c2", document_id="d2", source="faq.html"),
        ],
        access=AccessDecision(groups=["*", "legal"], decision="allowed"),
        model="gpt-oss:20b",
        settings={
            "reasoning_effort": "low",
            "top_k": 6,
            "mode": "hybrid",
            "num_ctx": 16384,
            "temperature": 0.2,
        },
        citations=[1],
        status=200,
    )


def test_round_trip(log: AuditLog) -> None:
    original = entry()
    new_id = log.record(original)
    [back] = log.query()
    assert back.id == new_id
    assert back.model_dump(exclude={"id"}) == original.model_dump(exclude={"id"})
    assert back.at.tzinfo is not None


def test_times_are_stored_as_utc(log: AuditLog, tmp_path: Path) -> None:
    tokyo = timezone(timedelta(hours=9))
    log.record(entry(at=datetime(2026, 11, 3, 18, 0, tzinfo=tokyo)))
    log.record(entry(at=datetime(2026, 11, 3, 9, 30)))  # naive: taken as UTC
    with sqlite3.connect(tmp_path / "kura.db") as raw:
        stamps = [r[0] for r in raw.execute("SELECT at FROM audit ORDER BY id")]
    raw.close()
    assert stamps == ["2026-11-03T09:00:00.000000+00:00", "2026-11-03T09:30:00.000000+00:00"]


def test_default_time_is_now(log: AuditLog) -> None:
    before = datetime.now(UTC)
    log.record(
        AuditEntry(
            user="a", endpoint="/v1/search", access=AccessDecision(groups=["*"], decision="allowed")
        )
    )
    [back] = log.query()
    assert before <= back.at <= datetime.now(UTC)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit SET answer = 'forged' WHERE id = 1",
        "UPDATE audit SET user = 'mallory'",
        "DELETE FROM audit WHERE id = 1",
        "DELETE FROM audit",
    ],
)
def test_append_only_in_the_database(log: AuditLog, tmp_path: Path, statement: str) -> None:
    log.record(entry())
    raw = sqlite3.connect(tmp_path / "kura.db")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            raw.execute(statement)
        raw.rollback()
    finally:
        raw.close()
    [back] = log.query()
    assert back.answer == entry().answer
    assert back.user == "alice"


def test_reopening_keeps_the_triggers(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "kura.db") as a:
        a.record(entry())
    with AuditLog(tmp_path / "kura.db") as a:
        a.record(entry(user="bob"))
        assert [e.user for e in a.query()] == ["bob", "alice"]
    raw = sqlite3.connect(tmp_path / "kura.db")
    try:
        with pytest.raises(sqlite3.IntegrityError):
            raw.execute("DELETE FROM audit")
    finally:
        raw.close()


def test_shares_the_file_with_the_key_store(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    with KeyStore(path) as keys, AuditLog(path) as log:
        key, _ = keys.create("alice")
        log.record(entry())
        assert keys.authenticate(key) is not None
        assert len(log.query()) == 1


def test_query_filters(log: AuditLog) -> None:
    for i in range(6):
        log.record(
            entry(
                user="alice" if i % 2 else "bob",
                at=T0 + timedelta(hours=i),
                collection="manuals" if i < 3 else "contracts",
            )
        )
    # newest first
    assert [e.at for e in log.query()] == [T0 + timedelta(hours=i) for i in range(5, -1, -1)]
    assert {e.user for e in log.query(user="alice")} == {"alice"}
    assert len(log.query(user="alice")) == 3
    assert len(log.query(user="nobody")) == 0
    assert len(log.query(collection="contracts")) == 3
    assert len(log.query(user="bob", collection="contracts")) == 1
    # since inclusive, until exclusive
    window = log.query(since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4))
    assert [e.at for e in window] == [T0 + timedelta(hours=3), T0 + timedelta(hours=2)]
    # another time zone names the same instants
    tokyo = timezone(timedelta(hours=9))
    assert len(log.query(since=(T0 + timedelta(hours=4)).astimezone(tokyo))) == 2
    assert len(log.query(limit=2)) == 2
    with pytest.raises(ValueError, match="limit"):
        log.query(limit=0)


def test_concurrent_records(log: AuditLog) -> None:
    errors: list[BaseException] = []

    def write(user: str) -> None:
        try:
            for _ in range(25):
                log.record(entry(user=user))
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"u{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    entries = log.query(limit=1000)
    assert len(entries) == 100
    assert len({e.id for e in entries}) == 100


def test_denied_access_is_recorded(log: AuditLog) -> None:
    denied = entry().model_copy(
        update={
            "access": AccessDecision(groups=["*"], decision="denied", reason="no such group"),
            "answer": None,
            "passages": [],
            "citations": [],
            "status": 403,
        }
    )
    log.record(denied)
    [back] = log.query()
    assert back.access.decision == "denied"
    assert back.access.reason == "no such group"
    assert back.status == 403

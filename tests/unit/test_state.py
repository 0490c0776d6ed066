"""kura.db: one opener, owner-only whoever opens it first, WAL for every store."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from app.keys import KeyStore
from ingest.database.migrate import HEAD, MIGRATIONS, current
from ingest.registry import CollectionConfig, Registry
from ingest.state import open_state

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """A shell's umask (022): files anyone may read unless kura says otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_registry_first_then_key_store_leaves_kura_db_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "data" / "kura.db"
    with Registry(path) as registry:  # what `kura ingest` opens
        registry.save_collection(CollectionConfig("manuals"))
    assert mode(path) == 0o600
    with KeyStore(path) as keys:  # `kura keys create` writes key hashes into the same file
        keys.create("tanaka", groups=["legal"])
    assert mode(path) == 0o600


def test_key_store_first_then_registry_leaves_kura_db_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    with KeyStore(path) as keys:
        keys.create("tanaka", groups=["legal"])
    with Registry(path) as registry:
        registry.save_collection(CollectionConfig("契約書"))
    assert mode(path) == 0o600
    assert [c.name for c in Registry(path).collections()] == ["契約書"]


def test_an_existing_world_readable_kura_db_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    open_state(path).close()
    for name in ("kura.db", "kura.db-wal", "kura.db-shm"):
        (tmp_path / name).touch()
        (tmp_path / name).chmod(0o644)
    with Registry(path):
        pass
    assert mode(path) == 0o600
    for side in ("kura.db-wal", "kura.db-shm"):
        if (tmp_path / side).exists():
            assert mode(tmp_path / side) == 0o600


def test_wal_and_side_files_are_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    conn = open_state(path)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.execute("INSERT INTO t VALUES ('蔵')")
    for name in ("kura.db", "kura.db-wal", "kura.db-shm"):
        assert mode(tmp_path / name) == 0o600, name
    conn.close()


def test_every_store_sees_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    registry = Registry(path)
    keys = KeyStore(path)
    for store in (registry, keys):
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert busy is not None
            assert busy >= 10_000
    registry.close()
    keys.close()


def test_a_new_kura_db_is_at_the_newest_migration(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    with Registry(path) as registry:
        assert current(registry.engine) == HEAD
        with registry.transaction() as conn:
            conn.execute(text("INSERT INTO jobs VALUES ('j', '契約書', 'tanaka', 'done', 'x')"))
    with KeyStore(path) as keys, keys.reading() as conn:  # a second store migrates nothing
        assert conn.execute(text("SELECT collection FROM jobs")).scalar() == "契約書"


def test_migrations_and_head_agree() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_failures_from_before_groups_are_migrated_once(tmp_path: Path) -> None:
    path = tmp_path / "kura.db"
    old = open_state(path)
    old.executescript(
        "CREATE TABLE failures (collection TEXT NOT NULL, source TEXT NOT NULL, "
        "document_id TEXT NOT NULL, reason TEXT NOT NULL, failed_at TEXT NOT NULL, "
        "PRIMARY KEY (collection, source));"
        "INSERT INTO failures VALUES ('契約書', '秘密保持契約.pdf', 'd1', '暗号化されている', "
        "'2026-01-01T00:00:00+00:00');"
    )
    old.close()
    for _ in range(2):  # a second open finds nothing left to migrate
        with Registry(path) as registry:
            [failure] = registry.failures("契約書")
    assert failure.source == "秘密保持契約.pdf"
    assert failure.allowed_groups == ()  # readers unknown: listed to nobody
    assert not failure.readable_by(["legal"])

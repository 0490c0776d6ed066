"""Keys that expire, end to end: refused over HTTP by the real app, and the migration that
brings them keeps every key an older kura made valid, on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from app.keys import KeyStore
from ingest.database import open_engine
from ingest.database.migrate import HEAD, MIGRATIONS, current
from tests.support.reindex import bearer
from tests.support.server import LiveServer, make_settings

pytestmark = pytest.mark.integration


def test_an_expired_key_is_refused_over_http(tmp_path: Path) -> None:
    live = LiveServer(make_settings(tmp_path / "data", auth="keys"))
    with live as client:
        app: Any = live.server.config.app
        keys: KeyStore = app.state.keys
        key, record = keys.create("tanaka", ["legal"], expires_in=timedelta(minutes=5))
        forever, _ = keys.create("suzuki", ["hr"])
        expiry = record.expires_at
        assert expiry is not None
        ok = client.get("/v1/collections", headers=bearer(key))
        assert ok.status_code == 200, ok.text
        keys.clock = lambda: expiry
        refused = client.get("/v1/collections", headers=bearer(key))
        assert refused.status_code == 401
        assert refused.json()["detail"] == "invalid, revoked or expired API key"
        assert refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/v1/collections", headers=bearer(forever)).status_code == 200


def _upgrade_to(engine: Engine, revision: str) -> None:
    """The database as a kura at ``revision`` left it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_the_expiry_migration_keeps_existing_keys_valid_and_new_ones_expire(
    state_db: Path | str,
) -> None:
    engine = open_engine(state_db)
    try:
        _upgrade_to(engine, "0003")
        key = "kura_0123456789ab_" + "k" * 43  # as an older kura made it: id, secret, hash
        with engine.begin() as conn:
            conn.execute(
                text(
                    'INSERT INTO api_keys (id, "user", groups_json, admin, key_hash, '
                    "created_at) VALUES ('0123456789ab', 'tanaka', '[\"legal\"]', 1, :hash, "
                    "'2026-01-05T09:00:00.000000+00:00')"
                ),
                {"hash": hashlib.sha256(key.encode()).hexdigest()},
            )
    finally:
        engine.dispose()
    far = datetime.now(UTC) + timedelta(days=3650)
    clock = [far]
    with KeyStore(state_db, clock=lambda: clock[0]) as keys:
        assert current(keys.engine) == HEAD
        user = keys.authenticate(key)
        assert user is not None
        assert (user.name, user.groups, user.admin) == ("tanaka", ("legal",), True)
        [record] = keys.list()
        assert record.expires_at is None  # valid until revoked, as before
        lapsing, made = keys.create("suzuki", expires_in=timedelta(hours=1))
        assert keys.list()[1].expires_at == made.expires_at
        assert keys.renew(made.id, timedelta(hours=2))
        clock[0] = far + timedelta(hours=1, minutes=59)
        assert keys.authenticate(lapsing) is not None
        clock[0] = far + timedelta(hours=2)
        assert keys.authenticate(lapsing) is None
        assert not keys.renew(made.id, timedelta(hours=2))
        assert keys.authenticate(key) is not None  # the older key still has no expiry

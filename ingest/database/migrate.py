"""Bringing a state database to the newest schema with Alembic, once, whoever starts first.

Every store checks the recorded revision when it opens (one small query); only a database
behind it runs the migrations, in one transaction that holds the write lock (SQLite) or an
advisory lock (PostgreSQL), so two processes starting at once migrate it once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from ingest.database import WRITE, safe_url

logger = logging.getLogger(__name__)

HEAD = "0004"  # the newest revision under migrations/versions (a test keeps them in step)
MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x6B757261  # "kura": the advisory lock that serialises migrations on PostgreSQL


def current(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty or pre-migration database."""
    with engine.connect() as conn:
        return _revision(conn)


def ensure_current(engine: Engine) -> None:
    """Migrate the database to ``HEAD`` unless it is there already."""
    if current(engine) != HEAD:
        upgrade(engine)


def upgrade(engine: Engine) -> str:
    """Apply every migration the database lacks (adopting a pre-migration kura.db with its
    rows); returns the revision it is at now."""
    from alembic import command  # only when there is something to do: it is slow to import
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            before = _revision(conn)
            if before != HEAD:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                logger.info(
                    "state database %s migrated from %s to %s", safe_url(engine), before, HEAD
                )
    return HEAD


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

"""`kura db copy-from-sqlite`: an existing kura.db's rows into the configured PostgreSQL.

The source is read from a consistent snapshot (SQLite's online backup, so kura may still have
it open) brought to the newest schema in a temporary file; the source itself is not touched.
Everything is copied in one transaction: a failure leaves the target as it was.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
from pathlib import Path

from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.dialects.postgresql import insert

from ingest.database import open_engine, safe_url
from ingest.database.migrate import upgrade
from ingest.database.tables import ALL, audit
from ingest.errors import KuraError

logger = logging.getLogger(__name__)

_BATCH = 1000


def copy_from_sqlite(source: Path, target: Engine, *, merge: bool = False) -> dict[str, int]:
    """Copy every row of the kura.db at ``source`` into ``target``; returns the rows added per
    table. A target that already holds rows is refused unless ``merge`` (then only the rows
    it lacks are added) or unless it holds every row already (a repeated copy adds nothing).
    """
    if target.dialect.name != "postgresql":
        raise KuraError(
            "the target is not PostgreSQL: set KURA_DATABASE_URL=postgresql://... first"
        )
    if not source.is_file():
        raise KuraError(f"{source}: no such file")
    upgrade(target)
    with tempfile.TemporaryDirectory(prefix="kura-copy-") as tmp:
        snapshot = Path(tmp) / "kura.db"
        _snapshot(source, snapshot)
        reader = open_engine(snapshot)
        try:
            upgrade(reader)  # an older kura.db: adopted in the copy, as kura would at start
            with reader.connect() as src, target.begin() as dst:
                before = _counts(dst)
                for table in ALL:
                    for batch in src.execute(select(table)).mappings().partitions(_BATCH):
                        _insert(dst, table, [dict(row) for row in batch])
                added = {name: count - before[name] for name, count in _counts(dst).items()}
                if any(before.values()) and any(added.values()) and not merge:
                    held = sum(before.values())
                    raise KuraError(
                        f"{safe_url(target)} already holds {held} rows of kura's state: pass "
                        "--merge to add only the rows it lacks (nothing was copied)"
                    )
                _continue_audit_ids(dst)
        finally:
            reader.dispose()
    logger.info("copied %s into %s: %s", source, safe_url(target), added)
    return added


def _snapshot(source: Path, snapshot: Path) -> None:
    try:
        origin = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            copy = sqlite3.connect(snapshot)
            with copy:
                origin.backup(copy)
            copy.close()
        finally:
            origin.close()
    except sqlite3.DatabaseError as exc:
        raise KuraError(f"{source}: not a readable SQLite database ({exc})") from exc


def _insert(dst: Connection, table: Table, rows: list[dict[str, object]]) -> None:
    if table is audit:
        _check_audit(dst, rows)
    keys = [column.name for column in table.primary_key]
    # A row the target has already is left as it is.
    dst.execute(insert(table).values(rows).on_conflict_do_nothing(index_elements=keys))


def _check_audit(dst: Connection, rows: list[dict[str, object]]) -> None:
    """Refuse to skip an audit row whose id the target holds with other content: skipping it
    would lose a record, and the target's cannot be replaced (append-only)."""
    ids = [row["id"] for row in rows]
    held = {r.id: dict(r._mapping) for r in dst.execute(select(audit).where(audit.c.id.in_(ids)))}
    for row in rows:
        if row["id"] in held and held[row["id"]] != row:
            raise KuraError(
                f"audit record {row['id']} differs between the copy and the target: the "
                "target's audit record has rows of its own (nothing was copied)"
            )


def _counts(conn: Connection) -> dict[str, int]:
    return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in ALL}


def _continue_audit_ids(dst: Connection) -> None:
    """New audit rows must be numbered after the copied ones."""
    dst.execute(
        text(
            "SELECT setval(pg_get_serial_sequence('audit', 'id'), "
            "GREATEST((SELECT COALESCE(MAX(id), 0) FROM audit), 1), "
            "(SELECT COUNT(*) > 0 FROM audit))"
        )
    )

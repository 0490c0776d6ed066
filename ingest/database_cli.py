"""`kura db`: bring the state database to the newest schema, copy a kura.db into PostgreSQL.

SQLAlchemy and Alembic are imported by the commands, not here: `kura --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from ingest.errors import KuraError
from ingest.settings import IndexSettings

db = typer.Typer(
    help="kura's state database (KURA_DATABASE_URL, else <data_dir>/kura.db).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
console = Console(stderr=True, soft_wrap=True)
EXIT_ERROR = 1


def _fail(exc: Exception) -> NoReturn:
    # A driver's error (server down, wrong password) without SQLAlchemy's statement dump.
    reason = getattr(exc, "orig", None) or exc
    console.print(f"error: {str(reason).strip()}", markup=False)
    raise typer.Exit(EXIT_ERROR) from exc


@db.command("upgrade")
def upgrade_command() -> None:
    """Apply the schema migrations the state database lacks (kura also does at start)."""
    from sqlalchemy.exc import SQLAlchemyError

    from ingest.database import engine, safe_url
    from ingest.database.migrate import upgrade

    try:
        state = engine(IndexSettings())
    except ValueError as exc:
        _fail(exc)
    try:
        revision = upgrade(state)
    except SQLAlchemyError as exc:
        _fail(exc)
    finally:
        state.dispose()
    console.print(f"{safe_url(state)} is at revision {revision}", markup=False)


@db.command("copy-from-sqlite")
def copy_command(
    source: Annotated[Path, typer.Argument(help="The kura.db to copy (it is not changed).")],
    merge: Annotated[
        bool,
        typer.Option("--merge", help="Add the rows a non-empty target lacks, keep the rest."),
    ] = False,
) -> None:
    """Copy a SQLite kura.db into the PostgreSQL of KURA_DATABASE_URL, in one transaction."""
    from sqlalchemy.exc import SQLAlchemyError

    from ingest.database import engine
    from ingest.database.copy import copy_from_sqlite

    try:
        state = engine(IndexSettings())
    except ValueError as exc:
        _fail(exc)
    try:
        added = copy_from_sqlite(source, state, merge=merge)
    except (KuraError, SQLAlchemyError) as exc:
        _fail(exc)
    finally:
        state.dispose()
    summary = ", ".join(f"{name} {count}" for name, count in added.items())
    console.print(f"copied {source}: {summary}", markup=False)

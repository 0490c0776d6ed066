"""Alembic's entry point: runs kura's migrations on the connection kura hands it."""

from __future__ import annotations

from alembic import context

# ingest.database.migrate opens the connection (and the transaction and lock around the whole
# upgrade); no URL lives in a config file.
connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()

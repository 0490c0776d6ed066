"""An API key may expire: `kura reindex`'s own key lapses even when the command is killed
before it can revoke it. Existing keys get no expiry, so they stay valid."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("api_keys")}
    if "expires_at" not in columns:
        op.add_column("api_keys", sa.Column("expires_at", sa.Text))

"""A queued file waiting for its embedding host: when it is retried, since when it has waited,
and the reason with the host named, for admins (``reason`` holds what everyone may read)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("job_files")}
    for name, kind in (("retry_at", sa.Float), ("waiting_since", sa.Float), ("detail", sa.Text)):
        if name not in columns:
            op.add_column("job_files", sa.Column(name, kind))

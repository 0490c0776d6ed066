"""The shared upload queue: a running file names the worker holding it and until when."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("job_files")}
    if "worker" not in columns:
        op.add_column("job_files", sa.Column("worker", sa.Text))
    if "lease_until" not in columns:
        op.add_column("job_files", sa.Column("lease_until", sa.Float))
    op.create_index("job_files_status", "job_files", ["status"], if_not_exists=True)

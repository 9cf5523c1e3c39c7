"""NodeDB: nodes.next_host, the pool offset a new lease tries first.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("nodes", sa.Column("next_host", sa.Integer(), server_default="2", nullable=False))
    # Existing nodes continue after their highest lease; gaps below are found by the search.
    op.execute(
        """
        UPDATE nodes SET next_host = greatest(2, coalesce((
            SELECT max(l.ipv4 - nodes.ipv4_pool::inet) + 1 FROM leases l
            WHERE l.node_id = nodes.id), 2))
        """
    )


def downgrade() -> None:
    op.drop_column("nodes", "next_host")

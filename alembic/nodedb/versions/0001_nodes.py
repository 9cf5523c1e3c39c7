"""NodeDB: the nodes table (the fleet registry fills it in the config issue).

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:57:23.057250
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("listen_port", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("public_key", name=op.f("uq_nodes_public_key")),
    )
    op.create_index(op.f("ix_nodes_location"), "nodes", ["location"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_nodes_location"), table_name="nodes")
    op.drop_table("nodes")

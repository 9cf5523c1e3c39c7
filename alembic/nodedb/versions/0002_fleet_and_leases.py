"""NodeDB: the fleet registry (pools, credential hash, revision, drain) and peer leases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:35:59.628035
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("node_id", sa.Uuid(), nullable=False),
        sa.Column("ipv4", postgresql.INET(), nullable=False),
        sa.Column("ipv6", postgresql.INET(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.id"], name=op.f("fk_leases_node_id_nodes"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("public_key", name=op.f("pk_leases")),
        sa.UniqueConstraint("node_id", "ipv4", name="uq_leases_node_ipv4"),
        sa.UniqueConstraint("node_id", "ipv6", name="uq_leases_node_ipv6"),
    )
    op.create_index(op.f("ix_leases_expires_at"), "leases", ["expires_at"], unique=False)
    op.create_index(op.f("ix_leases_node_id"), "leases", ["node_id"], unique=False)
    op.add_column("nodes", sa.Column("public_ip", postgresql.INET(), nullable=True))
    op.add_column("nodes", sa.Column("capacity", sa.Integer(), server_default="0", nullable=False))
    op.add_column("nodes", sa.Column("credential_hash", sa.LargeBinary(length=32), nullable=True))
    op.add_column("nodes", sa.Column("pool_index", sa.Integer(), nullable=True))
    op.add_column("nodes", sa.Column("ipv4_pool", postgresql.CIDR(), nullable=True))
    op.add_column("nodes", sa.Column("ipv6_pool", postgresql.CIDR(), nullable=True))
    op.add_column(
        "nodes", sa.Column("revision", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("nodes", sa.Column("drain_reason", sa.String(length=16), nullable=True))
    op.create_unique_constraint(op.f("uq_nodes_pool_index"), "nodes", ["pool_index"])
    op.create_check_constraint(
        "status", "nodes", "status IN ('active', 'draining', 'drained', 'terminated')"
    )
    op.create_check_constraint(
        "drain_reason",
        "nodes",
        "drain_reason IS NULL OR drain_reason IN ('blocked', 'compromised', 'retired', 'manual')",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_nodes_drain_reason"), "nodes", type_="check")
    op.drop_constraint(op.f("ck_nodes_status"), "nodes", type_="check")
    op.drop_constraint(op.f("uq_nodes_pool_index"), "nodes", type_="unique")
    op.drop_column("nodes", "drain_reason")
    op.drop_column("nodes", "revision")
    op.drop_column("nodes", "ipv6_pool")
    op.drop_column("nodes", "ipv4_pool")
    op.drop_column("nodes", "pool_index")
    op.drop_column("nodes", "credential_hash")
    op.drop_column("nodes", "capacity")
    op.drop_column("nodes", "public_ip")
    op.drop_index(op.f("ix_leases_node_id"), table_name="leases")
    op.drop_index(op.f("ix_leases_expires_at"), table_name="leases")
    op.drop_table("leases")

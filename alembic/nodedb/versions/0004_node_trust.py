"""NodeDB: exit-node trust — enrollment keys, attested instance ids, pending and lost nodes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = "status IN ('active', 'draining', 'drained', 'terminated')"
NEW_STATUSES = "status IN ('pending', 'active', 'lost', 'draining', 'drained', 'terminated')"
OLD_REASONS = (
    "drain_reason IS NULL OR drain_reason IN ('blocked', 'compromised', 'retired', 'manual')"
)
NEW_REASONS = (
    "drain_reason IS NULL OR "
    "drain_reason IN ('blocked', 'compromised', 'retired', 'manual', 'lost')"
)


def upgrade() -> None:
    op.create_table(
        "enrollment_keys",
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_enrollment_keys")),
    )
    op.create_index(
        op.f("ix_enrollment_keys_expires_at"), "enrollment_keys", ["expires_at"], unique=False
    )
    op.add_column("nodes", sa.Column("instance_id", sa.String(length=32), nullable=True))
    op.create_unique_constraint(op.f("uq_nodes_instance_id"), "nodes", ["instance_id"])
    op.drop_constraint(op.f("ck_nodes_status"), "nodes", type_="check")
    op.create_check_constraint("status", "nodes", NEW_STATUSES)
    op.drop_constraint(op.f("ck_nodes_drain_reason"), "nodes", type_="check")
    op.create_check_constraint("drain_reason", "nodes", NEW_REASONS)


def downgrade() -> None:
    # Nodes in the new states have no place in the old schema: they are retired for good.
    op.execute(
        "UPDATE nodes SET status = 'terminated', pool_index = NULL, ipv4_pool = NULL, "
        "ipv6_pool = NULL, credential_hash = NULL WHERE status IN ('pending', 'lost')"
    )
    op.execute("UPDATE nodes SET drain_reason = 'manual' WHERE drain_reason = 'lost'")
    op.drop_constraint(op.f("ck_nodes_drain_reason"), "nodes", type_="check")
    op.create_check_constraint("drain_reason", "nodes", OLD_REASONS)
    op.drop_constraint(op.f("ck_nodes_status"), "nodes", type_="check")
    op.create_check_constraint("status", "nodes", OLD_STATUSES)
    op.drop_constraint(op.f("uq_nodes_instance_id"), "nodes", type_="unique")
    op.drop_column("nodes", "instance_id")
    op.drop_index(op.f("ix_enrollment_keys_expires_at"), table_name="enrollment_keys")
    op.drop_table("enrollment_keys")

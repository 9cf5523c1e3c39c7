"""UserDB: how far each provider's billing reconciliation got.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 06:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_reconciliations",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reconciled_through", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_billing_reconciliations")),
    )


def downgrade() -> None:
    op.drop_table("billing_reconciliations")

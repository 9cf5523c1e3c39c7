"""UserDB: entitlements and the hourly issuance quota (the only per-user issuance data kept).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Pure helpers for phoenix.auth.quota's single-statement check-and-count. counts[1] is the
# newest hour; shifting by s hours drops the s oldest buckets and prepends s empty ones.
FUNCTIONS = [
    """
    CREATE OR REPLACE FUNCTION phoenix_quota_shifted(counts integer[], shift bigint)
    RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
      SELECT CASE
        WHEN shift <= 0 THEN counts
        WHEN shift >= 24 THEN array_fill(0, array[24])
        ELSE array_fill(0, array[shift::integer]) || counts[1:(24 - shift)::integer]
      END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION phoenix_quota_sum(counts integer[])
    RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
      SELECT coalesce(sum(c), 0) FROM unnest(counts) AS c
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION phoenix_quota_take(counts integer[], shift bigint, n integer)
    RETURNS integer[] LANGUAGE sql IMMUTABLE AS $$
      SELECT array[s[1] + n] || s[2:24] FROM phoenix_quota_shifted(counts, shift) AS s
    $$
    """,
]


def upgrade() -> None:
    op.create_table(
        "entitlements",
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["uid"], ["users.uid"], name=op.f("fk_entitlements_uid_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("uid", "source", name=op.f("pk_entitlements")),
    )
    op.create_table(
        "issuance_quota",
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("counts", sa.ARRAY(sa.Integer()), nullable=False),
        sa.ForeignKeyConstraint(
            ["uid"], ["users.uid"], name=op.f("fk_issuance_quota_uid_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("uid", name=op.f("pk_issuance_quota")),
    )
    for statement in FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    for name in ("phoenix_quota_take", "phoenix_quota_sum", "phoenix_quota_shifted"):
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
    op.drop_table("issuance_quota")
    op.drop_table("entitlements")

"""UserDB: Stripe and Apple subscription state, payment history, processed webhook ids, and
the per-user appAccountToken and Stripe customer id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 13:44:47.364000
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
    op.create_table(
        "processed_webhooks",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("source", "event_id", name=op.f("pk_processed_webhooks")),
    )
    op.create_table(
        "apple_subscriptions",
        sa.Column("original_transaction_id", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("paid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("auto_renew", sa.Boolean(), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uid"],
            ["users.uid"],
            name=op.f("fk_apple_subscriptions_uid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("original_transaction_id", name=op.f("pk_apple_subscriptions")),
    )
    op.create_index(
        op.f("ix_apple_subscriptions_uid"), "apple_subscriptions", ["uid"], unique=False
    )
    op.create_table(
        "apple_transactions",
        sa.Column("transaction_id", sa.String(length=64), nullable=False),
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("original_transaction_id", sa.String(length=64), nullable=False),
        sa.Column("product_id", sa.String(length=255), nullable=False),
        sa.Column("price_milli", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("purchased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uid"], ["users.uid"], name=op.f("fk_apple_transactions_uid_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_apple_transactions")),
    )
    op.create_index(
        "ix_apple_transactions_uid_purchased_at",
        "apple_transactions",
        ["uid", "purchased_at"],
        unique=False,
    )
    op.create_table(
        "stripe_invoices",
        sa.Column("invoice_id", sa.String(length=255), nullable=False),
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("subscription_id", sa.String(length=255), nullable=True),
        sa.Column("payment_intent_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uid"], ["users.uid"], name=op.f("fk_stripe_invoices_uid_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_stripe_invoices")),
    )
    op.create_index(
        op.f("ix_stripe_invoices_payment_intent_id"),
        "stripe_invoices",
        ["payment_intent_id"],
        unique=False,
    )
    op.create_index(
        "ix_stripe_invoices_uid_created_at", "stripe_invoices", ["uid", "created_at"], unique=False
    )
    op.create_table(
        "stripe_subscriptions",
        sa.Column("subscription_id", sa.String(length=255), nullable=False),
        sa.Column("uid", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("price_id", sa.String(length=255), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("refunded_through", sa.DateTime(timezone=True), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uid"],
            ["users.uid"],
            name=op.f("fk_stripe_subscriptions_uid_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_stripe_subscriptions")),
    )
    op.create_index(
        op.f("ix_stripe_subscriptions_uid"), "stripe_subscriptions", ["uid"], unique=False
    )
    op.add_column(
        "users",
        sa.Column(
            "app_account_token",
            sa.Uuid(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
    )
    op.add_column("users", sa.Column("stripe_customer_id", sa.String(length=255), nullable=True))
    op.create_unique_constraint(op.f("uq_users_app_account_token"), "users", ["app_account_token"])
    op.create_unique_constraint(
        op.f("uq_users_stripe_customer_id"), "users", ["stripe_customer_id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_users_stripe_customer_id"), "users", type_="unique")
    op.drop_constraint(op.f("uq_users_app_account_token"), "users", type_="unique")
    op.drop_column("users", "stripe_customer_id")
    op.drop_column("users", "app_account_token")
    op.drop_index(op.f("ix_stripe_subscriptions_uid"), table_name="stripe_subscriptions")
    op.drop_table("stripe_subscriptions")
    op.drop_index("ix_stripe_invoices_uid_created_at", table_name="stripe_invoices")
    op.drop_index(op.f("ix_stripe_invoices_payment_intent_id"), table_name="stripe_invoices")
    op.drop_table("stripe_invoices")
    op.drop_index("ix_apple_transactions_uid_purchased_at", table_name="apple_transactions")
    op.drop_table("apple_transactions")
    op.drop_index(op.f("ix_apple_subscriptions_uid"), table_name="apple_subscriptions")
    op.drop_table("apple_subscriptions")
    op.drop_table("processed_webhooks")

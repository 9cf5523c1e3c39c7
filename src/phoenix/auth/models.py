"""UserDB models. Only the auth role imports this; its base is not shared with NodeDB.

What the issuer keeps per user is deliberately small: no blinded message, signature, token or
key choice is ever stored — only how many tokens were issued in each recent hour (the quota).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from phoenix.common.database import NAMING_CONVENTION


class UserBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class User(UserBase):
    """A person known by their Firebase uid. Nothing here says where they connect."""

    __tablename__ = "users"

    uid: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Apple's appAccountToken: a random UUID the app sets on purchases, so App Store
    # notifications name the user without Apple learning the uid.
    app_account_token: Mapped[uuid.UUID] = mapped_column(
        Uuid, unique=True, server_default=text("gen_random_uuid()")
    )
    # Created by checkout before the first payment, so every Stripe event names a known customer.
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)


class Entitlement(UserBase):
    """Whether a user may get tokens, and until when. One row per user and source."""

    __tablename__ = "entitlements"

    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"), primary_key=True)
    # "grant" (development and support), later "stripe" and "apple".
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class IssuanceQuota(UserBase):
    """Tokens issued per hour over the last 24 hours: counts[1] is ``hour``, counts[2] the hour
    before, and so on. One row per user, updated by a single conditional statement
    (phoenix.auth.quota), so concurrent requests can never issue past the limit."""

    __tablename__ = "issuance_quota"

    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger)
    counts: Mapped[list[int]] = mapped_column(ARRAY(Integer))


class StripeSubscription(UserBase):
    """The newest known state of one Stripe subscription, normalised for the entitlement rule.

    ``observed_at`` orders updates: the creation time of the event that carried this state (or
    of the API read). An event older than what is stored changes nothing.
    """

    __tablename__ = "stripe_subscriptions"

    subscription_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32))  # Stripe's own word, shown to the user
    state: Mapped[str] = mapped_column(String(16))  # phoenix.auth.entitlement.State
    price_id: Mapped[str | None] = mapped_column(String(255))
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grace_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # A full refund of the invoice that paid up to here takes that period away.
    refunded_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StripeInvoice(UserBase):
    __tablename__ = "stripe_invoices"
    # Payment history pages through one user's rows newest first.
    __table_args__ = (Index("ix_stripe_invoices_uid_created_at", "uid", "created_at"),)

    invoice_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AppleSubscription(UserBase):
    """The newest known state of one App Store subscription (by original transaction id),
    ordered by the notification's ``signedDate``."""

    __tablename__ = "apple_subscriptions"

    original_transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"), index=True)
    product_id: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    paid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    grace_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    auto_renew: Mapped[bool | None] = mapped_column(Boolean)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AppleTransaction(UserBase):
    __tablename__ = "apple_transactions"
    __table_args__ = (Index("ix_apple_transactions_uid_purchased_at", "uid", "purchased_at"),)

    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uid: Mapped[str] = mapped_column(ForeignKey("users.uid", ondelete="CASCADE"))
    original_transaction_id: Mapped[str] = mapped_column(String(64))
    product_id: Mapped[str] = mapped_column(String(255))
    price_milli: Mapped[int | None] = mapped_column(BigInteger)  # Apple's milli-units
    currency: Mapped[str | None] = mapped_column(String(3))
    purchased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ProcessedWebhook(UserBase):
    """Ids of webhook deliveries already applied, written in the same transaction as their
    effect. Holds no user reference, so account deletion leaves nothing personal here and a
    late redelivery for a deleted account still changes nothing."""

    __tablename__ = "processed_webhooks"
    __table_args__ = (PrimaryKeyConstraint("source", "event_id"),)

    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    processed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class BillingReconciliation(UserBase):
    """How far each provider's reconciliation got: the next run asks for what changed since a
    little before it. Holds no user reference."""

    __tablename__ = "billing_reconciliations"

    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    reconciled_through: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

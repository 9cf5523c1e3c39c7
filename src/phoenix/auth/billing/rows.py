"""What the billing store writes and reads, typed: each Struct's fields are its table's columns
(a unit test holds them to the models), so a misspelt column is a type error, not a runtime one.

The owner (``uid``) is not part of what an event says: the store finds it, then writes the row.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum, auto

import msgspec

from phoenix.auth.billing.entitlement import State


class StripeSubscriptionState(msgspec.Struct, frozen=True, kw_only=True):
    """A ``stripe_subscriptions`` row but its owner: Stripe's status in the entitlement's terms."""

    subscription_id: str
    status: str
    state: State
    price_id: str | None
    period_start: datetime | None
    paid_until: datetime | None
    grace_until: datetime | None
    cancel_at_period_end: bool
    observed_at: datetime


class StripeInvoiceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A ``stripe_invoices`` row but its owner."""

    invoice_id: str
    subscription_id: str | None
    payment_intent_id: str | None
    status: str
    amount_minor: int
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    hosted_invoice_url: str | None
    created_at: datetime
    observed_at: datetime


class RefundedInvoice(msgspec.Struct, frozen=True, kw_only=True):
    """The stored invoice a refund names: what taking its period away needs."""

    invoice_id: str
    uid: str
    subscription_id: str | None
    period_end: datetime | None


class AppleSubscriptionState(msgspec.Struct, frozen=True, kw_only=True):
    """An ``apple_subscriptions`` row but its owner."""

    original_transaction_id: str
    product_id: str
    state: State
    paid_until: datetime | None
    grace_until: datetime | None
    auto_renew: bool | None
    signed_at: datetime


class AppleTransactionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """An ``apple_transactions`` row but its owner."""

    transaction_id: str
    original_transaction_id: str
    product_id: str
    price_milli: int | None
    currency: str | None
    purchased_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    signed_at: datetime


class StripeOwner(msgspec.Struct, frozen=True):
    """Who a Stripe object may belong to: its customer, else the uid our metadata names."""

    customer: str | None
    named_uid: str | None


class Written(Enum):
    """What a store write did with a state or record."""

    NO_OWNER = auto()  # no (longer an) existing user holds it: nothing written
    OLDER = auto()  # the stored one is newer: kept as it was
    APPLIED = auto()

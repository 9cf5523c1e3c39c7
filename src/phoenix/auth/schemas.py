"""The bodies of the auth role's HTTP edge, as msgspec Structs: what its routes read and answer.
(The issuer's own wire formats are RFC 9578's, in phoenix.auth.issuer and phoenix.crypto.)"""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec


class EntitlementView(msgspec.Struct):
    active: bool
    source: str | None
    expires_at: datetime | None
    in_grace: bool


class QuotaView(msgspec.Struct):
    limit: int
    remaining: int
    window_hours: int


class AccountView(msgspec.Struct):
    uid: str
    email: str | None
    entitlement: EntitlementView
    quota: QuotaView
    # Set by the iOS app as the purchase's appAccountToken, so App Store notifications name
    # this account.
    app_account_token: uuid.UUID


class StripeInvoiceItem(msgspec.Struct, tag_field="kind", tag="stripe_invoice"):
    id: str
    status: str
    amount: int  # in the currency's minor unit (cents), as Stripe reports it
    currency: str
    period_start: datetime | None
    period_end: datetime | None
    hosted_invoice_url: str | None
    created_at: datetime


class AppleTransactionItem(msgspec.Struct, tag_field="kind", tag="apple_transaction"):
    id: str
    product_id: str
    price_milli: int | None  # Apple's milli-units of the currency (9990 is 9.99)
    currency: str | None
    purchased_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


PaymentItem = StripeInvoiceItem | AppleTransactionItem


class PaymentHistory(msgspec.Struct):
    items: list[PaymentItem]
    next_cursor: str | None


class BillingUrl(msgspec.Struct):
    url: str


class Removed(msgspec.Struct):
    removed: int


class Reconciled(msgspec.Struct):
    """One provider's reconciliation: what it read, and what it repaired (or would have)."""

    source: str
    since: datetime
    dry_run: bool
    seen: int
    unreadable: int
    repairs: dict[str, int]  # kind of drift (event or notification type) -> count


class Reconciliation(msgspec.Struct):
    sources: list[Reconciled]


class Received(msgspec.Struct):
    outcome: str


class AppleNotification(msgspec.Struct, forbid_unknown_fields=False):
    signedPayload: str


class StripeDelivery(msgspec.Struct, forbid_unknown_fields=False):
    """What the document says of a Stripe delivery: an event object (its signature decides)."""

    id: str
    type: str

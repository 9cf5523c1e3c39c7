"""A user's own view of their account: who they are, whether they may get tokens, what they
paid, and leaving for good.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from phoenix.auth import quota, subscriptions
from phoenix.auth.billing import StripeBilling
from phoenix.auth.entitlement import entitlement
from phoenix.auth.firebase import Identity, IdentityVerifier
from phoenix.auth.models import AppleTransaction, StripeInvoice, StripeSubscription, User
from phoenix.auth.users import upsert_user
from phoenix.common.problems import Problem

# Stripe statuses after which there is nothing left to cancel.
_FINISHED = ("canceled", "incomplete_expired")


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


class BadCursor(Problem):
    status = 400
    slug = "bad-cursor"
    title = "The cursor is not one this server handed out"


class _Cursor(msgspec.Struct, array_like=True):
    at: datetime
    kind: Literal["apple_transaction", "stripe_invoice"]
    id: str


@dataclass(frozen=True)
class _Key:
    at: datetime
    kind: str
    id: str


def encode_cursor(key: _Key) -> str:
    raw = msgspec.json.encode(_Cursor(key.at, key.kind, key.id))  # type: ignore[arg-type]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> _Key:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
    except (ValueError, msgspec.DecodeError):
        raise BadCursor() from None
    return _Key(decoded.at, decoded.kind, decoded.id)


def _before(at: Any, row_id: Any, kind: str, cursor: _Key | None) -> Any:
    """Rows of one kind that sort after ``cursor`` in (at, kind, id) descending order."""
    if cursor is None:
        return True
    if kind < cursor.kind:
        return at <= cursor.at
    if kind > cursor.kind:
        return at < cursor.at
    return or_(at < cursor.at, and_(at == cursor.at, row_id < cursor.id))


async def payment_history(
    connection: AsyncConnection, uid: str, limit: int, cursor: str | None
) -> PaymentHistory:
    after = decode_cursor(cursor) if cursor else None
    invoices = StripeInvoice.__table__.c
    apple = AppleTransaction.__table__.c
    # Each source is already in order by its (uid, time) index; merge the two pages.
    stripe_rows = await connection.execute(
        select(StripeInvoice)
        .where(
            invoices.uid == uid,
            _before(invoices.created_at, invoices.invoice_id, "stripe_invoice", after),
        )
        .order_by(invoices.created_at.desc(), invoices.invoice_id.desc())
        .limit(limit + 1)
    )
    apple_rows = await connection.execute(
        select(AppleTransaction)
        .where(
            apple.uid == uid,
            _before(apple.purchased_at, apple.transaction_id, "apple_transaction", after),
        )
        .order_by(apple.purchased_at.desc(), apple.transaction_id.desc())
        .limit(limit + 1)
    )
    keyed: list[tuple[_Key, PaymentItem]] = [
        (
            _Key(r.created_at, "stripe_invoice", r.invoice_id),
            StripeInvoiceItem(
                id=r.invoice_id,
                status=r.status,
                amount=r.amount_minor,
                currency=r.currency,
                period_start=r.period_start,
                period_end=r.period_end,
                hosted_invoice_url=r.hosted_invoice_url,
                created_at=r.created_at,
            ),
        )
        for r in stripe_rows
    ]
    keyed += [
        (
            _Key(r.purchased_at, "apple_transaction", r.transaction_id),
            AppleTransactionItem(
                id=r.transaction_id,
                product_id=r.product_id,
                price_milli=r.price_milli,
                currency=r.currency,
                purchased_at=r.purchased_at,
                expires_at=r.expires_at,
                revoked_at=r.revoked_at,
            ),
        )
        for r in apple_rows
    ]
    keyed.sort(key=lambda pair: (pair[0].at, pair[0].kind, pair[0].id), reverse=True)
    page = keyed[:limit]
    more = len(keyed) > limit
    return PaymentHistory(
        items=[item for _, item in page],
        next_cursor=encode_cursor(page[-1][0]) if more and page else None,
    )


async def describe(
    engine: AsyncEngine, identity: Identity, limit: int, now: datetime
) -> AccountView:
    async with engine.begin() as connection:
        await upsert_user(connection, identity.uid, identity.email)
        token = (
            await connection.execute(select(User.app_account_token).where(User.uid == identity.uid))
        ).scalar_one()
        held = await subscriptions.subscriptions_of(connection, identity.uid)
        counts = await quota.read(connection, identity.uid, now.timestamp())
    current = entitlement(held, now)
    return AccountView(
        uid=identity.uid,
        email=identity.email,
        entitlement=EntitlementView(
            active=current.active,
            source=current.source.value if current.source else None,
            expires_at=current.expires_at,
            in_grace=current.in_grace,
        ),
        quota=QuotaView(
            limit=limit, remaining=max(0, limit - sum(counts)), window_hours=quota.BUCKETS
        ),
        app_account_token=token,
    )


async def live_stripe_subscriptions(connection: AsyncConnection, uid: str) -> Sequence[str]:
    table = StripeSubscription.__table__.c
    rows = await connection.execute(
        select(table.subscription_id).where(table.uid == uid, table.status.not_in(_FINISHED))
    )
    return list(rows.scalars())


async def delete_account(
    engine: AsyncEngine, billing: StripeBilling, identity: IdentityVerifier, uid: str
) -> None:
    """Cancel what would bill, forget every row, then delete the Firebase user — in that order
    so that any step failing leaves the account able to retry (its ID token still verifies)."""
    async with engine.connect() as connection:
        live = await live_stripe_subscriptions(connection, uid)
    for subscription_id in live:
        await billing.cancel(subscription_id)
    async with engine.begin() as connection:
        # Every UserDB table that names a user references users.uid ON DELETE CASCADE.
        await connection.execute(delete(User).where(User.uid == uid))
    await identity.delete_user(uid)

"""A user's own account: who they are, whether they may get tokens, what they paid, paying
through Stripe, and leaving for good. Everything here acts for one caller's Firebase uid.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from phoenix.auth import quota
from phoenix.auth.billing import store
from phoenix.auth.billing.entitlement import entitlement
from phoenix.auth.billing.stripe_api import StripeBilling
from phoenix.auth.firebase import Identity, IdentityVerifier, bearer_token
from phoenix.auth.models import AppleTransaction, StripeInvoice, StripeSubscription, User
from phoenix.auth.schemas import (
    AccountView,
    AppleTransactionItem,
    EntitlementView,
    PaymentHistory,
    PaymentItem,
    QuotaView,
    StripeInvoiceItem,
)
from phoenix.auth.users import upsert_user
from phoenix.common.problems import Problem

# Stripe statuses after which there is nothing left to cancel.
_FINISHED = ("canceled", "incomplete_expired")


class NoBillingAccount(Problem):
    status = 409
    slug = "no-billing-account"
    title = "This account has never subscribed through Stripe"


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


async def live_stripe_subscriptions(connection: AsyncConnection, uid: str) -> Sequence[str]:
    table = StripeSubscription.__table__.c
    rows = await connection.execute(
        select(table.subscription_id).where(table.uid == uid, table.status.not_in(_FINISHED))
    )
    return list(rows.scalars())


class Accounts:
    """The account service; ``now`` is the clock entitlement and quota are read at."""

    def __init__(
        self,
        engine: AsyncEngine,
        billing: StripeBilling,
        identities: IdentityVerifier,
        quota_limit: int,
        now: Callable[[], datetime],
    ) -> None:
        self._engine = engine
        self._billing = billing
        self._identities = identities
        self._quota_limit = quota_limit
        self._now = now

    async def caller(self, authorization: str | None) -> Identity:
        """Who presents ``Authorization: Bearer <Firebase ID token>``."""
        return await self._identities.verify(bearer_token(authorization))

    async def describe(self, identity: Identity) -> AccountView:
        now, limit = self._now(), self._quota_limit
        async with self._engine.begin() as connection:
            await upsert_user(connection, identity.uid, identity.email)
            token = (
                await connection.execute(
                    select(User.app_account_token).where(User.uid == identity.uid)
                )
            ).scalar_one()
            held = await store.subscriptions_of(connection, identity.uid)
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

    async def payments(self, identity: Identity, limit: int, cursor: str | None) -> PaymentHistory:
        async with self._engine.connect() as connection:
            return await payment_history(connection, identity.uid, limit, cursor)

    async def delete(self, uid: str) -> None:
        """Cancel what would bill, forget every row, then delete the Firebase user — in that
        order so that any step failing leaves the account able to retry (its ID token still
        verifies)."""
        async with self._engine.connect() as connection:
            live = await live_stripe_subscriptions(connection, uid)
        for subscription_id in live:
            await self._billing.cancel(subscription_id)
        async with self._engine.begin() as connection:
            # Every UserDB table that names a user references users.uid ON DELETE CASCADE.
            await connection.execute(delete(User).where(User.uid == uid))
        await self._identities.delete_user(uid)

    async def checkout_url(self, identity: Identity) -> str:
        customer = await self._customer_of(identity)
        if customer is None:
            # Created before the first payment: every later event names a known customer.
            customer = await self._billing.create_customer(identity.uid, identity.email)
            async with self._engine.begin() as connection:
                await store.link_stripe_customer(connection, identity.uid, customer)
        return await self._billing.checkout_url(identity.uid, customer)

    async def portal_url(self, identity: Identity) -> str:
        customer = await self._customer_of(identity)
        if customer is None:
            raise NoBillingAccount("subscribe first: POST /v1/billing/checkout")
        return await self._billing.portal_url(customer)

    async def _customer_of(self, identity: Identity) -> str | None:
        async with self._engine.begin() as connection:
            await upsert_user(connection, identity.uid, identity.email)
            return await store.stripe_customer_of(connection, identity.uid)

"""Subscription state in UserDB: deliveries applied once, newer state never overwritten by
older, and the issuance gate's copy of the entitlement rewritten with every change.

Every function takes the caller's connection, so a webhook's dedup row, its state change and
the entitlement refresh commit together or not at all. Each write of an event's change is one
call here: find the owner, write, refresh the gate.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, func, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from phoenix.auth.billing.entitlement import Source, State, Subscription, covered_until_by_source
from phoenix.auth.billing.rows import (
    AppleSubscriptionState,
    AppleTransactionRecord,
    RefundedInvoice,
    StripeInvoiceRecord,
    StripeOwner,
    StripeSubscriptionState,
    Written,
)
from phoenix.auth.models import (
    AppleSubscription,
    AppleTransaction,
    Entitlement,
    ProcessedWebhook,
    StripeInvoice,
    StripeSubscription,
    User,
    UserBase,
)

PAID_SOURCES = (Source.STRIPE, Source.APPLE)


async def first_delivery(connection: AsyncConnection, source: str, event_id: str) -> bool:
    """Record a delivery; False when it was recorded before (a redelivery: apply nothing).

    A concurrent delivery of the same id waits on this row's lock until the first commits,
    then finds it — so fifty simultaneous copies apply once."""
    statement = (
        insert(ProcessedWebhook)
        .values(source=source, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(literal(1))
    )
    return (await connection.execute(statement)).first() is not None


async def forget_deliveries(connection: AsyncConnection, older_than: timedelta) -> int:
    """Forget processed delivery ids past the redelivery windows; how many went."""
    result = await connection.execute(
        delete(ProcessedWebhook).where(ProcessedWebhook.processed_at < func.now() - older_than)
    )
    return result.rowcount or 0


async def link_stripe_customer(connection: AsyncConnection, uid: str, customer_id: str) -> None:
    statement = insert(User).values(uid=uid, stripe_customer_id=customer_id)
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=[User.uid],
            set_={"stripe_customer_id": statement.excluded.stripe_customer_id},
        )
    )


async def stripe_customer_of(connection: AsyncConnection, uid: str) -> str | None:
    found = await connection.execute(select(User.stripe_customer_id).where(User.uid == uid))
    return found.scalar_one_or_none()


async def link_checkout(
    connection: AsyncConnection,
    uid: str,
    customer_id: str,
    subscription: StripeSubscriptionState | None,
) -> Written:
    """A completed checkout: the customer is the user's, and the subscription it started (read
    from Stripe) is stored. Only for a user that still exists: a checkout is started by a signed
    in user (so their row is there), and one that arrives after the account was deleted — a late
    delivery, or a reconciliation replaying it — must not bring the account back (NO_OWNER)."""
    linked = await connection.execute(
        update(User)
        .where(User.uid == uid)
        .values(stripe_customer_id=customer_id)
        .returning(literal(1))
    )
    if linked.first() is None:
        return Written.NO_OWNER
    if subscription is not None:
        await _upsert_stripe_subscription(connection, uid, subscription)
    await refresh_entitlements(connection, uid)
    return Written.APPLIED


async def save_stripe_subscription(
    connection: AsyncConnection, owner: StripeOwner, subscription: StripeSubscriptionState
) -> Written:
    uid = await _stripe_owner(connection, owner)
    if uid is None:
        return Written.NO_OWNER
    if not await _upsert_stripe_subscription(connection, uid, subscription):
        return Written.OLDER
    await refresh_entitlements(connection, uid)
    return Written.APPLIED


async def save_stripe_invoice(
    connection: AsyncConnection, owner: StripeOwner, invoice: StripeInvoiceRecord
) -> Written:
    uid = await _stripe_owner(connection, owner)
    if uid is None:
        return Written.NO_OWNER
    kept = await _upsert_unless_newer(connection, StripeInvoice, "observed_at", uid, invoice)
    return Written.APPLIED if kept else Written.OLDER


async def refund_stripe_invoice(
    connection: AsyncConnection,
    invoice_id: str | None,
    payment_intent_id: str | None,
    fully: bool,
    observed_at: datetime,
) -> bool:
    """Mark the invoice (by id, else by payment intent) refunded; a full refund takes the period
    it paid for away. False when no stored invoice is named."""
    invoice = await _find_stripe_invoice(connection, invoice_id, payment_intent_id)
    if invoice is None:
        return False
    await _mark_refunded(connection, invoice, fully, observed_at)
    await refresh_entitlements(connection, invoice.uid)
    return True


async def save_apple(
    connection: AsyncConnection,
    account_token: str | None,
    transaction: AppleTransactionRecord | None,
    subscription: AppleSubscriptionState | None,
) -> Written:
    """Record the transaction and the subscription state of the user whose appAccountToken it
    is; with no subscription state, only the transaction (APPLIED)."""
    uid = await _uid_by_app_account_token(connection, account_token) if account_token else None
    if uid is None:
        return Written.NO_OWNER
    if transaction is not None:
        await _upsert_unless_newer(connection, AppleTransaction, "signed_at", uid, transaction)
    if subscription is None:
        return Written.APPLIED
    if not await _upsert_unless_newer(
        connection, AppleSubscription, "signed_at", uid, subscription
    ):
        return Written.OLDER
    await refresh_entitlements(connection, uid)
    return Written.APPLIED


async def apple_state_is(connection: AsyncConnection, subscription: AppleSubscriptionState) -> bool:
    """Whether the stored state of this subscription says the same (its time aside)."""
    stored = (
        await connection.execute(
            select(
                AppleSubscription.product_id,
                AppleSubscription.state,
                AppleSubscription.paid_until,
                AppleSubscription.grace_until,
                AppleSubscription.auto_renew,
            ).where(
                AppleSubscription.original_transaction_id == subscription.original_transaction_id
            )
        )
    ).first()
    return stored is not None and tuple(stored) == (
        subscription.product_id,
        subscription.state,
        subscription.paid_until,
        subscription.grace_until,
        subscription.auto_renew,
    )


async def apple_subscriptions_due(
    connection: AsyncConnection, ends_before: datetime, ended_after: datetime
) -> list[str]:
    """The App Store subscriptions whose paid period ends before ``ends_before`` and did not
    end before ``ended_after``, or that are in their grace period: where a renewal or an expiry
    can be due. Any other change (a refund, a revocation) Apple notifies, and its notification
    history holds."""
    found = await connection.execute(
        select(AppleSubscription.original_transaction_id).where(
            or_(
                AppleSubscription.paid_until.between(ended_after, ends_before),
                AppleSubscription.state == State.GRACE,
            )
        )
    )
    return list(found.scalars())


async def _stripe_owner(connection: AsyncConnection, owner: StripeOwner) -> str | None:
    """The user a customer belongs to: the checkout's link first, else our own metadata — but
    only for a user that still exists (a late event never brings a deleted account back)."""
    if owner.customer:
        found = await connection.execute(
            select(User.uid).where(User.stripe_customer_id == owner.customer)
        )
        uid = found.scalar_one_or_none()
        if uid is not None:
            return uid
    if not owner.named_uid:
        return None
    found = await connection.execute(select(User.uid).where(User.uid == owner.named_uid))
    return found.scalar_one_or_none()


async def _uid_by_app_account_token(connection: AsyncConnection, token: str) -> str | None:
    try:
        parsed = uuid.UUID(token)
    except ValueError:
        return None
    found = await connection.execute(select(User.uid).where(User.app_account_token == parsed))
    return found.scalar_one_or_none()


def _columns(uid: str, row: msgspec.Struct) -> dict[str, Any]:
    """A row's column values with its owner (the Struct's fields are the columns)."""
    return {"uid": uid, **msgspec.structs.asdict(row)}


async def _upsert_stripe_subscription(
    connection: AsyncConnection, uid: str, subscription: StripeSubscriptionState
) -> bool:
    """Upsert unless the stored state was observed later; True when this state was kept.

    A stored refund that reaches past the new paid-until date keeps the period refunded."""
    statement = insert(StripeSubscription).values(**_columns(uid, subscription))
    stored = StripeSubscription.__table__.c
    excluded = statement.excluded
    refunded = text(
        "CASE WHEN stripe_subscriptions.refunded_through IS NOT NULL"
        " AND stripe_subscriptions.refunded_through >= excluded.paid_until"
        " THEN 'refunded' ELSE excluded.state END"
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[stored.subscription_id],
        set_={
            "uid": excluded.uid,
            "status": excluded.status,
            "state": refunded,
            "price_id": excluded.price_id,
            "period_start": excluded.period_start,
            "paid_until": excluded.paid_until,
            "grace_until": excluded.grace_until,
            "cancel_at_period_end": excluded.cancel_at_period_end,
            "observed_at": excluded.observed_at,
        },
        # Same-second events (Stripe's created is in seconds) fall back to the period reached.
        where=text(
            "(stripe_subscriptions.observed_at,"
            " coalesce(stripe_subscriptions.paid_until, '-infinity'))"
            " < (excluded.observed_at, coalesce(excluded.paid_until, '-infinity'))"
        ),
    ).returning(literal(1))
    return (await connection.execute(upsert)).first() is not None


async def _upsert_unless_newer(
    connection: AsyncConnection, model: type[UserBase], order: str, uid: str, row: msgspec.Struct
) -> bool:
    """Insert, or overwrite the stored row only when ``row`` is newer by ``order``."""
    values = _columns(uid, row)
    statement = insert(model).values(**values)
    table = model.__table__
    key = [column.name for column in table.primary_key.columns]  # type: ignore[attr-defined]
    upsert = statement.on_conflict_do_update(
        index_elements=key,
        set_={name: statement.excluded[name] for name in values if name not in key},
        where=table.c[order] < statement.excluded[order],
    ).returning(literal(1))
    return (await connection.execute(upsert)).first() is not None


async def _find_stripe_invoice(
    connection: AsyncConnection, invoice_id: str | None, payment_intent_id: str | None
) -> RefundedInvoice | None:
    table = StripeInvoice.__table__.c
    if invoice_id:
        condition = table.invoice_id == invoice_id
    elif payment_intent_id:
        condition = table.payment_intent_id == payment_intent_id
    else:
        return None
    row = (
        await connection.execute(
            select(table.invoice_id, table.uid, table.subscription_id, table.period_end).where(
                condition
            )
        )
    ).first()
    if row is None:
        return None
    return RefundedInvoice(
        invoice_id=row.invoice_id,
        uid=row.uid,
        subscription_id=row.subscription_id,
        period_end=row.period_end,
    )


async def _mark_refunded(
    connection: AsyncConnection, invoice: RefundedInvoice, fully: bool, observed_at: datetime
) -> None:
    await connection.execute(
        text(
            "UPDATE stripe_invoices SET status = :status,"
            " observed_at = greatest(observed_at, :observed) WHERE invoice_id = :id"
        ),
        {
            "status": "refunded" if fully else "partially_refunded",
            "observed": observed_at,
            "id": invoice.invoice_id,
        },
    )
    if fully and invoice.subscription_id and invoice.period_end is not None:
        await connection.execute(
            text(
                "UPDATE stripe_subscriptions"
                " SET refunded_through = greatest(refunded_through, :through),"
                " state = CASE WHEN paid_until <= greatest(refunded_through, :through)"
                " THEN 'refunded' ELSE state END"
                " WHERE subscription_id = :id"
            ),
            {"through": invoice.period_end, "id": invoice.subscription_id},
        )


async def subscriptions_of(connection: AsyncConnection, uid: str) -> list[Subscription]:
    """Every subscription the user holds, in the entitlement rule's terms (grants included)."""
    held: list[Subscription] = []
    for table, source in (
        (StripeSubscription.__table__.c, Source.STRIPE),
        (AppleSubscription.__table__.c, Source.APPLE),
    ):
        rows = await connection.execute(
            select(table.state, table.paid_until, table.grace_until).where(table.uid == uid)
        )
        held.extend(
            Subscription(source, State(state), paid_until, grace_until)
            for state, paid_until, grace_until in rows
        )
    grants = await connection.execute(
        select(Entitlement.expires_at).where(
            Entitlement.uid == uid, Entitlement.source == Source.GRANT.value
        )
    )
    held.extend(Subscription(Source.GRANT, State.ACTIVE, until) for (until,) in grants)
    return held


async def refresh_entitlements(connection: AsyncConnection, uid: str) -> None:
    """Rewrite the gate's per-source copy of the entitlement rule for ``uid``."""
    reach = covered_until_by_source(
        s for s in await subscriptions_of(connection, uid) if s.source in PAID_SOURCES
    )
    for source in PAID_SOURCES:
        until = reach.get(source)
        if until is None:
            await connection.execute(
                delete(Entitlement).where(
                    Entitlement.uid == uid, Entitlement.source == source.value
                )
            )
            continue
        statement = insert(Entitlement).values(uid=uid, source=source.value, expires_at=until)
        await connection.execute(
            statement.on_conflict_do_update(
                index_elements=[Entitlement.uid, Entitlement.source],
                set_={"expires_at": statement.excluded.expires_at},
            )
        )

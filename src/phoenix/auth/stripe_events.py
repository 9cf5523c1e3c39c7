"""Stripe webhook events → subscription state, invoices and refunds.

Only the fields used are decoded (msgspec), in both payload shapes Stripe has used: before API
version 2025-03-31 periods sat on the subscription and invoices named their subscription at the
top level; since then both moved (to subscription items and ``invoice.parent``). Which event
ends up stored is decided by each object's own time (``event.created``, or the moment an API
read was made), never by arrival order — see phoenix.auth.subscriptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from phoenix.auth import subscriptions as store
from phoenix.auth.billing import UID_METADATA
from phoenix.auth.entitlement import State

T = TypeVar("T")

SOURCE: Final = "stripe"
HANDLED: Final = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
        "charge.refunded",
    }
)
_COVERED: Final = {"active", "trialing"}
_RETRYING: Final = {"past_due"}


class _Data(msgspec.Struct):
    object: msgspec.Raw


class Event(msgspec.Struct):
    id: str
    type: str
    created: int
    data: _Data


class _Period(msgspec.Struct):
    start: int | None = None
    end: int | None = None


class _Price(msgspec.Struct):
    id: str | None = None


class _Item(msgspec.Struct):
    current_period_start: int | None = None
    current_period_end: int | None = None
    price: _Price | None = None


class _List(msgspec.Struct):
    data: list[_Item] = []


class StripeSubscriptionObject(msgspec.Struct):
    id: str
    customer: str
    status: str
    cancel_at_period_end: bool = False
    current_period_start: int | None = None
    current_period_end: int | None = None
    items: _List | None = None
    metadata: dict[str, str] = {}


class CheckoutSession(msgspec.Struct):
    id: str
    client_reference_id: str | None = None
    customer: str | None = None
    subscription: str | None = None
    mode: str | None = None


class _SubscriptionDetails(msgspec.Struct):
    subscription: str | None = None
    metadata: dict[str, str] | None = None


class _Parent(msgspec.Struct):
    subscription_details: _SubscriptionDetails | None = None


class _Line(msgspec.Struct):
    period: _Period | None = None


class _Lines(msgspec.Struct):
    data: list[_Line] = []


class Invoice(msgspec.Struct):
    id: str
    customer: str
    status: str | None
    currency: str
    created: int
    amount_paid: int = 0
    amount_due: int = 0
    hosted_invoice_url: str | None = None
    subscription: str | None = None
    subscription_details: _SubscriptionDetails | None = None
    parent: _Parent | None = None
    payment_intent: str | None = None
    period_start: int | None = None
    period_end: int | None = None
    lines: _Lines | None = None


class Charge(msgspec.Struct):
    id: str
    customer: str | None = None
    invoice: str | None = None
    payment_intent: str | None = None
    amount: int = 0
    amount_refunded: int = 0
    refunded: bool = False


class MalformedEvent(Exception):
    """A signed event whose object lacks what its type promises."""


def decode_event(body: bytes) -> Event:
    try:
        return msgspec.json.decode(body, type=Event)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # msgspec: bad UTF-8 is the latter
        raise MalformedEvent(str(error)) from None


def _object(event: Event, kind: type[T]) -> T:
    try:
        return msgspec.json.decode(event.data.object, type=kind)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # msgspec: bad UTF-8 is the latter
        raise MalformedEvent(str(error)) from None


def _time(epoch: int) -> datetime:
    """A Stripe epoch; one no datetime can hold makes the event malformed (a 400, not a 500)."""
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent(f"time {epoch} is out of range") from None


def _at(epoch: int | None) -> datetime | None:
    return None if epoch is None else _time(epoch)


def subscription_values(
    subscription: StripeSubscriptionObject, uid: str, observed_at: datetime, grace: timedelta
) -> dict[str, Any]:
    """The stored row for a subscription object: Stripe's status in the entitlement's terms."""
    items = subscription.items.data if subscription.items else []
    starts = [i.current_period_start for i in items if i.current_period_start is not None]
    ends = [i.current_period_end for i in items if i.current_period_end is not None]
    period_start = _at(subscription.current_period_start or max(starts, default=None))
    period_end = _at(subscription.current_period_end or max(ends, default=None))
    price = next((i.price.id for i in items if i.price and i.price.id), None)
    if subscription.status in _COVERED:
        state, grace_until = State.ACTIVE, None
    elif subscription.status in _RETRYING and period_start is not None:
        # Stripe has already moved the period on when a renewal fails: forgive from its start.
        state, grace_until = State.GRACE, period_start + grace
    else:
        state, grace_until = State.ENDED, None
    return {
        "subscription_id": subscription.id,
        "uid": uid,
        "status": subscription.status,
        "state": state.value,
        "price_id": price,
        "period_start": period_start,
        "paid_until": period_start if state is State.GRACE else period_end,
        "grace_until": grace_until,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "observed_at": observed_at,
    }


def invoice_values(invoice: Invoice, uid: str, observed_at: datetime) -> dict[str, Any]:
    details = invoice.parent.subscription_details if invoice.parent else None
    details = details or invoice.subscription_details
    # A subscription invoice's own period is the previous one; its line carries the paid one.
    line = invoice.lines.data[0].period if invoice.lines and invoice.lines.data else None
    start = line.start if line and line.start else invoice.period_start
    end = line.end if line and line.end else invoice.period_end
    paid = invoice.status == "paid"
    return {
        "invoice_id": invoice.id,
        "uid": uid,
        "subscription_id": invoice.subscription or (details.subscription if details else None),
        "payment_intent_id": invoice.payment_intent,
        "status": invoice.status or "unknown",
        "amount_minor": invoice.amount_paid if paid else invoice.amount_due,
        "currency": invoice.currency.lower()[:3],
        "period_start": _at(start),
        "period_end": _at(end),
        "hosted_invoice_url": invoice.hosted_invoice_url,
        "created_at": _at(invoice.created),
        "observed_at": observed_at,
    }


def _metadata_uid(metadata: dict[str, str] | None) -> str | None:
    return (metadata or {}).get(UID_METADATA) or None


async def _owner(
    connection: AsyncConnection, customer: str | None, metadata: dict[str, str] | None
) -> str | None:
    """The user a customer belongs to: the checkout's link first, else our own metadata — but
    only for a user that still exists (a late event never brings a deleted account back)."""
    if customer:
        uid = await store.uid_by_stripe_customer(connection, customer)
        if uid is not None:
            return uid
    named = _metadata_uid(metadata)
    return await store.existing_uid(connection, named) if named else None


SubscriptionReader = Callable[[str], Awaitable[dict[str, Any]]]


class StripeEvents:
    """Applies one verified event inside the caller's transaction; returns what happened."""

    def __init__(self, grace: timedelta, read_subscription: SubscriptionReader) -> None:
        self._grace = grace
        self._read_subscription = read_subscription

    async def prefetch(self, event: Event) -> StripeSubscriptionObject | None:
        """A checkout's event names its subscription only by id: read it from Stripe before
        the transaction opens (an outage then rolls nothing back and Stripe redelivers)."""
        if event.type != "checkout.session.completed":
            return None
        session = _object(event, CheckoutSession)
        if session.mode not in (None, "subscription") or not session.subscription:
            return None
        raw = await self._read_subscription(session.subscription)
        return msgspec.convert(raw, type=StripeSubscriptionObject, strict=False)

    async def apply(
        self,
        connection: AsyncConnection,
        event: Event,
        fetched: StripeSubscriptionObject | None,
        now: datetime,
    ) -> str:
        if event.type not in HANDLED:
            return "ignored: unhandled type"
        if not await store.first_delivery(connection, SOURCE, event.id):
            return "duplicate"
        created = _time(event.created)
        if event.type == "checkout.session.completed":
            return await self._checkout(connection, _object(event, CheckoutSession), fetched, now)
        if event.type.startswith("customer.subscription."):
            return await self._subscription(
                connection, _object(event, StripeSubscriptionObject), created
            )
        if event.type.startswith("invoice."):
            return await self._invoice(connection, _object(event, Invoice), created)
        return await self._refund(connection, _object(event, Charge), created)

    async def _checkout(
        self,
        connection: AsyncConnection,
        session: CheckoutSession,
        fetched: StripeSubscriptionObject | None,
        now: datetime,
    ) -> str:
        if not session.client_reference_id or not session.customer:
            return "ignored: checkout without client_reference_id"
        await store.link_stripe_customer(connection, session.client_reference_id, session.customer)
        if fetched is not None:
            values = subscription_values(fetched, session.client_reference_id, now, self._grace)
            await store.save_stripe_subscription(connection, values)
        await store.refresh_entitlements(connection, session.client_reference_id)
        return "linked"

    async def _subscription(
        self, connection: AsyncConnection, subscription: StripeSubscriptionObject, at: datetime
    ) -> str:
        uid = await _owner(connection, subscription.customer, subscription.metadata)
        if uid is None:
            return "ignored: unknown customer"
        kept = await store.save_stripe_subscription(
            connection, subscription_values(subscription, uid, at, self._grace)
        )
        if not kept:
            return "ignored: older than stored state"
        await store.refresh_entitlements(connection, uid)
        return "applied"

    async def _invoice(self, connection: AsyncConnection, invoice: Invoice, at: datetime) -> str:
        details = invoice.parent.subscription_details if invoice.parent else None
        details = details or invoice.subscription_details
        uid = await _owner(connection, invoice.customer, details.metadata if details else None)
        if uid is None:
            return "ignored: unknown customer"
        kept = await store.save_stripe_invoice(connection, invoice_values(invoice, uid, at))
        return "applied" if kept else "ignored: older than stored state"

    async def _refund(self, connection: AsyncConnection, charge: Charge, at: datetime) -> str:
        invoice = await store.find_stripe_invoice(connection, charge.invoice, charge.payment_intent)
        if invoice is None:
            return "ignored: refund of an unknown invoice"
        fully = charge.refunded or (charge.amount > 0 and charge.amount_refunded >= charge.amount)
        await store.mark_refunded(connection, invoice, fully, at)
        await store.refresh_entitlements(connection, invoice.uid)
        return "applied"

"""Stripe webhook events → what to change: typed subscription states, invoice records,
refunds. Pure: nothing here reads or writes a database (the store does, phoenix.auth.billing.store).

Only the fields used are decoded (msgspec), in both payload shapes Stripe has used: before API
version 2025-03-31 periods sat on the subscription and invoices named their subscription at the
top level; since then both moved (to subscription items and ``invoice.parent``). Which event
ends up stored is decided by each object's own time (``event.created``, or the moment an API
read was made), never by arrival order — see phoenix.auth.billing.store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

import msgspec

from phoenix.auth.billing.entitlement import State
from phoenix.auth.billing.rows import StripeInvoiceRecord, StripeOwner, StripeSubscriptionState
from phoenix.auth.billing.stripe_api import UID_METADATA

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
CHECKOUT: Final = "checkout.session.completed"
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


class Checkout(msgspec.Struct, frozen=True):
    """A completed checkout: link the customer to its user, and store the subscription it
    started when Stripe was asked for it (None: not a subscription checkout)."""

    uid: str
    customer: str
    subscription: StripeSubscriptionState | None


class SubscriptionChanged(msgspec.Struct, frozen=True):
    owner: StripeOwner
    state: StripeSubscriptionState


class InvoiceChanged(msgspec.Struct, frozen=True):
    owner: StripeOwner
    record: StripeInvoiceRecord


class Refunded(msgspec.Struct, frozen=True):
    """A refund of the invoice named by id, else by payment intent; a full one takes the
    period the invoice paid for away."""

    invoice_id: str | None
    payment_intent_id: str | None
    fully: bool
    observed_at: datetime


class Ignored(msgspec.Struct, frozen=True):
    outcome: str


StripeChange = Checkout | SubscriptionChanged | InvoiceChanged | Refunded | Ignored


def decode_event(body: bytes) -> Event:
    try:
        return msgspec.json.decode(body, type=Event)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # msgspec: bad UTF-8 is the latter
        raise MalformedEvent(str(error)) from None


def object_of(event: Event, kind: type[T]) -> T:
    """The event's object as ``kind``; MalformedEvent when it is not one."""
    try:
        return msgspec.json.decode(event.data.object, type=kind)
    except (msgspec.DecodeError, UnicodeDecodeError) as error:  # msgspec: bad UTF-8 is the latter
        raise MalformedEvent(str(error)) from None


def checkout_subscription_id(event: Event) -> str | None:
    """The subscription a checkout started, named only by id (None: nothing to read)."""
    if event.type != CHECKOUT:
        return None
    session = object_of(event, CheckoutSession)
    if session.mode not in (None, "subscription") or not session.subscription:
        return None
    return session.subscription


def change_of(
    event: Event, fetched: StripeSubscriptionObject | None, now: datetime, grace: timedelta
) -> StripeChange:
    """What a handled event changes; ``fetched``: its checkout's subscription, read at ``now``."""
    created = _time(event.created)
    if event.type == CHECKOUT:
        session = object_of(event, CheckoutSession)
        if not session.client_reference_id or not session.customer:
            return Ignored("ignored: checkout without client_reference_id")
        state = None if fetched is None else subscription_state(fetched, now, grace)
        return Checkout(session.client_reference_id, session.customer, state)
    if event.type.startswith("customer.subscription."):
        subscription = object_of(event, StripeSubscriptionObject)
        return SubscriptionChanged(
            StripeOwner(subscription.customer, _metadata_uid(subscription.metadata)),
            subscription_state(subscription, created, grace),
        )
    if event.type.startswith("invoice."):
        invoice = object_of(event, Invoice)
        details = _details(invoice)
        return InvoiceChanged(
            StripeOwner(invoice.customer, _metadata_uid(details.metadata if details else None)),
            invoice_record(invoice, created),
        )
    charge = object_of(event, Charge)
    fully = charge.refunded or (charge.amount > 0 and charge.amount_refunded >= charge.amount)
    return Refunded(charge.invoice, charge.payment_intent, fully, created)


def _time(epoch: int) -> datetime:
    """A Stripe epoch; one no datetime can hold makes the event malformed (a 400, not a 500)."""
    try:
        return datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedEvent(f"time {epoch} is out of range") from None


def _at(epoch: int | None) -> datetime | None:
    return None if epoch is None else _time(epoch)


def subscription_state(
    subscription: StripeSubscriptionObject, observed_at: datetime, grace: timedelta
) -> StripeSubscriptionState:
    """The stored state of a subscription object: Stripe's status in the entitlement's terms."""
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
    return StripeSubscriptionState(
        subscription_id=subscription.id,
        status=subscription.status,
        state=state,
        price_id=price,
        period_start=period_start,
        paid_until=period_start if state is State.GRACE else period_end,
        grace_until=grace_until,
        cancel_at_period_end=subscription.cancel_at_period_end,
        observed_at=observed_at,
    )


def invoice_record(invoice: Invoice, observed_at: datetime) -> StripeInvoiceRecord:
    details = _details(invoice)
    # A subscription invoice's own period is the previous one; its line carries the paid one.
    line = invoice.lines.data[0].period if invoice.lines and invoice.lines.data else None
    start = line.start if line and line.start else invoice.period_start
    end = line.end if line and line.end else invoice.period_end
    paid = invoice.status == "paid"
    return StripeInvoiceRecord(
        invoice_id=invoice.id,
        subscription_id=invoice.subscription or (details.subscription if details else None),
        payment_intent_id=invoice.payment_intent,
        status=invoice.status or "unknown",
        amount_minor=invoice.amount_paid if paid else invoice.amount_due,
        currency=invoice.currency.lower()[:3],
        period_start=_at(start),
        period_end=_at(end),
        hosted_invoice_url=invoice.hosted_invoice_url,
        created_at=_time(invoice.created),
        observed_at=observed_at,
    )


def _details(invoice: Invoice) -> _SubscriptionDetails | None:
    """The invoice's subscription details, in either payload shape."""
    details = invoice.parent.subscription_details if invoice.parent else None
    return details or invoice.subscription_details


def _metadata_uid(metadata: dict[str, str] | None) -> str | None:
    return (metadata or {}).get(UID_METADATA) or None

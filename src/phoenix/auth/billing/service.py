"""Webhook deliveries from Stripe and the App Store, applied: each is verified before anything
is read from it, applied in one transaction with its dedup row, and logged by type and outcome —
never with its payload. Also the retention of the dedup rows.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final

import msgspec
import stripe
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from phoenix.auth.billing import apple, store, stripe_events
from phoenix.auth.billing.apple import AppleVerifier, Notification, UnverifiableNotification
from phoenix.auth.billing.rows import AppleSubscriptionState, Written
from phoenix.auth.billing.stripe_events import (
    Checkout,
    Event,
    Ignored,
    InvoiceChanged,
    MalformedEvent,
    Refunded,
    StripeChange,
    StripeSubscriptionObject,
    SubscriptionChanged,
)
from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem

# The webhook log, by the name it has always had.
log = get_logger("phoenix.auth.webhooks")

STRIPE_TOLERANCE_SECONDS: Final = 300
_OLDER: Final = "ignored: older than stored state"

SubscriptionReader = Callable[[str], Awaitable[dict[str, Any]]]
Clock = Callable[[], datetime]


class WebhooksNotConfigured(Problem):
    status = 503
    slug = "webhooks-not-configured"
    title = "This webhook is not configured on this server"


class BadSignature(Problem):
    status = 400
    slug = "bad-signature"
    title = "The Stripe-Signature header does not verify this body"


class MalformedWebhook(Problem):
    status = 400
    slug = "malformed-webhook"
    title = "The webhook body is not an event this server can read"


class StripeWebhooks:
    """Applies a signed Stripe event; ``read_subscription`` asks Stripe's API for the state a
    checkout's event names only by id."""

    def __init__(
        self,
        engine: AsyncEngine,
        secret: str,
        read_subscription: SubscriptionReader,
        grace: timedelta,
        now: Clock,
    ) -> None:
        self._engine = engine
        self._secret = secret
        self._read_subscription = read_subscription
        self._grace = grace
        self._now = now

    def require_configured(self) -> None:
        """Before the body is read: without a signing secret no delivery can be checked."""
        if not self._secret:
            raise WebhooksNotConfigured("PHOENIX_STRIPE_WEBHOOK_SECRET is not set")

    async def receive(self, body: bytes, signature: str | None) -> str:
        """Verify, then apply; the outcome (what happened, for the answer and the log)."""
        self._verify(body, signature)
        try:
            event = stripe_events.decode_event(body)
            fetched = await self.prefetch(event)
            async with self._engine.begin() as connection:
                outcome = await self.apply(connection, event, fetched, self._now())
        except (MalformedEvent, msgspec.ValidationError) as error:
            log.warning("stripe_webhook_rejected", reason="unexpected shape", error=str(error))
            raise MalformedWebhook("the event lacks fields its type requires") from None
        log.info("stripe_webhook", event_type=event.type, event_id=event.id, outcome=outcome)
        return outcome

    def _verify(self, body: bytes, signature: str | None) -> None:
        self.require_configured()
        try:
            stripe.Webhook.construct_event(
                body, signature, self._secret, tolerance=STRIPE_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError:
            reason = signature_failure(signature, time.time())
            log.warning("stripe_webhook_rejected", reason=reason)
            raise BadSignature(reason) from None
        except ValueError:
            log.warning("stripe_webhook_rejected", reason="body is not JSON")
            raise MalformedWebhook("the body is not JSON") from None

    async def prefetch(self, event: Event) -> StripeSubscriptionObject | None:
        """A checkout's event names its subscription only by id: read it from Stripe before
        the transaction opens (an outage then rolls nothing back and Stripe redelivers)."""
        subscription_id = stripe_events.checkout_subscription_id(event)
        if subscription_id is None:
            return None
        raw = await self._read_subscription(subscription_id)
        return msgspec.convert(raw, type=StripeSubscriptionObject, strict=False)

    async def apply(
        self,
        connection: AsyncConnection,
        event: Event,
        fetched: StripeSubscriptionObject | None,
        now: datetime,
    ) -> str:
        """Apply one event inside the caller's transaction; returns what happened."""
        if event.type not in stripe_events.HANDLED:
            return "ignored: unhandled type"
        if not await store.first_delivery(connection, stripe_events.SOURCE, event.id):
            return "duplicate"
        change = stripe_events.change_of(event, fetched, now, self._grace)
        return await _write(connection, change)


async def _write(connection: AsyncConnection, change: StripeChange) -> str:
    match change:
        case Ignored(outcome):
            return outcome
        case Checkout(uid, customer, subscription):
            linked = await store.link_checkout(connection, uid, customer, subscription)
            return "linked" if linked is Written.APPLIED else "ignored: unknown user"
        case SubscriptionChanged(owner, state):
            written = await store.save_stripe_subscription(connection, owner, state)
            return _stripe_outcome(written)
        case InvoiceChanged(owner, record):
            return _stripe_outcome(await store.save_stripe_invoice(connection, owner, record))
        case Refunded(invoice_id, payment_intent_id, fully, observed_at):
            found = await store.refund_stripe_invoice(
                connection, invoice_id, payment_intent_id, fully, observed_at
            )
            return "applied" if found else "ignored: refund of an unknown invoice"


def _stripe_outcome(written: Written) -> str:
    if written is Written.NO_OWNER:
        return "ignored: unknown customer"
    return _OLDER if written is Written.OLDER else "applied"


def signature_failure(header: str | None, now: float) -> str:
    """Why Stripe's SDK refused a delivery, for the log: read off the Stripe-Signature header
    itself (``t=<unix time>,v1=<hex>[,...]``), since the SDK's messages are no interface. The
    SDK alone decides whether a signature holds; this only names the way it did not."""
    if not header:
        return "no signature header"
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for name, _, value in fields if name == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not any(n == "v1" for n, _, _ in fields):
        return "malformed signature header"
    if int(stamps[0]) < now - STRIPE_TOLERANCE_SECONDS:  # as the SDK checks: too old only
        return "stale timestamp"
    return "signature mismatch"


class AppleWebhooks:
    def __init__(self, engine: AsyncEngine, verifier: AppleVerifier) -> None:
        self._engine = engine
        self.verifier = verifier

    async def receive(self, signed_payload: str) -> str:
        """Verify, then apply; the outcome (what happened, for the answer and the log)."""
        try:
            notification = await self.verifier.verify(signed_payload)
        except UnverifiableNotification as problem:
            log.warning("apple_notification_rejected", reason=problem.detail)
            raise
        async with self._engine.begin() as connection:
            outcome = await self.apply(connection, notification)
        log.info(
            "apple_notification",
            notification_type=notification.type,
            subtype=notification.subtype,
            outcome=outcome,
        )
        return outcome

    @staticmethod
    async def apply(connection: AsyncConnection, notification: Notification) -> str:
        """Apply one verified notification inside the caller's transaction."""
        if notification.type not in apple.HANDLED:
            return "ignored: unhandled type"
        if not await store.first_delivery(connection, apple.SOURCE, notification.uuid):
            return "duplicate"
        subscription = apple.subscription_state(notification)
        outcome = await _save_apple(connection, notification, subscription)
        if subscription is None and outcome == "applied":
            return "ignored: no subscription in the notification"
        return outcome

    @staticmethod
    async def apply_status(connection: AsyncConnection, notification: Notification) -> str:
        """Apply a subscription status read from Apple (AppleVerifier.verify_status) inside the
        caller's transaction, as its notification would be — but only when it says something
        the stored state does not: a status is signed when asked for, so it is always newer."""
        subscription = apple.subscription_state(notification)
        if subscription is None:
            return "ignored: no subscription in the status"
        if await store.apple_state_is(connection, subscription):
            return "unchanged"
        return await _save_apple(connection, notification, subscription)


async def _save_apple(
    connection: AsyncConnection,
    notification: Notification,
    subscription: AppleSubscriptionState | None,
) -> str:
    """The notification's transaction and state, kept for the user its appAccountToken names."""
    written = await store.save_apple(
        connection,
        apple.account_token(notification),
        apple.transaction_record(notification),
        subscription,
    )
    if written is Written.NO_OWNER:
        return "ignored: unknown appAccountToken"
    return _OLDER if written is Written.OLDER else "applied"


class DeliveryRetention:
    """Forgets processed delivery ids once Stripe and Apple can no longer redeliver them."""

    def __init__(self, engine: AsyncEngine, keep: timedelta) -> None:
        self._engine = engine
        self._keep = keep

    async def run(self) -> int:
        async with self._engine.begin() as connection:
            return await store.forget_deliveries(connection, self._keep)

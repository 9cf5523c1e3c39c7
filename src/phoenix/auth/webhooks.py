"""Webhook endpoints for Stripe and the App Store. Each delivery is verified before anything is
read from it, applied in one transaction with its dedup row, and logged by type and outcome —
never with its payload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import msgspec
import stripe
from litestar import Request, post
from litestar.types import ControllerRouterHandler
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth import apple_notifications
from phoenix.auth.apple_notifications import AppleVerifier
from phoenix.auth.stripe_events import MalformedEvent, StripeEvents, decode_event
from phoenix.common.bodies import JSON_BODY_PROBLEMS, decode_json
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.logging import get_logger
from phoenix.common.openapi import json_body, problem_answers
from phoenix.common.problems import Problem

log = get_logger(__name__)

# Stripe's own limit for an event is far below this; Apple's three JWS with chains ~20 KB.
MAX_WEBHOOK_BYTES: Final = 256 * 1024
STRIPE_TOLERANCE_SECONDS: Final = 300


class Received(msgspec.Struct):
    outcome: str


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


class AppleNotification(msgspec.Struct, forbid_unknown_fields=False):
    signedPayload: str


class StripeDelivery(msgspec.Struct, forbid_unknown_fields=False):
    """What the document says of a Stripe delivery: an event object (its signature decides)."""

    id: str
    type: str


def _signature_failure(header: str | None, now: float) -> str:
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


def webhook_routes(
    engine: AsyncEngine,
    stripe_secret: str,
    stripe_events: StripeEvents,
    apple: AppleVerifier,
    now: Callable[[], datetime],
) -> list[ControllerRouterHandler]:
    @post(
        "/v1/webhooks/stripe",
        summary="Stripe webhook events",
        tags=["webhooks"],
        status_code=200,
        request_max_body_size=MAX_WEBHOOK_BYTES,
        operation_class=json_body(StripeDelivery, "A Stripe event, as Stripe signed it"),
        responses=problem_answers(
            BadSignature, MalformedWebhook, 413, WebhooksNotConfigured, DatabaseUnavailable
        ),
    )
    async def stripe_webhook(request: Request[Any, Any, Any]) -> Received:
        if not stripe_secret:
            raise WebhooksNotConfigured("PHOENIX_STRIPE_WEBHOOK_SECRET is not set")
        body = await request.body()
        try:
            stripe.Webhook.construct_event(
                body,
                request.headers.get("stripe-signature"),
                stripe_secret,
                tolerance=STRIPE_TOLERANCE_SECONDS,
            )
        except stripe.SignatureVerificationError:
            reason = _signature_failure(request.headers.get("stripe-signature"), time.time())
            log.warning("stripe_webhook_rejected", reason=reason)
            raise BadSignature(reason) from None
        except ValueError:
            log.warning("stripe_webhook_rejected", reason="body is not JSON")
            raise MalformedWebhook("the body is not JSON") from None
        try:
            event = decode_event(body)
            fetched = await stripe_events.prefetch(event)
            async with engine.begin() as connection:
                outcome = await stripe_events.apply(connection, event, fetched, now())
        except (MalformedEvent, msgspec.ValidationError) as error:
            log.warning("stripe_webhook_rejected", reason="unexpected shape", error=str(error))
            raise MalformedWebhook("the event lacks fields its type requires") from None
        log.info("stripe_webhook", event_type=event.type, event_id=event.id, outcome=outcome)
        return Received(outcome)

    @post(
        "/v1/webhooks/apple",
        summary="App Store Server Notifications V2",
        tags=["webhooks"],
        status_code=200,
        request_max_body_size=MAX_WEBHOOK_BYTES,
        operation_class=json_body(AppleNotification, "A notification, as the App Store signed it"),
        responses=problem_answers(
            *JSON_BODY_PROBLEMS,
            apple_notifications.UnverifiableNotification,
            apple_notifications.AppleNotConfigured,
            DatabaseUnavailable,
        ),
    )
    async def apple_webhook(request: Request[Any, Any, Any]) -> Received:
        body = await decode_json(request, AppleNotification)
        try:
            notification = await apple.verify(body.signedPayload)
        except apple_notifications.UnverifiableNotification as problem:
            log.warning("apple_notification_rejected", reason=problem.detail)
            raise
        async with engine.begin() as connection:
            outcome = await apple_notifications.apply(connection, notification)
        log.info(
            "apple_notification",
            notification_type=notification.type,
            subtype=notification.subtype,
            outcome=outcome,
        )
        return Received(outcome)

    return [stripe_webhook, apple_webhook]

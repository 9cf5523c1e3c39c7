"""Webhook endpoints for Stripe and the App Store: each hands the delivery as it came to the
billing service (phoenix.auth.billing.service), which verifies it before reading it."""

from __future__ import annotations

from typing import Any, Final

from litestar import Controller, Request, post
from litestar.di import NamedDependency

from phoenix.auth.billing.apple import AppleNotConfigured, UnverifiableNotification
from phoenix.auth.billing.service import (
    AppleWebhooks,
    BadSignature,
    MalformedWebhook,
    StripeWebhooks,
    WebhooksNotConfigured,
)
from phoenix.auth.schemas import AppleNotification, Received, StripeDelivery
from phoenix.common.bodies import JSON_BODY_PROBLEMS, decode_json
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import json_body, problem_answers

# Stripe's own limit for an event is far below this; Apple's three JWS with chains ~20 KB.
MAX_WEBHOOK_BYTES: Final = 256 * 1024


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post(
        "/stripe",
        summary="Stripe webhook events",
        status_code=200,
        request_max_body_size=MAX_WEBHOOK_BYTES,
        operation_class=json_body(StripeDelivery, "A Stripe event, as Stripe signed it"),
        responses=problem_answers(
            BadSignature, MalformedWebhook, 413, WebhooksNotConfigured, DatabaseUnavailable
        ),
    )
    async def stripe_webhook(
        self, request: Request[Any, Any, Any], stripe_webhooks: NamedDependency[StripeWebhooks]
    ) -> Received:
        stripe_webhooks.require_configured()
        body = await request.body()
        signature = request.headers.get("stripe-signature")
        return Received(await stripe_webhooks.receive(body, signature))

    @post(
        "/apple",
        summary="App Store Server Notifications V2",
        status_code=200,
        request_max_body_size=MAX_WEBHOOK_BYTES,
        operation_class=json_body(AppleNotification, "A notification, as the App Store signed it"),
        responses=problem_answers(
            *JSON_BODY_PROBLEMS,
            UnverifiableNotification,
            AppleNotConfigured,
            DatabaseUnavailable,
        ),
    )
    async def apple_webhook(
        self, request: Request[Any, Any, Any], apple_webhooks: NamedDependency[AppleWebhooks]
    ) -> Received:
        body = await decode_json(request, AppleNotification)
        return Received(await apple_webhooks.receive(body.signedPayload))

"""Stripe for tests: events signed exactly as Stripe signs them, and a stub of Stripe's API.

Stripe's API cannot be reached from here. `StripeStub` is the one stand-in of the billing
tests: a local HTTP server the SDK is pointed at (``PHOENIX_STRIPE_API_BASE``), which answers
the handful of calls the auth role makes and records each one so tests can assert on them.
Webhook signatures are real: HMAC-SHA256 over ``"{t}.{payload}"`` with the ``whsec_`` secret.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from tests.harness import local_http

WEBHOOK_SECRET = "whsec_phoenix_test_secret"
_ids = itertools.count(1)


def signature_header(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(
    event_type: str, obj: dict[str, Any], *, created: int | None = None, event_id: str = ""
) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{next(_ids):08d}_{time.time_ns()}",
            "object": "event",
            "type": event_type,
            "api_version": "2026-10-28.endive",
            "created": int(time.time()) if created is None else created,
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def decode(body: bytes) -> dict[str, Any]:
    """An event as ``event()`` made it."""
    decoded: dict[str, Any] = json.loads(body)
    return decoded


def subscription(
    subscription_id: str,
    customer: str,
    status: str = "active",
    *,
    period_start: int | None = None,
    days: int = 30,
    uid: str | None = None,
) -> dict[str, Any]:
    """A subscription object in the current API shape (periods on the items)."""
    start = int(time.time()) if period_start is None else period_start
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": False,
        "metadata": {"phoenix_uid": uid} if uid else {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_" + subscription_id,
                    "current_period_start": start,
                    "current_period_end": start + days * 86400,
                    "price": {"id": "price_monthly"},
                }
            ],
        },
    }


def checkout_session(uid: str, customer: str, subscription_id: str | None) -> dict[str, Any]:
    return {
        "id": f"cs_test_{next(_ids):08d}",
        "object": "checkout.session",
        "mode": "subscription",
        "client_reference_id": uid,
        "customer": customer,
        "subscription": subscription_id,
    }


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]


@dataclass
class StripeStub:
    """Records every call; answers customers, sessions, and subscriptions it was given."""

    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every event Stripe created, delivered or not: what GET /v1/events lists (newest first).
    events: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    failing: bool = False
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return local_http.url_of(self._server)

    def start(self) -> StripeStub:
        stub = self

        class Handler(local_http.JsonHandler):
            def _answer(self) -> None:
                body = self.body().decode()
                path, _, query = self.path.partition("?")
                params = dict(parse_qsl(body or query, keep_blank_values=True))
                stub.calls.append(Call(self.command, path, params))
                self.send_json(*stub.answer(self.command, path, params))

            do_GET = do_POST = do_DELETE = _answer

        self._server = local_http.serve(Handler)
        return self

    def stop(self) -> None:
        local_http.close(self._server)

    def created(self, body: bytes) -> bytes:
        """Keep an event (as ``event()`` makes it) among those Stripe lists; return it."""
        self.events.append(json.loads(body))
        return body

    def answer(self, method: str, path: str, params: dict[str, str]) -> tuple[int, Any]:
        if self.failing:
            return 500, {"error": {"type": "api_error", "message": "stub told to fail"}}
        parts = path.strip("/").split("/")
        if method == "GET" and path == "/v1/events":
            return 200, self._event_page(params)
        if method == "POST" and path == "/v1/customers":
            return 200, {"id": f"cus_{next(_ids):08d}", "object": "customer"}
        if method == "POST" and path == "/v1/checkout/sessions":
            session = f"cs_test_{next(_ids):08d}"
            return 200, {
                "id": session,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.test/c/pay/{session}",
            }
        if method == "POST" and path == "/v1/billing_portal/sessions":
            return 200, {
                "id": f"bps_{next(_ids):08d}",
                "object": "billing_portal.session",
                "url": f"https://billing.stripe.test/p/session/{next(_ids):08d}",
            }
        if len(parts) == 3 and parts[:2] == ["v1", "subscriptions"]:
            found = self.subscriptions.get(parts[2])
            if found is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": f"No such subscription: '{parts[2]}'",
                    }
                }
            if method == "DELETE":
                found = {**found, "status": "canceled"}
                self.subscriptions[parts[2]] = found
            return 200, found
        return 404, {"error": {"type": "invalid_request_error", "message": "not stubbed"}}

    def _event_page(self, params: dict[str, str]) -> dict[str, Any]:
        """As Stripe's List events: created[gt], types[], newest first, limit, starting_after."""
        after = int(params.get("created[gt]", "0"))
        types = {value for name, value in params.items() if name.startswith("types[")}
        listed = [
            event
            for event in reversed(self.events)  # newest first; same second: last created first
            if event["created"] > after and (not types or event["type"] in types)
        ]
        listed.sort(key=lambda event: -int(event["created"]))
        if "starting_after" in params:
            ids = [event["id"] for event in listed]
            listed = listed[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", "10"))
        return {
            "object": "list",
            "url": "/v1/events",
            "has_more": len(listed) > limit,
            "data": listed[:limit],
        }

    def made(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path == path]

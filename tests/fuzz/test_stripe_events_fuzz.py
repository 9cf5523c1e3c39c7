"""Stripe webhook payloads past the signature check: whatever the event and its object hold, the
decoding path the webhook runs (decode_event, the object's Struct, the stored row) ends in a row
or in one of the two errors the webhook maps to 400 — never in a 500."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from phoenix.auth.billing.stripe_events import (
    Charge,
    CheckoutSession,
    Invoice,
    MalformedEvent,
    StripeSubscriptionObject,
    decode_event,
    invoice_record,
    object_of,
    subscription_state,
)
from tests.fuzz.budget import FUZZ
from tests.fuzz.mutations import mutated
from tests.harness import stripe

DECLARED = (MalformedEvent, msgspec.ValidationError)  # what StripeWebhooks turns into a 400
NOW = datetime(2026, 11, 1, tzinfo=UTC)
OBJECTS: list[dict[str, Any]] = [
    stripe.subscription("sub_1", "cus_1", uid="u1"),
    stripe.checkout_session("u1", "cus_1", "sub_1"),
    {
        "id": "in_1", "customer": "cus_1", "status": "paid", "currency": "EUR", "created": 1,
        "amount_paid": 999, "parent": {"subscription_details": {"subscription": "sub_1"}},
        "lines": {"data": [{"period": {"start": 1, "end": 2}}]},
    },
    {"id": "ch_1", "customer": "cus_1", "invoice": "in_1", "amount_refunded": 999},
]  # fmt: skip
TIMESTAMP_FIELDS = ["created", "current_period_start", "current_period_end", "period_start",
                    "period_end", "start", "end"]  # fmt: skip
numbers = st.integers() | st.sampled_from([0, -1, 2**31, 2**53, 10**12, 10**18, -(10**12)])
values = numbers | st.none() | st.text(max_size=8) | st.booleans() | st.floats()


def replace_deep(obj: Any, draw: st.DrawFn) -> None:
    """Replace some fields, at any depth, with another value: most often a timestamp."""
    if isinstance(obj, dict):
        for key in list(obj):
            if isinstance(obj[key], dict | list):
                replace_deep(obj[key], draw)
            elif draw(st.integers(0, 3)) == 0:
                obj[key] = draw(numbers if key in TIMESTAMP_FIELDS else values)
    elif isinstance(obj, list):
        for item in obj:
            replace_deep(item, draw)


@st.composite
def events(draw: st.DrawFn) -> bytes:
    obj = json.loads(json.dumps(draw(st.sampled_from(OBJECTS))))
    replace_deep(obj, draw)
    body = json.loads(stripe.event("invoice.paid", obj))
    if draw(st.booleans()):
        body["created"] = draw(values)
    return json.dumps(body).encode()


def decode_and_store(body: bytes) -> None:
    """What StripeEvents does with a body: each object kind it may hold, into its stored row."""
    event = decode_event(body)
    for kind in (StripeSubscriptionObject, CheckoutSession, Invoice, Charge):
        try:
            obj = object_of(event, kind)
        except MalformedEvent:
            continue
        if isinstance(obj, StripeSubscriptionObject):
            subscription_state(obj, NOW, timedelta(days=3))
        elif isinstance(obj, Invoice):
            invoice_record(obj, NOW)


@FUZZ
@given(events() | mutated(events(), most=3))
@example(
    json.dumps(json.loads(stripe.event("x", {**OBJECTS[0], "current_period_end": 10**14}))).encode()
)
def test_any_signed_event_is_stored_or_refused_with_a_declared_error(body: bytes) -> None:
    with contextlib.suppress(DECLARED):
        decode_and_store(body)

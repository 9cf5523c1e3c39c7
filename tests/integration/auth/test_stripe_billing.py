"""Stripe billing against a running auth role, the real Postgres and the Firebase emulator.

Events are signed exactly as Stripe signs them. Stripe's API is the one stand-in: the
StripeStub (tests/harness/stripe.py) answers the SDK's calls and records them.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import pytest

from tests.harness import stripe as s
from tests.integration.auth.billing_world import BillingWorld, problem

pytestmark = pytest.mark.slow


def ids() -> tuple[str, str]:
    return f"sub_{uuid.uuid4().hex[:12]}", f"in_{uuid.uuid4().hex[:12]}"


def invoice(
    invoice_id: str,
    customer: str,
    subscription_id: str,
    status: str = "paid",
    amount: int = 999,
    payment_intent: str | None = None,
    created: int | None = None,
) -> dict[str, object]:
    now = int(time.time()) if created is None else created
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "status": status,
        "currency": "eur",
        "created": now,
        "amount_paid": amount if status == "paid" else 0,
        "amount_due": amount,
        "hosted_invoice_url": f"https://invoice.stripe.test/i/{invoice_id}",
        "payment_intent": payment_intent,
        "parent": {"subscription_details": {"subscription": subscription_id, "metadata": {}}},
        "lines": {"data": [{"period": {"start": now, "end": now + 30 * 86400}}]},
    }


async def test_checkout_creates_a_customer_for_the_caller_and_returns_stripes_url(
    billing: BillingWorld,
) -> None:
    person = await billing.person()
    answer = await billing.http.post("/v1/billing/checkout", headers=person.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"].startswith("https://checkout.stripe.test/")
    customers = [c for c in billing.stub.made("POST", "/v1/customers")]
    assert customers[-1].params["metadata[phoenix_uid]"] == person.uid
    session = billing.stub.made("POST", "/v1/checkout/sessions")[-1].params
    assert session["client_reference_id"] == person.uid
    assert session["mode"] == "subscription"
    assert session["subscription_data[metadata][phoenix_uid]"] == person.uid
    assert session["line_items[0][price]"] == "price_monthly"
    # A second checkout reuses the customer rather than making another.
    again = await billing.http.post("/v1/billing/checkout", headers=person.headers)
    assert again.status_code == 200
    assert (
        billing.stub.made("POST", "/v1/checkout/sessions")[-1].params["customer"]
        == (session["customer"])
    )
    assert len(billing.stub.made("POST", "/v1/customers")) == len(customers)


async def test_a_completed_checkout_opens_the_gate_and_shows_on_the_account(
    billing: BillingWorld,
) -> None:
    person = await billing.person()
    assert await billing.token_status(person) == 403
    subscription_id, _ = ids()
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    billing.stub.subscriptions[subscription_id] = s.subscription(subscription_id, customer)
    session = s.checkout_session(person.uid, customer, subscription_id)
    answer = await billing.stripe(s.event("checkout.session.completed", session))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": "linked"}
    account = await billing.account(person)
    assert account["entitlement"]["active"] is True
    assert account["entitlement"]["source"] == "stripe"
    assert account["entitlement"]["in_grace"] is False
    assert await billing.token_status(person) == 200
    portal = await billing.http.post("/v1/billing/portal", headers=person.headers)
    assert portal.status_code == 200
    assert portal.json()["url"].startswith("https://billing.stripe.test/")
    assert billing.stub.made("POST", "/v1/billing_portal/sessions")[-1].params["customer"] == (
        customer
    )


async def test_the_portal_needs_a_stripe_customer(billing: BillingWorld) -> None:
    person = await billing.person()
    problem(await billing.http.post("/v1/billing/portal", headers=person.headers), 409)


async def test_the_same_event_fifty_times_at_once_is_applied_once(billing: BillingWorld) -> None:
    person = await billing.person()
    customer = await billing.customer_for(person)
    subscription_id, invoice_id = ids()
    body = s.event("invoice.paid", invoice(invoice_id, customer, subscription_id))
    answers = await asyncio.gather(*(billing.stripe(body) for _ in range(50)))
    assert [a.status_code for a in answers] == [200] * 50
    outcomes = sorted(a.json()["outcome"] for a in answers)
    assert outcomes == ["applied"] + ["duplicate"] * 49
    event_id = json.loads(body)["id"]
    assert (
        await billing.scalar(
            "SELECT count(*) FROM processed_webhooks WHERE event_id = :id", id=event_id
        )
        == 1
    )
    assert (
        await billing.scalar(
            "SELECT count(*) FROM stripe_invoices WHERE invoice_id = :id", id=invoice_id
        )
        == 1
    )


async def test_subscription_events_in_reverse_order_end_in_the_newest_state(
    billing: BillingWorld,
) -> None:
    person = await billing.person()
    customer = await billing.customer_for(person)
    subscription_id, _ = ids()
    t0 = int(time.time()) - 3600
    created = s.event(
        "customer.subscription.created",
        s.subscription(subscription_id, customer, period_start=t0),
        created=t0,
    )
    renewed = s.event(
        "customer.subscription.updated",
        s.subscription(subscription_id, customer, period_start=t0, days=60),
        created=t0 + 60,
    )
    cancelled = s.event(
        "customer.subscription.deleted",
        s.subscription(subscription_id, customer, "canceled", period_start=t0, days=60),
        created=t0 + 120,
    )
    outcomes = []
    for body in (cancelled, renewed, created):
        answer = await billing.stripe(body)
        assert answer.status_code == 200, answer.text
        outcomes.append(answer.json()["outcome"])
    assert outcomes == ["applied", "ignored: older than stored state"] * 1 + [
        "ignored: older than stored state"
    ]
    assert (
        await billing.scalar(
            "SELECT status FROM stripe_subscriptions WHERE subscription_id = :id",
            id=subscription_id,
        )
        == "canceled"
    )
    assert (await billing.account(person))["entitlement"]["active"] is False
    assert await billing.token_status(person) == 403


async def test_a_renewal_delivered_before_the_creation_keeps_the_later_period(
    billing: BillingWorld,
) -> None:
    person = await billing.person()
    customer = await billing.customer_for(person)
    subscription_id, _ = ids()
    t0 = int(time.time()) - 40 * 86400
    first = s.subscription(subscription_id, customer, period_start=t0)  # lapsed by now
    second = s.subscription(subscription_id, customer, period_start=t0 + 30 * 86400)
    await billing.stripe(s.event("customer.subscription.updated", second, created=t0 + 30 * 86400))
    await billing.stripe(s.event("customer.subscription.created", first, created=t0))
    account = await billing.account(person)
    assert account["entitlement"]["active"] is True
    expires = account["entitlement"]["expires_at"]
    assert expires.startswith(time.strftime("%Y-%m-%d", time.gmtime(t0 + 60 * 86400)))


async def test_a_failed_renewal_leaves_the_user_in_grace(billing: BillingWorld) -> None:
    person = await billing.person()
    customer = await billing.customer_for(person)
    subscription_id, invoice_id = ids()
    start = int(time.time()) - 86400  # the new period began a day ago and was not paid
    past_due = s.subscription(subscription_id, customer, "past_due", period_start=start)
    await billing.stripe(s.event("customer.subscription.updated", past_due))
    failed = invoice(invoice_id, customer, subscription_id, status="open")
    assert (await billing.stripe(s.event("invoice.payment_failed", failed))).status_code == 200
    entitlement = (await billing.account(person))["entitlement"]
    assert entitlement["active"] is True
    assert entitlement["in_grace"] is True
    assert await billing.token_status(person) == 200


async def test_a_full_refund_of_the_paying_invoice_closes_the_gate(billing: BillingWorld) -> None:
    person = await billing.person()
    customer = await billing.customer_for(person)
    subscription_id, invoice_id = ids()
    now = int(time.time())
    await billing.stripe(
        s.event(
            "customer.subscription.created",
            s.subscription(subscription_id, customer, period_start=now),
            created=now - 5,
        )
    )
    paid = invoice(invoice_id, customer, subscription_id, payment_intent="pi_" + invoice_id)
    await billing.stripe(s.event("invoice.paid", paid, created=now - 4))
    assert await billing.token_status(person) == 200
    charge = {
        "id": "ch_" + invoice_id,
        "object": "charge",
        "customer": customer,
        "payment_intent": "pi_" + invoice_id,
        "amount": 999,
        "amount_refunded": 999,
        "refunded": True,
    }
    answer = await billing.stripe(s.event("charge.refunded", charge, created=now - 3))
    assert answer.json() == {"outcome": "applied"}
    assert (await billing.account(person))["entitlement"]["active"] is False
    assert await billing.token_status(person) == 403
    # An update of the same period, sent later, does not buy the refunded period back.
    await billing.stripe(
        s.event(
            "customer.subscription.updated",
            s.subscription(subscription_id, customer, period_start=now),
            created=now - 1,
        )
    )
    assert (await billing.account(person))["entitlement"]["active"] is False
    history = (await billing.http.get("/v1/account/invoices", headers=person.headers)).json()[
        "items"
    ]
    assert [(i["id"], i["status"]) for i in history] == [(invoice_id, "refunded")]


async def test_an_unhandled_event_type_is_acknowledged_and_changes_nothing(
    billing: BillingWorld,
) -> None:
    before = await billing.scalar("SELECT count(*) FROM processed_webhooks")
    body = s.event("customer.created", {"id": "cus_x", "object": "customer"})
    answer = await billing.stripe(body)
    assert answer.status_code == 200
    assert answer.json() == {"outcome": "ignored: unhandled type"}
    assert await billing.scalar("SELECT count(*) FROM processed_webhooks") == before


async def test_a_stripe_outage_during_checkout_is_retried_not_lost(billing: BillingWorld) -> None:
    person = await billing.person()
    subscription_id, _ = ids()
    customer = f"cus_{uuid.uuid4().hex[:12]}"
    billing.stub.subscriptions[subscription_id] = s.subscription(subscription_id, customer)
    session = s.checkout_session(person.uid, customer, subscription_id)
    body = s.event("checkout.session.completed", session)
    billing.stub.failing = True
    try:
        refused = await billing.stripe(body)
    finally:
        billing.stub.failing = False
    problem(refused, 503)
    assert (await billing.account(person))["entitlement"]["active"] is False
    # Stripe redelivers the same event; nothing was recorded, so it applies now.
    assert (await billing.stripe(body)).json() == {"outcome": "linked"}
    assert (await billing.account(person))["entitlement"]["active"] is True


MARKER = "payload-marker-7f3a"


def marked_event() -> bytes:
    return s.event(
        "customer.subscription.updated",
        s.subscription("sub_" + MARKER, "cus_" + MARKER, uid=MARKER),
    )


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("no signature header", 400, "no signature header"),
        ("signed with another secret", 400, "signature mismatch"),
        ("timestamp older than five minutes", 400, "stale timestamp"),
        ("body changed after signing", 400, "signature mismatch"),
        ("malformed signature header", 400, "malformed signature header"),
        ("signed bytes that are not JSON", 400, "body is not JSON"),
        ("a handled type without its fields", 400, "unexpected shape"),
        ("a body over 256 KiB", 413, None),
    ],
)
async def test_bad_stripe_deliveries_are_4xx_change_nothing_and_log_no_payload(
    billing: BillingWorld, case: str, status: int, reason: str | None
) -> None:
    body = marked_event()
    headers = {"stripe-signature": s.signature_header(body)}
    if case == "no signature header":
        headers = {}
    elif case == "signed with another secret":
        headers = {"stripe-signature": s.signature_header(body, "whsec_other")}
    elif case == "timestamp older than five minutes":
        headers = {"stripe-signature": s.signature_header(body, at=int(time.time()) - 301)}
    elif case == "body changed after signing":
        body = body.replace(b'"active"', b'"trialing"')
    elif case == "malformed signature header":
        headers = {"stripe-signature": "v1=" + MARKER}
    elif case == "signed bytes that are not JSON":
        body = b"{not json " + MARKER.encode()
        headers = {"stripe-signature": s.signature_header(body)}
    elif case == "a handled type without its fields":
        body = s.event("invoice.paid", {"id": "in_" + MARKER, "object": "invoice"})
        headers = {"stripe-signature": s.signature_header(body)}
    elif case == "a body over 256 KiB":
        body = json.dumps({"pad": MARKER * 14_000}).encode()  # 270 KB
        headers = {"stripe-signature": s.signature_header(body)}
    before = await billing.scalar("SELECT count(*) FROM processed_webhooks")
    answer = await billing.http.post("/v1/webhooks/stripe", content=body, headers=headers)
    problem(answer, status)
    assert await billing.scalar("SELECT count(*) FROM processed_webhooks") == before
    assert (
        await billing.scalar(
            "SELECT count(*) FROM stripe_subscriptions WHERE subscription_id = :id",
            id="sub_" + MARKER,
        )
        == 0
    )
    await asyncio.sleep(0.2)  # the server's log line is written after the response
    logs = billing.logs()
    assert MARKER not in logs
    if reason is not None:
        rejections = [
            json.loads(line)
            for line in logs.splitlines()
            if line.startswith("{") and "stripe_webhook_rejected" in line
        ]
        assert rejections[-1]["reason"] == reason


@pytest.mark.parametrize("field", ["current_period_end", "created"])
async def test_a_time_no_datetime_can_hold_is_a_400_and_changes_nothing(
    billing: BillingWorld, field: str
) -> None:
    """Found by tests/fuzz/test_stripe_events_fuzz.py: a ValueError out of datetime, so a 500."""
    person = await billing.person()
    customer = await billing.customer_for(person)
    subscription = s.subscription(f"sub_{uuid.uuid4().hex[:12]}", customer)
    if field == "created":
        body = s.event("customer.subscription.updated", subscription, created=10**14)
    else:
        subscription["items"]["data"][0][field] = 10**14
        body = s.event("customer.subscription.updated", subscription)
    problem(await billing.stripe(body), 400)
    assert (await billing.account(person))["entitlement"]["active"] is False
    # Nothing was recorded: a later event with a time that fits applies as usual.
    assert (
        await billing.stripe(
            s.event("customer.subscription.updated", s.subscription(subscription["id"], customer))
        )
    ).json() == {"outcome": "applied"}

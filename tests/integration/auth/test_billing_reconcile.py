"""Reconciliation with Stripe: what a lost webhook left behind is repaired from Stripe's own list
of events, through the webhooks' code path, against a running auth role and the real Postgres.
Stripe's API is the one stand-in (StripeStub, which lists the events a test says Stripe made);
events are shaped and signed as Stripe's.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from phoenix.worker.reconcile import BillingReconcile
from tests.harness import stripe as s
from tests.integration.auth.billing_world import ADMIN_TOKEN, BillingWorld, Person, problem
from tests.integration.auth.test_stripe_billing import ids, invoice

pytestmark = pytest.mark.slow

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
DAY = 86400


async def reconcile(billing: BillingWorld, **params: Any) -> dict[str, Any]:
    answer = await billing.http.post("/v1/admin/billing/reconcile", params=params, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    (stripe,) = answer.json()["sources"]
    assert stripe["source"] == "stripe"
    result: dict[str, Any] = stripe
    return result


async def subscribed(billing: BillingWorld, *, days_ago: int = 0) -> tuple[Person, str, str]:
    """A person whose subscription's creation was delivered: (person, customer, subscription)."""
    person = await billing.person()
    customer = await billing.customer_for(person)
    subscription_id, _ = ids()
    start = int(time.time()) - days_ago * DAY
    created = s.subscription(subscription_id, customer, period_start=start)
    # Made a minute before what a test does next (Stripe's times are whole seconds).
    event = s.event("customer.subscription.created", created, created=start - 60)
    body = billing.stub.created(event)
    assert (await billing.stripe(body)).json() == {"outcome": "applied"}
    return person, customer, subscription_id


async def cancelled_unheard(billing: BillingWorld) -> tuple[Person, bytes]:
    """A subscriber whose cancellation Stripe made (and lists) but never delivered."""
    person, customer, subscription_id = await subscribed(billing)
    ended = {**s.subscription(subscription_id, customer), "status": "canceled"}
    return person, billing.stub.created(s.event("customer.subscription.deleted", ended))


async def entitled(billing: BillingWorld, person: Person) -> bool:
    active: bool = (await billing.account(person))["entitlement"]["active"]
    return active


async def test_only_the_operator_reconciles(billing: BillingWorld) -> None:
    problem(await billing.http.post("/v1/admin/billing/reconcile"), 401)


async def test_a_missed_renewal_is_repaired_with_its_invoice(billing: BillingWorld) -> None:
    # Subscribed 31 days ago for 30: the period ran out, and Stripe's renewal never arrived.
    person, customer, subscription_id = await subscribed(billing, days_ago=31)
    assert not await entitled(billing, person)
    _, invoice_id = ids()
    renewed = s.subscription(subscription_id, customer, period_start=int(time.time()) - 60)
    billing.stub.created(s.event("invoice.paid", invoice(invoice_id, customer, subscription_id)))
    billing.stub.created(s.event("customer.subscription.updated", renewed))

    report = await reconcile(billing)

    assert report["repairs"]["invoice.paid"] >= 1
    assert report["repairs"]["customer.subscription.updated"] >= 1
    assert await entitled(billing, person)
    payments = await billing.http.get("/v1/account/invoices", headers=person.headers)
    assert invoice_id in payments.text


async def test_a_missed_cancellation_is_repaired(billing: BillingWorld) -> None:
    person, _ = await cancelled_unheard(billing)
    assert await entitled(billing, person)  # the cancellation never arrived

    report = await reconcile(billing)

    assert report["repairs"].get("customer.subscription.deleted", 0) >= 1
    assert not await entitled(billing, person)


async def test_running_twice_changes_nothing_the_second_time(billing: BillingWorld) -> None:
    person, _ = await cancelled_unheard(billing)
    await reconcile(billing)
    before = await billing.account(person)
    again = await reconcile(billing)
    assert again["repairs"] == {}
    assert again["seen"] >= 2  # it read them all again (the overlap), and applied none
    assert await billing.account(person) == before


async def test_an_event_delivered_while_reconciliation_applies_it_lands_once(
    billing: BillingWorld,
) -> None:
    person, body = await cancelled_unheard(billing)
    delivered, report = await asyncio.gather(billing.stripe(body), reconcile(billing))
    repaired = report["repairs"].get("customer.subscription.deleted")
    outcomes = {delivered.json()["outcome"], "applied" if repaired else "duplicate"}
    assert outcomes == {"applied", "duplicate"}  # one of the two applied it, the other saw it
    assert not await entitled(billing, person)
    assert (
        await billing.scalar(
            "SELECT count(*) FROM processed_webhooks WHERE event_id = :id",
            id=s.decode(body)["id"],
        )
        == 1
    )


async def test_a_lost_older_event_does_not_undo_a_newer_delivered_one(
    billing: BillingWorld,
) -> None:
    """Whichever lands first, the state is the one the later event leaves."""
    person, customer, subscription_id = await subscribed(billing)
    now = int(time.time())
    past_due = s.subscription(subscription_id, customer, "past_due", period_start=now - DAY)
    older = s.event("customer.subscription.updated", past_due, created=now - 60)
    ended = {**s.subscription(subscription_id, customer), "status": "canceled"}
    newer = billing.stub.created(s.event("customer.subscription.deleted", ended, created=now))
    billing.stub.created(older)  # lost; Stripe lists it
    assert (await billing.stripe(newer)).json() == {"outcome": "applied"}
    report = await reconcile(billing)
    assert "customer.subscription.updated" not in report["repairs"]  # older than what is stored
    assert not await entitled(billing, person)


async def test_a_stripe_outage_changes_nothing_and_the_next_run_repairs(
    billing: BillingWorld,
) -> None:
    person, _ = await cancelled_unheard(billing)
    billing.stub.failing = True
    try:
        answer = await billing.http.post("/v1/admin/billing/reconcile", headers=ADMIN)
    finally:
        billing.stub.failing = False
    problem(answer, 503)
    assert answer.headers["retry-after"]
    assert await entitled(billing, person)  # nothing changed
    report = await reconcile(billing)  # the retry
    assert report["repairs"].get("customer.subscription.deleted", 0) >= 1
    assert not await entitled(billing, person)


async def test_a_dry_run_reports_what_would_change_and_changes_nothing(
    billing: BillingWorld,
) -> None:
    person, body = await cancelled_unheard(billing)
    cursor = await billing.scalar(
        "SELECT reconciled_through FROM billing_reconciliations WHERE source = 'stripe'"
    )
    report = await reconcile(billing, dry_run="true")
    assert report["dry_run"] is True
    assert report["repairs"].get("customer.subscription.deleted", 0) >= 1
    assert await entitled(billing, person)
    assert (
        await billing.scalar(
            "SELECT count(*) FROM processed_webhooks WHERE event_id = :id", id=s.decode(body)["id"]
        )
        == 0
    )
    assert (
        await billing.scalar(
            "SELECT reconciled_through FROM billing_reconciliations WHERE source = 'stripe'"
        )
        == cursor
    )
    assert (await reconcile(billing))["repairs"].get("customer.subscription.deleted", 0) >= 1


async def test_a_deleted_account_stays_deleted(billing: BillingWorld) -> None:
    person = await billing.person()
    await billing.account(person)
    customer = f"cus_{uuid.uuid4().hex[:14]}"
    subscription_id, _ = ids()
    # Its checkout and subscription were never delivered; then the user deleted the account.
    billing.stub.subscriptions[subscription_id] = s.subscription(subscription_id, customer)
    session = s.checkout_session(person.uid, customer, subscription_id)
    billing.stub.created(s.event("checkout.session.completed", session))
    live = s.subscription(subscription_id, customer, uid=person.uid)
    billing.stub.created(s.event("customer.subscription.created", live))
    deleted = await billing.http.delete("/v1/account", headers=person.headers)
    assert deleted.status_code == 204, deleted.text

    report = await reconcile(billing)

    assert "checkout.session.completed" not in report["repairs"]
    assert "customer.subscription.created" not in report["repairs"]
    assert await billing.scalar("SELECT count(*) FROM users WHERE uid = :uid", uid=person.uid) == 0


async def test_each_repair_is_counted_and_logged_by_kind_never_by_user(
    billing: BillingWorld,
) -> None:
    person, body = await cancelled_unheard(billing)
    ended = s.decode(body)["data"]["object"]
    await reconcile(billing)
    repairs = [line for line in billing.logs().splitlines() if '"billing_repair"' in line]
    assert any("customer.subscription.deleted" in line for line in repairs)
    for line in repairs:
        for secret in (person.uid, ended["customer"], ended["id"], person.user.email):
            assert secret not in line
    metrics = await billing.metrics()
    repaired = 'phoenix_auth_billing_repairs_total{kind="customer.subscription.deleted",source='
    assert repaired + '"stripe"}' in metrics
    assert 'phoenix_auth_billing_reconcile_runs_total{outcome="ok",source="stripe"}' in metrics


def phoenix(billing: BillingWorld, *args: str) -> subprocess.CompletedProcess[str]:
    """`phoenix billing reconcile ...` with the running role's settings."""
    return subprocess.run(
        [sys.executable, "-m", "phoenix", "billing", "reconcile", *args],
        env=billing.server.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_command_prints_what_a_dry_run_would_repair_then_repairs_it(
    billing: BillingWorld,
) -> None:
    person, _ = await cancelled_unheard(billing)
    dry = await asyncio.to_thread(phoenix, billing, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    (report,) = json.loads(dry.stdout)["sources"]
    assert report["dry_run"] is True
    assert report["repairs"].get("customer.subscription.deleted", 0) >= 1
    assert await entitled(billing, person)
    done = await asyncio.to_thread(phoenix, billing)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sources"][0]["repairs"]
    assert not await entitled(billing, person)


async def test_the_command_fails_and_changes_nothing_while_stripe_is_down(
    billing: BillingWorld,
) -> None:
    person, _ = await cancelled_unheard(billing)
    billing.stub.failing = True
    try:
        down = await asyncio.to_thread(phoenix, billing)
    finally:
        billing.stub.failing = False
    assert down.returncode == 1
    assert "nothing changed" in down.stderr
    assert "Traceback" not in down.stderr
    assert await entitled(billing, person)
    naive = await asyncio.to_thread(phoenix, billing, "--since", "2026-12-01T00:00:00")
    assert naive.returncode == 2
    assert "time zone" in naive.stderr


async def test_the_worker_s_job_repairs_and_fails_for_a_retry_while_stripe_is_down(
    billing: BillingWorld,
) -> None:
    """The schedule's job calls the auth role's endpoint; a failure raises, so Dramatiq retries."""
    person, _ = await cancelled_unheard(billing)
    with httpx.Client(timeout=30) as http:
        job = BillingReconcile(http, billing.server.base_url, ADMIN_TOKEN)
        billing.stub.failing = True
        try:
            with pytest.raises(httpx.HTTPStatusError):
                await asyncio.to_thread(job.run)
        finally:
            billing.stub.failing = False
        assert await entitled(billing, person)
        result = await asyncio.to_thread(job.run)
    assert result["sources"][0]["repairs"]  # type: ignore[index]
    assert not await entitled(billing, person)


async def test_a_run_from_a_later_time_leaves_the_cursor_where_it_was(
    billing: BillingWorld,
) -> None:
    """What lies between the last run and a later --since is still read by the next run."""
    await reconcile(billing)
    query = "SELECT reconciled_through FROM billing_reconciliations WHERE source = 'stripe'"
    cursor = await billing.scalar(query)
    await asyncio.sleep(1)
    await reconcile(billing, since=datetime.now(UTC).isoformat())
    assert await billing.scalar(query) == cursor
    await reconcile(billing, since=(cursor - timedelta(days=1)).isoformat())
    assert await billing.scalar(query) > cursor  # one reading from earlier moves it


async def test_an_event_the_webhook_would_refuse_is_skipped_and_leaves_no_trace(
    billing: BillingWorld,
) -> None:
    """As its delivery would be a 400 that records nothing, so is its replay: counted as
    unreadable, and no dedup row that would make a later, readable copy a duplicate."""
    person, customer, subscription_id = await subscribed(billing)
    ended = {**s.subscription(subscription_id, customer), "status": "canceled"}
    period = ended["items"]["data"][0]
    period["current_period_end"] = 10**14  # a time no datetime can hold
    body = billing.stub.created(s.event("customer.subscription.deleted", ended))
    report = await reconcile(billing)
    assert report["unreadable"] >= 1
    assert await entitled(billing, person)
    rows = "SELECT count(*) FROM processed_webhooks WHERE event_id = :id"
    assert await billing.scalar(rows, id=s.decode(body)["id"]) == 0


@pytest.mark.parametrize("since", ["0.5", "yesterday", "2026-12-01T00:00:00"])
async def test_a_since_that_is_not_an_rfc_3339_time_with_an_offset_is_a_400(
    billing: BillingWorld, since: str
) -> None:
    answer = await billing.http.post(
        "/v1/admin/billing/reconcile", params={"since": since}, headers=ADMIN
    )
    assert problem(answer, 400)["type"].endswith("/invalid-since")

"""Faults with a Postgres of the test's own: UserDB restarted while webhooks are delivered.

Stripe and the App Store redeliver a webhook until it is answered 2xx, so the promise is: a
delivery answered 2xx is recorded, one that could not be recorded is answered 5xx (here 503),
and a redelivery of anything is applied at most once. The auth role runs as a process on the
private cluster of ``test_postgres_faults`` (its fixtures, imported), signed Stripe events and
Apple notifications are sent concurrently while the cluster is stopped (``-m fast``) and
started again, then every one is redelivered.

Shown failing once with a planted bug: the Stripe route answering ``Received("applied")`` on a
database error (a 2xx with nothing recorded): the redelivery of 22 events "acknowledged"
during the outage then answered "applied" instead of "duplicate".
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest

from tests.harness import stripe as s
from tests.harness.postgres import PrivatePostgres
from tests.integration.auth.billing_world import BillingWorld, Person
from tests.integration.hardening.test_postgres_faults import postgres_url, private_postgres

__all__ = ["postgres_url", "private_postgres"]

pytestmark = pytest.mark.slow

PEOPLE = 4
STRIPE_PER_PERSON = 12
APPLE_PER_PERSON = 4


@dataclass(frozen=True)
class Delivery:
    """One webhook as its sender keeps it: sent again, byte for byte, until answered 2xx."""

    source: str  # "stripe" | "apple"
    event_id: str
    body: bytes  # a Stripe event, or an Apple signedPayload
    amount: int = 0

    async def send(self, billing: BillingWorld) -> httpx.Response:
        if self.source == "stripe":
            return await billing.stripe(self.body)
        return await billing.apple_post(self.body.decode())


def stripe_invoice(customer: str, amount: int) -> Delivery:
    invoice_id = f"in_{uuid.uuid4().hex[:12]}"
    now = int(time.time())
    invoice = {
        "id": invoice_id,
        "object": "invoice",
        "customer": customer,
        "status": "paid",
        "currency": "eur",
        "created": now,
        "amount_paid": amount,
        "amount_due": amount,
        "parent": {"subscription_details": {"subscription": "sub_fault", "metadata": {}}},
        "lines": {"data": [{"period": {"start": now, "end": now + 30 * 86400}}]},
    }
    body = s.event("invoice.paid", invoice)
    return Delivery("stripe", json.loads(body)["id"], body, amount)


async def deliveries(billing: BillingWorld) -> tuple[list[Person], list[Delivery]]:
    """People with a Stripe customer and an App Store account token, and their webhooks."""
    people, made = [], []
    for n in range(PEOPLE):
        person = await billing.person()
        people.append(person)
        customer = await billing.customer_for(person)
        made += [stripe_invoice(customer, 100 * n + k + 1) for k in range(STRIPE_PER_PERSON)]
        token = (await billing.account(person))["app_account_token"]
        for _ in range(APPLE_PER_PERSON):
            notification_id = str(uuid.uuid4())
            transaction = billing.apple.transaction(
                token, original_transaction_id=f"9{uuid.uuid4().int % 10**14:014d}"
            )
            payload = billing.apple.notification(
                "SUBSCRIBED", transaction, notification_uuid=notification_id
            )
            made.append(Delivery("apple", notification_id, payload.encode()))
    return people, made


async def test_postgres_restarted_during_webhooks_records_every_2xx_and_applies_each_once(
    billing: BillingWorld, private_postgres: PrivatePostgres
) -> None:
    people, everything = await deliveries(billing)
    uids = [person.uid for person in people]
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in everything:
        queue.put_nowait(delivery)
    first: dict[str, int] = {}

    async def deliver() -> None:
        while not queue.empty():
            delivery = queue.get_nowait()
            answer = await delivery.send(billing)
            first[delivery.event_id] = answer.status_code
            if answer.status_code == 200:
                assert answer.json() == {"outcome": "applied"}, answer.text
            await asyncio.sleep(0.15)

    await asyncio.gather(private_postgres.restart_later(0.6, 1.0), *(deliver() for _ in range(4)))
    statuses = Counter(first.values())
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[503] > 0, f"the restart met no delivery: {statuses}"
    assert statuses[200] > 0, statuses

    # The senders redeliver everything (Stripe and Apple do so for a 5xx; here even the 2xx).
    again = await asyncio.gather(*(d.send(billing) for d in everything))
    acknowledged_twice = []
    for delivery, answer in zip(everything, again, strict=True):
        assert answer.status_code == 200, answer.text
        outcome = answer.json()["outcome"]
        assert outcome in ("applied", "duplicate"), outcome
        if first[delivery.event_id] == 200 and outcome != "duplicate":
            acknowledged_twice.append(delivery.event_id)
    assert acknowledged_twice == [], "answered 2xx during the outage with nothing recorded"

    await billing.userdb.dispose()  # the test's own pooled sessions died with the old server
    for source in ("stripe", "apple"):
        ids = [d.event_id for d in everything if d.source == source]
        recorded = await billing.scalar(
            "SELECT count(*) FROM processed_webhooks WHERE source = :source"
            " AND event_id = ANY(:ids)",
            source=source,
            ids=ids,
        )
        assert recorded == len(ids), source
    invoices = "FROM stripe_invoices WHERE uid = ANY(:uids)"
    stripe_sent = [d for d in everything if d.source == "stripe"]
    assert await billing.scalar("SELECT count(*) " + invoices, uids=uids) == len(stripe_sent)
    paid = await billing.scalar("SELECT sum(amount_minor) " + invoices, uids=uids)
    assert paid == sum(d.amount for d in stripe_sent)
    transactions = await billing.scalar(
        "SELECT count(*) FROM apple_transactions WHERE uid = ANY(:uids)", uids=uids
    )
    assert transactions == PEOPLE * APPLE_PER_PERSON
    subscriptions = await billing.scalar(
        "SELECT count(*) FROM apple_subscriptions WHERE uid = ANY(:uids)", uids=uids
    )
    assert subscriptions == PEOPLE * APPLE_PER_PERSON
    for person in people:  # the state each account shows: paid, through both stores
        assert (await billing.account(person))["entitlement"]["active"] is True

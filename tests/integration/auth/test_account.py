"""The account endpoints: what a user sees of themselves, their payments, and leaving for good."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from phoenix.auth.account import Accounts
from phoenix.auth.billing.stripe_api import StripeBilling
from tests.harness import stripe as s
from tests.harness.firebase import EmulatorError
from tests.integration.auth.billing_world import BillingWorld, Person, problem

pytestmark = pytest.mark.slow


async def test_the_account_names_the_caller_and_a_stable_app_account_token(
    billing: BillingWorld,
) -> None:
    person = await billing.person()
    first = await billing.account(person)
    assert first["uid"] == person.uid
    assert first["email"] == person.user.email
    assert first["entitlement"] == {
        "active": False,
        "source": None,
        "expires_at": None,
        "in_grace": False,
    }
    assert first["quota"]["remaining"] == first["quota"]["limit"] > 0
    assert uuid.UUID(first["app_account_token"])
    assert (await billing.account(person))["app_account_token"] == first["app_account_token"]
    other = await billing.account(await billing.person())
    assert other["app_account_token"] != first["app_account_token"]


async def test_the_account_needs_a_valid_id_token(billing: BillingWorld) -> None:
    problem(await billing.http.get("/v1/account"), 401)
    problem(await billing.http.get("/v1/account", headers={"authorization": "Bearer x.y.z"}), 401)
    problem(await billing.http.delete("/v1/account"), 401)


async def paid_invoices(
    billing: BillingWorld, person: Person, count: int, start: int, customer: str | None = None
) -> list[str]:
    customer = customer or await billing.customer_for(person)
    made = []
    for n in range(count):
        invoice_id = f"in_{uuid.uuid4().hex[:10]}"
        created = start + n * 10
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer,
            "status": "paid",
            "currency": "usd",
            "created": created,
            "amount_paid": 500 + n,
            "amount_due": 500 + n,
            "hosted_invoice_url": f"https://invoice.stripe.test/{invoice_id}",
            "subscription": "sub_history",
            "period_start": created,
            "period_end": created + 86400,
        }
        answer = await billing.stripe(s.event("invoice.paid", invoice, created=created))
        assert answer.json() == {"outcome": "applied"}
        made.append(invoice_id)
    return made


async def apple_purchases(
    billing: BillingWorld, person: Person, count: int, start: int
) -> list[str]:
    token = (await billing.account(person))["app_account_token"]
    made = []
    for n in range(count):
        transaction = billing.apple.transaction(
            token,
            original_transaction_id=f"9{uuid.uuid4().int % 10**14:014d}",
            purchaseDate=(start + n * 10 + 5) * 1000,
        )
        answer = await billing.apple_post(billing.apple.notification("SUBSCRIBED", transaction))
        assert answer.json() == {"outcome": "applied"}
        made.append(transaction["transactionId"])
    return made


async def all_pages(billing: BillingWorld, person: Person, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = (
            await billing.http.get("/v1/account/invoices", params=params, headers=person.headers)
        ).json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


async def test_payment_history_is_newest_first_paged_and_only_ones_own(
    billing: BillingWorld,
) -> None:
    alice, bob = await billing.person(), await billing.person()
    start = int(time.time()) - 10_000
    stripe_ids = await paid_invoices(billing, alice, 3, start)
    apple_ids = await apple_purchases(billing, alice, 3, start)
    bobs = await paid_invoices(billing, bob, 2, start)
    expected = [x for pair in zip(apple_ids, stripe_ids, strict=True) for x in pair[::-1]]
    expected.reverse()  # newest first: apple n is 5 s after stripe n
    for limit in (1, 2, 4, 100):
        items = await all_pages(billing, alice, limit)
        assert [i["id"] for i in items] == expected, limit
    assert {i["id"] for i in await all_pages(billing, bob, 10)} == set(bobs)
    first = (await all_pages(billing, alice, 100))[-1]
    assert first == {
        "kind": "stripe_invoice",
        "id": stripe_ids[0],
        "status": "paid",
        "amount": 500,
        "currency": "usd",
        "period_start": first["period_start"],
        "period_end": first["period_end"],
        "hosted_invoice_url": f"https://invoice.stripe.test/{stripe_ids[0]}",
        "created_at": first["created_at"],
    }


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WzEsMiwzXQ", "!!"])
async def test_a_forged_cursor_is_400(billing: BillingWorld, cursor: str) -> None:
    person = await billing.person()
    answer = await billing.http.get(
        "/v1/account/invoices", params={"cursor": cursor}, headers=person.headers
    )
    problem(answer, 400)


async def test_a_limit_out_of_range_is_400(billing: BillingWorld) -> None:
    person = await billing.person()
    for limit in ("0", "101", "x"):
        answer = await billing.http.get(
            "/v1/account/invoices", params={"limit": limit}, headers=person.headers
        )
        problem(answer, 400)


async def every_value(billing: BillingWorld) -> list[tuple[str, str, str]]:
    """Every (table, column, value as text) in UserDB."""
    found = []
    async with billing.userdb.connect() as connection:
        columns = (
            await connection.execute(
                text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            )
        ).all()
        for table, column in columns:
            values = await connection.execute(
                text(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            )
            found += [(table, column, value) for (value,) in values]
    return found


async def test_deleting_the_account_cancels_forgets_and_removes_the_firebase_user(
    billing: BillingWorld,
) -> None:
    person = await billing.person()
    token = (await billing.account(person))["app_account_token"]
    customer = await billing.customer_for(person)
    subscription_id = f"sub_{uuid.uuid4().hex[:12]}"
    live = s.subscription(subscription_id, customer)
    billing.stub.subscriptions[subscription_id] = live
    await billing.stripe(s.event("customer.subscription.created", live))
    await paid_invoices(billing, person, 1, int(time.time()), customer)
    await apple_purchases(billing, person, 1, int(time.time()))
    assert (await billing.account(person))["entitlement"]["active"] is True
    identifiers = {person.uid, person.user.email, customer, token}
    assert {value for _, _, value in await every_value(billing)} & identifiers == identifiers

    # Stripe down: nothing is deleted, so the user can simply try again.
    billing.stub.failing = True
    try:
        problem(await billing.http.delete("/v1/account", headers=person.headers), 503)
    finally:
        billing.stub.failing = False
    assert (await billing.account(person))["entitlement"]["active"] is True

    answer = await billing.http.delete("/v1/account", headers=person.headers)
    assert answer.status_code == 204, answer.text
    assert [c.path for c in billing.stub.made("DELETE", f"/v1/subscriptions/{subscription_id}")]
    with pytest.raises(EmulatorError):
        await asyncio.to_thread(billing.emulator.get_user, person.uid)
    left = [row for row in await every_value(billing) if row[2] in identifiers]
    assert left == []
    # The account is gone: its ID token no longer works, and nothing is recreated.
    problem(await billing.http.delete("/v1/account", headers=person.headers), 401)
    # Stripe's own follow-up event about the cancelled subscription finds no one to update.
    late = s.event("customer.subscription.deleted", {**live, "status": "canceled"})
    assert (await billing.stripe(late)).json() == {"outcome": "ignored: unknown customer"}
    # Nor a checkout completed before the deletion whose event comes only now (a delivery
    # retried late, or a reconciliation replaying it): it does not bring the account back.
    checkout = s.event("checkout.session.completed", s.checkout_session(person.uid, customer, None))
    assert (await billing.stripe(checkout)).json() == {"outcome": "ignored: unknown user"}
    assert [row for row in await every_value(billing) if row[2] in identifiers] == []


async def test_deleting_an_account_twice_at_the_store_level_is_harmless(
    billing: BillingWorld,
) -> None:
    """Idempotence where a retry can happen: the Firebase deletion failing after the rows went."""
    person = await billing.person()
    await billing.account(person)
    deleted: list[str] = []

    class Directory:
        async def verify(self, id_token: str) -> Any:
            raise NotImplementedError

        async def delete_user(self, uid: str) -> None:
            deleted.append(uid)

        def close(self) -> None:
            pass

    no_stripe = SimpleNamespace(stripe_secret_key="")  # nothing to cancel for this user
    accounts = Accounts(
        billing.userdb,
        StripeBilling(no_stripe),  # type: ignore[arg-type]
        Directory(),
        quota_limit=1,
        now=lambda: datetime.now(UTC),
    )
    for _ in range(2):
        await accounts.delete(person.uid)
    assert deleted == [person.uid, person.uid]
    assert await billing.scalar("SELECT count(*) FROM users WHERE uid = :uid", uid=person.uid) == 0

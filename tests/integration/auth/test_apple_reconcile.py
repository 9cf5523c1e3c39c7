"""Reconciliation with the App Store: a notification Apple sent that never arrived, and a renewal
Apple never notified, are repaired from the App Store Server API — through the notifications'
own code path — against a running auth role and the real Postgres. The API is a fake
(tests/harness/app_store_api.py) whose answers the test's Apple chain signs, and which checks
the role's ES256 credential as Apple does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from tests.harness.app_store_api import ISSUER_ID, KEY_ID, AppStoreApiStub, Subscription
from tests.harness.apple import AppleChain
from tests.integration.auth.billing_world import ADMIN_TOKEN, BillingWorld, Person, problem
from tests.integration.auth.test_apple_notifications import send, subscriber

pytestmark = pytest.mark.slow

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def app_store(apple_chain: AppleChain) -> Iterator[AppStoreApiStub]:
    stub = AppStoreApiStub(apple_chain, page_size=2).start()  # pages of two: paging is exercised
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def billing_extra_env(app_store: AppStoreApiStub) -> dict[str, str]:
    return {
        "PHOENIX_APPLE_API_KEY": app_store.key_pem,
        "PHOENIX_APPLE_API_KEY_ID": KEY_ID,
        "PHOENIX_APPLE_API_ISSUER_ID": ISSUER_ID,
        "PHOENIX_APPLE_API_BASE": app_store.url,
    }


async def reconcile(billing: BillingWorld, **params: Any) -> dict[str, Any]:
    answer = await billing.http.post("/v1/admin/billing/reconcile", params=params, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    (apple,) = [s for s in answer.json()["sources"] if s["source"] == "apple"]
    result: dict[str, Any] = apple
    return result


async def entitled(billing: BillingWorld, person: Person) -> bool:
    active: bool = (await billing.account(person))["entitlement"]["active"]
    return active


async def lapsed_subscriber(billing: BillingWorld) -> tuple[Person, str, str]:
    """A subscriber whose paid period ended yesterday, as the last delivered notification said."""
    person, token, original = await subscriber(billing)
    apple = billing.apple
    lapsed = apple.transaction(token, original_transaction_id=original, expires_in_days=-1)
    assert await send(billing, apple.notification("SUBSCRIBED", lapsed)) == "applied"
    assert not await entitled(billing, person)
    return person, token, original


async def test_a_notification_apple_sent_that_never_arrived_is_repaired(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    transaction = apple.transaction(token, original_transaction_id=original)
    app_store.sent(apple.notification("SUBSCRIBED", transaction))
    assert not await entitled(billing, person)

    report = await reconcile(billing)

    assert report["repairs"].get("SUBSCRIBED", 0) >= 1
    assert await entitled(billing, person)


async def test_a_renewal_apple_never_notified_is_repaired_from_its_status(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await lapsed_subscriber(billing)
    renewed = billing.apple.transaction(
        token, original_transaction_id=original, transaction_id="3000000000000777"
    )
    app_store.subscriptions[original] = Subscription(1, renewed, billing.apple.renewal(original))

    report = await reconcile(billing)

    assert report["repairs"].get("status_active", 0) >= 1
    assert await entitled(billing, person)
    invoices = await billing.http.get("/v1/account/invoices", headers=person.headers)
    assert "3000000000000777" in invoices.text  # the renewal's transaction is in the history
    again = await reconcile(billing)
    assert "status_active" not in again["repairs"]  # it says what is stored now


async def test_an_expiry_apple_never_notified_is_repaired(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    # Paid until later today; Apple ended it (the renewal failed) and never said so.
    live = apple.transaction(token, original_transaction_id=original, expires_in_days=0.5)
    assert await send(billing, apple.notification("SUBSCRIBED", live)) == "applied"
    ended = apple.transaction(token, original_transaction_id=original, expires_in_days=-1)
    app_store.subscriptions[original] = Subscription(2, ended, apple.renewal(original))
    assert await entitled(billing, person)

    assert (await reconcile(billing))["repairs"].get("status_expired", 0) >= 1
    assert not await entitled(billing, person)


async def test_a_status_apple_did_not_sign_is_not_applied(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await lapsed_subscriber(billing)
    # Signed by the right chain, but for another app: the role's verifier refuses it.
    forged = billing.apple.transaction(
        token, original_transaction_id=original, bundleId="com.example.other"
    )
    app_store.subscriptions[original] = Subscription(1, forged)

    report = await reconcile(billing)

    assert report["unreadable"] >= 1
    assert not await entitled(billing, person)
    del app_store.subscriptions[original]


async def test_an_app_store_outage_changes_nothing_and_the_next_run_repairs(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await lapsed_subscriber(billing)
    renewed = billing.apple.transaction(token, original_transaction_id=original)
    app_store.subscriptions[original] = Subscription(1, renewed)
    app_store.failing = True
    try:
        answer = await billing.http.post("/v1/admin/billing/reconcile", headers=ADMIN)
    finally:
        app_store.failing = False
    problem(answer, 503)
    assert not await entitled(billing, person)
    assert (await reconcile(billing))["repairs"].get("status_active", 0) >= 1
    assert await entitled(billing, person)


async def test_a_dry_run_reports_the_renewal_and_changes_nothing(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await lapsed_subscriber(billing)
    renewed = billing.apple.transaction(token, original_transaction_id=original)
    app_store.subscriptions[original] = Subscription(1, renewed)
    report = await reconcile(billing, dry_run="true")
    assert report["repairs"].get("status_active", 0) >= 1
    assert not await entitled(billing, person)


async def test_a_notification_for_a_deleted_account_stays_unapplied(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    transaction = apple.transaction(token, original_transaction_id=original)
    app_store.sent(apple.notification("SUBSCRIBED", transaction))  # never arrived
    deleted = await billing.http.delete("/v1/account", headers=person.headers)
    assert deleted.status_code == 204, deleted.text

    report = await reconcile(billing)

    assert "SUBSCRIBED" not in report["repairs"]  # its appAccountToken names no one now
    assert await billing.scalar("SELECT count(*) FROM users WHERE uid = :uid", uid=person.uid) == 0
    assert original not in [c.rsplit("/", 1)[-1] for c in app_store.calls]  # never asked about


async def test_the_role_s_requests_carry_its_in_app_purchase_key(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    """The fake refuses any other credential (401): these calls were made and answered."""
    app_store.calls.clear()
    await reconcile(billing)
    assert "POST /inApps/v1/notifications/history" in app_store.calls
    assert not app_store.authorized("Bearer " + "x" * 20)


async def test_a_notification_delivered_while_reconciliation_applies_it_lands_once(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    transaction = apple.transaction(token, original_transaction_id=original)
    payload = app_store.sent(apple.notification("SUBSCRIBED", transaction))
    delivered, report = await asyncio.gather(billing.apple_post(payload), reconcile(billing))
    repaired = "applied" if report["repairs"].get("SUBSCRIBED") else "duplicate"
    assert {delivered.json()["outcome"], repaired} == {"applied", "duplicate"}
    assert await entitled(billing, person)
    uuid = jwt.decode(payload, options={"verify_signature": False})["notificationUUID"]
    rows = "SELECT count(*) FROM processed_webhooks WHERE event_id = :id"
    assert await billing.scalar(rows, id=uuid) == 1


async def test_only_subscriptions_with_a_renewal_or_expiry_due_are_asked_about(
    billing: BillingWorld, app_store: AppStoreApiStub
) -> None:
    """Apple answers one subscription a call: a month-long paid period has nothing due today."""
    _, token, original = await subscriber(billing)
    apple = billing.apple
    paid = apple.transaction(token, original_transaction_id=original, expires_in_days=20)
    assert await send(billing, apple.notification("SUBSCRIBED", paid)) == "applied"
    _, _, lapsed = await lapsed_subscriber(billing)
    app_store.calls.clear()
    await reconcile(billing)
    asked = {call.rsplit("/", 1)[-1] for call in app_store.calls if "/subscriptions/" in call}
    assert lapsed in asked
    assert original not in asked

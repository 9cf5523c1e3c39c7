"""App Store Server Notifications V2 against a running auth role and the real Postgres.

Notifications are signed by a private three-level chain (tests/harness/apple.py) that the server
trusts as its only root; Apple's own SignedDataVerifier checks them (OCSP off — tests only).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from tests.harness.apple import AppleChain
from tests.integration.auth.billing_world import BillingWorld, Person, problem

pytestmark = pytest.mark.slow


async def subscriber(billing: BillingWorld) -> tuple[Person, str, str]:
    """A person, their appAccountToken, and a fresh original transaction id."""
    person = await billing.person()
    token = (await billing.account(person))["app_account_token"]
    return person, token, str(uuid.uuid4().int)[:16]


async def entitlement(billing: BillingWorld, person: Person) -> dict[str, object]:
    result: dict[str, object] = (await billing.account(person))["entitlement"]
    return result


async def send(billing: BillingWorld, payload: str) -> str:
    answer = await billing.apple_post(payload)
    assert answer.status_code == 200, answer.text
    outcome: str = answer.json()["outcome"]
    return outcome


async def test_a_subscription_bought_in_the_app_opens_the_account(billing: BillingWorld) -> None:
    person, token, original = await subscriber(billing)
    assert await billing.token_status(person) == 403
    apple = billing.apple
    transaction = apple.transaction(token, original_transaction_id=original, price_milli=4990)
    assert await send(billing, apple.notification("SUBSCRIBED", transaction)) == "applied"
    assert await billing.token_status(person) == 200
    current = await entitlement(billing, person)
    assert current["active"] is True
    assert current["source"] == "apple"
    history = (await billing.http.get("/v1/account/invoices", headers=person.headers)).json()
    assert [(i["kind"], i["price_milli"], i["currency"]) for i in history["items"]] == [
        ("apple_transaction", 4990, "EUR")
    ]


async def test_the_same_notification_twice_applies_once(billing: BillingWorld) -> None:
    _, token, original = await subscriber(billing)
    apple = billing.apple
    payload = apple.notification(
        "SUBSCRIBED", apple.transaction(token, original_transaction_id=original)
    )
    outcomes = await asyncio.gather(*(send(billing, payload) for _ in range(5)))
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 4


async def test_notifications_out_of_signed_date_order_end_in_the_newest_state(
    billing: BillingWorld,
) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    renewed = apple.notification(
        "DID_RENEW", apple.transaction(token, original_transaction_id=original)
    )
    expired = apple.notification(
        "EXPIRED", apple.transaction(token, original_transaction_id=original, expires_in_days=-1)
    )
    assert await send(billing, expired) == "applied"
    assert await send(billing, renewed) == "ignored: older than stored state"
    assert (await entitlement(billing, person))["active"] is False


async def test_a_failed_renewal_with_a_grace_period_keeps_access_until_it_expires(
    billing: BillingWorld,
) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    lapsed = apple.transaction(token, original_transaction_id=original, expires_in_days=-1)
    await send(
        billing,
        apple.notification(
            "DID_FAIL_TO_RENEW",
            lapsed,
            subtype="GRACE_PERIOD",
            renewal=apple.renewal(original, grace_days=6),
        ),
    )
    current = await entitlement(billing, person)
    assert current["active"] is True
    assert current["in_grace"] is True
    await send(billing, apple.notification("GRACE_PERIOD_EXPIRED", lapsed))
    assert (await entitlement(billing, person))["active"] is False


async def test_a_failed_renewal_without_grace_covers_only_what_was_paid(
    billing: BillingWorld,
) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    lapsed = apple.transaction(token, original_transaction_id=original, expires_in_days=-1)
    await send(billing, apple.notification("DID_FAIL_TO_RENEW", lapsed))
    assert (await entitlement(billing, person))["active"] is False


@pytest.mark.parametrize("kind", ["REFUND", "REVOKE"])
async def test_a_refund_or_revocation_ends_access_at_once(billing: BillingWorld, kind: str) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    await send(
        billing,
        apple.notification(
            "SUBSCRIBED", apple.transaction(token, original_transaction_id=original)
        ),
    )
    assert (await entitlement(billing, person))["active"] is True
    taken_back = apple.transaction(
        token, original_transaction_id=original, revoked=kind == "REFUND"
    )
    assert await send(billing, apple.notification(kind, taken_back)) == "applied"
    assert (await entitlement(billing, person))["active"] is False


async def test_turning_auto_renew_off_keeps_the_paid_period(billing: BillingWorld) -> None:
    person, token, original = await subscriber(billing)
    apple = billing.apple
    transaction = apple.transaction(token, original_transaction_id=original)
    await send(billing, apple.notification("SUBSCRIBED", transaction))
    await send(
        billing,
        apple.notification(
            "DID_CHANGE_RENEWAL_STATUS",
            transaction,
            subtype="AUTO_RENEW_DISABLED",
            renewal=apple.renewal(original, auto_renew=False),
        ),
    )
    assert (await entitlement(billing, person))["active"] is True
    assert (
        await billing.scalar(
            "SELECT auto_renew FROM apple_subscriptions WHERE original_transaction_id = :id",
            id=original,
        )
        is False
    )


async def test_an_unknown_app_account_token_changes_nothing(billing: BillingWorld) -> None:
    apple = billing.apple
    payload = apple.notification("SUBSCRIBED", apple.transaction(str(uuid.uuid4())))
    assert await send(billing, payload) == "ignored: unknown appAccountToken"


MARKER = "apple-payload-marker-91c2"


def bad_payload(case: str, chain: AppleChain, token: str) -> str:
    transaction = chain.transaction(token, original_transaction_id=MARKER)
    if case == "another bundle id":
        return chain.notification("SUBSCRIBED", transaction, bundle_id="com.example.other")
    if case == "another environment":
        return chain.notification("SUBSCRIBED", transaction, environment="Production")
    if case == "signed under an untrusted root":
        return AppleChain.create().notification("SUBSCRIBED", transaction)
    if case == "a leaf without Apple's OID":
        return AppleChain.create(leaf_marker=False).notification("SUBSCRIBED", transaction)
    if case == "a tampered signature":
        head, body, signature = chain.notification("SUBSCRIBED", transaction).split(".")
        return f"{head}.{body}.{signature[:-6]}AAAAAA"
    if case == "a transaction from another app":
        return chain.notification("SUBSCRIBED", {**transaction, "bundleId": "com.example.other"})
    return "not-a-jws-" + MARKER


@pytest.mark.parametrize(
    "case",
    [
        "another bundle id",
        "another environment",
        "signed under an untrusted root",
        "a leaf without Apple's OID",
        "a tampered signature",
        "a transaction from another app",
        "not a JWS",
    ],
)
async def test_unverifiable_notifications_are_400_and_change_nothing(
    billing: BillingWorld, case: str
) -> None:
    person, token, _ = await subscriber(billing)
    before = await billing.scalar("SELECT count(*) FROM processed_webhooks")
    answer = await billing.apple_post(bad_payload(case, billing.apple, token))
    problem(answer, 400)
    assert await billing.scalar("SELECT count(*) FROM processed_webhooks") == before
    assert (await entitlement(billing, person))["active"] is False
    await asyncio.sleep(0.2)
    logs = billing.logs()
    assert "apple_notification_rejected" in logs
    assert MARKER not in logs


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (json.dumps({"payload": "x"}).encode(), 422),
        (json.dumps({"signedPayload": 7}).encode(), 422),
        (json.dumps({"signedPayload": "x" * 300_000}).encode(), 413),
    ],
)
async def test_malformed_apple_bodies_are_4xx(
    billing: BillingWorld, body: bytes, status: int
) -> None:
    answer = await billing.http.post(
        "/v1/webhooks/apple", content=body, headers={"content-type": "application/json"}
    )
    problem(answer, status)

"""Calls to Stripe's API: customers, Checkout and portal sessions, reading and cancelling
subscriptions. One StripeClient per app (no module-global API key), async over httpx.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import stripe

from phoenix.auth.settings import AuthSettings
from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem

log = get_logger("phoenix.auth.billing")

# Written into Stripe metadata so subscription events name their user even when they arrive
# before the checkout that created them.
UID_METADATA = "phoenix_uid"
# Stripe lists at most this many objects a page.
PAGE: Final = 100


class BillingNotConfigured(Problem):
    status = 503
    slug = "billing-not-configured"
    title = "Billing is not configured on this server"


class BillingUnavailable(Problem):
    status = 503
    slug = "billing-unavailable"
    title = "The payment provider could not be reached"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "30"})


class StripeBilling:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._client: stripe.StripeClient | None = None
        if settings.stripe_secret_key:
            self._client = stripe.StripeClient(
                settings.stripe_secret_key,
                base_addresses={"api": settings.stripe_api_base or None},
                http_client=stripe.HTTPXClient(timeout=20),
                max_network_retries=2,
            )

    @property
    def configured(self) -> bool:
        return self._client is not None

    def _require(self, *, price: bool = False) -> stripe.StripeClient:
        if self._client is None:
            raise BillingNotConfigured("PHOENIX_STRIPE_SECRET_KEY is not set")
        if price and not self._settings.stripe_price_id:
            raise BillingNotConfigured("PHOENIX_STRIPE_PRICE_ID is not set")
        return self._client

    async def create_customer(self, uid: str, email: str | None) -> str:
        params: dict[str, Any] = {"metadata": {UID_METADATA: uid}}
        if email:
            params["email"] = email
        customer = await _call(self._require().v1.customers.create_async(params))  # type: ignore[arg-type]
        return str(customer.id)

    async def checkout_url(self, uid: str, customer_id: str) -> str:
        settings = self._settings
        session = await _call(
            self._require(price=True).v1.checkout.sessions.create_async(
                {
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": uid,
                    "line_items": [{"price": settings.stripe_price_id, "quantity": 1}],
                    "subscription_data": {"metadata": {UID_METADATA: uid}},
                    "success_url": settings.stripe_success_url,
                    "cancel_url": settings.stripe_cancel_url,
                }
            )
        )
        return str(session.url)

    async def portal_url(self, customer_id: str) -> str:
        session = await _call(
            self._require().v1.billing_portal.sessions.create_async(
                {"customer": customer_id, "return_url": self._settings.stripe_portal_return_url}
            )
        )
        return str(session.url)

    async def subscription(self, subscription_id: str) -> dict[str, Any]:
        """The subscription as Stripe holds it now (for checkouts, whose event carries only
        its id)."""
        found = await _call(self._require().v1.subscriptions.retrieve_async(subscription_id))
        return dict(found.to_dict())

    async def events_since(self, after: int, types: Iterable[str]) -> list[dict[str, Any]]:
        """Every event of ``types`` created after ``after`` (Unix seconds), oldest first, as
        its webhook delivery would carry it. Stripe keeps events for 30 days and lists them
        newest first, a page at a time; all pages are read before any is returned, so an
        outage midway returns nothing (BillingUnavailable)."""
        client = self._require()
        params: dict[str, Any] = {"created": {"gt": after}, "types": sorted(types), "limit": PAGE}
        events: list[dict[str, Any]] = []
        while True:
            page = await _call(client.v1.events.list_async(params))  # type: ignore[arg-type]
            events.extend(event.to_dict(for_json=True) for event in page.data)
            if not page.has_more or not page.data:
                break
            params = {**params, "starting_after": page.data[-1].id}
        events.reverse()
        return events

    async def cancel(self, subscription_id: str) -> None:
        """Cancel now; a subscription Stripe no longer knows or already ended is fine."""
        try:
            await self._require().v1.subscriptions.cancel_async(subscription_id)
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                # Deleted at Stripe already: nothing left that could bill.
                log.info("stripe_cancel_skipped", reason="resource_missing")
                return
            raise BillingUnavailable("Stripe refused to cancel the subscription") from None
        except stripe.StripeError as error:
            log.warning("stripe_call_failed", error=type(error).__name__)
            raise BillingUnavailable("Stripe could not be reached") from None


async def _call(pending: Any) -> Any:
    try:
        return await pending
    except stripe.StripeError as error:
        # The SDK's message may quote request parameters; log only the class and code.
        log.warning("stripe_call_failed", error=type(error).__name__, code=error.code)
        raise BillingUnavailable("Stripe could not complete the request") from None

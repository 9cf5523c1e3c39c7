"""The account and billing endpoints: everything here acts for the caller's own Firebase uid."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from phoenix.auth.account import Accounts, BadCursor, NoBillingAccount
from phoenix.auth.billing.stripe_api import BillingNotConfigured, BillingUnavailable
from phoenix.auth.firebase import IdentityUnavailable, Unauthenticated
from phoenix.auth.schemas import AccountView, BillingUrl, PaymentHistory
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import problem_answers

# Every route here verifies the caller's Firebase ID token and reads UserDB.
_CALLER = (Unauthenticated, IdentityUnavailable, DatabaseUnavailable)
_STRIPE = (BillingNotConfigured, BillingUnavailable)


def _authorization(request: Request[Any, Any, Any]) -> str | None:
    return request.headers.get("authorization")


class AccountController(Controller):
    path = "/v1/account"
    tags = ["account"]

    @get(summary="The caller's account", responses=problem_answers(*_CALLER))
    async def show(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[Accounts]
    ) -> AccountView:
        return await accounts.describe(await accounts.caller(_authorization(request)))

    @get(
        "/invoices",
        summary="The caller's payments, newest first",
        responses=problem_answers(400, BadCursor, *_CALLER),
    )
    async def invoices(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[Accounts],
        cursor: Annotated[str | None, Parameter(max_length=512)] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> PaymentHistory:
        identity = await accounts.caller(_authorization(request))
        return await accounts.payments(identity, limit, cursor)

    @delete(
        summary="Cancel, forget and delete the caller",
        responses=problem_answers(*_CALLER, BillingUnavailable),
    )
    async def remove(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[Accounts]
    ) -> None:
        identity = await accounts.caller(_authorization(request))
        await accounts.delete(identity.uid)


class BillingController(Controller):
    path = "/v1/billing"
    tags = ["billing"]

    @post(
        "/checkout",
        summary="A Stripe Checkout URL to subscribe",
        status_code=200,
        responses=problem_answers(*_CALLER, *_STRIPE),
    )
    async def checkout(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[Accounts]
    ) -> BillingUrl:
        identity = await accounts.caller(_authorization(request))
        return BillingUrl(await accounts.checkout_url(identity))

    @post(
        "/portal",
        summary="A Stripe customer-portal URL to manage the subscription",
        status_code=200,
        responses=problem_answers(NoBillingAccount, *_CALLER, *_STRIPE),
    )
    async def portal(
        self, request: Request[Any, Any, Any], accounts: NamedDependency[Accounts]
    ) -> BillingUrl:
        identity = await accounts.caller(_authorization(request))
        return BillingUrl(await accounts.portal_url(identity))

"""The account and billing endpoints: everything here acts for the caller's own Firebase uid."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post
from litestar.params import Parameter
from litestar.types import ControllerRouterHandler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth import account
from phoenix.auth.billing import BillingNotConfigured, BillingUnavailable, StripeBilling
from phoenix.auth.firebase import (
    Identity,
    IdentityUnavailable,
    IdentityVerifier,
    Unauthenticated,
    bearer_token,
)
from phoenix.auth.models import User
from phoenix.auth.subscriptions import link_stripe_customer
from phoenix.auth.users import upsert_user
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import problem_answers
from phoenix.common.problems import Problem


class BillingUrl(msgspec.Struct):
    url: str


class NoBillingAccount(Problem):
    status = 409
    slug = "no-billing-account"
    title = "This account has never subscribed through Stripe"


# Every route here verifies the caller's Firebase ID token and reads UserDB.
_CALLER = (Unauthenticated, IdentityUnavailable, DatabaseUnavailable)
_STRIPE = (BillingNotConfigured, BillingUnavailable)


def account_routes(
    engine: AsyncEngine,
    verifier: IdentityVerifier,
    billing: StripeBilling,
    quota_limit: int,
    now: Callable[[], datetime],
) -> list[ControllerRouterHandler]:
    async def caller(request: Request[Any, Any, Any]) -> Identity:
        return await verifier.verify(bearer_token(request.headers.get("authorization")))

    async def customer_of(identity: Identity) -> str | None:
        async with engine.begin() as connection:
            await upsert_user(connection, identity.uid, identity.email)
            found = await connection.execute(
                select(User.stripe_customer_id).where(User.uid == identity.uid)
            )
            return found.scalar_one_or_none()

    @get(
        "/v1/account",
        summary="The caller's account",
        tags=["account"],
        responses=problem_answers(*_CALLER),
    )
    async def show(request: Request[Any, Any, Any]) -> account.AccountView:
        return await account.describe(engine, await caller(request), quota_limit, now())

    @get(
        "/v1/account/invoices",
        summary="The caller's payments, newest first",
        tags=["account"],
        responses=problem_answers(400, account.BadCursor, *_CALLER),
    )
    async def invoices(
        request: Request[Any, Any, Any],
        cursor: Annotated[str | None, Parameter(max_length=512)] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
    ) -> account.PaymentHistory:
        identity = await caller(request)
        async with engine.connect() as connection:
            return await account.payment_history(connection, identity.uid, limit, cursor)

    @delete(
        "/v1/account",
        summary="Cancel, forget and delete the caller",
        tags=["account"],
        responses=problem_answers(*_CALLER, BillingUnavailable),
    )
    async def remove(request: Request[Any, Any, Any]) -> None:
        identity = await caller(request)
        await account.delete_account(engine, billing, verifier, identity.uid)

    @post(
        "/v1/billing/checkout",
        summary="A Stripe Checkout URL to subscribe",
        tags=["billing"],
        status_code=200,
        responses=problem_answers(*_CALLER, *_STRIPE),
    )
    async def checkout(request: Request[Any, Any, Any]) -> BillingUrl:
        identity = await caller(request)
        customer = await customer_of(identity)
        if customer is None:
            # Created before the first payment: every later event names a known customer.
            customer = await billing.create_customer(identity.uid, identity.email)
            async with engine.begin() as connection:
                await link_stripe_customer(connection, identity.uid, customer)
        return BillingUrl(await billing.checkout_url(identity.uid, customer))

    @post(
        "/v1/billing/portal",
        summary="A Stripe customer-portal URL to manage the subscription",
        tags=["billing"],
        status_code=200,
        responses=problem_answers(NoBillingAccount, *_CALLER, *_STRIPE),
    )
    async def portal(request: Request[Any, Any, Any]) -> BillingUrl:
        customer = await customer_of(await caller(request))
        if customer is None:
            raise NoBillingAccount("subscribe first: POST /v1/billing/checkout")
        return BillingUrl(await billing.portal_url(customer))

    return [show, invoices, remove, checkout, portal]

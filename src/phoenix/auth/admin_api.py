"""Operator endpoints of the auth role (called by the worker's schedules)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import Parameter

from phoenix.auth.billing.reconcile import Reconciler, parse_since, reconciliation_report
from phoenix.auth.billing.service import DeliveryRetention
from phoenix.auth.billing.stripe_api import BillingUnavailable
from phoenix.auth.schemas import Reconciliation, Removed
from phoenix.common.bearer import secret_guard
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import problem_answers
from phoenix.common.problems import Problem

# The key of app.state the app factory puts PHOENIX_ADMIN_TOKEN in.
OPERATOR_SETTING = "admin_token"


class NotOperator(Problem):
    status = 401
    slug = "bad-credential"
    title = "Missing or wrong operator credential"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": 'Bearer realm="phoenix-admin"'})


class InvalidSince(Problem):
    status = 400
    slug = "invalid-since"
    title = "since is not an RFC 3339 time with an offset"


class AdminController(Controller):
    path = "/v1/admin"
    tags = ["admin"]
    guards = [secret_guard(OPERATOR_SETTING, NotOperator)]

    @post(
        "/webhooks/retention",
        status_code=200,
        summary="Forget processed webhook ids past the redelivery windows",
        responses=problem_answers(NotOperator, DatabaseUnavailable),
    )
    async def webhook_retention(self, retention: NamedDependency[DeliveryRetention]) -> Removed:
        return Removed(removed=await retention.run())

    @post(
        "/billing/reconcile",
        status_code=200,
        summary="Repair what lost webhooks left behind, from Stripe's and Apple's own record",
        description=(
            "Each configured provider is read for what changed since its last run (or since "
            "`since`), and each change is applied through the webhooks' own code path. A "
            "provider that cannot be read answers 503 and changes nothing; run again. "
            "`dry_run` reports what would change and changes nothing."
        ),
        responses=problem_answers(
            NotOperator, InvalidSince, BillingUnavailable, DatabaseUnavailable
        ),
    )
    async def reconcile(
        self,
        reconciler: NamedDependency[Reconciler],
        dry_run: bool = False,
        since: Annotated[
            str | None,
            Parameter(
                description="RFC 3339 with an offset; default: where the last run got to",
                schema_extra={"format": "date-time"},
            ),
        ] = None,
    ) -> Reconciliation:
        try:
            start = parse_since(since) if since is not None else None
        except ValueError as error:
            raise InvalidSince(str(error)) from None
        return reconciliation_report(await reconciler.run(start, dry_run=dry_run))

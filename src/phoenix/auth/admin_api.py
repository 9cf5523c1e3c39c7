"""Operator endpoints of the auth role (called by the worker's schedules)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency

from phoenix.auth.billing.service import DeliveryRetention
from phoenix.auth.schemas import Removed
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

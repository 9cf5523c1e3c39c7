"""Operator endpoints of the auth role (called by the worker's schedules)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request, post
from litestar.types import ControllerRouterHandler
from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth.models import ProcessedWebhook
from phoenix.common.bearer import bearer, matches_any
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.openapi import problem_answers
from phoenix.common.problems import Problem


class NotOperator(Problem):
    status = 401
    slug = "bad-credential"
    title = "Missing or wrong operator credential"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": 'Bearer realm="phoenix-admin"'})


class Removed(msgspec.Struct):
    removed: int


def admin_routes(
    engine: AsyncEngine, admin_token: str, keep: timedelta
) -> list[ControllerRouterHandler]:
    def operator(request: Request[Any, Any, Any]) -> None:
        presented = bearer(request.headers.get("authorization"))
        if presented is None or not matches_any(presented, [admin_token]):
            raise NotOperator()

    @post(
        "/v1/admin/webhooks/retention",
        status_code=200,
        tags=["admin"],
        summary="Forget processed webhook ids past the redelivery windows",
        responses=problem_answers(NotOperator, DatabaseUnavailable),
    )
    async def webhook_retention(request: Request[Any, Any, Any]) -> Removed:
        operator(request)
        async with engine.begin() as connection:
            result = await connection.execute(
                delete(ProcessedWebhook).where(ProcessedWebhook.processed_at < func.now() - keep)
            )
        return Removed(removed=result.rowcount or 0)

    return [webhook_retention]

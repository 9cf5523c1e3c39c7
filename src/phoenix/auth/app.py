"""The auth role's app factory: its engine, its checks, its routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from litestar import Litestar

from phoenix.auth.settings import AuthSettings
from phoenix.common import database
from phoenix.common.health import ReadinessCheck
from phoenix.common.web import build_app

ROLE = "auth"


def create_app(settings: AuthSettings) -> Litestar:
    engine = database.create_engine(settings.userdb_url, pool_size=settings.userdb_pool_size)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    return build_app(
        role=ROLE,
        settings=settings,
        checks=[ReadinessCheck("postgres", partial(database.ping, engine))],
        lifespan=[lifespan],
        state={"userdb": engine},
    )

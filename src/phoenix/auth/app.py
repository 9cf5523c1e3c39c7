"""The auth role's app factory: its engine, its Firebase verifier, its issuer, its routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial

from litestar import Litestar

from phoenix.auth.account_api import account_routes
from phoenix.auth.admin_api import admin_routes
from phoenix.auth.api import issuer_routes
from phoenix.auth.apple_notifications import AppleVerifier
from phoenix.auth.billing import StripeBilling
from phoenix.auth.firebase import FirebaseVerifier, IdentityVerifier
from phoenix.auth.issuer import Issuer, IssuerPolicy
from phoenix.auth.keys import KeyLife, parse_bundle
from phoenix.auth.settings import AuthSettings
from phoenix.auth.stripe_events import StripeEvents
from phoenix.auth.webhooks import webhook_routes
from phoenix.common import database
from phoenix.common.health import ReadinessCheck
from phoenix.common.logging import get_logger
from phoenix.common.web import build_app

ROLE = "auth"

_log = get_logger("phoenix.auth.issuer")


def create_app(settings: AuthSettings, verifier: IdentityVerifier | None = None) -> Litestar:
    """``verifier`` replaces Firebase only where a benchmark isolates signing cost."""
    engine = database.create_engine(settings.userdb_url, pool_size=settings.userdb_pool_size)
    identity = verifier or FirebaseVerifier(settings)
    issuer = Issuer(
        parse_bundle(settings.issuer_signing_keys),
        IssuerPolicy(
            request_uri=settings.issuer_request_uri,
            life=KeyLife(
                max_age=settings.issuer_key_max_age,
                overlap=timedelta(hours=settings.issuer_key_overlap_hours),
            ),
            quota=settings.issuer_quota,
            max_batch=settings.issuer_max_batch,
            directory_max_age=settings.issuer_directory_max_age,
        ),
        engine,
    )

    billing = StripeBilling(settings)
    stripe_events = StripeEvents(timedelta(days=settings.stripe_grace_days), billing.subscription)

    def now() -> datetime:
        return datetime.now(UTC)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        watching = asyncio.create_task(watch_signing_key(issuer), name="issuer-key-watch")
        try:
            yield
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            identity.close()
            await engine.dispose()

    return build_app(
        role=ROLE,
        settings=settings,
        route_handlers=[
            *issuer_routes(issuer, identity),
            *account_routes(engine, identity, billing, settings.issuer_quota, now),
            *admin_routes(
                engine, settings.admin_token, timedelta(days=settings.webhook_retention_days)
            ),
            *webhook_routes(
                engine, settings.stripe_webhook_secret, stripe_events, AppleVerifier(settings), now
            ),
        ],
        checks=[
            ReadinessCheck("postgres", partial(database.ping, engine)),
            ReadinessCheck("issuer", issuer.probe),
        ],
        lifespan=[lifespan],
        extra_exception_handlers=database.exception_handlers(),
        state={"userdb": engine, "issuer": issuer, "verifier": identity},
    )


async def watch_signing_key(issuer: Issuer, every: float = 60.0) -> None:
    """Say once a minute, loudly, that no key may sign: readiness alone is easy to miss."""
    while True:
        if issuer.signing_key() is None:
            _log.error("issuer_no_signing_key", setting="PHOENIX_ISSUER_KEY_MAX_AGE")
        await asyncio.sleep(every)

"""The auth role's app factory: its engine, its Firebase verifier, its issuer, its routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from litestar import Litestar, Router
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth import metrics
from phoenix.auth.account import Accounts
from phoenix.auth.account_api import AccountController, BillingController
from phoenix.auth.admin_api import OPERATOR_SETTING, AdminController
from phoenix.auth.api import directory, issuance_route
from phoenix.auth.billing.apple import AppleVerifier
from phoenix.auth.billing.apple_api import AppleApi
from phoenix.auth.billing.reconcile import AppleReconciliation, Reconciler, StripeReconciliation
from phoenix.auth.billing.service import AppleWebhooks, DeliveryRetention, StripeWebhooks
from phoenix.auth.billing.stripe_api import StripeBilling
from phoenix.auth.firebase import FirebaseVerifier, IdentityVerifier
from phoenix.auth.issuer import Issuer, IssuerPolicy
from phoenix.auth.keys import KeyLife, parse_bundle
from phoenix.auth.settings import AuthSettings
from phoenix.auth.webhooks_api import WebhooksController
from phoenix.common import background, database
from phoenix.common.health import ReadinessCheck
from phoenix.common.logging import get_logger
from phoenix.common.web import build_app
from phoenix.crypto.blind_rsa import default_backend

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
    stripe_webhooks = _stripe_webhooks(engine, settings, billing)
    apple_webhooks = AppleWebhooks(engine, AppleVerifier(settings))
    reconciler = reconciler_of(engine, settings, billing, stripe_webhooks, apple_webhooks)
    services: dict[str, Any] = {
        "issuer": issuer,
        "verifier": identity,
        "accounts": Accounts(engine, billing, identity, settings.issuer_quota, _now),
        "stripe_webhooks": stripe_webhooks,
        "reconciler": reconciler,
        "apple_webhooks": apple_webhooks,
        "retention": DeliveryRetention(engine, timedelta(days=settings.webhook_retention_days)),
    }
    routes = Router(
        path="/",
        route_handlers=[
            directory,
            issuance_route(issuer.policy),
            AccountController,
            BillingController,
            AdminController,
            WebhooksController,
        ],
        dependencies={name: _provide(service) for name, service in services.items()},
    )

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        watching = asyncio.create_task(watch_signing_key(issuer), name="issuer-key-watch")
        try:
            yield
        finally:
            await background.stop(watching)
            await reconciler.close()
            identity.close()
            await engine.dispose()

    return build_app(
        role=ROLE,
        settings=settings,
        route_handlers=[routes],
        checks=[
            ReadinessCheck("postgres", partial(database.ping, engine)),
            ReadinessCheck("issuer", issuer.probe),
        ],
        lifespan=[lifespan],
        extra_exception_handlers=database.exception_handlers(),
        signing_backend=default_backend(),
        state={
            "userdb": engine,
            "issuer": issuer,
            "verifier": identity,
            OPERATOR_SETTING: settings.admin_token,
        },
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _stripe_webhooks(
    engine: AsyncEngine, settings: AuthSettings, billing: StripeBilling
) -> StripeWebhooks:
    return StripeWebhooks(
        engine,
        settings.stripe_webhook_secret,
        billing.subscription,
        timedelta(days=settings.stripe_grace_days),
        _now,
    )


def reconciler_of(
    engine: AsyncEngine,
    settings: AuthSettings,
    billing: StripeBilling | None = None,
    stripe_webhooks: StripeWebhooks | None = None,
    apple_webhooks: AppleWebhooks | None = None,
) -> Reconciler:
    """The reconciliation of every provider, over the webhooks' own appliers (the admin route's
    and `phoenix billing reconcile`'s); close() it."""
    billing = billing or StripeBilling(settings)
    stripe_webhooks = stripe_webhooks or _stripe_webhooks(engine, settings, billing)
    apple_webhooks = apple_webhooks or AppleWebhooks(engine, AppleVerifier(settings))
    return Reconciler(
        [
            StripeReconciliation(engine, stripe_webhooks, billing, _now),
            AppleReconciliation(
                engine, apple_webhooks, apple_webhooks.verifier, AppleApi(settings), _now
            ),
        ],
        _now,
    )


def _provide(service: Any) -> Provide:
    return Provide(lambda: service, use_cache=True, sync_to_thread=False)


async def watch_signing_key(issuer: Issuer, every: float = 60.0) -> None:
    """Say once a minute, loudly, that no key may sign: readiness alone is easy to miss. The
    key's dates go to /metrics at the same pace (a rotation moves them)."""
    while True:
        metrics.observe_signing_key(issuer)
        if issuer.signing_key() is None:
            _log.error("issuer_no_signing_key", setting="PHOENIX_ISSUER_KEY_MAX_AGE")
        await asyncio.sleep(every)

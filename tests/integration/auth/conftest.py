"""Fixtures of the auth integration tests: a running auth role for billing and accounts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from phoenix.common import database
from tests.conftest import DatabaseTemplates, _database_url, drop_database
from tests.harness import issuer as issuer_keys
from tests.harness import stripe as stripe_harness
from tests.harness.apple import AppleChain
from tests.harness.firebase import FirebaseAuthEmulator
from tests.harness.processes import RoleServer
from tests.integration.auth.billing_world import ADMIN_TOKEN, BillingWorld


@pytest.fixture(scope="module")
def stripe_stub() -> Iterator[stripe_harness.StripeStub]:
    stub = stripe_harness.StripeStub().start()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def apple_chain() -> AppleChain:
    return AppleChain.create()


@pytest.fixture(scope="module")
def billing_extra_env() -> dict[str, str]:
    """More settings for the module's auth role (a module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
async def billing(
    postgres_url: str,
    database_templates: DatabaseTemplates,
    firebase_emulator: FirebaseAuthEmulator,
    stripe_stub: stripe_harness.StripeStub,
    apple_chain: AppleChain,
    billing_extra_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[BillingWorld]:
    name = f"phoenix_test_billing_{uuid.uuid4().hex[:10]}"
    url = _database_url(postgres_url, name)
    await asyncio.to_thread(database_templates.copy, "userdb", url)
    log_path = tmp_path_factory.mktemp("auth-billing") / "auth.log"
    env = {
        **firebase_emulator.env,
        "PHOENIX_ENV": "test",
        "PHOENIX_USERDB_URL": url,
        "PHOENIX_ISSUER_SIGNING_KEYS": issuer_keys.bundle(),
        "PHOENIX_FIREBASE_PROJECT_ID": "demo-phoenix",
        "PHOENIX_STRIPE_SECRET_KEY": "sk_test_phoenix",
        "PHOENIX_STRIPE_SUCCESS_URL": "https://phoenix.test/billing/done",
        "PHOENIX_STRIPE_CANCEL_URL": "https://phoenix.test/billing/cancelled",
        "PHOENIX_STRIPE_PORTAL_RETURN_URL": "https://phoenix.test/account",
        "PHOENIX_STRIPE_WEBHOOK_SECRET": stripe_harness.WEBHOOK_SECRET,
        "PHOENIX_STRIPE_PRICE_ID": "price_monthly",
        "PHOENIX_STRIPE_API_BASE": stripe_stub.url,
        "PHOENIX_APPLE_ROOT_CERTIFICATES": apple_chain.root_pem,
        "PHOENIX_APPLE_BUNDLE_ID": apple_chain.bundle_id,
        "PHOENIX_APPLE_APP_ID": str(apple_chain.app_id),
        "PHOENIX_APPLE_ENVIRONMENT": apple_chain.environment,
        "PHOENIX_APPLE_ONLINE_CHECKS": "false",
        "PHOENIX_ADMIN_TOKEN": ADMIN_TOKEN,
        **billing_extra_env,
    }
    server = await asyncio.to_thread(RoleServer("auth", env, log_path).start)
    engine = database.create_engine(url, pool_size=2)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
            yield BillingWorld(
                server, http, firebase_emulator, stripe_stub, apple_chain, engine, log_path
            )
    finally:
        await engine.dispose()
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(drop_database, postgres_url, name)

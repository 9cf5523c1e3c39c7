"""Faults with a Postgres of the test's own: UserDB restarted while tokens are being issued.

The auth role's whole world runs here on a private cluster (initdb on a spare port): this
module's ``postgres_url`` replaces the machine's server for the ``billing`` fixture, so the
restart touches nothing shared. The promise: while the database is away issuance answers 503
(never a 500, never a token uncounted), and every token handed out is counted exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import require
from tests.harness.postgres import PrivatePostgres
from tests.integration.auth.billing_world import BillingWorld
from tests.integration.hardening.issuance import Issuance

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    require("initdb", PrivatePostgres.available(), "the PostgreSQL server binaries")
    server = PrivatePostgres().init()
    server.start()
    yield server
    server.stop()
    server.remove()


@pytest.fixture(scope="module")
def postgres_url(private_postgres: PrivatePostgres) -> str:
    return private_postgres.url


async def test_postgres_restarted_during_issuance_counts_every_token_once(
    billing: BillingWorld, private_postgres: PrivatePostgres
) -> None:
    issuance = await Issuance.entitled(billing)
    seen: Counter[int] = Counter()
    stop_at = time.monotonic() + 4.0

    async def issue_until_stopped() -> None:
        async with httpx.AsyncClient(base_url=billing.server.base_url, timeout=30) as client:
            while time.monotonic() < stop_at:
                seen[await issuance.issue(client)] += 1
                await asyncio.sleep(0.01)

    await asyncio.gather(
        private_postgres.restart_later(0.7, 1.0), *(issue_until_stopped() for _ in range(3))
    )
    assert set(seen) <= {200, 429, 503}, seen
    assert seen[503] > 0, "the restart met no issuance"
    assert seen[200] > 0
    await billing.userdb.dispose()  # the test's own pooled sessions died with the old server
    counted = await billing.scalar(
        "SELECT coalesce(sum(c), 0) FROM issuance_quota, unnest(counts) AS c WHERE uid = :uid",
        uid=issuance.person.uid,
    )
    assert counted == seen[200], seen

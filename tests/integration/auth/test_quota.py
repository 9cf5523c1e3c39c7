"""The issuance quota against the real Postgres: atomic, rolling, and exact under concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth import quota
from phoenix.common import database
from phoenix.common.database import create_engine

HOUR = 3600
NOON = 1_800_000_000.0  # an arbitrary fixed instant


@pytest.fixture
async def engine(migrated_database: Callable[[str], str]) -> AsyncIterator[AsyncEngine]:
    url = await asyncio.to_thread(migrated_database, "userdb")
    engine = create_engine(url, pool_size=25)
    yield engine
    await engine.dispose()


async def add_user(engine: AsyncEngine, uid: str) -> None:
    """An entitled user (the quota is only ever counted for entitled users)."""
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO users (uid) VALUES (:uid)"), {"uid": uid})
        await connection.execute(
            text(
                "INSERT INTO entitlements (uid, source, expires_at) "
                "VALUES (:uid, 'grant', to_timestamp(:until))"
            ),
            {"uid": uid, "until": NOON + 30 * 24 * HOUR},
        )


async def take(
    engine: AsyncEngine, uid: str, tokens: int, limit: int, now: float
) -> quota.QuotaDecision:
    async with database.reading(engine) as connection:  # autocommit, as the issuer runs it
        decision = await quota.take_if_entitled(connection, uid, None, tokens, limit, now)
    assert decision is not None
    return decision


async def test_tokens_are_counted_until_the_limit(engine: AsyncEngine) -> None:
    await add_user(engine, "u1")
    assert (await take(engine, "u1", 3, 5, NOON)).granted
    assert (await take(engine, "u1", 2, 5, NOON + 60)).granted
    refused = await take(engine, "u1", 1, 5, NOON + 120)
    assert not refused.granted
    assert refused.used == 5
    assert refused.retry_after is not None
    assert refused.retry_after > 0


async def test_a_batch_that_does_not_fit_counts_nothing(engine: AsyncEngine) -> None:
    await add_user(engine, "u1")
    await take(engine, "u1", 4, 5, NOON)
    assert not (await take(engine, "u1", 2, 5, NOON)).granted
    assert (await take(engine, "u1", 1, 5, NOON)).granted


async def test_the_window_rolls_after_24_hours(engine: AsyncEngine) -> None:
    await add_user(engine, "u1")
    await take(engine, "u1", 5, 5, NOON)
    assert not (await take(engine, "u1", 1, 5, NOON + 23 * HOUR)).granted
    later = await take(engine, "u1", 5, 5, NOON + 24 * HOUR)
    assert later.granted
    assert later.used == 5


async def test_users_have_separate_quotas(engine: AsyncEngine) -> None:
    await add_user(engine, "u1")
    await add_user(engine, "u2")
    await take(engine, "u1", 5, 5, NOON)
    assert (await take(engine, "u2", 5, 5, NOON)).granted


async def test_concurrent_requests_at_the_edge_issue_exactly_the_quota(engine: AsyncEngine) -> None:
    await add_user(engine, "u1")
    await take(engine, "u1", 190, 200, NOON)  # 10 left
    decisions = await asyncio.gather(*(take(engine, "u1", 1, 200, NOON) for _ in range(20)))
    assert sum(d.granted for d in decisions) == 10
    async with engine.connect() as connection:
        assert sum(await quota.read(connection, "u1", NOON)) == 200


async def test_concurrent_batches_never_overshoot(engine: AsyncEngine) -> None:
    await add_user(engine, "u1")
    decisions = await asyncio.gather(*(take(engine, "u1", 7, 50, NOON) for _ in range(20)))
    assert sum(d.granted for d in decisions) == 7  # 7 * 7 = 49 <= 50 < 56

"""Concurrent issuances share one quota statement per batch, and count exactly as one each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth import quota
from phoenix.auth.quota_group import GroupedQuota, _Take
from phoenix.common.database import create_engine
from tests.integration.auth.test_quota import HOUR, NOON, add_user


class CountingQuota(GroupedQuota):
    """Counts the batch statements it sends (the real statement, on the real UserDB)."""

    def __init__(self, engine: AsyncEngine, limit: int) -> None:
        super().__init__(engine, limit)
        self.statements = 0

    async def _statement(self, batch: list[_Take]) -> list[Any]:
        self.statements += 1
        return await super()._statement(batch)


@pytest.fixture
async def url(migrated_database: Callable[[str], str]) -> str:
    return await asyncio.to_thread(migrated_database, "userdb")


@pytest.fixture
async def engine(url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(url, pool_size=10)
    yield made
    await made.dispose()


async def used(engine: AsyncEngine, uid: str) -> int:
    async with engine.connect() as connection:
        return sum(await quota.read(connection, uid, NOON))


async def test_concurrent_takes_go_out_together(engine: AsyncEngine) -> None:
    users = [f"u{n}" for n in range(32)]
    for uid in users:
        await add_user(engine, uid)
    grouped = CountingQuota(engine, 200)
    decisions = await asyncio.gather(
        *(grouped.take_if_entitled(uid, None, 1, NOON) for uid in users)
    )
    assert all(decision is not None and decision.granted for decision in decisions)
    assert grouped.statements < len(users) / 4
    assert [await used(engine, uid) for uid in users] == [1] * len(users)


async def test_128_concurrent_takes_over_two_workers_issue_exactly_each_quota(url: str) -> None:
    # Two workers (each its own pool and batches) race for the same users' last tokens: every
    # user gets exactly the limit, the refused ones are told when to retry, nothing overshoots.
    engines = [create_engine(url, pool_size=5) for _ in range(2)]
    try:
        users = [f"u{n}" for n in range(16)]
        for uid in users:
            await add_user(engines[0], uid)
        workers = [GroupedQuota(engine, 5) for engine in engines]
        asked = [(users[n % len(users)], workers[n % 2]) for n in range(128)]
        decisions = await asyncio.gather(
            *(worker.take_if_entitled(uid, None, 1, NOON) for uid, worker in asked)
        )
        for uid in users:
            mine = [d for (who, _), d in zip(asked, decisions, strict=True) if who == uid]
            assert sum(d is not None and d.granted for d in mine) == 5
            refused = [d for d in mine if d is not None and not d.granted]
            assert len(refused) == 3
            assert all(d.retry_after is not None and d.retry_after > 0 for d in refused)
            assert await used(engines[0], uid) == 5
    finally:
        for engine in engines:
            await engine.dispose()


async def test_one_user_asking_twice_in_a_batch_is_counted_twice(engine: AsyncEngine) -> None:
    # One statement cannot update a row twice: the second request takes the single statement.
    await add_user(engine, "u1")
    grouped = GroupedQuota(engine, 5)
    decisions = await asyncio.gather(
        *(grouped.take_if_entitled("u1", None, 2, NOON) for _ in range(3))
    )
    assert [d is not None and d.granted for d in decisions].count(True) == 2
    assert await used(engine, "u1") == 4


async def test_an_unentitled_user_in_a_batch_is_refused_and_remembered_but_not_counted(
    engine: AsyncEngine,
) -> None:
    await add_user(engine, "paying")
    grouped = GroupedQuota(engine, 5)
    paying, stranger = await asyncio.gather(
        grouped.take_if_entitled("paying", "new@example.com", 1, NOON),
        grouped.take_if_entitled("stranger", "stranger@example.com", 1, NOON),
    )
    assert paying is not None
    assert paying.granted
    assert stranger is None
    async with engine.connect() as connection:
        emails = dict((await connection.execute(text("SELECT uid, email FROM users"))).all())
        counted = (await connection.execute(text("SELECT uid FROM issuance_quota"))).all()
    assert emails == {"paying": "new@example.com", "stranger": "stranger@example.com"}
    assert [uid for (uid,) in counted] == ["paying"]


async def test_the_batch_rolls_the_window_as_the_single_statement_does(
    engine: AsyncEngine,
) -> None:
    await add_user(engine, "u1")
    grouped = GroupedQuota(engine, 5)
    first = await grouped.take_if_entitled("u1", None, 5, NOON)
    assert first is not None
    assert first.granted
    too_soon = await grouped.take_if_entitled("u1", None, 1, NOON + 23 * HOUR)
    assert too_soon is not None
    assert not too_soon.granted
    assert too_soon.retry_after is not None
    later = await grouped.take_if_entitled("u1", None, 5, NOON + 24 * HOUR)
    assert later is not None
    assert later.granted
    assert later.used == 5


async def test_more_than_the_limit_at_once_is_refused_without_a_statement(
    engine: AsyncEngine,
) -> None:
    await add_user(engine, "u1")
    grouped = CountingQuota(engine, 5)
    refused = await grouped.take_if_entitled("u1", None, 6, NOON)
    assert refused is not None
    assert not refused.granted
    assert grouped.statements == 0


async def test_one_user_s_bad_row_does_not_fail_the_others_in_its_batch(
    engine: AsyncEngine,
) -> None:
    # An email longer than its column breaks the batch's statement: the batch falls back to
    # one statement each, so only that user's request fails.
    await add_user(engine, "paying")
    await add_user(engine, "long")
    grouped = CountingQuota(engine, 5)
    paying, long = await asyncio.gather(
        grouped.take_if_entitled("paying", None, 1, NOON),
        grouped.take_if_entitled("long", "x" * 400 + "@example.com", 1, NOON),
        return_exceptions=True,
    )
    assert isinstance(paying, quota.QuotaDecision)
    assert paying.granted
    assert isinstance(long, DBAPIError)
    assert grouped.statements >= 1
    assert await used(engine, "paying") == 1
    assert await used(engine, "long") == 0

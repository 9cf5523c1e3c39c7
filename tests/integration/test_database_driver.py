"""phoenix.common.database.driver: psycopg directly, on the pool, and the pool none the worse.

A connection lent out in autocommit must come back as SQLAlchemy lent it — or the next
``engine.begin()`` on it would commit every statement at once and roll nothing back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.common.database import create_engine, driver, ensure_database


@pytest.fixture
async def engine(database_name_factory: Callable[[str], str]) -> AsyncIterator[AsyncEngine]:
    url = database_name_factory("driver")
    ensure_database(url)
    made = create_engine(url, pool_size=1)  # one connection: every checkout is the same one
    async with made.begin() as connection:
        await connection.execute(text("CREATE TABLE kept (n int)"))
    yield made
    await made.dispose()


async def rolled_back_insert(engine: AsyncEngine) -> int:
    """Insert in a transaction that is rolled back; return how many rows the table holds."""
    async with engine.connect() as connection:
        await connection.begin()
        await connection.execute(text("INSERT INTO kept VALUES (1)"))
        await connection.rollback()
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM kept"))).scalar_one())


async def test_a_statement_on_the_driver_commits_by_itself(engine: AsyncEngine) -> None:
    async with driver(engine) as connection:
        await connection.execute("INSERT INTO kept VALUES (%s)", (7,), prepare=True)
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT n FROM kept"))).scalar_one() == 7


async def test_the_connection_goes_back_out_of_autocommit(engine: AsyncEngine) -> None:
    async with driver(engine) as connection:
        await connection.execute("SELECT 1")
    assert await rolled_back_insert(engine) == 0


async def test_a_failed_statement_also_leaves_it_out_of_autocommit(engine: AsyncEngine) -> None:
    async def divide_by_zero() -> None:
        async with driver(engine) as connection:
            await connection.execute("SELECT 1 / 0")

    with pytest.raises(psycopg.errors.DivisionByZero):
        await divide_by_zero()
    assert await rolled_back_insert(engine) == 0

"""Coalescer: concurrent requests' Redis commands share round trips, and each gets its own answer.

Against a real Redis of the test's own (tests.harness.processes.SpareRedis).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from phoenix.config.hotpath.coalesce import Coalescer
from tests.harness.processes import SpareRedis


@pytest.fixture
async def redis(spare_redis: SpareRedis) -> AsyncIterator[Redis]:
    client = Redis.from_url(spare_redis.url, socket_timeout=5, socket_connect_timeout=5)
    yield client
    await client.aclose()


class Counted(Coalescer):
    """A Coalescer that counts the round trips it makes."""

    def __init__(self, redis: Redis) -> None:
        super().__init__(redis)
        self.round_trips = 0

    async def _carry_out(self, items: list[Any]) -> list[Any]:
        self.round_trips += 1
        return await super()._carry_out(items)


async def test_of_a_burst_of_set_nx_on_one_key_exactly_one_wins(redis: Redis) -> None:
    writes = Counted(redis)
    answers = await asyncio.gather(
        *(writes.execute("SET", "k", str(n), "NX", "EX", 60) for n in range(50))
    )
    assert sum(answer == b"OK" for answer in answers) == 1
    assert answers.count(None) == 49
    winner = answers.index(b"OK")
    assert await redis.get("k") == str(winner).encode()
    assert writes.round_trips < 50 / 4  # the burst went out in a few round trips, not fifty


async def test_a_lone_command_is_sent_at_once_and_answered(redis: Redis) -> None:
    writes = Counted(redis)
    assert await writes.execute("INCRBY", "n", 5) == 5
    assert await writes.execute("INCRBY", "n", 5) == 10
    assert writes.round_trips == 2


async def test_one_command_failing_fails_only_its_caller(redis: Redis) -> None:
    await redis.set("text", "not a number")
    writes = Coalescer(redis)
    results = await asyncio.gather(
        writes.execute("INCR", "counter"),
        writes.execute("INCR", "text"),
        writes.execute("INCR", "counter"),
        return_exceptions=True,
    )
    assert results[0] == 1
    assert isinstance(results[1], ResponseError)
    assert results[2] == 2


async def test_a_caller_that_gave_up_leaves_the_others_their_answers(redis: Redis) -> None:
    writes = Coalescer(redis)
    waiting = [asyncio.ensure_future(writes.execute("SET", f"key:{n}", n)) for n in range(10)]
    waiting[3].cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(results[3], asyncio.CancelledError)
    assert [result for n, result in enumerate(results) if n != 3] == [b"OK"] * 9
    assert await writes.execute("GET", "key:9") == b"9"


async def test_redis_away_fails_every_caller_of_the_pipeline_and_then_recovers(
    redis: Redis, spare_redis: SpareRedis
) -> None:
    writes = Coalescer(redis)
    assert await writes.execute("SET", "before", 1) == b"OK"
    spare_redis.stop()
    results = await asyncio.gather(
        *(writes.execute("SET", f"down:{n}", n) for n in range(8)),
        return_exceptions=True,
    )
    assert all(isinstance(result, (RedisConnectionError, OSError)) for result in results)
    spare_redis.start()
    assert await writes.execute("SET", "after", 1) == b"OK"


async def test_a_connection_redis_closed_while_kept_is_replaced_and_the_batch_answered(
    redis: Redis, spare_redis: SpareRedis
) -> None:
    writes = Coalescer(redis)
    assert await writes.execute("SET", "before", 1) == b"OK"
    spare_redis.stop()  # the kept connection is closed with it; nothing is sent meanwhile
    spare_redis.start()
    assert await writes.execute("SET", "after", 2) == b"OK"
    assert await redis.get("after") == b"2"


async def test_a_connection_killed_by_redis_is_replaced_without_failing_the_batch(
    redis: Redis,
) -> None:
    writes = Coalescer(redis)
    assert await writes.execute("SET", "x", 1) == b"OK"
    killed = await redis.execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
    assert killed >= 1  # the coalescer's kept connection
    assert await writes.execute("SET", "y", 2) == b"OK"
    assert await redis.get("y") == b"2"


async def test_a_batch_redis_leaves_unanswered_fails_in_time_and_its_late_replies_are_never_read(
    redis: Redis, spare_redis: SpareRedis
) -> None:
    # Redis stops answering writes for far longer than the deadline, until the test ends the
    # pause itself (WRITE: its own CLIENT UNPAUSE still runs): no race with a clock.
    impatient = Redis.from_url(spare_redis.url, socket_timeout=2, socket_connect_timeout=5)
    try:
        writes = Coalescer(impatient)
        assert await writes.execute("SET", "k", "before") == b"OK"
        await redis.execute_command("CLIENT", "PAUSE", 120_000, "WRITE")
        try:
            started = asyncio.get_running_loop().time()
            batch = asyncio.gather(
                *(writes.execute("SET", f"paused:{n}", n) for n in range(4)),
                return_exceptions=True,
            )
            results = await asyncio.wait_for(batch, 60)  # without a deadline: for ever
            waited = asyncio.get_running_loop().time() - started
        finally:
            await redis.execute_command("CLIENT", "UNPAUSE")  # the abandoned replies go out
        assert all(isinstance(result, RedisTimeoutError) for result in results), results
        assert waited < 60  # one deadline for the batch, long before the pause would end
        # A new connection: the old one's late "OK"s are never taken for this GET's reply.
        assert await writes.execute("GET", "k") == b"before"
        await writes.close()
    finally:
        await impatient.aclose()

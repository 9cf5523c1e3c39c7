"""The spent-token store on real Redis: one redemption per token, undo on failure, fail closed."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from phoenix.config.hotpath.coalesce import Coalescer, Command
from phoenix.config.spent import CLOCK_MARGIN, Mark, SpentStoreUnavailable, SpentTokens, TokenSpent
from tests.harness.processes import SpareRedis

KEY_ID = os.urandom(32)  # the issuer key the tokens below were signed under
# When that key's tokens stop being accepted: its marks live until then (and a clock margin).
KEY_LIFE_ENDS = int(time.time()) + 20 * 86_400
CHALLENGE_HEADER = 'PrivateToken challenge="AAIAAA==", token-key="AAAA", error="token-spent"'


class Failed(Exception):
    """Whatever goes wrong in a redemption after its token was marked."""


def digest() -> Mark:
    """The mark of a fresh token: its digest, under the test's key."""
    return Mark(os.urandom(32), KEY_ID, KEY_LIFE_ENDS)


def connect(url: str) -> Redis:
    return Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


@pytest.fixture
async def redis(redis_url: str, unique: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    yield client
    # Delete only this test's own keys; the machine's Redis is never flushed.
    async for key in client.scan_iter(match=f"phoenix:test:{unique}:*"):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
def spent(redis: Redis, unique: str) -> SpentTokens:
    return SpentTokens(redis, prefix=f"phoenix:test:{unique}:spent:")


async def test_a_token_is_marked_once_and_the_second_mark_says_spent(spent: SpentTokens) -> None:
    token = digest()
    assert await spent.mark(token)
    assert not await spent.mark(token)
    assert await spent.mark(digest())


class SendsTwice(Coalescer):
    """Every batch carried out twice, the first reply lost: what a retried batch looks like."""

    async def _exchange(self, commands: list[Command]) -> list[object]:
        await super()._exchange(commands)
        return await super()._exchange(commands)


async def test_a_mark_carried_out_twice_is_still_its_own_and_the_token_spent_once(
    redis: Redis, unique: str
) -> None:
    spent = SpentTokens(redis, prefix=f"phoenix:test:{unique}:spent:", commands=SendsTwice(redis))
    token = digest()
    assert await spent.mark(token)
    assert not await spent.mark(token)


async def test_fifty_concurrent_marks_of_one_token_let_exactly_one_through(
    spent: SpentTokens,
) -> None:
    token = digest()
    results = await asyncio.gather(*(spent.mark(token) for _ in range(50)))
    assert results.count(True) == 1


async def test_an_unmarked_token_can_be_redeemed_again(spent: SpentTokens) -> None:
    token = digest()
    assert await spent.mark(token)
    await spent.unmark(token)
    assert await spent.mark(token)


async def test_the_mark_lives_exactly_as_long_as_its_key_is_accepted_plus_the_clock_margin(
    spent: SpentTokens, redis: Redis
) -> None:
    token = digest()
    await spent.mark(token)
    assert await redis.expiretime(spent.key(token)) == KEY_LIFE_ENDS + CLOCK_MARGIN


async def test_the_marks_of_one_key_share_a_prefix_and_go_together_when_its_life_ends(
    spent: SpentTokens, redis: Redis
) -> None:
    # A key whose life ended just under an hour ago: its marks (end + margin) expire in 6 s.
    retired = os.urandom(32)
    ended = int(time.time()) - CLOCK_MARGIN + 6
    marks = [Mark(os.urandom(32), retired, ended) for _ in range(3)]
    for mark in marks:
        assert await spent.mark(mark)
    live = digest()
    await spent.mark(live)
    prefix = spent.key_prefix(retired)
    assert {spent.key(mark) for mark in marks} == {
        key.decode() async for key in redis.scan_iter(match=prefix + "*")
    }
    for _ in range(300):  # Redis expires them at their second; poll, don't assume its timing
        if not [key async for key in redis.scan_iter(match=prefix + "*")]:
            break
        await asyncio.sleep(0.1)
    assert [key async for key in redis.scan_iter(match=prefix + "*")] == []
    assert await redis.exists(spent.key(live))


async def test_the_store_keeps_a_random_claim_and_nothing_about_the_token_or_the_client(
    spent: SpentTokens, redis: Redis, unique: str
) -> None:
    token = digest()
    await spent.mark(token)
    assert spent.key(token) == (
        f"phoenix:test:{unique}:spent:{KEY_ID[:8].hex()}:{token.digest.hex()}"
    )
    value = await redis.get(spent.key(token))
    assert value is not None
    assert len(value) == 32
    assert token.digest.hex().encode() not in value


def test_a_digest_of_the_wrong_size_is_a_programming_error(spent: SpentTokens) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        spent.key(Mark(b"short", KEY_ID, KEY_LIFE_ENDS))


async def test_a_redemption_that_completes_leaves_its_token_spent(spent: SpentTokens) -> None:
    token = digest()
    async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
        pass
    assert not await spent.mark(token)


async def test_a_redemption_that_fails_after_marking_gives_its_token_back(
    spent: SpentTokens,
) -> None:
    token = digest()
    with pytest.raises(Failed):
        async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
            raise Failed
    assert await spent.mark(token)


async def test_a_cancelled_redemption_gives_its_token_back(spent: SpentTokens) -> None:
    token = digest()
    inside = asyncio.Event()

    async def redeem() -> None:
        async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
            inside.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(redeem())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await spent.mark(token)


async def test_a_spent_token_is_refused_with_a_distinct_problem_and_a_fresh_challenge(
    spent: SpentTokens,
) -> None:
    token = digest()
    await spent.mark(token)
    with pytest.raises(TokenSpent) as caught:
        async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
            pytest.fail("a spent token must not reach the redemption")
    problem = caught.value
    assert problem.status == 401
    assert problem.document().type.endswith("/token-spent")
    assert problem.headers["WWW-Authenticate"] == CHALLENGE_HEADER


async def test_a_failed_redemption_never_frees_a_mark_it_does_not_own(
    spent: SpentTokens,
) -> None:
    token = digest()

    async def redeem_while_another_wins() -> None:
        async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
            # Meanwhile the mark is gone (an operator, an expiry) and another redemption won.
            await spent.unmark(token)
            assert await spent.mark(token)
            raise Failed

    with pytest.raises(Failed):
        await redeem_while_another_wins()
    assert not await spent.mark(token)


async def test_concurrent_redemptions_of_one_token_let_exactly_one_complete(
    spent: SpentTokens,
) -> None:
    token = digest()

    async def redeem() -> str:
        try:
            async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
                await asyncio.sleep(0.01)
        except TokenSpent:
            return "refused"
        return "redeemed"

    outcomes = await asyncio.gather(*(redeem() for _ in range(50)))
    assert outcomes.count("redeemed") == 1
    assert outcomes.count("refused") == 49


@pytest.fixture
async def spare(spare_redis: SpareRedis) -> AsyncIterator[tuple[SpareRedis, SpentTokens]]:
    client = connect(spare_redis.url)
    yield spare_redis, SpentTokens(client, retry_after=7)
    await client.aclose()


async def test_a_stopped_redis_fails_closed_with_503_and_retry_after(
    spare: tuple[SpareRedis, SpentTokens],
) -> None:
    server, spent = spare
    token = digest()
    assert await spent.mark(digest())  # the connection is open before Redis goes away
    server.stop()
    with pytest.raises(SpentStoreUnavailable) as caught:
        await spent.mark(token)
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "7"
    with pytest.raises(SpentStoreUnavailable):
        async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
            pytest.fail("no redemption without a mark")
    with pytest.raises(SpentStoreUnavailable):
        await spent.unmark(token)


async def test_after_redis_comes_back_the_refused_token_still_works(
    spare: tuple[SpareRedis, SpentTokens],
) -> None:
    server, spent = spare
    token = digest()
    server.stop()
    with pytest.raises(SpentStoreUnavailable):
        await spent.mark(token)
    server.start()
    async with spent.spending(token, www_authenticate=CHALLENGE_HEADER):
        pass
    assert not await spent.mark(token)


async def test_when_redis_goes_away_mid_redemption_the_cause_is_what_propagates(
    spare: tuple[SpareRedis, SpentTokens],
) -> None:
    server, spent = spare

    async def redeem_while_redis_stops() -> None:
        async with spent.spending(digest(), www_authenticate=CHALLENGE_HEADER):
            server.stop()
            raise Failed

    with pytest.raises(Failed):
        await redeem_while_redis_stops()


class LosingProxy:
    """A TCP proxy to Redis that can lose an answer: in ``lose`` mode the first SET that
    passes reaches Redis and the connection is then cut before its answer comes back, and every
    later connection is refused — a Redis that went away just after a write landed."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.lose = False
        self._server: asyncio.Server | None = None
        self._lost_one = False

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    def restore(self) -> None:
        self.lose = False
        self._lost_one = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.lose and self._lost_one:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()

        answers = asyncio.create_task(pipe(up_reader, writer))
        try:
            while data := await reader.read(65536):
                up_writer.write(data)
                await up_writer.drain()
                if self.lose and b"\r\nSET\r\n" in data.upper():
                    answers.cancel()  # the command reached Redis; its answer never comes back
                    self._lost_one = True
                    break
        finally:
            writer.close()
            up_writer.close()


async def test_a_mark_whose_answer_was_lost_is_taken_back_once_redis_answers_again(
    spare_redis: SpareRedis,
) -> None:
    """The SET lands, Redis goes away before answering, and the release fails for the same
    outage: the token must not stay spent without a config (the Redis-restart fault test once
    ended so: 503, 503, then 401 "spent" for a token that never bought anything)."""
    proxy = LosingProxy(spare_redis.port)
    client = connect(f"redis://127.0.0.1:{await proxy.start()}/0")
    store = SpentTokens(client)
    token = digest()
    try:
        proxy.lose = True
        with pytest.raises(SpentStoreUnavailable):
            async with store.spending(token, www_authenticate=CHALLENGE_HEADER):
                pytest.fail("the mark's answer was lost: no redemption may go on")
        direct = connect(spare_redis.url)
        assert await direct.exists(store.key(token)), "the lost SET did land"
        await direct.aclose()

        proxy.restore()
        async with store.spending(token, www_authenticate=CHALLENGE_HEADER):
            pass  # the same token redeems: its stray mark was taken back first
        assert not await store.mark(token)  # and is spent now, by this redemption
    finally:
        await client.aclose()
        await proxy.stop()


async def test_two_marks_of_one_token_whose_answers_were_lost_are_both_taken_back(
    spare_redis: SpareRedis,
) -> None:
    """Both attempts of a token sent twice at once go out in one batch, the first SET lands and
    both answers are lost: each claim must be remembered, not the second in place of the first
    (the Redis-restart fault test ended so once more: 503, 503, then 401)."""
    proxy = LosingProxy(spare_redis.port)
    client = connect(f"redis://127.0.0.1:{await proxy.start()}/0")
    store = SpentTokens(client)
    token = digest()

    async def attempt() -> None:
        async with store.spending(token, www_authenticate=CHALLENGE_HEADER):
            pytest.fail("the mark's answer was lost: no redemption may go on")

    try:
        proxy.lose = True
        results = await asyncio.gather(attempt(), attempt(), return_exceptions=True)
        assert all(isinstance(result, SpentStoreUnavailable) for result in results), results
        proxy.restore()
        async with store.spending(token, www_authenticate=CHALLENGE_HEADER):
            pass  # the token redeems: whichever claim landed was taken back first
    finally:
        await client.aclose()
        await proxy.stop()

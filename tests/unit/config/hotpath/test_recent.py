"""Reused NodeDB answers expire on time and can be forgotten at once."""

from __future__ import annotations

import asyncio

import pytest

from phoenix.config.hotpath.recent import Recent


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_exactly_its_seconds() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(1.0, clock)
    recent.put("de-fra", 1)
    clock.now += 0.999
    assert recent.get("de-fra") == 1
    clock.now += 0.001
    assert recent.get("de-fra") is None


def test_forgetting_one_or_all() -> None:
    recent: Recent[str, int] = Recent(60.0, Clock())
    recent.put("a", 1)
    recent.put("b", 2)
    recent.forget("a")
    assert (recent.get("a"), recent.get("b")) == (None, 2)
    recent.forget()
    assert recent.get("b") is None


def test_zero_seconds_keeps_nothing() -> None:
    recent: Recent[str, int] = Recent(0, Clock())
    recent.put("a", 1)
    assert recent.get("a") is None


class Reads:
    """A load that counts its calls and answers when released."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.error: Exception | None = None

    async def __call__(self) -> int:
        self.calls += 1
        number = self.calls
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return number


async def test_concurrent_misses_share_one_read_and_keep_its_answer() -> None:
    recent: Recent[str, int] = Recent(60.0, Clock())
    read = Reads()
    waiting = [asyncio.ensure_future(recent.get_or_load("de-fra", read)) for _ in range(16)]
    await asyncio.sleep(0)
    read.release.set()
    assert await asyncio.gather(*waiting) == [1] * 16
    assert read.calls == 1
    assert await recent.get_or_load("de-fra", read) == 1  # kept: no second read
    assert read.calls == 1


async def test_a_failed_read_fails_every_waiter_and_the_next_miss_reads_again() -> None:
    recent: Recent[str, int] = Recent(60.0, Clock())
    read = Reads()
    read.error = ConnectionError("NodeDB away")
    waiting = [asyncio.ensure_future(recent.get_or_load("de-fra", read)) for _ in range(3)]
    await asyncio.sleep(0)
    read.release.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    read.error = None
    assert await recent.get_or_load("de-fra", read) == 2
    assert read.calls == 2


async def test_a_waiter_that_gives_up_leaves_the_read_to_the_others() -> None:
    recent: Recent[str, int] = Recent(60.0, Clock())
    read = Reads()
    first, second = (asyncio.ensure_future(recent.get_or_load("a", read)) for _ in range(2))
    await asyncio.sleep(0)
    first.cancel()
    read.release.set()
    assert await second == 1
    assert first.cancelled()


async def test_a_read_begun_before_a_forget_is_not_kept_after_it() -> None:
    recent: Recent[str, int] = Recent(60.0, Clock())
    read = Reads()
    stale = asyncio.ensure_future(recent.get_or_load("a", read))
    await asyncio.sleep(0)
    recent.forget()  # a drain, say, while the read was on its way
    fresh = asyncio.ensure_future(recent.get_or_load("a", read))
    await asyncio.sleep(0)
    read.release.set()
    assert (await stale, await fresh) == (1, 2)  # the second caller read anew
    assert recent.get("a") == 2


async def test_with_zero_seconds_every_miss_reads_for_itself() -> None:
    recent: Recent[str, int] = Recent(0, Clock())
    read = Reads()
    read.release.set()
    assert await asyncio.gather(*(recent.get_or_load("a", read) for _ in range(3))) == [1, 2, 3]


async def test_an_expired_entry_is_answered_while_one_read_refreshes_it() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(1.0, clock)
    recent.put("de-fra", 0)
    clock.now += 1.5  # expired, within its stale seconds
    read = Reads()
    asking = [
        asyncio.ensure_future(recent.get_or_load("de-fra", read, stale_seconds=5.0))
        for _ in range(3)
    ]
    await asyncio.sleep(0)
    assert all(answer.done() for answer in asking)  # at once, without waiting for the read
    assert [answer.result() for answer in asking] == [0, 0, 0]
    await asyncio.sleep(0)  # the refresh they began
    assert read.calls == 1  # one refresh for all of them
    read.release.set()
    await asyncio.sleep(0)
    assert await recent.get_or_load("de-fra", read, stale_seconds=5.0) == 1


@pytest.mark.parametrize("gone", ["past its stale seconds", "forgotten"])
async def test_an_entry_past_its_stale_seconds_or_forgotten_is_waited_for(gone: str) -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(1.0, clock)
    recent.put("de-fra", 0)
    if gone == "forgotten":
        clock.now += 1.5
        recent.forget()  # a drain: the old view must not place another peer
    else:
        clock.now += 6.0
    read = Reads()
    waiting = asyncio.ensure_future(recent.get_or_load("de-fra", read, stale_seconds=5.0))
    await asyncio.sleep(0)
    assert not waiting.done()
    read.release.set()
    assert await waiting == 1


async def test_a_failed_refresh_leaves_the_stale_entry_and_the_next_caller_retries() -> None:
    clock = Clock()
    recent: Recent[str, int] = Recent(1.0, clock)
    recent.put("de-fra", 0)
    clock.now += 1.5
    read = Reads()
    read.error = OSError("NodeDB away")
    read.release.set()
    assert await recent.get_or_load("de-fra", read, stale_seconds=5.0) == 0
    await asyncio.sleep(0)  # the refresh fails in the background, its error read
    read.error = None
    assert await recent.get_or_load("de-fra", read, stale_seconds=5.0) == 0
    await asyncio.sleep(0)
    assert read.calls == 2
    assert await recent.get_or_load("de-fra", read, stale_seconds=5.0) == 2

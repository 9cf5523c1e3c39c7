"""The notifier's bookkeeping: one waiting poll per node, the newer one wins, wakes reach only
their node's poll. Messages are handed in as the subscription would (its Redis side is
tests/integration/config/test_feed_fanout.py)."""

from __future__ import annotations

import uuid
from typing import Any

from phoenix.config.hotpath.notifier import POLL_CHANNEL, WAKE_CHANNEL, FeedNotifier

NODE, OTHER = uuid.uuid4(), uuid.uuid4()


def notifier() -> FeedNotifier:
    no_redis: Any = None  # never started: no subscription
    return FeedNotifier(no_redis)


async def test_a_wake_sets_only_its_nodes_poll() -> None:
    hub = notifier()
    async with hub.waiting_for(NODE, 1) as mine, hub.waiting_for(OTHER, 1) as other:
        hub._handle(WAKE_CHANNEL.encode(), str(NODE).encode())
        assert mine.event.is_set()
        assert not other.event.is_set()
        assert not mine.replaced
    assert hub.waiting == 0


async def test_a_newer_poll_of_the_node_here_ends_the_older_one() -> None:
    hub = notifier()
    async with hub.waiting_for(NODE, 1) as older:
        async with hub.waiting_for(NODE, 2) as newer:
            assert older.replaced
            assert older.event.is_set()
            assert not newer.replaced
            assert hub.waiting == 1
        assert hub.waiting == 0  # the older one leaving later removes nothing of the newer


async def test_an_older_poll_arriving_late_is_ended_at_once() -> None:
    hub = notifier()
    async with hub.waiting_for(NODE, 5) as newer, hub.waiting_for(NODE, 4) as late:
        assert late.replaced
        assert not newer.replaced


async def test_an_announcement_from_another_replica_ends_only_older_polls() -> None:
    hub = notifier()
    async with hub.waiting_for(NODE, 3) as waiting:
        hub._handle(POLL_CHANNEL.encode(), f"{NODE} 3".encode())  # its own announcement
        assert not waiting.replaced
        hub._handle(POLL_CHANNEL.encode(), f"{NODE} 2".encode())  # an older one, late
        assert not waiting.replaced
        hub._handle(POLL_CHANNEL.encode(), b"garbage")
        hub._handle(POLL_CHANNEL.encode(), f"{NODE} 4".encode())
        assert waiting.replaced
        assert waiting.event.is_set()
        assert hub.waiting == 0


async def test_without_a_subscription_a_waiter_looks_again_within_a_second() -> None:
    hub = notifier()
    async with hub.waiting_for(NODE, 1) as waiter:
        assert not hub.live
        assert await hub.wait(waiter, 0.05) is True  # not trusted: look again

"""One Redis subscription per config process wakes every long-poll waiting in it.

A waiting long-poll used to hold a blocking ``XREAD`` on a connection of its own, so Redis
connections grew with the fleet (10,000 nodes, 10,000 connections: Redis's default
``maxclients``) and one node credential could open enough polls to starve everyone's spent-mark
writes. Now a poll registers here and sleeps on an in-process event; whoever appends a change
to a node's stream also publishes the node's id on ``WAKE_CHANNEL``, and this process's one
subscriber sets the events of the polls waiting on that node, which then read their stream
(through the coalescer, like every other command). Headscale and Firezone fan changes out to
their waiting clients the same way: one notifier, many waiters.

A node waits with one poll at a time, across every replica: a poll takes a sequence number
(``INCR`` per node) and announces it on ``POLL_CHANNEL``; a poll of the same node with a lower
number, in any process, ends at once as if its wait were over. A node that opens more polls
gets nothing for them, and no Redis connection is held for any.

A wake can be lost only while the subscription is down (Redis restarting, a network fault):
then every waiter is woken (they read their streams again), and until the subscription is back
they look again every ``RECHECK_SECONDS`` instead of trusting the silence.

The same subscription carries ``FORGET_CHANNEL``: a replica that changed a node's record (drain,
terminate, a new credential, lost) names the node there, and every replica forgets its copy
(``on_forget``), so records can be reused for long while the subscription is live. Whenever it
is not (and when it comes back: what was said meanwhile is lost), ``on_forget(None)``: forget all.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from phoenix.common import background
from phoenix.common.logging import get_logger

WAKE_CHANNEL: Final = "phoenix:peers:wake"
POLL_CHANNEL: Final = "phoenix:peers:polls"
FORGET_CHANNEL: Final = "phoenix:peers:forget"
POLL_SEQUENCE_PREFIX: Final = "phoenix:peers:poll:"
POLL_SEQUENCE_TTL: Final = 86_400  # a node silent for a day starts its count again: harmless
RECHECK_SECONDS: Final = 1.0
RETRY_SECONDS: Final = 1.0
HEALTH_READ_SECONDS: Final = 5.0
CLOSE_SECONDS: Final = 2.0

_log = get_logger("phoenix.config.notifier")


@dataclass(eq=False)
class Waiter:
    node: str
    sequence: int
    event: asyncio.Event = field(default_factory=asyncio.Event)
    replaced: bool = False
    timed_out: bool = False

    def time_up(self) -> None:
        self.timed_out = True
        self.event.set()


class FeedNotifier:
    def __init__(self, redis: Redis) -> None:
        """``redis``: a client of its own for the subscription (it keeps one connection)."""
        self._redis = redis
        self._waiters: dict[str, Waiter] = {}
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Set by the store: drop a node's reused record (None: every record).
        self.on_forget: Callable[[uuid.UUID | None], None] = lambda _: None

    @property
    def live(self) -> bool:
        """Subscribed now: a silence means no change."""
        return self._listening.is_set()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="peer-feed-notifier")

    async def stop(self) -> None:
        """End the subscription; never holds a shutdown up for long. A cancellation that lands
        while a read times out can be taken for the timeout (and swallowed) inside the client:
        the loop also checks ``_stopping`` after every read, and the cancel is repeated."""
        self._stopping = True
        task, self._task = self._task, None
        await background.stop(task)
        self._wake_all()

    @contextlib.asynccontextmanager
    async def waiting_for(self, node_id: uuid.UUID, sequence: int) -> AsyncIterator[Waiter]:
        """Register the node's poll numbered ``sequence`` before it reads its stream, so a
        change appended after that read wakes it. A poll of this node waiting here already
        with a lower number is ended."""
        node = str(node_id)
        waiter = Waiter(node, sequence)
        previous = self._waiters.get(node)
        if previous is not None and previous.sequence > sequence:
            waiter.replaced = True  # a later poll of this node is waiting already
            waiter.event.set()
        else:
            if previous is not None:
                _end(previous)
            self._waiters[node] = waiter
        try:
            yield waiter
        finally:
            if self._waiters.get(node) is waiter:
                del self._waiters[node]

    async def wait(self, waiter: Waiter, seconds: float) -> bool:
        """Until woken (True) or ``seconds`` pass (False); while the subscription is down, at
        most RECHECK_SECONDS (True: look again)."""
        if not self.live:
            seconds = min(seconds, RECHECK_SECONDS)
            timed_out_means = True
        else:
            timed_out_means = False
        # A timer that sets the event, not wait_for: a wait that times out by cancellation
        # leaves a cycle (the cancelled task, its exception, their frames) for the cycle
        # collector, and 10,000 polls time out every 25 s (measured: bench fleet).
        timer = asyncio.get_running_loop().call_later(seconds, waiter.time_up)
        try:
            await waiter.event.wait()
        finally:
            timer.cancel()
        waiter.event.clear()
        if waiter.timed_out:
            waiter.timed_out = False
            return timed_out_means
        return True

    async def _listen(self) -> None:
        while not self._stopping:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(WAKE_CHANNEL, POLL_CHANNEL, FORGET_CHANNEL)
                self._listening.set()
                self._wake_all()  # what was published while nobody here listened
                self.on_forget(None)
                while not self._stopping:
                    # Not forever: each call checks the connection's health (a PING once per
                    # health_check_interval), so a Redis that went silent is found out.
                    message = await pubsub.get_message(timeout=HEALTH_READ_SECONDS)
                    if message is not None:
                        self._handle(message["channel"], message["data"])
            except (RedisError, OSError) as error:
                if self._listening.is_set():
                    _log.warning("peer_feed_notifier_lost", error=type(error).__name__)
                self._listening.clear()
                self._wake_all()
                self.on_forget(None)
            finally:
                self._listening.clear()
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await asyncio.wait_for(pubsub.aclose(), CLOSE_SECONDS)
            if not self._stopping:
                await asyncio.sleep(RETRY_SECONDS)

    def _handle(self, channel: bytes, data: bytes) -> None:
        if channel == WAKE_CHANNEL.encode():
            waiter = self._waiters.get(data.decode())
            if waiter is not None:
                waiter.event.set()
            return
        if channel == FORGET_CHANNEL.encode():
            try:
                node_id = uuid.UUID(data.decode())
            except ValueError:
                node_id = None  # not a node id: forget them all rather than guess
            self.on_forget(node_id)
            return
        node, _, sequence = data.decode().partition(" ")
        waiter = self._waiters.get(node)
        if waiter is not None and sequence.isdigit() and waiter.sequence < int(sequence):
            _end(waiter)
            del self._waiters[node]

    def _wake_all(self) -> None:
        for waiter in self._waiters.values():
            waiter.event.set()


def _end(waiter: Waiter) -> None:
    waiter.replaced = True
    waiter.event.set()

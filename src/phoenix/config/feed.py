"""The live peer feed: each node's changes in a bounded Redis Stream, long-polled by revision.

A change's stream id is ``<revision>-0``, so "changes after R" is a range read. "Wait for
R+1" is a wait on this process's notifier (phoenix.config.hotpath.notifier): every append also
publishes the node's id, and the poll reads its stream again when woken, so no poll holds a
Redis connection. NodeDB is the source of truth: whenever the stream cannot prove it holds
every change after R (trimmed, lost with Redis, or written late), the node gets a full snapshot
with the current revision instead. With Redis away, a waiting poll watches NodeDB's revision
instead (every NODEDB_RECHECK_SECONDS) and answers a snapshot when it moves.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.common import database
from phoenix.common.logging import get_logger
from phoenix.config import leases
from phoenix.config.fleet import UnknownNode
from phoenix.config.hotpath.coalesce import Coalescer
from phoenix.config.hotpath.notifier import (
    POLL_CHANNEL,
    POLL_SEQUENCE_PREFIX,
    POLL_SEQUENCE_TTL,
    WAKE_CHANNEL,
    FeedNotifier,
)
from phoenix.config.leases import PeerChange
from phoenix.config.models import Node

STREAM_PREFIX: Final = "phoenix:peers:"
STREAM_MAXLEN: Final = 10_000
# With Redis away, each waiting poll reads NodeDB's revision this often: every node of a
# process's fleet does, so once a second would be 10,000 reads/s at 10,000 nodes, enough to
# starve heartbeats and connects of NodeDB connections. A change then arrives within this.
NODEDB_RECHECK_SECONDS: Final = 5.0

_log = get_logger("phoenix.config.feed")


class Peer(msgspec.Struct):
    public_key: str
    allowed_ips: list[str]


class Change(msgspec.Struct):
    revision: int
    op: Literal["add", "remove"]
    public_key: str
    allowed_ips: list[str]


class PeerFeed(msgspec.Struct):
    revision: int
    snapshot: bool
    changes: list[Change] = []
    peers: list[Peer] | None = None


def stream_key(node_id: uuid.UUID) -> str:
    return f"{STREAM_PREFIX}{node_id}"


async def publish(
    redis: Redis, changes: Sequence[PeerChange], *, writes: Coalescer | None = None
) -> None:
    """Append committed changes to their nodes' streams, then wake the nodes' waiting polls.

    A connect's one change goes out with other connects' (``writes``, when given): its XADD and
    PUBLISH in the same batch, in that order. Best effort: a change that fails to reach Redis
    leaves a gap, and a gap means snapshot."""
    try:
        if len(changes) == 1 and writes is not None:
            change = changes[0]
            await asyncio.gather(writes.execute(*_xadd(change)), writes.execute(*_wake(change)))
            return
        async with redis.pipeline(transaction=False) as pipe:
            for change in changes:
                pipe.execute_command(*_xadd(change))
            for node_id in dict.fromkeys(change.node_id for change in changes):
                pipe.execute_command("PUBLISH", WAKE_CHANNEL, str(node_id))
            await pipe.execute()
    except (RedisError, OSError) as error:
        # After the lease committed the client must get its config: never an error from here.
        _log.warning("peer_feed_publish_failed", error=type(error).__name__, changes=len(changes))


def _xadd(change: PeerChange) -> tuple[str | int | bytes, ...]:
    """The XADD of one change, at id ``<revision>-0``, its stream trimmed to about MAXLEN."""
    entry = Change(change.revision, change.op, change.public_key, list(change.allowed_ips))
    return (
        "XADD",
        stream_key(change.node_id),
        "MAXLEN",
        "~",
        STREAM_MAXLEN,
        f"{change.revision}-0",
        "c",
        msgspec.json.encode(entry),
    )


def _wake(change: PeerChange) -> tuple[str, ...]:
    return ("PUBLISH", WAKE_CHANNEL, str(change.node_id))


def _decode(entries: Any) -> list[Change]:
    """XRANGE's raw reply (the coalescer applies no reply callback): [id, [field, value, ...]]."""
    changes = []
    for _, fields in entries or []:
        named = dict(zip(fields[::2], fields[1::2], strict=True))
        changes.append(msgspec.json.decode(named[b"c"], type=Change))
    return changes


def _contiguous(changes: list[Change], since: int) -> bool:
    return all(change.revision == since + 1 + i for i, change in enumerate(changes))


class Unproven(Exception):
    """The stream cannot prove it holds every change after the revision asked for."""


async def changes_since(
    engine: AsyncEngine,
    writes: Coalescer,
    notifier: FeedNotifier,
    node_id: uuid.UUID,
    since: int,
    revision: int,
    wait_seconds: float,
) -> PeerFeed:
    """The changes after ``since``, given the node's ``revision`` read from NodeDB at the start
    of the request (with its credential: the poll's one NodeDB read while Redis serves)."""
    if since < 0 or since > revision:
        return await full_snapshot(engine, node_id)
    try:
        if since < revision:
            return await _read(writes, node_id, since, revision)
        return await _wait(writes, notifier, node_id, since, wait_seconds)
    except Unproven:
        return await full_snapshot(engine, node_id)
    except (RedisError, OSError):
        if since < revision:
            return await full_snapshot(engine, node_id)  # Redis lost: NodeDB still knows
        return await _watch_nodedb(engine, node_id, since, wait_seconds)


async def _read(
    writes: Coalescer, node_id: uuid.UUID, since: int, revision: int | None
) -> PeerFeed:
    """The changes after ``since`` (up to ``revision``, when given), or Unproven."""
    until = "+" if revision is None else f"{revision}-0"
    entries = await writes.execute("XRANGE", stream_key(node_id), f"{since + 1}-0", until)
    changes = _decode(entries)
    if not _contiguous(changes, since) or (
        revision is not None and len(changes) != revision - since
    ):
        raise Unproven()
    return PeerFeed(
        revision=changes[-1].revision if changes else since, snapshot=False, changes=changes
    )


async def _wait(
    writes: Coalescer, notifier: FeedNotifier, node_id: uuid.UUID, since: int, seconds: float
) -> PeerFeed:
    """Registered first, then read: a change appended after the read wakes the poll."""
    deadline = time.monotonic() + seconds
    sequence_key = f"{POLL_SEQUENCE_PREFIX}{node_id}"
    sequence, _ = await asyncio.gather(
        writes.execute("INCR", sequence_key),
        writes.execute("EXPIRE", sequence_key, POLL_SEQUENCE_TTL),
    )
    async with notifier.waiting_for(node_id, int(sequence)) as waiter:
        announced = writes.execute("PUBLISH", POLL_CHANNEL, f"{node_id} {sequence}")
        _, found = await asyncio.gather(announced, _read(writes, node_id, since, None))
        while not found.changes and not waiter.replaced:
            left = deadline - time.monotonic()
            if left <= 0 or not await notifier.wait(waiter, left):
                break
            if waiter.replaced:
                break
            found = await _read(writes, node_id, since, None)
    return found


async def _watch_nodedb(
    engine: AsyncEngine, node_id: uuid.UUID, since: int, wait_seconds: float
) -> PeerFeed:
    """Without Redis: NodeDB's revision, once every NODEDB_RECHECK_SECONDS, until it moves."""
    deadline = time.monotonic() + wait_seconds
    while (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(NODEDB_RECHECK_SECONDS, left))
        if await _revision(engine, node_id) != since:
            return await full_snapshot(engine, node_id)
    return PeerFeed(revision=since, snapshot=False)


async def full_snapshot(engine: AsyncEngine, node_id: uuid.UUID) -> PeerFeed:
    # Every node asks for one when config restarts: one prepared statement (leases.snapshot).
    async with database.driver(engine) as connection:
        found = await leases.snapshot(connection, node_id, datetime.now(UTC))
    if found is None:  # terminated (and its row gone) between authentication and now
        raise UnknownNode()
    revision, peers = found
    return PeerFeed(
        revision=revision,
        snapshot=True,
        peers=[Peer(public_key=key, allowed_ips=list(ips)) for key, ips in peers],
    )


async def _revision(engine: AsyncEngine, node_id: uuid.UUID) -> int:
    async with database.reading(engine) as connection:
        value = (
            await connection.execute(select(Node.revision).where(Node.id == node_id))
        ).scalar_one_or_none()
    if value is None:  # terminated (and its row gone) between authentication and now
        raise UnknownNode()
    return int(value)

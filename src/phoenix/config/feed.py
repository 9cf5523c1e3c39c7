"""The live peer feed: each node's changes in a bounded Redis Stream, long-polled by revision.

A change's stream id is ``<revision>-0``, so "changes after R" is a range read and "wait for
R+1" a blocking XREAD. NodeDB is the source of truth: whenever the stream cannot prove it
holds every change after R (trimmed, lost with Redis, or written late), the node gets a full
snapshot with the current revision instead.
"""

from __future__ import annotations

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
from phoenix.config.leases import PeerChange
from phoenix.config.models import Node

STREAM_PREFIX: Final = "phoenix:peers:"
STREAM_MAXLEN: Final = 10_000

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
    """Append committed changes to their nodes' streams; waiting long-polls wake at once.

    A connect's one change goes out with other connects' (``writes``, when given).
    Best effort: a change that fails to reach Redis leaves a gap, and a gap means snapshot."""
    try:
        if len(changes) == 1:  # a pipeline of its own would cost twice the XADD
            command = _xadd(changes[0])
            if writes is None:
                await redis.execute_command(*command)  # type: ignore[no-untyped-call]
            else:
                await writes.execute(*command)
            return
        async with redis.pipeline(transaction=False) as pipe:
            for change in changes:
                pipe.execute_command(*_xadd(change))
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


def _decode(entries: Any) -> list[Change]:
    # redis-py types stream replies loosely; each entry is (id, {b"c": json}).
    return [msgspec.json.decode(fields[b"c"], type=Change) for _, fields in entries or []]


def _read_entries(answer: Any) -> Any:
    """XREAD's entries for our one stream (RESP2 gives a list, RESP3 a dict)."""
    if not answer:
        return []
    if isinstance(answer, dict):
        return next(iter(answer.values()))[0]
    return answer[0][1]


def _contiguous(changes: list[Change], since: int) -> bool:
    return all(change.revision == since + 1 + i for i, change in enumerate(changes))


async def changes_since(
    engine: AsyncEngine, redis: Redis, node_id: uuid.UUID, since: int, wait_seconds: float
) -> PeerFeed:
    revision = await _revision(engine, node_id)
    if since < 0 or since > revision:
        return await full_snapshot(engine, node_id)
    key = stream_key(node_id)
    try:
        if since < revision:
            entries = await redis.xrange(key, min=f"{since + 1}-0", max=f"{revision}-0")
            changes = _decode(entries)
            if len(changes) == revision - since and _contiguous(changes, since):
                return PeerFeed(revision=revision, snapshot=False, changes=changes)
            return await full_snapshot(engine, node_id)
        answer = await redis.xread({key: f"{since}-0"}, block=max(1, int(wait_seconds * 1000)))
    except RedisError:
        return await full_snapshot(engine, node_id)  # Redis lost: NodeDB still knows
    changes = _decode(_read_entries(answer))
    if not answer:
        return PeerFeed(revision=since, snapshot=False)
    if not changes or not _contiguous(changes, since):
        return await full_snapshot(engine, node_id)
    return PeerFeed(revision=changes[-1].revision, snapshot=False, changes=changes)


async def full_snapshot(engine: AsyncEngine, node_id: uuid.UUID) -> PeerFeed:
    # One repeatable-read transaction, so the revision matches the peers it comes with.
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with connection.begin():
            revision, peers = await leases.snapshot(connection, node_id, datetime.now(UTC))
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

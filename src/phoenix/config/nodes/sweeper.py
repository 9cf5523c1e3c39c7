"""The fleet sweep, run by the config role itself: silent nodes, expired leases, old streams.

Every ``fleet_sweep_seconds`` one replica (whichever takes a Postgres advisory lock first) does
the following; step 1 reads Redis between two short transactions, steps 2-4 are one:

1. **seen**: each node's last heartbeat time, read off its heartbeat key's remaining TTL, goes
   into a Redis sorted set. Heartbeats themselves write nothing more (they are the hot path). A
   node with no entry at all (a new node, or Redis restarted empty) is entered as seen now, so a
   lost Redis delays loss detection but never invents it.
2. **lost**: an active node not seen for ``node_lost_after`` becomes ``lost``: out of selection
   and locations at once. Its next heartbeat makes it active again (phoenix.config.fleet).
3. **forgotten**: any node not seen for ``node_forget_after`` is retired (``terminated``, reason
   ``lost``): its leases end and its pool returns to the free list; its key never comes back.
4. **leases**: expired leases are deleted and announced to their nodes (no worker needed).
5. **streams**: each node's peer stream is trimmed below the revision it last reported applied
   (it never asks for less), and the streams of retired nodes are deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from phoenix.common.database import DatabaseUnavailable
from phoenix.common.logging import get_logger
from phoenix.config import feed, leases
from phoenix.config.fleet import HEARTBEAT_PREFIX, READ_CHUNK
from phoenix.config.models import Lease, Node
from phoenix.config.nodes import store

SEEN_KEY: Final = "phoenix:node:seen"
LOCK_KEY: Final = 0x70686F656E6978  # "phoenix": one sweep at a time across replicas
# One command per chunk of nodes, run by Redis, rather than one per node: through redis-py's
# pipeline each command cost the sweep's process 10-15 µs to pack and parse, and the 20,000 of a
# 10,000-node sweep (a PTTL and an XTRIM per node) held every request of the process back for
# a third of a second (py-spy, bench fleet), the delivery p99 with them. Keys are passed as keys.
_PTTLS: Final = """
local remaining = {}
for i, key in ipairs(KEYS) do remaining[i] = redis.call('PTTL', key) end
return remaining
"""
_TRIMS: Final = """
for i, key in ipairs(KEYS) do redis.call('XTRIM', key, 'MINID', ARGV[i]) end
return #KEYS
"""

_log = get_logger("phoenix.config.sweep")


@dataclass(frozen=True)
class SweepReport:
    lost: int
    forgotten: int
    leases_ended: int
    keys_expired: int


class _Applied(msgspec.Struct):
    applied_revision: int = 0


@dataclass(frozen=True)
class _Fleet:
    seen: dict[uuid.UUID, float]
    applied: dict[uuid.UUID, int]


class FleetSweeper:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        heartbeat_ttl: int,
        lost_after: timedelta,
        forget_after: timedelta,
        on_change: Callable[[uuid.UUID | None], None] = lambda _: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.redis = redis
        self.heartbeat_ttl = heartbeat_ttl
        self.lost_after = lost_after
        self.forget_after = forget_after
        self.on_change = on_change
        self.clock = clock
        self._pttls = redis.register_script(_PTTLS)
        self._trims = redis.register_script(_TRIMS)

    async def run_forever(self, period: float) -> None:
        while True:
            # Jitter keeps replicas that started together from asking for the lock together.
            await asyncio.sleep(period * random.uniform(0.8, 1.2))  # noqa: S311 - not a secret
            try:
                await self.sweep()
            except (RedisError, OSError, DatabaseUnavailable) as error:
                _log.warning("fleet_sweep_failed", error=type(error).__name__)
            except Exception:  # the loop must outlive any one bad sweep
                _log.exception("fleet_sweep_crashed")

    async def sweep(self) -> SweepReport | None:
        """One sweep, or None when another replica holds the lock."""
        now = self.clock()
        # Redis is read between two short transactions, not inside one: at 10,000 nodes the
        # read took a second, a second that one of NodeDB's pool connections (which the
        # fleet's polls and connects share) sat idle in transaction. The lock is taken in
        # both: a replica that finds it taken leaves the sweep to the one holding it.
        async with self.engine.begin() as connection:
            if not await self._locked(connection):
                return None
            nodes = (
                await connection.execute(
                    select(Node.id, Node.status).where(Node.status != "terminated")
                )
            ).all()
        fleet = await self._observe([row.id for row in nodes], now)
        lost = [
            row.id
            for row in nodes
            if row.status == "active" and fleet.seen[row.id] < (now - self.lost_after).timestamp()
        ]
        forgotten = [
            row.id for row in nodes if fleet.seen[row.id] < (now - self.forget_after).timestamp()
        ]
        async with self.engine.begin() as connection:
            if not await self._locked(connection):
                return None
            # Only nodes still active are marked lost (one drained meanwhile stays drained).
            await self._mark_lost(connection, lost)
            await self._forget(connection, forgotten)
            changes = await leases.sweep_expired(connection, now)
            keys_expired = await store.delete_expired_keys(connection, now)
        await feed.publish(self.redis, changes)
        await self._tidy_redis(fleet, forgotten)
        for node_id in (*lost, *forgotten):
            self.on_change(node_id)  # its cached record must not outlive its status
        if changes:
            self.on_change(None)
        report = SweepReport(len(lost), len(forgotten), len(changes), keys_expired)
        if lost or forgotten:
            _log.warning("fleet_sweep", **report.__dict__)
        return report

    async def _observe(self, node_ids: list[uuid.UUID], now: datetime) -> _Fleet:
        """When each node last beat (from its heartbeat key's TTL), recorded in SEEN_KEY.

        READ_CHUNK nodes at a time: 10,000 nodes in one pipeline were 20,000 commands built and
        answered in one go, a pause of the whole process's requests every sweep."""
        fleet = _Fleet({}, {})
        for start in range(0, len(node_ids), READ_CHUNK):
            await self._observe_some(node_ids[start : start + READ_CHUNK], now, fleet)
        return fleet

    async def _observe_some(self, node_ids: list[uuid.UUID], now: datetime, fleet: _Fleet) -> None:
        keys = [f"{HEARTBEAT_PREFIX}{node_id}" for node_id in node_ids]
        ttls = await self._pttls(keys=keys)
        values = await self.redis.mget(keys)
        beats: dict[str, float] = {}
        ttl_ms = self.heartbeat_ttl * 1000
        for node_id, remaining, value in zip(node_ids, ttls, values, strict=True):
            # A key that expired between the two reads has no value or no TTL (-2): not seen.
            if value is None or remaining < 0:
                continue
            beats[str(node_id)] = now.timestamp() - max(0, ttl_ms - remaining) / 1000
            with contextlib.suppress(msgspec.DecodeError):
                fleet.applied[node_id] = msgspec.json.decode(value, type=_Applied).applied_revision
        async with self.redis.pipeline(transaction=False) as pipe:
            if beats:
                pipe.zadd(SEEN_KEY, beats, gt=True)
            # A node never entered (new, or Redis restarted empty) counts as seen now.
            pipe.zadd(SEEN_KEY, {str(n): now.timestamp() for n in node_ids}, nx=True)
            pipe.zmscore(SEEN_KEY, [str(n) for n in node_ids])
            *_, scores = await pipe.execute()
        for node_id, score in zip(node_ids, scores, strict=True):
            fleet.seen[node_id] = float(score) if score is not None else now.timestamp()

    @staticmethod
    async def _locked(connection: AsyncConnection) -> bool:
        locked = await connection.execute(select(func.pg_try_advisory_xact_lock(LOCK_KEY)))
        return bool(locked.scalar_one())

    @staticmethod
    async def _mark_lost(connection: AsyncConnection, node_ids: list[uuid.UUID]) -> None:
        if node_ids:
            await connection.execute(
                update(Node)
                .where(Node.id.in_(node_ids), Node.status == "active")
                .values(status="lost")
            )

    @staticmethod
    async def _forget(connection: AsyncConnection, node_ids: list[uuid.UUID]) -> None:
        if not node_ids:
            return
        await connection.execute(delete(Lease).where(Lease.node_id.in_(node_ids)))
        await connection.execute(
            update(Node)
            .where(Node.id.in_(node_ids))
            .values(
                status="terminated",
                drain_reason="lost",
                pool_index=None,
                ipv4_pool=None,
                ipv6_pool=None,
                credential_hash=None,
            )
        )

    async def _tidy_redis(self, fleet: _Fleet, forgotten: list[uuid.UUID]) -> None:
        gone = set(forgotten)
        # A node asks for changes after the revision it applied, never before.
        trims = [(n, revision) for n, revision in fleet.applied.items() if n not in gone]
        for start in range(0, len(trims), READ_CHUNK):
            chunk = trims[start : start + READ_CHUNK]
            await self._trims(
                keys=[feed.stream_key(node_id) for node_id, _ in chunk],
                args=[f"{revision + 1}-0" for _, revision in chunk],
            )
        async with self.redis.pipeline(transaction=False) as pipe:
            for node_id in forgotten:
                pipe.delete(feed.stream_key(node_id), f"{HEARTBEAT_PREFIX}{node_id}")
            if forgotten:
                pipe.zrem(SEEN_KEY, *[str(n) for n in forgotten])
            await pipe.execute()


async def retire_streams(redis: Redis, node_id: uuid.UUID) -> None:
    """A terminated node's stream and sighting go with it."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(feed.stream_key(node_id))
        pipe.zrem(SEEN_KEY, str(node_id))
        await pipe.execute()

"""The fleet's state behind named methods: NodeDB (what a node is, its leases) and Redis (what it
last said, its peer feed), with the hot path's reuse and batching (phoenix.config.hotpath).

Every statement and transaction of the fleet and connect routes is here or in the modules this
calls (fleet, leases, feed); the services above hold none. What the store changes it also
forgets from its caches at once, so no caller has to remember to.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.config import feed, fleet, leases
from phoenix.config.fleet import ListedNode, NodeRecord
from phoenix.config.hotpath.coalesce import Coalescer
from phoenix.config.hotpath.notifier import FORGET_CHANNEL, FeedNotifier
from phoenix.config.hotpath.placement import LeaseAllocator, Placed
from phoenix.config.hotpath.recent import Recent
from phoenix.config.nodes.sweeper import retire_streams
from phoenix.config.schemas import Heartbeat
from phoenix.config.selection import NodeLoad

# How long a node's record is reused while the notifier's forget channel is live.
NODE_RECORD_SECONDS: Final = 60.0
# A location's loads, once expired, are still answered for this long while one read refreshes
# them: a thousand rows and heartbeats at fleet scale, read while NodeDB's pool is busy with
# the fleet's polls, held connects up to 2 s each time a location expired (bench fleet). The
# loads steer selection only; the lease statement re-checks that the node is active.
LOCATION_LOADS_STALE_SECONDS: Final = 5.0


class FleetStore:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        *,
        writes: Coalescer,
        notifier: FeedNotifier,
        heartbeat_ttl: int,
        cache_seconds: float,
    ) -> None:
        self._engine = engine
        self._redis = redis
        # Heartbeats and peer-feed appends share round trips with the role's other writes.
        self._writes = writes
        # Waiting long-polls sleep on it, holding no Redis connection; their reads are writes'.
        self._notifier = notifier
        self._heartbeat_ttl = heartbeat_ttl
        self._leases = LeaseAllocator(engine)
        # Every heartbeat authenticates (1,000/s at 10,000 nodes): records are reused for long,
        # since every replica forgets one the moment any replica changes it (the notifier's
        # forget channel), and none is reused while that channel is down.
        self._node_records: Recent[uuid.UUID, NodeRecord] = Recent(
            max(cache_seconds, NODE_RECORD_SECONDS) if cache_seconds > 0 else 0
        )
        self._location_loads: Recent[str, list[NodeLoad]] = Recent(cache_seconds)
        notifier.on_forget = self._forget_here
        self._announcing: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        """Give back what the store keeps (before the engine is disposed)."""
        await self._leases.close()

    def forget(self, node_id: uuid.UUID | None = None) -> None:
        """Forget a node's cached record (when given), here and in every replica, and every
        location's loads here (other replicas reuse theirs for a moment only)."""
        self._forget_here(node_id)
        if node_id is not None:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no loop, so no replica of this process's to tell
                return
            task = asyncio.create_task(self._announce_forget(node_id))
            self._announcing.add(task)
            task.add_done_callback(self._announcing.discard)

    def _forget_here(self, node_id: uuid.UUID | None) -> None:
        if node_id is not None:
            self._node_records.forget(node_id)
        else:
            self._node_records.forget()
        self._location_loads.forget()

    async def _announce_forget(self, node_id: uuid.UUID) -> None:
        # Best effort: a replica that misses it while subscribed is one whose subscription is
        # failing, and a failing subscription forgets everything (hotpath.notifier).
        with contextlib.suppress(RedisError, OSError):
            await self._writes.execute("PUBLISH", FORGET_CHANNEL, str(node_id))

    # A node's own calls

    async def authenticate(
        self, node_id: uuid.UUID, authorization: str | None, *, fresh: bool = False
    ) -> NodeRecord:
        # A record is trusted from memory only while forgets can reach this process.
        fresh = fresh or not self._notifier.live
        return await fleet.authenticate(
            self._engine, node_id, authorization, self._node_records, fresh=fresh
        )

    async def record_heartbeat(self, node: NodeRecord, beat: Heartbeat) -> tuple[bool, int]:
        """Whether the node is to drain, and its revision."""
        status, revision = await fleet.heartbeat(
            self._engine, self._redis, self._writes, node, beat, self._heartbeat_ttl
        )
        if status != node.status:
            # Drained, or active again: only then, or a drained node beating as fast as it
            # likes would make every replica drop its record at every beat.
            self.forget(node.id)
        return status in ("draining", "drained"), revision

    async def peer_changes(
        self, node: NodeRecord, since: int, wait_seconds: float
    ) -> feed.PeerFeed:
        """``node`` read fresh (authenticate(fresh=True)): its revision is NodeDB's, now."""
        return await feed.changes_since(
            self._engine, self._writes, self._notifier, node.id, since, node.revision, wait_seconds
        )

    # Loads and leases

    async def loads(self) -> list[NodeLoad]:
        """Every node that is not terminated, with its last heartbeat, read now."""
        return await fleet.node_loads(self._engine, self._redis)

    async def location_loads(self, location: str) -> list[NodeLoad]:
        """A location's nodes and their last heartbeats, reused for a moment (hotpath.recent)."""
        return await self._location_loads.get_or_load(
            location,
            lambda: fleet.node_loads(self._engine, self._redis, location),
            stale_seconds=LOCATION_LOADS_STALE_SECONDS,
        )

    async def place_lease(
        self, node_id: uuid.UUID, client_key: bytes, lease: timedelta, now: datetime
    ) -> Placed:
        """A committed lease and its node's endpoint, or PoolExhausted / NodeNotTaking /
        AddressTaken (phoenix.config.hotpath.placement)."""
        return await self._leases.place(node_id, client_key, lease, now)

    async def announce(self, changes: Sequence[leases.PeerChange]) -> None:
        """Committed peer changes to their nodes' feeds, best effort (phoenix.config.feed)."""
        await feed.publish(self._redis, changes, writes=self._writes)

    async def sweep_expired_leases(self) -> int:
        """End the expired leases and announce it; how many ended."""
        async with self._engine.begin() as connection:
            changes = await leases.sweep_expired(connection, datetime.now(UTC))
        await feed.publish(self._redis, changes)
        return len(changes)

    # The monitor's view and its changes

    async def list_nodes(self, status: str | None) -> list[ListedNode]:
        return await fleet.listed(self._engine, status)

    async def last_heartbeats(self, node_ids: list[uuid.UUID]) -> dict[uuid.UUID, Heartbeat]:
        return await fleet.last_heartbeats(self._redis, node_ids)

    async def drain(self, node_id: uuid.UUID, reason: str) -> None:
        await fleet.drain(self._engine, self._redis, node_id, reason)
        self.forget(node_id)

    async def undrain(self, node_id: uuid.UUID) -> None:
        await fleet.undrain(self._engine, node_id)
        self.forget(node_id)

    async def terminate(self, node_id: uuid.UUID) -> None:
        await fleet.terminate(self._engine, node_id)
        await retire_streams(self._redis, node_id)
        self.forget(node_id)

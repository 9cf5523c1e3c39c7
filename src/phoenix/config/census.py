"""The fleet census: nodes by status and location, unexpired leases, nodes whose mass-removal
guard holds a snapshot back (from their last heartbeats), Redis's eviction policy.

Counted by every config process (not only the replica that wins the sweep's lock) every fleet
sweep interval, so every replica's ``/metrics`` says the same and a rule takes their ``max``;
three statements, one ``MGET`` of the serving nodes' heartbeats and one ``INFO`` per interval.
The counts are gauges set to what was read: a location or status that disappears is set to
0, not left at its last value, so an alert on "no active node" sees the zero.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Final, get_args

import msgspec
from prometheus_client import Gauge
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.common import database
from phoenix.common.database import DatabaseUnavailable
from phoenix.common.logging import get_logger
from phoenix.config.api import NodeStatus
from phoenix.config.fleet import heartbeat_fields
from phoenix.config.models import Lease, Node

STATUSES: Final = get_args(NodeStatus)

_log = get_logger("phoenix.config.census")

# Every replica reads the same tables: within a process group the most recent count stands.
NODES = Gauge(
    "phoenix_config_nodes",
    "Nodes by status and location",
    ["status", "location"],
    multiprocess_mode="mostrecent",
)
LEASES = Gauge(
    "phoenix_config_leases_active",
    "Unexpired leases by location",
    ["location"],
    multiprocess_mode="mostrecent",
)
GUARD_HELD = Gauge(
    "phoenix_config_nodes_guard_held",
    "Serving nodes whose last heartbeat says their mass-removal guard holds a snapshot back",
    ["location"],
    multiprocess_mode="mostrecent",
)
NOEVICTION = Gauge(
    "phoenix_config_redis_noeviction",
    "1 when Redis says maxmemory-policy noeviction (spent marks are never evicted), else 0",
    multiprocess_mode="mostrecent",
)
TAKEN = Gauge(
    "phoenix_config_census_timestamp_seconds",
    "Unix time of the last complete census",
    multiprocess_mode="max",
)


class _Guard(msgspec.Struct):
    guard_held: bool = False


class Census:
    def __init__(self, engine: AsyncEngine, redis: Redis) -> None:
        self._engine = engine
        self._redis = redis
        self._locations: set[str] = set()

    async def take(self) -> None:
        """Count once and set the gauges; store errors propagate (the gauges keep their last)."""
        async with database.reading(self._engine) as connection:
            nodes = (
                await connection.execute(
                    select(Node.location, Node.status, func.count()).group_by(
                        Node.location, Node.status
                    )
                )
            ).all()
            leases = (
                await connection.execute(
                    select(Node.location, func.count())
                    .select_from(Lease)
                    .join(Node, Node.id == Lease.node_id)
                    .where(Lease.expires_at > datetime.now(UTC))
                    .group_by(Node.location)
                )
            ).all()
            serving = (
                await connection.execute(
                    select(Node.id, Node.location).where(Node.status.in_(("active", "draining")))
                )
            ).all()
        beats = await heartbeat_fields(self._redis, [node_id for node_id, _ in serving], _Guard)
        held = Counter(
            location for node_id, location in serving if (b := beats.get(node_id)) and b.guard_held
        )
        policy = (await self._redis.info("memory")).get("maxmemory_policy")
        counts = {(location, status): count for location, status, count in nodes}
        leased = {location: count for location, count in leases}
        # Locations once seen stay at 0 in this process rather than vanish (see the docstring).
        self._locations |= {location for location, _ in counts} | set(leased)
        for location in self._locations:
            for status in STATUSES:
                NODES.labels(status, location).set(counts.get((location, status), 0))
            LEASES.labels(location).set(leased.get(location, 0))
            GUARD_HELD.labels(location).set(held[location])
        NOEVICTION.set(1 if policy == "noeviction" else 0)
        TAKEN.set(time.time())

    async def run_forever(self, period: float) -> None:
        while True:
            try:
                await self.take()
            except (RedisError, OSError, DatabaseUnavailable, DBAPIError) as error:
                _log.warning("fleet_census_failed", error=type(error).__name__)
            except Exception:  # the loop must outlive any one bad census
                _log.exception("fleet_census_crashed")
            await asyncio.sleep(period)

"""The fleet registry: heartbeats, drain and the node listings (enrollment: phoenix.config.nodes).

Postgres (NodeDB) holds what a node is; Redis holds what it last said (heartbeat aggregates,
with a TTL, so a silent node drops out of selection by itself).
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from typing import Final, TypeVar

import msgspec
from redis.asyncio import Redis
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.common import database
from phoenix.common.problems import Problem
from phoenix.config import credentials
from phoenix.config.hotpath.coalesce import Coalescer
from phoenix.config.hotpath.recent import Recent
from phoenix.config.models import Lease, Node
from phoenix.config.schemas import Heartbeat
from phoenix.config.selection import NodeLoad

HEARTBEAT_PREFIX: Final = "phoenix:node:hb:"
ZERO_STREAK_PREFIX: Final = "phoenix:node:zero:"
DRAINED_AFTER: Final = 3  # heartbeats in a row with no active peer


class UnknownNode(Problem):
    status = 404
    slug = "unknown-node"
    title = "No such node: register again"


class RegistrationBusy(Problem):
    status = 503
    slug = "registration-unavailable"
    title = "Registration cannot complete now"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "10"})


class CompromisedNode(Problem):
    status = 409
    slug = "compromised-node"
    title = "A node drained as compromised never serves again: terminate it and enroll a new one"


class InvalidNodeRequest(Problem):
    status = 422
    slug = "invalid-node-request"
    title = "Invalid node request"


@dataclass(frozen=True)
class Pools:
    ipv4_supernet: ipaddress.IPv4Network
    ipv4_prefix: int
    ipv6_supernet: ipaddress.IPv6Network
    ipv6_prefix: int

    @property
    def count(self) -> int:
        v4: int = 2 ** (self.ipv4_prefix - self.ipv4_supernet.prefixlen)
        v6: int = 2 ** (self.ipv6_prefix - self.ipv6_supernet.prefixlen)
        return min(v4, v6)

    def carve(self, index: int) -> tuple[str, str]:
        v4 = ipaddress.ip_network(
            (
                int(self.ipv4_supernet.network_address) + index * 2 ** (32 - self.ipv4_prefix),
                self.ipv4_prefix,
            )
        )
        v6 = ipaddress.ip_network(
            (
                int(self.ipv6_supernet.network_address) + index * 2 ** (128 - self.ipv6_prefix),
                self.ipv6_prefix,
            )
        )
        return str(v4), str(v6)


@dataclass(frozen=True)
class NodeRecord:
    id: uuid.UUID
    status: str
    revision: int
    credential_hash: bytes | None


_NODE_RECORD: Final = "SELECT id, status, revision, credential_hash FROM nodes WHERE id = %s"
_NODE_LOADS: Final = "SELECT id, location, capacity, status FROM nodes WHERE status <> 'terminated'"
_LOCATION_LOADS: Final = _NODE_LOADS + " AND location = %s"
# Fleet-wide Redis reads go this many keys at a time (last_heartbeats, the sweeper's).
READ_CHUNK: Final = 500


async def authenticate(
    engine: AsyncEngine,
    node_id: uuid.UUID,
    authorization: str | None,
    recent: Recent[uuid.UUID, NodeRecord] | None = None,
    *,
    fresh: bool = False,
) -> NodeRecord:
    """The node whose credential ``authorization`` carries. ``fresh``: read from NodeDB now (its
    revision is then current), not taken from ``recent``, which it refreshes."""
    presented = credentials.bearer(authorization)
    cached = recent.get(node_id) if recent is not None and not fresh else None
    if cached is not None:
        credentials.check_hash(presented, cached.credential_hash)
        return cached
    # Read fresh by every poll: psycopg directly, prepared (phoenix.common.database.driver).
    generation = recent.generation if recent is not None else None
    async with database.driver(engine) as connection:
        cursor = await connection.execute(_NODE_RECORD, (node_id,), prepare=True)
        row = await cursor.fetchone()
    if row is None or row[1] == "terminated":
        raise UnknownNode()
    node = NodeRecord(*row)
    credentials.check_hash(presented, node.credential_hash)
    if recent is not None:
        recent.put(node_id, node, generation)
    return node


async def heartbeat(
    engine: AsyncEngine,
    redis: Redis,
    writes: Coalescer,
    node: NodeRecord,
    beat: Heartbeat,
    ttl: int,
) -> tuple[str, int]:
    """Keep the aggregates with a TTL; move a draining node to drained after it stayed empty,
    a lost one back to active. The status it leaves the node in, and its revision.

    The aggregates go out with other requests' writes (``writes``): heartbeats arrive from the
    whole fleet at once, and each is otherwise little more than its Redis round trip."""
    key = f"{HEARTBEAT_PREFIX}{node.id}"
    value = msgspec.json.encode(beat)
    await writes.execute("SET", key, value, "EX", ttl)
    status = node.status
    if status == "lost":  # it speaks again: back into selection
        async with engine.begin() as connection:
            await connection.execute(
                update(Node)
                .where(Node.id == node.id, Node.status == "lost")
                .values(status="active")
            )
        status = "active"
    elif status == "draining":
        streak_key = f"{ZERO_STREAK_PREFIX}{node.id}"
        if beat.active_peers == 0:
            streak = int(await redis.incr(streak_key))
            await redis.expire(streak_key, ttl * DRAINED_AFTER)
            if streak >= DRAINED_AFTER:
                async with engine.begin() as connection:
                    await connection.execute(
                        update(Node)
                        .where(Node.id == node.id, Node.status == "draining")
                        .values(status="drained")
                    )
                status = "drained"
        else:
            await redis.delete(streak_key)
    return status, node.revision


async def last_heartbeats(redis: Redis, node_ids: list[uuid.UUID]) -> dict[uuid.UUID, Heartbeat]:
    """The fresh heartbeats of ``node_ids``."""
    return await heartbeat_fields(redis, node_ids, Heartbeat)


Fields = TypeVar("Fields", bound=msgspec.Struct)


async def heartbeat_fields(
    redis: Redis, node_ids: list[uuid.UUID], fields: type[Fields]
) -> dict[uuid.UUID, Fields]:
    """The fresh heartbeats of ``node_ids``, decoded into ``fields`` (a Struct of the fields a
    fleet-wide reader needs: msgspec skips the others, a third of the decoding). Read READ_CHUNK
    at a time: each chunk's reply is decoded before the next is asked for, so a 10,000-node
    fleet's read never holds the event loop (and every request waiting on it) for more than a
    chunk's worth."""
    beats = {}
    for start in range(0, len(node_ids), READ_CHUNK):
        chunk = node_ids[start : start + READ_CHUNK]
        values = await redis.mget([f"{HEARTBEAT_PREFIX}{node_id}" for node_id in chunk])
        for node_id, value in zip(chunk, values, strict=True):
            if value is not None:
                beats[node_id] = msgspec.json.decode(value, type=fields)
    return beats


async def node_loads(
    engine: AsyncEngine, redis: Redis, location: str | None = None
) -> list[NodeLoad]:
    """Every node that is not terminated (of ``location``, when given) with its last heartbeat."""
    # Connects read a location's nodes once a moment each (hotpath.recent), a thousand rows at
    # fleet scale: psycopg directly, prepared (phoenix.common.database.driver).
    async with database.driver(engine) as connection:
        if location is None:
            cursor = await connection.execute(_NODE_LOADS, prepare=True)
        else:
            cursor = await connection.execute(_LOCATION_LOADS, (location,), prepare=True)
        rows = await cursor.fetchall()
    if not rows:
        return []
    beats = await last_heartbeats(redis, [row[0] for row in rows])
    loads = []
    for node_id, node_location, capacity, status in rows:
        beat = beats.get(node_id)  # present only while fresh: the heartbeat key has a TTL
        loads.append(
            NodeLoad(
                node_id=node_id,
                location=node_location,
                capacity=capacity,
                active_peers=beat.active_peers if beat else 0,
                cpu=(beat.cpu / 100.0) if beat else 0.0,
                load1=beat.load1 if beat else 0.0,
                draining=status != "active",
                fresh=beat is not None,
                # Exhaustion is found by trying: the lease insert says so, and the node is
                # excluded for the rest of that request.
                has_free_addresses=True,
            )
        )
    return loads


@dataclass(frozen=True)
class ListedNode:
    id: uuid.UUID
    location: str
    status: str
    drain_reason: str | None
    public_ip: str | None
    instance_id: str | None


async def listed(engine: AsyncEngine, status: str | None) -> list[ListedNode]:
    """The nodes (of ``status``, when given), oldest first."""
    query = select(
        Node.id, Node.location, Node.status, Node.drain_reason, Node.public_ip, Node.instance_id
    )
    if status is not None:
        query = query.where(Node.status == status)
    async with database.reading(engine) as connection:
        rows = (await connection.execute(query.order_by(Node.created_at))).all()
    return [
        ListedNode(
            row.id,
            row.location,
            row.status,
            row.drain_reason,
            str(row.public_ip) if row.public_ip else None,
            row.instance_id,
        )
        for row in rows
    ]


async def drain(engine: AsyncEngine, redis: Redis, node_id: uuid.UUID, reason: str) -> None:
    async with engine.begin() as connection:
        changed = (
            await connection.execute(
                update(Node)
                .where(Node.id == node_id, Node.status != "terminated")
                # A later drain never downgrades "compromised" (an undrain would then pass).
                .values(
                    status="draining",
                    drain_reason=case(
                        (Node.drain_reason == "compromised", "compromised"), else_=reason
                    ),
                )
                .returning(Node.id)
            )
        ).first()
    if changed is None:
        raise UnknownNode()
    await redis.delete(f"{ZERO_STREAK_PREFIX}{node_id}")


async def undrain(engine: AsyncEngine, node_id: uuid.UUID) -> None:
    """Back to active, unless it was drained as compromised: its key may be in other hands."""
    async with engine.begin() as connection:
        changed = (
            await connection.execute(
                update(Node)
                .where(
                    Node.id == node_id,
                    Node.status.in_(("draining", "drained")),
                    or_(Node.drain_reason.is_(None), Node.drain_reason != "compromised"),
                )
                .values(status="active", drain_reason=None)
                .returning(Node.id)
            )
        ).first()
        if changed is None:
            reason = (
                await connection.execute(select(Node.drain_reason).where(Node.id == node_id))
            ).scalar()
    if changed is None:
        if reason == "compromised":
            raise CompromisedNode()
        raise UnknownNode("no draining node with that id")


async def terminate(engine: AsyncEngine, node_id: uuid.UUID) -> None:
    """Retire a node for good: its pools and leases are freed (the reaper calls this)."""
    async with engine.begin() as connection:
        changed = (
            await connection.execute(
                update(Node)
                .where(Node.id == node_id)
                .values(
                    status="terminated",
                    pool_index=None,
                    ipv4_pool=None,
                    ipv6_pool=None,
                    credential_hash=None,
                )
                .returning(Node.id)
            )
        ).first()
        if changed is None:
            raise UnknownNode()
        await connection.execute(delete(Lease).where(Lease.node_id == node_id))

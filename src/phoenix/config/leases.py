"""Peer leases: a client key's tunnel addresses on one node, until they expire.

Every change bumps the node's revision in the same transaction, and returns the peer changes
to announce once it commits (phoenix.config.feed). Addresses are unique per node by database
constraint; two connects racing for one address make one of them retry.

A lease ends on the hour (:func:`ends_on_the_hour`), in NodeDB and in the config handed out: an
expiry to the microsecond is the connect's own time plus the lease length, and (address, time)
in a load balancer's log at the issuer and at config would then join a subscriber to a client
key. Rounded up, every connect of an hour ends at the same moment.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

import psycopg
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from phoenix.common.problems import Problem
from phoenix.config.models import Lease, Node
from phoenix.crypto.wireguard import encode_key

FIRST_CLIENT_OFFSET: Final = 2  # .0 is the network, .1 the node's own tunnel address
_HOUR: Final = timedelta(hours=1)


def ends_on_the_hour(moment: datetime) -> datetime:
    """``moment`` rounded up to the next whole hour (UTC), itself when already on one: a lease
    ends no sooner than it was asked to, and at most an hour later."""
    if moment.tzinfo is None:
        raise ValueError("a lease expiry must be timezone-aware")
    moment = moment.astimezone(UTC)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + _HOUR


class PoolExhausted(Problem):
    status = 503
    slug = "pool-exhausted"
    title = "The node has no free tunnel address"


class NodeNotTaking(PoolExhausted):
    """The node stopped taking peers (draining, drained, terminated) since it was chosen."""


class AddressTaken(Exception):
    """Another connect took the same address at the same moment: the node may be tried again."""


@dataclass(frozen=True)
class PeerChange:
    node_id: uuid.UUID
    revision: int
    op: Literal["add", "remove"]
    public_key: str
    allowed_ips: tuple[str, ...]


@dataclass(frozen=True)
class Allocated:
    node_id: uuid.UUID
    ipv4: str
    ipv6: str
    expires_at: datetime
    changes: tuple[PeerChange, ...]


def allowed_ips(ipv4: object, ipv6: object) -> tuple[str, ...]:
    return (f"{_host(ipv4)}/32", f"{_host(ipv6)}/128")


def _host(address: object) -> str:
    return str(ipaddress.ip_interface(str(address)).ip)


async def _bump(
    connection: AsyncConnection, node_id: uuid.UUID, *, added_at: int | None = None
) -> int:
    """Bump the node's revision. A peer added at pool offset ``added_at`` needs the node to be
    active, and moves the placement counter (phoenix.config.hotpath.placement) on past that
    offset (it collided or ran past the pool to get here)."""
    statement = update(Node).where(Node.id == node_id)
    values: dict[str, object] = {"revision": Node.revision + 1}
    if added_at is not None:
        statement = statement.where(Node.status == "active")
        values["next_host"] = added_at + 1
    revision = (
        await connection.execute(statement.values(**values).returning(Node.revision))
    ).scalar_one_or_none()
    if revision is None:
        raise NodeNotTaking()
    return int(revision)


@dataclass(frozen=True)
class NodeEndpoint:
    public_key: bytes
    public_ip: str
    listen_port: int
    gateway: str  # the node's own tunnel address: its pool's first host


async def allocate(
    connection: AsyncConnection,
    node_id: uuid.UUID,
    client_key: bytes,
    lease: timedelta,
    now: datetime,
) -> Allocated:
    """Give ``client_key`` a lease on ``node_id`` (moving any lease it had elsewhere, or
    extending the one it has there), until the hour after ``now + lease``."""
    expires = ends_on_the_hour(now + lease)
    key_text = encode_key(client_key)
    changes: list[PeerChange] = []
    current = (
        await connection.execute(
            select(Lease.node_id, Lease.ipv4, Lease.ipv6)
            .where(Lease.public_key == client_key)
            .with_for_update()
        )
    ).first()
    if current is not None and current.node_id == node_id:
        await connection.execute(
            update(Lease).where(Lease.public_key == client_key).values(expires_at=expires)
        )
        return Allocated(node_id, _host(current.ipv4), _host(current.ipv6), expires, ())
    if current is not None:
        await connection.execute(delete(Lease).where(Lease.public_key == client_key))
        revision = await _bump(connection, current.node_id)
        changes.append(
            PeerChange(
                current.node_id,
                revision,
                "remove",
                key_text,
                allowed_ips(current.ipv4, current.ipv6),
            )
        )
    row = (
        await connection.execute(
            text(
                """
                SELECT set_masklen(n.ipv4_pool::inet + g, 32) AS ipv4,
                       set_masklen(n.ipv6_pool::inet + g, 128) AS ipv6, g
                FROM nodes n,
                     generate_series(:first, (2 ^ (32 - masklen(n.ipv4_pool)))::int - 2) AS g
                WHERE n.id = :node AND NOT EXISTS (
                    SELECT 1 FROM leases l
                    WHERE l.node_id = n.id AND l.ipv4 = set_masklen(n.ipv4_pool::inet + g, 32))
                ORDER BY g LIMIT 1
                """
            ),
            {"node": node_id, "first": FIRST_CLIENT_OFFSET},
        )
    ).first()
    if row is None:
        raise PoolExhausted()
    await connection.execute(
        Lease.__table__.insert().values(  # type: ignore[attr-defined]
            public_key=client_key, node_id=node_id, ipv4=row.ipv4, ipv6=row.ipv6, expires_at=expires
        )
    )
    revision = await _bump(connection, node_id, added_at=row.g)
    changes.append(PeerChange(node_id, revision, "add", key_text, allowed_ips(row.ipv4, row.ipv6)))
    return Allocated(node_id, _host(row.ipv4), _host(row.ipv6), expires, tuple(changes))


async def endpoint(connection: AsyncConnection, node_id: uuid.UUID) -> NodeEndpoint:
    """Where a client of ``node_id`` connects to, as the batch statement returns it."""
    row = (
        await connection.execute(
            select(
                Node.public_key,
                func.host(Node.public_ip).label("public_ip"),
                Node.listen_port,
                func.host(Node.ipv4_pool.op("+")(1)).label("gateway"),
            ).where(Node.id == node_id)
        )
    ).one()
    return NodeEndpoint(row.public_key, row.public_ip, row.listen_port, row.gateway)


async def sweep_expired(connection: AsyncConnection, now: datetime) -> list[PeerChange]:
    """Delete expired leases and return their removals, one revision per removal."""
    expired = (
        await connection.execute(
            delete(Lease)
            .where(Lease.expires_at <= now)
            .returning(Lease.node_id, Lease.public_key, Lease.ipv4, Lease.ipv6)
        )
    ).all()
    changes = []
    for row in sorted(expired, key=lambda r: (str(r.node_id), r.public_key)):
        revision = await _bump(connection, row.node_id)
        changes.append(
            PeerChange(
                row.node_id,
                revision,
                "remove",
                encode_key(row.public_key),
                allowed_ips(row.ipv4, row.ipv6),
            )
        )
    return changes


# One statement, so one snapshot of the database: the revision matches the peers it comes with
# without a REPEATABLE READ transaction's four round trips. A node without leases is one row of
# NULLs; a node that is gone, no row.
_SNAPSHOT: Final = (
    "SELECT n.revision, l.public_key, l.ipv4, l.ipv6 FROM nodes n"
    " LEFT JOIN leases l ON l.node_id = n.id AND l.expires_at > %s"
    " WHERE n.id = %s ORDER BY l.ipv4"
)


async def snapshot(
    connection: psycopg.AsyncConnection[Any], node_id: uuid.UUID, now: datetime
) -> tuple[int, list[tuple[str, tuple[str, ...]]]] | None:
    """The node's revision and every live peer (public key, allowed IPs), read consistently;
    None for a node that is not there."""
    cursor = await connection.execute(_SNAPSHOT, (now, node_id), prepare=True)
    rows = await cursor.fetchall()
    if not rows:
        return None
    peers = [(encode_key(key), allowed_ips(v4, v6)) for _, key, v4, v6 in rows if key is not None]
    return int(rows[0][0]), peers

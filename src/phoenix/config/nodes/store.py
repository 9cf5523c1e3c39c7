"""NodeDB access for enrollment: keys, nodes by key or instance, pools. SQL only, no policy."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from phoenix.config.models import EnrollmentKey, Node


async def add_keys(
    connection: AsyncConnection, hashes: list[bytes], location: str, expires_at: datetime
) -> None:
    await connection.execute(
        insert(EnrollmentKey),
        [{"key_hash": h, "location": location, "expires_at": expires_at} for h in hashes],
    )


@dataclass(frozen=True)
class EnrolledNode:
    id: uuid.UUID
    status: str
    drain_reason: str | None
    location: str
    public_ip: str | None
    credential_hash: bytes | None
    instance_id: str | None
    pool_index: int | None
    revision: int


async def take_key(connection: AsyncConnection, key_hash: bytes) -> tuple[str, datetime] | None:
    """Delete the key and return its location and expiry. Two registrations racing for one key
    both reach this row; the second waits for the first's transaction and then finds nothing."""
    row = (
        await connection.execute(
            delete(EnrollmentKey)
            .where(EnrollmentKey.key_hash == key_hash)
            .returning(EnrollmentKey.location, EnrollmentKey.expires_at)
        )
    ).first()
    return None if row is None else (row.location, row.expires_at)


async def delete_expired_keys(connection: AsyncConnection, now: datetime) -> int:
    done = await connection.execute(delete(EnrollmentKey).where(EnrollmentKey.expires_at <= now))
    return int(done.rowcount)


async def node_by_key(connection: AsyncConnection, public_key: bytes) -> EnrolledNode | None:
    row = (
        await connection.execute(
            select(
                Node.id,
                Node.status,
                Node.drain_reason,
                Node.location,
                Node.public_ip,
                Node.credential_hash,
                Node.instance_id,
                Node.pool_index,
                Node.revision,
            )
            .where(Node.public_key == public_key)
            .with_for_update()
        )
    ).first()
    return None if row is None else EnrolledNode(*row)


async def instance_taken(connection: AsyncConnection, instance_id: str) -> bool:
    found = await connection.execute(select(Node.id).where(Node.instance_id == instance_id))
    return found.first() is not None


async def hold_location(connection: AsyncConnection, location: str) -> None:
    """Serialise new registrations of one location until the transaction ends, so the hourly
    cap counts what others are adding at the same moment."""
    await connection.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended("phoenix-enroll:" + location, 0)))
    )


async def registered_since(connection: AsyncConnection, location: str, since: datetime) -> int:
    count = await connection.execute(
        select(func.count())
        .select_from(Node)
        .where(Node.location == location, Node.created_at > since)
    )
    return int(count.scalar_one())


async def lowest_free_pool(connection: AsyncConnection, count: int) -> int | None:
    index = (
        await connection.execute(
            text(
                "SELECT g FROM generate_series(0, :last) AS g "
                "WHERE NOT EXISTS (SELECT 1 FROM nodes WHERE pool_index = g) ORDER BY g LIMIT 1"
            ),
            {"last": count - 1},
        )
    ).scalar_one_or_none()
    return None if index is None else int(index)


async def insert_node(connection: AsyncConnection, node_id: uuid.UUID, **values: Any) -> None:
    await connection.execute(insert(Node).values(id=node_id, **values))


async def renew_node(connection: AsyncConnection, node_id: uuid.UUID, **values: Any) -> None:
    await connection.execute(update(Node).where(Node.id == node_id).values(**values))


async def approve(connection: AsyncConnection, node_id: uuid.UUID) -> bool:
    done = await connection.execute(
        update(Node)
        .where(Node.id == node_id, Node.status == "pending")
        .values(status="active")
        .returning(Node.id)
    )
    return done.first() is not None

"""The one lease allocator: a committed lease for a client key on a node, or a domain error.

New leases of concurrent connects go out together, one NodeDB statement per batch
(phoenix.common.groupcommit), on a connection of the pool kept in autocommit. Within a
batch each node's rows are locked in id order and its requests take consecutive offsets from its
``next_host`` and consecutive revisions; the counter moves past every offset tried. A request
the statement cannot place (the key holds a lease already, the offset is taken, the node stopped
taking peers, its pool is too full for the batch's share, or the batch lost a deadlock) is
allocated by the general path (phoenix.config.leases.allocate) in its caller's own task, which
searches the pool — so a caller always gets a lease, or the reason there is none. Why the batch
and the kept connection, with their measurements: docs/config.md, "Leases placed together".
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.common import database
from phoenix.common.groupcommit import GroupCommit
from phoenix.config import leases
from phoenix.config.leases import Allocated, NodeEndpoint, PeerChange, ends_on_the_hour
from phoenix.crypto.wireguard import encode_key

# Parameters: three arrays, one element per request (node, client key, expiry); rows come back
# for the placed requests only, by their 1-based position in the arrays.
_PLACE: Final = """
    WITH wanted AS (
        SELECT w.node_id, w.public_key, w.expires_at, w.ord
        FROM unnest(%(nodes)s::uuid[], %(keys)s::bytea[], %(expires)s::timestamptz[])
             WITH ORDINALITY AS w(node_id, public_key, expires_at, ord)
    ),
    asked AS (SELECT node_id, count(*) AS n FROM wanted GROUP BY node_id),
    target AS (
        SELECT nodes.id, nodes.ipv4_pool, nodes.ipv6_pool, nodes.next_host, nodes.revision,
               asked.n
        FROM nodes JOIN asked ON asked.node_id = nodes.id
        WHERE nodes.status = 'active'
          AND nodes.next_host + asked.n - 1 <= (2 ^ (32 - masklen(nodes.ipv4_pool)))::bigint - 2
        ORDER BY nodes.id
        FOR UPDATE OF nodes
    ),
    addressed AS (
        SELECT w.ord, w.node_id, w.public_key, w.expires_at,
               set_masklen(t.ipv4_pool::inet + (t.next_host + w.k), 32) AS ipv4,
               set_masklen(t.ipv6_pool::inet + (t.next_host + w.k), 128) AS ipv6
        FROM (SELECT *, row_number() OVER (PARTITION BY node_id ORDER BY ord) - 1 AS k
              FROM wanted) AS w
        JOIN target t ON t.id = w.node_id
    ),
    placed AS (
        INSERT INTO leases (public_key, node_id, ipv4, ipv6, expires_at)
        SELECT public_key, node_id, ipv4, ipv6, expires_at FROM addressed ORDER BY ord
        ON CONFLICT DO NOTHING
        RETURNING node_id, ipv4
    ),
    counted AS (SELECT node_id, count(*) AS placed FROM placed GROUP BY node_id),
    bumped AS (
        UPDATE nodes SET revision = nodes.revision + counted.placed,
                         next_host = nodes.next_host + target.n
        FROM counted JOIN target ON target.id = counted.node_id
        WHERE nodes.id = counted.node_id
        RETURNING nodes.id, nodes.public_key, host(nodes.public_ip) AS public_ip,
                  nodes.listen_port, host(nodes.ipv4_pool::inet + 1) AS gateway
    )
    SELECT a.ord, t.revision + row_number() OVER (PARTITION BY a.node_id ORDER BY a.ord),
           b.public_key, b.public_ip, b.listen_port, b.gateway, host(a.ipv4), host(a.ipv6)
    FROM placed p
    JOIN addressed a ON a.node_id = p.node_id AND a.ipv4 = p.ipv4
    JOIN target t ON t.id = p.node_id
    JOIN bumped b ON b.id = p.node_id
"""
# Addresses come back as text (host()): parsing them into ipaddress objects and printing them
# again cost more than the statement's own Python side (measured, bench config).

# Another writer holding the same node rows in the other order: the batch is given up whole
# and its requests take the general path, one by one.
_GIVE_UP: Final = (psycopg.errors.DeadlockDetected, psycopg.errors.LockNotAvailable)

Placed = tuple[Allocated, NodeEndpoint]


@dataclass(frozen=True)
class _Request:
    node_id: uuid.UUID
    client_key: bytes
    expires_at: datetime


class LeaseAllocator(GroupCommit[_Request, Placed | None]):
    # Bounds one statement: a backlog this deep is overload, and it goes in several.
    max_batch = 64

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        # The pool's connection the batches keep (phoenix.common.database.driver, held open
        # across batches) and its psycopg connection, in autocommit.
        self._kept: AsyncExitStack | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def place(
        self, node_id: uuid.UUID, client_key: bytes, lease: timedelta, now: datetime
    ) -> Placed:
        """A lease for ``client_key`` on ``node_id``, committed, until the hour after
        ``now + lease`` (phoenix.config.leases.ends_on_the_hour); a lease the key had elsewhere
        moves, one it had there is extended. Raises :class:`~phoenix.config.leases.PoolExhausted`
        (:class:`~phoenix.config.leases.NodeNotTaking` once the node stopped taking peers) or
        :class:`~phoenix.config.leases.AddressTaken`. A lease placed for a caller that gave up
        meanwhile expires unused."""
        batched = await self._submit(_Request(node_id, client_key, ends_on_the_hour(now + lease)))
        if batched is not None:
            return batched
        return await self._allocate(node_id, client_key, lease, now)

    async def _allocate(
        self, node_id: uuid.UUID, client_key: bytes, lease: timedelta, now: datetime
    ) -> Placed:
        """The general path: one transaction that searches the node's pool."""
        try:
            async with self._engine.begin() as connection:
                allocated = await leases.allocate(connection, node_id, client_key, lease, now)
                return allocated, await leases.endpoint(connection, node_id)
        except IntegrityError:
            raise leases.AddressTaken() from None

    async def _carry_out(self, items: list[_Request]) -> list[Placed | Exception | None]:
        # None: the statement placed no row for that request, whose caller takes the general path.
        try:
            rows = await self._execute(items)
        except _GIVE_UP:
            return [None] * len(items)
        placed = {row[0]: row for row in rows}
        return [
            None if (row := placed.get(position)) is None else _placed(request, row)
            for position, request in enumerate(items, start=1)
        ]

    async def close(self) -> None:
        """Give the kept connection back to the pool (before the engine is disposed)."""
        await self._drop()

    async def _execute(self, batch: list[_Request]) -> list[Any]:
        parameters: dict[str, list[Any]] = {
            "nodes": [request.node_id for request in batch],
            "keys": [request.client_key for request in batch],
            "expires": [request.expires_at for request in batch],
        }
        reused = self._connection is not None
        try:
            try:
                return await self._statement(parameters)
            except psycopg.OperationalError as error:
                if isinstance(error, _GIVE_UP) or not reused:
                    raise
                await self._drop()  # broken while kept (NodeDB restarted): once more, anew
                return await self._statement(parameters)
        except _GIVE_UP:
            raise  # the connection is fine: the statement alone was given up
        except BaseException:
            await self._drop()
            raise

    async def _statement(self, parameters: dict[str, list[Any]]) -> list[Any]:
        connection = self._connection
        if connection is None:
            connection = await self._keep()
        cursor = await connection.execute(_PLACE, parameters, prepare=True)
        return await cursor.fetchall()

    async def _keep(self) -> psycopg.AsyncConnection[Any]:
        kept = AsyncExitStack()
        connection = await kept.enter_async_context(database.driver(self._engine))
        self._kept, self._connection = kept, connection
        return connection

    async def _drop(self) -> None:
        """Back to the pool as driver() returns one: in its own state, or invalidated when that
        cannot be restored (the server gone, a statement cut off midway); and forgotten."""
        kept, self._kept, self._connection = self._kept, None, None
        if kept is not None:
            await kept.aclose()


def _placed(request: _Request, row: Any) -> Placed:
    _, revision, node_key, public_ip, listen_port, gateway, ipv4, ipv6 = row
    change = PeerChange(
        request.node_id,
        revision,
        "add",
        encode_key(request.client_key),
        (f"{ipv4}/32", f"{ipv6}/128"),
    )
    allocated = Allocated(request.node_id, ipv4, ipv6, request.expires_at, (change,))
    return allocated, NodeEndpoint(node_key, public_ip, listen_port, gateway)

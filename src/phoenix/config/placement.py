"""New leases of concurrent connects, placed together: one NodeDB statement for the batch.

The common case of a connect — a client key without a lease, on a node with its next pool
offset free — is one INSERT and one revision bump. Sent one by one, each is a round trip,
a transaction and a commit of its own; placed together they share all three. On the
development machine a batch of four cost about 40% of four single statements in PostgreSQL
and in this process, a batch of sixteen about 25% (measured: per lease, PostgreSQL backend
CPU 63-103 µs against 223-247 µs, client CPU 19-47 µs against 99-104 µs). Requests that arrive
while a batch is in flight go in the next one, so a lone connect waits for nobody
(phoenix.config.groupcommit, as phoenix.config.coalesce for Redis).

Within a batch each node's rows are locked in id order, its requests take consecutive offsets
from its ``next_host`` and consecutive revisions, and the counter moves past every offset
tried. A request the statement cannot place — the key holds a lease already, the offset is
taken, the node stopped taking peers or its pool is too full for the batch's share — gets no
row and None back: the caller takes the general path (phoenix.config.leases.allocate), which
searches the pool. So does every request of a batch that lost a deadlock to another writer.

The statements run on one connection of the NodeDB pool that the placements keep, in
autocommit, on psycopg directly: batches go one at a time, so one is all they need, and a
checkout per batch through SQLAlchemy (a greenlet hop there and back, the pool's reset on
return) cost about three times the prepared statement's own client CPU (measured: 141 µs per
checkout and return against 50 µs for the statement). A batch whose kept connection turns out
broken (NodeDB restarted) is sent once more on a new one — safe, because a lease placed by the
first attempt makes the second insert nothing for that key, whose connect then takes the general
path and keeps that lease; any other error, or a second one, fails the batch (a 503: the
database handlers of phoenix.common.database) and the next batch starts on a fresh connection.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.common import database
from phoenix.config.groupcommit import GroupCommit
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


class Placements(GroupCommit[_Request, Placed | None]):
    # Bounds one statement: a backlog this deep is overload, and it goes in several.
    max_batch = 64

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__()
        self._engine = engine
        # The pool's connection the placements keep (phoenix.common.database.driver, held open
        # across batches) and its psycopg connection, in autocommit.
        self._kept: AsyncExitStack | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def place(
        self, node_id: uuid.UUID, client_key: bytes, expires_at: datetime
    ) -> Placed | None:
        """A new lease for ``client_key`` on ``node_id`` at the node's next offset, committed,
        ending at ``expires_at`` rounded up to the hour (phoenix.config.leases.ends_on_the_hour);
        None when that cannot be done in one statement (use phoenix.config.leases.allocate).
        A lease placed for a caller that gave up meanwhile expires unused."""
        return await self._submit(_Request(node_id, client_key, ends_on_the_hour(expires_at)))

    async def _carry_out(self, items: list[_Request]) -> list[Placed | Exception | None]:
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

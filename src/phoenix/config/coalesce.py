"""Redis commands of concurrent requests, sent together: one write, one read, one connection.

A heartbeat or a connect is mostly waiting on Redis, and on this kind of machine the
round trip's own cost (a socket write that wakes Redis on the other core, then a read) is
most of a request's CPU — several times what packing the command costs (measured: bench
config). Commands that arrive while a batch is in flight go in the next one, so a lone
command waits for nobody and a burst shares its round trips (phoenix.config.groupcommit).

The batch is written and read on a connection of the client's pool that the coalescer keeps,
packed by hiredis and parsed by redis-py's reply parser (hiredis's, where installed, as
it is with this package's dependencies), not through a ``Pipeline``: a pipeline object per
batch (its retry wrapper, callbacks and connection checkout) cost more CPU than the round trip
it saved — over a quarter of a connect's (measured, bench config). One coalescer serves the
whole role (heartbeats, spent-token marks and peer-feed appends), so their commands share
round trips too.

Each caller gets its own command's reply as the server sent it (``SET ... NX`` answers
``b"OK"`` or ``None``), or its own command's error. A batch whose kept connection turns out
closed (Redis restarted, or dropped it while idle: only the write or read shows it) is sent
once more on a new connection, as redis-py's pipelines retry, so **commands must be
idempotent**: a batch may have been carried out before its reply was lost (a refused
spent-token mark reads the key back and recognises its own claim). Any other error, or a
second one, fails every command of the batch alike, and the next batch starts on a fresh
connection.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.typing import EncodableT

from phoenix.config.groupcommit import GroupCommit

Command = tuple[EncodableT, ...]


class Coalescer(GroupCommit[Command, Any]):
    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self._pool = redis.connection_pool
        self._connection: AbstractConnection | None = None

    async def execute(self, *command: EncodableT) -> Any:
        """Send ``command`` (``"SET", key, value, "EX", 30``) with the next batch; its reply."""
        return await self._submit(command)

    async def close(self) -> None:
        """Give the kept connection back to the pool (which the client's ``aclose`` closes)."""
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await self._pool.release(connection)

    async def _carry_out(self, items: list[Command]) -> list[Any]:
        reused = self._connection is not None
        try:
            try:
                return await self._exchange(items)
            except (RedisConnectionError, OSError):
                if not reused:
                    raise
                await self._drop()  # closed while kept: once more, on a new connection
                return await self._exchange(items)
        except BaseException:
            await self._drop()
            raise

    async def _exchange(self, commands: list[Command]) -> list[Any]:
        if self._connection is None:
            self._connection = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        connection = self._connection
        # As the pool checks a connection it hands out: one Redis closed meanwhile (restarted,
        # or its idle timeout) is reconnected before the batch is trusted to it, when the
        # socket shows it already; when only the write or read does, _carry_out sends again.
        await self._pool.ensure_connection(connection)
        # hiredis packs in C: redis-py's own pack_commands, in Python, cost about as much per
        # command as the batch's share of the round trip (measured, bench config). (Its stub
        # types the argument as a tuple of one element.)
        packed = b"".join(map(hiredis.pack_command, commands))  # type: ignore[arg-type]
        await connection.send_packed_command(packed)
        replies: list[Any] = []
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as error:  # this command's error; the others still answer
                replies.append(error)
        return replies

    async def _drop(self) -> None:
        """The connection's state is unknown after an error: close it and forget it."""
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            await connection.disconnect()
        finally:
            await self._pool.release(connection)

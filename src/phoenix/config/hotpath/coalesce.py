"""Redis commands of concurrent requests, sent together: one write, one read, one connection.

One coalescer serves the whole role (heartbeats, spent-token marks, peer-feed appends). Each
caller gets its own command's reply, or its own command's error. A batch whose kept connection
turns out closed is sent once more on a new one, so **commands must be idempotent**. Why
(and what a ``Pipeline`` cost instead): docs/config.md, "Coalesced Redis commands".
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT

from phoenix.common.groupcommit import GroupCommit

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
        # One deadline for the batch's replies: redis-py's own read (timeout=None) arms and
        # cancels a timer per reply, about 3 % of a heartbeat's CPU (py-spy, bench config).
        try:
            async with asyncio.timeout(connection.socket_timeout):
                for _ in commands:
                    try:
                        replies.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as error:  # this command's error; the others answer
                        replies.append(error)
        except TimeoutError:  # the deadline's (Redis's own is a RedisError): as redis-py's read
            raise RedisTimeoutError("Redis did not answer the batch in time") from None
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

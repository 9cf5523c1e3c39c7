"""Redis commands of concurrent requests, sent together: one pipeline, one write, one read.

A heartbeat or a connect is mostly waiting on Redis, and on this kind of machine the
round trip's own cost (a socket write that wakes Redis on the other core, then a read) is
most of a request's CPU — several times what packing the command costs (measured: bench
config). Requests that arrive while a pipeline is in flight are sent in the next one, so a
lone request waits for nobody and a burst shares its round trips; it is group commit, with no
timer.

Each caller gets its own command's answer, or its own command's error (a pipeline runs with
``raise_on_error=False``); a connection error fails every command of that pipeline alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

# Bounds one pipeline: a backlog this deep is overload, and it goes in several.
MAX_BATCH: Final = 256

Queue = Callable[[Pipeline], Any]


class Coalescer:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiting: list[tuple[Queue, asyncio.Future[Any]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def run(self, queue: Queue) -> Any:
        """Queue one command on the next pipeline (``queue`` adds it) and return its answer."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((queue, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await answer

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:MAX_BATCH]
                del self._waiting[:MAX_BATCH]
                await self._one_pipeline(batch)
        finally:
            self._sender = None

    async def _one_pipeline(self, batch: list[tuple[Queue, asyncio.Future[Any]]]) -> None:
        live = [(queue, answer) for queue, answer in batch if not answer.done()]
        if not live:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for queue, _ in live:
                    queue(pipe)
                results = await pipe.execute(raise_on_error=False)
        except BaseException as error:
            for _, answer in live:
                if not answer.done():
                    answer.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, answer), result in zip(live, results, strict=True):
            if answer.done():
                continue
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)

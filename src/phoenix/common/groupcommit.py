"""Group commit without a timer: concurrent requests' work, carried out together.

The first item is carried out at once; items that arrive while a batch is in flight go in the
next one. Each caller gets its own item's result or error; an error of the whole batch reaches
every caller of that batch; a caller that gave up leaves the others their answers. Used by
config's hot path (leases, Redis commands) and auth's issuance quota; why: docs/config.md,
"Group commit".
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(ABC, Generic[Item, Result]):
    # Bounds one batch: a backlog this deep is overload, and it goes in several.
    max_batch = 256

    def __init__(self) -> None:
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def _submit(self, item: Item) -> Result:
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await answer

    @abstractmethod
    async def _carry_out(self, items: list[Item]) -> list[Result | Exception]:
        """One result, or one error, per item, in order."""

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self.max_batch]
                del self._waiting[: self.max_batch]
                await self._batch(batch)
        finally:
            self._sender = None

    async def _batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        live = [(item, answer) for item, answer in batch if not answer.done()]
        if not live:
            return
        try:
            results = await self._carry_out([item for item, _ in live])
        except BaseException as error:
            for _, answer in live:
                if not answer.done():
                    answer.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        for (_, answer), result in zip(live, results, strict=True):
            if answer.done():
                continue  # its caller gave up
            if isinstance(result, Exception):
                answer.set_exception(result)
            else:
                answer.set_result(result)

"""NodeDB (and heartbeat) answers reused for a moment.

Changes this process makes forget the entries they touch at once; other processes see them
within ``seconds``. The lease statement re-checks that a node is active, so a stale entry never
places a peer on a node that stopped taking them. Why, and why :meth:`Recent.get_or_load`
shares one read: docs/config.md, "Answers reused for a moment".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# One entry per node that spoke within the moment: a process serves up to 10,000 nodes (the
# fleet bench), so the bound sits well above that; it only bounds a misuse (~200 B an entry).
MAX_ENTRIES: Final = 100_000


class Recent(Generic[K, V]):
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}
        # Moves on at every forget(): a read that began before one is not kept after it.
        self._generation = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    @property
    def generation(self) -> int:
        """Read it before reading what to :meth:`put`; pass it along."""
        return self._generation

    def put(self, key: K, value: V, generation: int | None = None) -> None:
        """Keep ``value``, unless a forget() came since ``generation`` (when given): what was
        read before it may be what it meant to drop."""
        if self._seconds <= 0 or (generation is not None and generation != self._generation):
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self._clock() + self._seconds, value)

    async def get_or_load(
        self, key: K, load: Callable[[], Awaitable[V]], *, stale_seconds: float = 0.0
    ) -> V:
        """The entry, or what ``load()`` reads, kept for next time. Concurrent callers missing
        the same key share one ``load()``; its error reaches each of them, and is not kept.

        ``stale_seconds``: for that long after an entry expires it is still answered at once
        while one ``load()`` reads it again in the background, so no caller waits for a read
        an entry already answers (a failed refresh is retried by the next caller). A forget()
        leaves nothing stale: its callers wait for a new read."""
        entry = self._entries.get(key)
        if entry is not None:
            expires, value = entry
            now = self._clock()
            if now < expires:
                return value
            if now < expires + stale_seconds and self._seconds > 0:
                self._loading_of(key, load)
                return value
            del self._entries[key]
        if self._seconds <= 0:
            return await load()  # nothing is reused: nor is a read begun before this call
        # Shielded: a caller that gives up leaves the read to the others.
        return await asyncio.shield(self._loading_of(key, load))

    def _loading_of(self, key: K, load: Callable[[], Awaitable[V]]) -> asyncio.Future[V]:
        """The read of ``key`` in flight, begun now if none is."""
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._load(key, load, self._generation))
            # Its error is each waiter's; should there be no waiter, it is read here.
            pending.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._loading[key] = pending
        return pending

    async def _load(self, key: K, load: Callable[[], Awaitable[V]], generation: int) -> V:
        try:
            value = await load()
        finally:
            if self._loading.get(key) is asyncio.current_task():  # not a newer read's
                del self._loading[key]
        if generation == self._generation:
            self.put(key, value)
        return value

    def forget(self, key: K | None = None) -> None:
        """Forget one entry, or every entry when ``key`` is None."""
        self._generation += 1
        if key is None:
            self._entries.clear()
            self._loading.clear()
        else:
            self._entries.pop(key, None)
            self._loading.pop(key, None)

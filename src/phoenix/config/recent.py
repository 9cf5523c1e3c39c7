"""NodeDB (and heartbeat) answers reused for a moment.

Every node heartbeats every 10 s and a burst of connects asks for the same location's nodes
and their loads many times a second; what those reads return changes rarely. Keeping each
answer for about a second takes a Postgres round trip off most heartbeats, and a Postgres and a
Redis round trip off most connects (measured: bench config). Selection by power of two choices
is made to work on such slightly old loads without herding.
Changes this process makes forget the entries they touch at once; other processes see them
within ``seconds``. The lease statement itself re-checks that a node is active, so a stale
entry can never place a peer on a node that stopped taking them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# A fleet has hundreds of nodes and a few dozen locations; this only bounds a misuse.
MAX_ENTRIES: Final = 10_000


class Recent(Generic[K, V]):
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self._seconds <= 0:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self._clock() + self._seconds, value)

    def forget(self, key: K | None = None) -> None:
        """Forget one entry, or every entry when ``key`` is None."""
        if key is None:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

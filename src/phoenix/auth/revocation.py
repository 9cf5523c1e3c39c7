"""Revocation checks of Firebase ID tokens, cached per uid and rate-limited per uid.

Checking that a verified ID token was not revoked needs the user record (``disabled``,
``tokensValidAfterTime``), one Identity Toolkit lookup per check. Done per request, one account's
client in a loop would make as many paid lookups as requests. So an answer is kept per uid for
``fresh_for`` seconds (at most :data:`MAX_AGE_SECONDS`); concurrent checks of one uid share one
lookup; and one uid may start at most ``lookups_per_minute`` lookups in any 60 seconds (failed
ones count, so a failing Firebase is not hammered either).

The revocation window: a revoked, disabled or deleted account is refused at most
:data:`MAX_AGE_SECONDS` after the change, however the settings are set. Within ``fresh_for`` an
answer is used as is; once a uid's lookups are spent, its last answer is still used while it is
younger than :data:`MAX_AGE_SECONDS`; past that, :class:`LookupsExhausted` says when to retry.

State is per process and bounded: at most ``max_entries`` uids, least recently used dropped first.
This module knows nothing of Firebase or HTTP: the lookup is handed in.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

MAX_AGE_SECONDS: Final = 60
WINDOW_SECONDS: Final = 60.0  # the rate limit's sliding window
DEFAULT_MAX_ENTRIES: Final = 20_000  # under 1 KB each; a uid not seen lately is dropped


@dataclass(frozen=True)
class Standing:
    """What the user record says about tokens: the part a revocation check needs."""

    exists: bool
    disabled: bool = False
    # Firebase's tokensValidAfterTime in milliseconds (0: never revoked).
    valid_after_ms: int = 0

    def refusal(self, issued_at: float) -> str | None:
        """Why a token issued at ``issued_at`` (epoch seconds) is refused, or None."""
        if not self.exists:
            return "the account does not exist"
        if self.disabled:
            return "the account is disabled"
        # The SDK's own rule: revoked if issued strictly before tokensValidAfterTime.
        if issued_at * 1000 < self.valid_after_ms:
            return "the ID token was revoked"
        return None


MISSING: Final = Standing(exists=False)


class LookupsExhausted(Exception):
    """This uid spent its lookups for the minute and has no answer young enough to reuse."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"revocation lookups exhausted; retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(slots=True)
class _Entry:
    lookups: deque[float]  # start times of this uid's recent lookups (maxlen: the limit)
    standing: Standing | None = None
    fetched_at: float = -math.inf  # when the lookup that gave ``standing`` started
    inflight: asyncio.Future[Standing] | None = field(default=None, repr=False)


class RevocationCache:
    def __init__(
        self,
        lookup: Callable[[str], Awaitable[Standing]],
        *,
        fresh_for: float,
        lookups_per_minute: int,
        clock: Callable[[], float],
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        if not 0 < fresh_for <= MAX_AGE_SECONDS:
            raise ValueError(f"fresh_for must be in (0, {MAX_AGE_SECONDS}]")
        if lookups_per_minute < 1 or max_entries < 1:
            raise ValueError("lookups_per_minute and max_entries must be at least 1")
        self._lookup = lookup
        self._fresh_for = fresh_for
        self._limit = lookups_per_minute
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def standing(self, uid: str) -> Standing:
        """The uid's standing, from the cache or one lookup. Raises what the lookup raises, or
        LookupsExhausted."""
        now = self._clock()
        entry = self._entry(uid)
        age = now - entry.fetched_at
        if entry.standing is not None and age < self._fresh_for:
            return entry.standing
        if entry.inflight is not None:
            # Concurrent checks of one uid share the lookup under way (shielded: one caller
            # going away does not cancel it for the others).
            return await asyncio.shield(entry.inflight)
        while entry.lookups and now - entry.lookups[0] >= WINDOW_SECONDS:
            entry.lookups.popleft()
        if len(entry.lookups) >= self._limit:
            if entry.standing is not None and age < MAX_AGE_SECONDS:
                return entry.standing
            retry_after = entry.lookups[0] + WINDOW_SECONDS - now
            raise LookupsExhausted(max(1, math.ceil(retry_after)))
        entry.lookups.append(now)
        entry.inflight = asyncio.ensure_future(self._fetch(uid, entry, now))
        entry.inflight.add_done_callback(_retrieve)
        return await asyncio.shield(entry.inflight)

    def remember(self, uid: str, standing: Standing) -> None:
        """Record an answer known without a lookup (this process just deleted the account)."""
        entry = self._entry(uid)
        entry.standing, entry.fetched_at = standing, self._clock()

    async def _fetch(self, uid: str, entry: _Entry, started: float) -> Standing:
        try:
            standing = await self._lookup(uid)
        finally:
            entry.inflight = None
        if started >= entry.fetched_at:  # not over a newer answer given to remember()
            entry.standing, entry.fetched_at = standing, started
        return standing

    def _entry(self, uid: str) -> _Entry:
        entry = self._entries.get(uid)
        if entry is None:
            entry = _Entry(lookups=deque(maxlen=self._limit))
            self._entries[uid] = entry
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(uid)
        return entry


def _retrieve(future: asyncio.Future[Standing]) -> None:
    # Every waiter may have gone away (client disconnects): read the outcome so asyncio does
    # not log "exception was never retrieved" for a lookup nobody awaits any more.
    if not future.cancelled():
        future.exception()

"""Concurrent issuances' quota takes, one UserDB statement per batch (group commit).

Each issuance is one statement of its own (phoenix.auth.quota): a round trip, a plan, a commit
and its WAL flush per token request. Requests that arrive while a batch is in flight go in the
next one (phoenix.common.groupcommit), taken by one prepared statement over arrays, on psycopg
directly (phoenix.common.database.driver) — one commit for the batch. Each user's row is
counted as its own statement would count it: the same functions, the same row lock, the same
check against the limit on the newest row version.

A batch holds each user once: a user's second request of the batch (a row cannot be updated
twice by one statement) takes the general path, the single statement, in its caller's task,
after the batch. So does a request the batch refused (to compute its Retry-After, and in case
the refusal was a race the single statement settles), and the whole batch when it lost a
deadlock to another worker's batch holding the same users' rows or when one request's values
broke it. A caller therefore gets exactly the answer the single statement would give it, and
never counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.auth import quota
from phoenix.auth.quota import QuotaDecision
from phoenix.common import database
from phoenix.common.groupcommit import GroupCommit

# One element per request in each array; rows come back for every request, by its 1-based
# position. Users are upserted and counted in uid order, so two workers' batches lock the same
# users' rows in the same order.
_TAKE_MANY: Final = """
    WITH wanted AS (
        SELECT * FROM unnest(
            %(uids)s::varchar[], %(emails)s::varchar[], %(ns)s::integer[],
            %(hours)s::bigint[], %(nows)s::float8[]
        ) WITH ORDINALITY AS w(uid, email, n, hour, now, ord)
    ),
    remembered AS (
        INSERT INTO users (uid, email)
        SELECT uid, email FROM wanted ORDER BY uid
        ON CONFLICT (uid) DO UPDATE SET email = excluded.email
        WHERE users.email IS DISTINCT FROM excluded.email
    ),
    entitled AS (
        SELECT w.ord FROM wanted w
        WHERE EXISTS (
            SELECT 1 FROM entitlements e
            WHERE e.uid = w.uid AND e.expires_at > to_timestamp(w.now)
        )
    ),
    counted AS (
        INSERT INTO issuance_quota AS q (uid, hour, counts)
        SELECT w.uid, w.hour, array[w.n] || array_fill(0, array[23])
        FROM wanted w JOIN entitled USING (ord)
        ORDER BY w.uid
        ON CONFLICT (uid) DO UPDATE
        SET hour = greatest(q.hour, excluded.hour),
            counts = phoenix_quota_take(q.counts, excluded.hour - q.hour, excluded.counts[1])
        WHERE phoenix_quota_sum(phoenix_quota_shifted(q.counts, excluded.hour - q.hour))
              + excluded.counts[1] <= %(limit)s
        RETURNING q.uid, phoenix_quota_sum(q.counts) AS used
    )
    SELECT w.ord, e.ord IS NOT NULL, c.used
    FROM wanted w
    LEFT JOIN entitled e USING (ord)
    LEFT JOIN counted c ON c.uid = w.uid
    ORDER BY w.ord
"""

# The batch is given up whole and its requests take the general path, one by one, when
# another worker's batch held some of the same users' rows in a conflicting order, or when one
# request's values broke the statement (an email longer than its column): one user's row must
# not fail the others batched with it.
_GIVE_UP: Final = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.LockNotAvailable,
    psycopg.DataError,
    psycopg.IntegrityError,
)


@dataclass(frozen=True)
class _Take:
    uid: str
    email: str | None
    tokens: int
    now: float


class _General:
    """The batch leaves this request to the single statement."""


_GENERAL: Final = _General()
_NOT_ENTITLED: Final = None

_Outcome = QuotaDecision | None | _General


class GroupedQuota(GroupCommit[_Take, _Outcome]):
    # Bounds one statement: a backlog this deep is overload, and it goes in several.
    max_batch = 64

    def __init__(self, engine: AsyncEngine, limit: int) -> None:
        super().__init__()
        self._engine = engine
        self._limit = limit

    async def take_if_entitled(
        self, uid: str, email: str | None, tokens: int, now: float
    ) -> QuotaDecision | None:
        """As :func:`phoenix.auth.quota.take_if_entitled`, batched with concurrent callers."""
        if tokens > self._limit:
            return QuotaDecision(False, 0, self._limit, retry_after=None)
        outcome = await self._submit(_Take(uid, email, tokens, now))
        if not isinstance(outcome, _General):
            return outcome
        async with database.reading(self._engine) as connection:
            return await quota.take_if_entitled(connection, uid, email, tokens, self._limit, now)

    async def _carry_out(self, items: list[_Take]) -> list[_Outcome | Exception]:
        seen: set[str] = set()
        batch: list[tuple[int, _Take]] = []
        for position, item in enumerate(items):
            if item.uid not in seen:
                seen.add(item.uid)
                batch.append((position, item))
        outcomes: list[_Outcome | Exception] = [_GENERAL] * len(items)
        try:
            rows = await self._statement([item for _, item in batch])
        except _GIVE_UP:
            return outcomes
        for (position, _), (_, entitled, used) in zip(batch, rows, strict=True):
            if not entitled:
                outcomes[position] = _NOT_ENTITLED
            elif used is not None:
                outcomes[position] = QuotaDecision(True, int(used), self._limit)
        return outcomes

    async def _statement(self, batch: list[_Take]) -> list[Any]:
        parameters = {
            "uids": [item.uid for item in batch],
            "emails": [item.email for item in batch],
            "ns": [item.tokens for item in batch],
            "hours": [quota.hour_of(item.now) for item in batch],
            "nows": [item.now for item in batch],
            "limit": self._limit,
        }
        async with database.driver(self._engine) as connection:
            cursor = await connection.execute(_TAKE_MANY, parameters, prepare=True)
            return await cursor.fetchall()

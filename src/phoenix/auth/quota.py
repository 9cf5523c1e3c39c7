"""Per-account issuance quota over a rolling 24 hours, counted in hourly buckets.

The whole check-and-count is one INSERT … ON CONFLICT DO UPDATE … WHERE statement. Postgres
locks the user's row and evaluates the WHERE against its newest version, so concurrent requests
queue on that row and can never issue past the limit — no read-then-write race. Buckets are
hours: a token counts until the 24th hour boundary after it was issued (between 23 and 24 h).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

BUCKETS: Final = 24
SECONDS_PER_HOUR: Final = 3600

# The SQL functions these statements use are created by UserDB migration 0002.
# Issuance's whole database work in one round trip: remember the user (writing only when the
# email changed), check the entitlement, and count the tokens — the last only when entitled.
# Data-modifying CTEs share one snapshot; ON CONFLICT DO UPDATE still locks the quota row and
# evaluates its WHERE on the newest version, so concurrent requests cannot overshoot.
_ISSUE: Final = text(
    """
    WITH remembered AS (
        INSERT INTO users (uid, email) VALUES (:uid, :email)
        ON CONFLICT (uid) DO UPDATE SET email = excluded.email
        WHERE users.email IS DISTINCT FROM excluded.email
    ),
    entitled AS (
        SELECT 1 FROM entitlements WHERE uid = :uid AND expires_at > to_timestamp(:now) LIMIT 1
    ),
    counted AS (
        INSERT INTO issuance_quota (uid, hour, counts)
        SELECT :uid, :hour, array[:n] || array_fill(0, array[23])
        WHERE EXISTS (SELECT 1 FROM entitled)
        ON CONFLICT (uid) DO UPDATE
        SET hour = greatest(issuance_quota.hour, excluded.hour),
            counts = phoenix_quota_take(
                issuance_quota.counts, excluded.hour - issuance_quota.hour, :n)
        WHERE phoenix_quota_sum(phoenix_quota_shifted(
                issuance_quota.counts, excluded.hour - issuance_quota.hour)) + :n <= :limit
        RETURNING phoenix_quota_sum(counts) AS used
    )
    SELECT EXISTS (SELECT 1 FROM entitled) AS entitled, (SELECT used FROM counted) AS used
    """
)

_READ: Final = text(
    """
    SELECT phoenix_quota_shifted(counts, :hour - hour) FROM issuance_quota WHERE uid = :uid
    """
)


@dataclass(frozen=True)
class QuotaDecision:
    granted: bool
    used: int
    limit: int
    retry_after: int | None = None  # seconds, when refused

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


def hour_of(epoch_seconds: float) -> int:
    return int(epoch_seconds // SECONDS_PER_HOUR)


async def take_if_entitled(
    connection: AsyncConnection,
    uid: str,
    email: str | None,
    tokens: int,
    limit: int,
    now: float,
) -> QuotaDecision | None:
    """Remember the user and count ``tokens`` if they are entitled; None when they are not."""
    if tokens > limit:
        return QuotaDecision(False, 0, limit, retry_after=None)
    row = (
        await connection.execute(
            _ISSUE,
            {
                "uid": uid,
                "email": email,
                "hour": hour_of(now),
                "n": tokens,
                "limit": limit,
                "now": now,
            },
        )
    ).one()
    if not row.entitled:
        return None
    if row.used is not None:
        return QuotaDecision(True, int(row.used), limit)
    counts = await read(connection, uid, now)
    return QuotaDecision(
        False, sum(counts), limit, retry_after=retry_after(counts, tokens, limit, now)
    )


async def read(connection: AsyncConnection, uid: str, now: float) -> list[int]:
    """The user's hourly counts aligned to ``now`` (index 0 is the current hour)."""
    row = (await connection.execute(_READ, {"uid": uid, "hour": hour_of(now)})).scalar_one_or_none()
    return list(row) if row is not None else [0] * BUCKETS


def retry_after(counts: list[int], tokens: int, limit: int, now: float) -> int:
    """Seconds until enough old buckets leave the window for ``tokens`` more to fit."""
    used = sum(counts)
    into_hour = now % SECONDS_PER_HOUR
    to_next_hour = SECONDS_PER_HOUR - into_hour
    # The oldest bucket (index 23) leaves at the next hour boundary, index 22 an hour later...
    for waited_hours, index in enumerate(range(BUCKETS - 1, -1, -1)):
        used -= counts[index]
        if used + tokens <= limit:
            return math.ceil(to_next_hour + waited_hours * SECONDS_PER_HOUR)
    return math.ceil(to_next_hour + (BUCKETS - 1) * SECONDS_PER_HOUR)

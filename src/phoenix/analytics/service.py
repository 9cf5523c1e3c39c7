"""Ingest and reports, without HTTP: events become rows, aggregates become suppressed reports."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, get_args

from phoenix.analytics import schemas
from phoenix.analytics.coarse import Coarsening
from phoenix.analytics.schemas import (
    BlockingSummary,
    BucketCount,
    ConnectionAttempt,
    Event,
    FailureCell,
    FailureReport,
    MedianCell,
    MedianHeatmap,
    PerformanceReport,
    RetentionResult,
    SessionSummary,
    UsageReport,
    ValueReport,
)
from phoenix.analytics.store import Columns, Store, Value, drop_partitions_before
from phoenix.common.problems import PROBLEM_BASE, Problem, ProblemDocument

HOUR: Final = 3600
MAX_REPORT_HOURS: Final = 24 * 400
DEFAULT_REPORT_HOURS: Final = 24


class InvalidEvents(Problem):
    status = 422
    slug = "invalid-events"
    title = "The batch was refused: an event is not valid"

    def __init__(self, detail: str, index: int | None) -> None:
        super().__init__(detail)
        self.index = index

    def document(self) -> ProblemDocument:
        errors = [{"index": self.index, "message": self.detail}] if self.index is not None else None
        return ProblemDocument(
            type=PROBLEM_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            errors=errors,
        )


class RateLimited(Problem):
    status = 429
    slug = "ingest-rate-limited"
    title = "Too many events right now; retry later"


class BadWindow(Problem):
    status = 400
    slug = "bad-report-window"
    title = "from must be before to, and the window at most 400 days"


# --- ingest ------------------------------------------------------------------------------------


def current_hour(now: float | None = None) -> int:
    """The start of the current hour, Unix seconds: the only time an event ever carries."""
    moment = time.time() if now is None else now
    return int(moment) // HOUR * HOUR


def to_columns(events: Sequence[Event], hour: int, coarsening: Coarsening) -> Columns:
    """A whole batch column by column (EVENT_COLUMNS), region and app_version as ``coarsening``
    stores them (so a client's choice of either lands as one of a few values).

    The events are grouped by type, so each column is made of at most three runs: the values of
    the events that have the field, and an empty string for each event that does not. The row
    order within an insert carries no meaning (the table is sorted by type and hour anyway).
    """
    by_type: defaultdict[type[Event], list[Any]] = defaultdict(list)
    for event in events:  # by exact type: an isinstance chain per event took 5 times as long
        by_type[type(event)].append(event)
    attempts: list[ConnectionAttempt] = []
    sessions: list[SessionSummary] = []
    blocking: list[BlockingSummary] = []
    for kind, group in by_type.items():
        if issubclass(kind, ConnectionAttempt):
            attempts += group
        elif issubclass(kind, SessionSummary):
            sessions += group
        else:
            blocking += group
    # Mapped once per distinct value: a batch names few.
    region = {code: coarsening.region(code) for code in {e.region for e in attempts}}
    region.update((code, coarsening.region(code)) for code in {e.region for e in sessions})
    version = {v: coarsening.app_version(v) for v in {e.app_version for e in events}}
    a, s, b = len(attempts), len(sessions), len(blocking)
    return [
        [hour] * (a + s + b),
        ["connection_attempt"] * a + ["session_summary"] * s + ["blocking_summary"] * b,
        [e.platform for e in attempts]
        + [e.platform for e in sessions]
        + [e.platform for e in blocking],
        [version[e.app_version] for e in attempts]
        + [version[e.app_version] for e in sessions]
        + [version[e.app_version] for e in blocking],
        [region[e.region] for e in attempts] + [region[e.region] for e in sessions] + [""] * b,
        [e.outcome for e in attempts] + [""] * (s + b),
        [e.latency_bucket for e in attempts] + [""] * (s + b),
        [""] * a + [e.duration_bucket for e in sessions] + [""] * b,
        [""] * a + [e.data_bucket for e in sessions] + [""] * b,
        [""] * a + [e.throughput_bucket for e in sessions] + [""] * b,
        [""] * (a + s) + [e.blocked_mb_bucket for e in blocking],
        [""] * (a + s) + [e.blocked_requests_bucket for e in blocking],
        [""] * (a + s) + [e.time_saved_bucket for e in blocking],
    ]


class TokenBucket:
    """A global limit on events per second: there is no client identity to key a limit on."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._stamp = clock()

    def take(self, count: int) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if count > self._tokens:
            wait = (count - self._tokens) / self._rate
            raise RateLimited(headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        self._tokens -= count


# --- reports -----------------------------------------------------------------------------------


class Window:
    """A report's [from, to) in whole hours, validated; renders into SQL as integers only."""

    def __init__(self, start: datetime | None, end: datetime | None, now: float | None = None):
        end_hour = _hour_of(end) if end is not None else current_hour(now) + HOUR
        start_hour = (
            _hour_of(start) if start is not None else end_hour - DEFAULT_REPORT_HOURS * HOUR
        )
        if not start_hour < end_hour or end_hour - start_hour > MAX_REPORT_HOURS * HOUR:
            raise BadWindow()
        self.start = start_hour
        self.end = end_hour

    @property
    def start_time(self) -> datetime:
        return datetime.fromtimestamp(self.start, UTC)

    @property
    def end_time(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)

    def where(self) -> str:
        return f"hour >= toDateTime({self.start}, 'UTC') AND hour < toDateTime({self.end}, 'UTC')"


def _hour_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # a bare time in a query is read as UTC
    return int(moment.timestamp()) // HOUR * HOUR


class Reports:
    """Reads the pre-aggregated tables; every cell under ``min_events`` is suppressed.

    No report carries a total next to suppressed cells (a total minus the shown cells would
    give a suppressed one back).
    """

    def __init__(self, store: Store, min_events: int) -> None:
        self._store = store
        self._k = min_events

    async def _select(self, sql: str) -> list[tuple[Value, ...]]:
        return await asyncio.to_thread(self._store.select, sql)

    async def failures(self, window: Window) -> FailureReport:
        rows = await self._select(
            "SELECT region, toUnixTimestamp(hour) AS h, sum(events), "  # noqa: S608 - see Window
            "sumIf(events, outcome != 'ok') "
            f"FROM connection_hourly WHERE {window.where()} "
            "GROUP BY region, hour ORDER BY region, h"
        )
        cells = [
            FailureCell(
                region=str(region),
                hour=datetime.fromtimestamp(int(hour), UTC),
                attempts=int(attempts),
                failures=int(failures),
                failure_rate=round(int(failures) / int(attempts), 4),
            )
            for region, hour, attempts, failures in rows
            if int(attempts) >= self._k  # a smaller cell is left out whole (FailureCell)
        ]
        return FailureReport(window.start_time, window.end_time, self._k, cells)

    async def performance(self, window: Window) -> PerformanceReport:
        latency = await self._select(
            "SELECT region, toUnixTimestamp(hour) AS h, latency_bucket, sum(events) "  # noqa: S608
            f"FROM latency_hourly WHERE {window.where()} AND outcome = 'ok' "
            "GROUP BY region, hour, latency_bucket"
        )
        throughput = await self._select(
            "SELECT region, toUnixTimestamp(hour) AS h, throughput_bucket, sum(events) "  # noqa: S608
            f"FROM throughput_hourly WHERE {window.where()} "
            "GROUP BY region, hour, throughput_bucket"
        )
        return PerformanceReport(
            window.start_time,
            window.end_time,
            self._k,
            latency=self._medians(latency, get_args(schemas.LatencyBucket)),
            throughput=self._medians(throughput, get_args(schemas.ThroughputBucket)),
        )

    def _medians(self, rows: list[tuple[Value, ...]], order: Sequence[str]) -> MedianHeatmap:
        """A median cell per region x hour of (region, hour, bucket, events) rows; a cell of
        fewer than k events is left out whole (MedianCell)."""
        counts: defaultdict[tuple[str, int], dict[str, int]] = defaultdict(dict)
        for region, hour, bucket, events in rows:
            # A bucket outside the enumeration has no place on the scale, so it cannot count
            # towards a median; it does not count towards k either.
            if str(bucket) in order:
                counts[str(region), int(hour)][str(bucket)] = int(events)
        cells = [
            MedianCell(
                region=region,
                hour=datetime.fromtimestamp(hour, UTC),
                events=sum(cell.values()),
                median_bucket=median_bucket(cell, order),
            )
            for (region, hour), cell in sorted(counts.items())
            if sum(cell.values()) >= self._k
        ]
        return MedianHeatmap(buckets=list(order), cells=cells)

    async def usage(self, window: Window) -> UsageReport:
        duration = await self._distribution("session_hourly", "duration_bucket", window)
        data = await self._distribution("session_hourly", "data_bucket", window)
        return UsageReport(
            window.start_time,
            window.end_time,
            self._k,
            duration=self._suppress(duration, schemas.DurationBucket),
            data=self._suppress(data, schemas.DataBucket),
        )

    async def value(self, window: Window) -> ValueReport:
        rows = await self._select(
            "SELECT blocked_mb_bucket, blocked_requests_bucket, time_saved_bucket, sum(events) "  # noqa: S608
            f"FROM blocking_hourly WHERE {window.where()} "
            "GROUP BY blocked_mb_bucket, blocked_requests_bucket, time_saved_bucket"
        )
        summaries = sum(int(row[3]) for row in rows)
        if summaries < self._k:
            return ValueReport(window.start_time, window.end_time, self._k, suppressed=True)
        mb = requests = seconds = 0.0
        for mb_bucket, requests_bucket, saved_bucket, count in rows:
            n = int(count)
            mb += n * schemas.BLOCKED_MB_ESTIMATE.get(str(mb_bucket), 0.0)
            requests += n * schemas.BLOCKED_REQUESTS_ESTIMATE.get(str(requests_bucket), 0.0)
            seconds += n * schemas.TIME_SAVED_SECONDS_ESTIMATE.get(str(saved_bucket), 0.0)
        return ValueReport(
            window.start_time,
            window.end_time,
            self._k,
            summaries=summaries,
            blocked_mb=round(mb, 1),
            blocked_requests=round(requests),
            time_saved_seconds=round(seconds),
        )

    async def _distribution(self, table: str, column: str, window: Window) -> dict[str, int]:
        rows = await self._select(
            f"SELECT {column}, sum(events) FROM {table} WHERE {window.where()} GROUP BY {column}"  # noqa: S608
        )
        return {str(bucket): int(count) for bucket, count in rows}

    def _suppress(self, counts: dict[str, int], buckets: Any) -> list[BucketCount]:
        """Every bucket of the enumeration, in order; under k (zero too) shows no number."""
        answer = []
        for bucket in get_args(buckets):
            count = counts.get(bucket, 0)
            if count < self._k:
                answer.append(BucketCount(bucket=bucket, suppressed=True))
            else:
                answer.append(BucketCount(bucket=bucket, events=count))
        return answer


def median_bucket(counts: Mapping[str, int], order: Sequence[str]) -> str:
    """The bucket of ``order`` holding the middle event of ``counts`` (the lower middle one for
    an even total): the first bucket by which at least half of the events are counted."""
    total = sum(counts.get(bucket, 0) for bucket in order)
    if total <= 0:
        raise ValueError("no events to take a median of")
    seen = 0
    for bucket in order:
        seen += counts.get(bucket, 0)
        if 2 * seen >= total:
            return bucket
    raise AssertionError("unreachable: the buckets add up to the total")


# --- retention ---------------------------------------------------------------------------------


def retention_cutoff(now: datetime, months: int) -> int:
    """YYYYMM of the oldest month kept: the current month and the ``months - 1`` before it."""
    index = now.year * 12 + (now.month - 1) - (months - 1)
    return (index // 12) * 100 + index % 12 + 1


async def apply_retention(
    store: Store, months: int, now: datetime | None = None
) -> RetentionResult:
    cutoff = retention_cutoff(now or datetime.now(UTC), months)
    dropped = await asyncio.to_thread(drop_partitions_before, store, cutoff)
    return RetentionResult(keep_from_month=str(cutoff), dropped_partitions=dropped)

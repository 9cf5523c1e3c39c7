"""The ingest buffer: accepted events wait here until one flush writes them in one INSERT.

Flushed every ``flush_seconds`` or as soon as ``flush_rows`` wait (Plausible's numbers: 1 s,
10,000 rows), so ClickHouse sees few large inserts instead of many small ones. The buffer is
bounded: rows held (waiting plus being written) never exceed ``max_rows``; a batch that would
pass the bound is refused whole (:class:`BufferFull`, a 503 with Retry-After) rather than
dropped. When the store is down the batch being written is retried with backoff, and before
each retry the writer asks whether the previous attempt landed after all (its marker, see
``store.landed``), so a retry never counts an event twice. ``close`` (SIGTERM, via the app's
lifespan) writes everything still held before the process exits.

The buffer holds each accepted batch as the columns ingest built (see ``store.Columns``); a
flush joins the columns of the batches it takes, which is one C-level copy per column, so the
event loop does no per-event work for a flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, NamedTuple

from prometheus_client import Counter, Gauge

from phoenix.analytics.store import EVENT_COLUMNS, Columns, Store, StoreError, Value, landed
from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem

# A flush starts at flush_rows, but when more arrived while the last insert ran, one INSERT
# takes up to this many: ClickHouse likes few large inserts (each is a part in every table the
# views feed), and a writer that fell behind catches up instead of staying behind. Well under
# max_insert_block_size (1,048,576), so one insert is still one part per partition.
MAX_INSERT_ROWS: Final = 100_000
BACKOFF_FIRST: Final = 0.2
BACKOFF_MAX: Final = 5.0

_log = get_logger("phoenix.analytics.writer")

# docs/metrics.md. Refused rows are the client's to retry (a 503); lost rows are gone.
BUFFER_ROWS = Gauge(
    "phoenix_analytics_buffer_rows",
    "Rows held, waiting for ClickHouse",
    multiprocess_mode="livesum",
)
WRITTEN = Counter("phoenix_analytics_rows_written", "Rows landed in ClickHouse")
REFUSED = Counter(
    "phoenix_analytics_rows_refused", "Rows refused with a 503 because the buffer was full"
)
LOST = Counter(
    "phoenix_analytics_rows_lost",
    "Rows given up at shutdown after ClickHouse stayed down past the deadline",
)


class BufferFull(Problem):
    status = 503
    slug = "ingest-buffer-full"
    title = "The event buffer is full; retry later"


class _Batch(NamedTuple):
    month: int  # YYYYMM of every row's hour
    rows: int
    columns: Columns


class Writer:
    def __init__(
        self,
        store: Store,
        *,
        flush_rows: int,
        flush_seconds: float,
        max_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._flush_rows = flush_rows
        self._flush_seconds = flush_seconds
        self._max_rows = max_rows
        self._clock = clock
        self._waiting: list[_Batch] = []
        self._waiting_rows = 0
        self._writing = 0  # rows taken by the flush in progress
        self._full = asyncio.Event()  # set once flush_rows are waiting
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._deadline: float | None = None  # set by close(): give up retrying after it

    @property
    def held(self) -> int:
        return self._waiting_rows + self._writing

    def offer(self, columns: Columns) -> None:
        """Take all of ``columns`` (EVENT_COLUMNS, as ingest builds them) or none (BufferFull)."""
        rows = len(columns[0])
        if self._closing or self.held + rows > self._max_rows:
            REFUSED.inc(rows)
            raise BufferFull(headers={"Retry-After": str(max(1, round(self._flush_seconds)))})
        hours = columns[0]
        if not rows:
            return
        month = _month(int(hours[0]))
        if _month(int(min(hours))) == month == _month(int(max(hours))):
            self._waiting.append(_Batch(month, rows, columns))
        else:  # rows of two months (ingest stamps one hour per batch, so only ever a caller's)
            self._waiting.extend(_by_month(columns))
        self._waiting_rows += rows
        BUFFER_ROWS.inc(rows)
        if self._waiting_rows >= self._flush_rows:
            self._full.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="analytics-writer")

    async def close(self, deadline_seconds: float = 25.0) -> None:
        """Stop taking rows and write everything held, retrying until the deadline.

        The flush in progress is never cancelled (its rows would be in neither the buffer nor
        the store); the loop finishes it, then writes the rest and returns.
        """
        self._closing = True
        self._deadline = self._clock() + deadline_seconds
        self._full.set()
        if self._task is None:
            self.start()
        assert self._task is not None
        await self._task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):  # a second passed: flush what is there
                await asyncio.wait_for(self._full.wait(), self._flush_seconds)
            self._full.clear()
            while self._waiting:
                batch = self._take()
                if await self._write(batch):
                    WRITTEN.inc(len(batch[0]))
                    BUFFER_ROWS.dec(len(batch[0]))
                else:
                    lost = len(batch[0]) + self._waiting_rows
                    _log.error("analytics_rows_lost_at_shutdown", rows=self._waiting_rows)
                    self._waiting = []  # the deadline passed: the store stayed down
                    self._waiting_rows = 0
                    LOST.inc(lost)
                    BUFFER_ROWS.dec(lost)
            if self._closing:
                return

    def _take(self) -> list[list[Value]]:
        """The next insert: batches waiting, up to MAX_INSERT_ROWS, all of one month (one part).

        At least one batch, so a batch larger than the limit still goes (whole).
        """
        limit = max(self._flush_rows, MAX_INSERT_ROWS)
        month = self._waiting[0].month
        rows = count = 0
        for batch in self._waiting:  # nearly always a run of one month, cut at the limit
            if batch.month != month or (count and rows + batch.rows > limit):
                break
            rows += batch.rows
            count += 1
        if count < len(self._waiting) and self._waiting[count].month != month:
            taken: list[_Batch] = []  # a month ends here: take its batches from further on too
            rest: list[_Batch] = []
            rows = 0
            for batch in self._waiting:
                fits = batch.month == month and (not taken or rows + batch.rows <= limit)
                (taken if fits else rest).append(batch)
                rows += batch.rows if fits else 0
            self._waiting = rest
        else:
            taken = self._waiting[:count]
            del self._waiting[:count]
        self._waiting_rows -= rows
        self._writing = rows
        joined: list[list[Value]] = [[] for _ in EVENT_COLUMNS]
        for batch in taken:
            for column, part in zip(joined, batch.columns, strict=True):
                column += part
        return joined

    async def _write(self, batch: Columns) -> bool:
        """Insert ``batch`` exactly once, retrying while the store is down; False at deadline."""
        marker = secrets.randbits(63) | 1  # nonzero: 0 marks every other row
        delay = BACKOFF_FIRST
        attempt = 0
        try:
            while True:
                attempt += 1
                try:
                    if attempt == 1 or not await asyncio.to_thread(
                        landed, self._store, batch, marker
                    ):
                        await asyncio.to_thread(self._store.insert, batch, marker)
                except StoreError as error:
                    _log.warning(
                        "analytics_insert_failed",
                        rows=len(batch[0]),
                        attempt=attempt,
                        reason=str(error)[:200],
                    )
                except Exception as error:  # a bug must not end the writer: rows stay held
                    _log.error(
                        "analytics_insert_error",
                        rows=len(batch[0]),
                        attempt=attempt,
                        error_type=type(error).__name__,
                        exc_info=error,
                    )
                else:
                    return True
                if self._deadline is not None and self._clock() + delay > self._deadline:
                    _log.error("analytics_rows_lost_at_shutdown", rows=len(batch[0]))
                    return False
                await asyncio.sleep(delay)
                delay = min(BACKOFF_MAX, delay * 2)
        finally:
            self._writing = 0


@functools.lru_cache(maxsize=64)  # a batch's hour is the server's: the same for an hour
def _month(hour: int) -> int:
    moment = datetime.fromtimestamp(hour, UTC)
    return moment.year * 100 + moment.month


def _by_month(columns: Columns) -> list[_Batch]:
    """``columns`` cut into one batch per month, in the order each month first appears."""
    rows: dict[int, list[int]] = {}
    for index, hour in enumerate(columns[0]):
        rows.setdefault(_month(int(hour)), []).append(index)
    return [
        _Batch(month, len(indexes), [[column[i] for i in indexes] for column in columns])
        for month, indexes in rows.items()
    ]

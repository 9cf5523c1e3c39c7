"""The ingest writer on real stores: flush triggers, the bound, outages, exactly-once retries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from phoenix.analytics.service import current_hour
from phoenix.analytics.store import Columns, ServerStore, Store, StoreError, Value
from phoenix.analytics.writer import BufferFull, Writer
from tests.integration.analytics.conftest import Row, columns, count

HOUR = current_hour()


def row(hour: int = HOUR) -> Row:
    return (hour, "connection_attempt", "ios", "1.4", "de-fra", "ok", "<100ms",
            "", "", "", "", "", "")  # fmt: skip


def rows(n: int, hour: int = HOUR) -> list[list[Value]]:
    return columns([row(hour)] * n)


class AckLost:
    """The real store, except that the first insert's answer never arrives after it committed.

    That is the case a retry could double-count: the rows are in, the writer does not know.
    """

    backend = "ack-lost"

    def __init__(self, store: Store) -> None:
        self.store = store
        self.inserts = 0

    def execute(self, sql: str) -> None:
        self.store.execute(sql)

    def select(self, sql: str) -> list[tuple[Value, ...]]:
        return self.store.select(sql)

    def insert(self, batch: Columns, marker: int) -> None:
        self.inserts += 1
        self.store.insert(batch, marker)
        if self.inserts == 1:
            raise StoreError("connection reset after the insert was sent")

    def close(self) -> None:
        self.store.close()


async def test_rows_are_written_once_flush_rows_wait_without_waiting_for_the_interval(
    store: Store,
) -> None:
    writer = Writer(store, flush_rows=500, flush_seconds=60, max_rows=1000)
    writer.start()
    writer.offer(rows(499))
    await asyncio.sleep(0.3)
    assert count(store) == 0  # under flush_rows and long before the interval
    writer.offer(rows(1))
    for _ in range(100):
        if count(store) == 500:
            break
        await asyncio.sleep(0.05)
    assert count(store) == 500
    await writer.close()


async def test_the_interval_flushes_a_small_buffer(store: Store) -> None:
    writer = Writer(store, flush_rows=10_000, flush_seconds=0.2, max_rows=20_000)
    writer.start()
    writer.offer(rows(3))
    await asyncio.sleep(1.0)
    assert count(store) == 3
    await writer.close()
    assert count(store) == 3


async def test_the_bound_refuses_a_whole_batch_and_close_writes_what_was_accepted(
    store: Store,
) -> None:
    writer = Writer(store, flush_rows=100, flush_seconds=60, max_rows=100)
    writer.offer(rows(60))
    with pytest.raises(BufferFull):
        writer.offer(rows(41))
    writer.offer(rows(40))
    assert writer.held == 100
    await writer.close()
    assert count(store) == 100


async def test_a_retry_after_a_lost_acknowledgement_does_not_count_twice(store: Store) -> None:
    flaky = AckLost(store)
    writer = Writer(flaky, flush_rows=10_000, flush_seconds=60, max_rows=20_000)
    writer.offer(rows(250))
    await writer.close()
    assert flaky.inserts == 1  # the retry found its marker and did not insert again
    assert count(store) == 250
    aggregated = store.select("SELECT sum(events) FROM connection_hourly")
    assert int(aggregated[0][0]) == 250


async def test_a_batch_spanning_two_months_is_written_as_one_insert_per_month(
    store: Store,
) -> None:
    writer = Writer(store, flush_rows=10_000, flush_seconds=60, max_rows=20_000)
    january, february = 1767225600, 1769904000  # 2026-01-01, 2026-02-01 (UTC)
    writer.offer(columns([row(january)] * 5 + [row(february)] * 7 + [row(january)] * 2))
    writer.offer(rows(3, february))
    writer.offer(rows(4, january))
    await writer.close()
    months = store.select("SELECT toYYYYMM(hour), count() FROM events GROUP BY toYYYYMM(hour)")
    assert sorted((int(m), int(n)) for m, n in months) == [(202601, 11), (202602, 10)]
    markers = store.select("SELECT count() FROM events WHERE insert_marker != 0")
    assert int(markers[0][0]) == 2


@pytest.mark.parametrize("backend", ["server"])
async def test_events_are_held_while_clickhouse_is_down_and_written_once_it_is_back(
    clickhouse_server: Any, store: Store
) -> None:
    assert isinstance(store, ServerStore)
    writer = Writer(store, flush_rows=10_000, flush_seconds=0.1, max_rows=1_000)
    writer.start()
    await asyncio.to_thread(clickhouse_server.stop)
    try:
        writer.offer(rows(600))
        await asyncio.sleep(1.5)  # several failed flushes
        assert writer.held == 600
        with pytest.raises(BufferFull):
            writer.offer(rows(401))  # held up to the bound, then refused, never dropped
    finally:
        await asyncio.to_thread(clickhouse_server.start)
    for _ in range(200):
        if writer.held == 0:
            break
        await asyncio.sleep(0.05)
    await writer.close()
    assert count(store) == 600

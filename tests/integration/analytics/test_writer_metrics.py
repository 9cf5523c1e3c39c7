"""The ingest buffer's series: rows held, written, refused (the client retries) and lost (gone).

On the real stores of the writer's own tests; a store that never answers stands for ClickHouse
down past the shutdown deadline. Counters are read as deltas (one registry per process)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY

from phoenix.analytics.store import Columns, Store, StoreError, Value
from phoenix.analytics.writer import BufferFull, Writer
from tests.integration.analytics.test_writer import rows

SERIES = {
    "held": "phoenix_analytics_buffer_rows",
    "written": "phoenix_analytics_rows_written_total",
    "refused": "phoenix_analytics_rows_refused_total",
    "lost": "phoenix_analytics_rows_lost_total",
}


def readings() -> dict[str, float]:
    return {name: REGISTRY.get_sample_value(series) or 0.0 for name, series in SERIES.items()}


class Down:
    """A store whose every insert fails, as ClickHouse down for good would."""

    backend = "down"

    def __init__(self, store: Store) -> None:
        self.store = store

    def execute(self, sql: str) -> None:
        self.store.execute(sql)

    def select(self, sql: str) -> list[tuple[Value, ...]]:
        return self.store.select(sql)

    def insert(self, batch: Columns, marker: int) -> None:
        raise StoreError("connection refused")

    def close(self) -> None:
        self.store.close()


async def test_rows_held_then_written_and_refusals_counted(store: Store) -> None:
    before = readings()
    writer = Writer(store, flush_rows=1000, flush_seconds=60, max_rows=100)
    writer.offer(rows(70))
    with pytest.raises(BufferFull):
        writer.offer(rows(31))
    held = readings()
    assert held["held"] - before["held"] == 70
    assert held["refused"] - before["refused"] == 31
    await writer.close()
    after = readings()
    assert after["written"] - before["written"] == 70
    assert after["held"] == before["held"]
    assert after["lost"] == before["lost"]


async def test_rows_given_up_at_shutdown_are_counted_as_lost(store: Any) -> None:
    before = readings()
    writer = Writer(Down(store), flush_rows=10, flush_seconds=60, max_rows=100)
    writer.offer(rows(25))
    writer.offer(rows(5))
    await writer.close(deadline_seconds=0.5)
    after = readings()
    assert after["lost"] - before["lost"] == 30
    assert after["held"] == before["held"]
    assert after["written"] == before["written"]

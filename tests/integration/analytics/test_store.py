"""The store contract, on both backends with the same SQL (the `store` fixture is per backend)."""

from __future__ import annotations

from datetime import UTC, datetime

from phoenix.analytics.service import current_hour
from phoenix.analytics.store import (
    PARTITIONED_TABLES,
    Store,
    drop_partitions_before,
    landed,
    migrate,
    migrations,
)
from tests.integration.analytics.conftest import Row, columns, count


def hour_of(year: int, month: int, day: int = 1, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def attempt(hour: int, region: str = "de-fra", outcome: str = "ok") -> Row:
    return (hour, "connection_attempt", "ios", "1.4", region, outcome, "<100ms",
            "", "", "", "", "", "")  # fmt: skip


def session(hour: int) -> Row:
    return (hour, "session_summary", "macos", "3.1", "nl-ams", "", "",
            "1-4h", ">5GB", "50-200Mbps", "", "", "")  # fmt: skip


def blocking(hour: int) -> Row:
    return (hour, "blocking_summary", "windows", "1.0", "", "", "",
            "", "", "", "10-100MB", ">1000", "1-10min")  # fmt: skip


def test_migrations_create_every_table_once_and_a_rerun_applies_nothing(raw_store: Store) -> None:
    applied = migrate(raw_store)
    assert applied == [m.version for m in migrations()] == [1, 2, 3]
    tables = {row[0] for row in raw_store.select("SHOW TABLES")}
    assert set(PARTITIONED_TABLES) | {"schema_migrations"} <= tables
    assert migrate(raw_store) == []
    assert count(raw_store, "schema_migrations") == 3


def test_the_performance_tables_take_in_the_events_stored_before_them_once(
    raw_store: Store,
) -> None:
    """Migration 3 fills its tables from the events already there, and a rerun of it (as
    migrate() does when a run stopped before recording it) does not count them twice."""
    earlier = [m for m in migrations() if m.version < 3]
    (performance,) = [m for m in migrations() if m.version == 3]
    for migration in earlier:
        for statement in migration.statements:
            raw_store.execute(statement)
    hour = hour_of(2026, 3, 10, 14)
    raw_store.insert(columns([attempt(hour)] * 3 + [session(hour)] * 2), marker=1)
    for _ in range(2):
        for statement in performance.statements:
            raw_store.execute(statement)
    raw_store.insert(columns([attempt(hour, outcome="timeout"), session(hour)]), marker=2)
    latency = raw_store.select(
        "SELECT outcome, latency_bucket, sum(events) FROM latency_hourly "
        "GROUP BY outcome, latency_bucket ORDER BY outcome"
    )
    assert latency == [("ok", "<100ms", 3), ("timeout", "<100ms", 1)]
    throughput = raw_store.select(
        "SELECT region, throughput_bucket, sum(events) FROM throughput_hourly "
        "GROUP BY region, throughput_bucket"
    )
    assert throughput == [("nl-ams", "50-200Mbps", 3)]


def test_events_have_no_column_for_an_address_an_identifier_or_a_timestamp(store: Store) -> None:
    columns = {
        str(row[0]): str(row[1])
        for row in store.select(
            "SELECT name, type FROM system.columns "
            "WHERE database = currentDatabase() AND table = 'events'"
        )
    }
    assert columns["hour"] == "DateTime('UTC')"
    forbidden = ("ip", "addr", "user", "device", "session_id", "agent", "uid", "id")
    assert not [c for c in columns if any(c == f or c.endswith("_" + f) for f in forbidden)]


def test_an_insert_feeds_every_pre_aggregated_table(store: Store) -> None:
    hour = current_hour()
    rows = [attempt(hour), attempt(hour, outcome="timeout"), attempt(hour), session(hour)]
    rows.append(blocking(hour))
    store.insert(columns(rows), marker=12345)
    assert count(store) == 5
    connection = store.select(
        "SELECT region, outcome, sum(events) FROM connection_hourly "
        "GROUP BY region, outcome ORDER BY outcome"
    )
    assert connection == [("de-fra", "ok", 2), ("de-fra", "timeout", 1)]
    sessions = store.select(
        "SELECT duration_bucket, data_bucket, sum(events) FROM session_hourly "
        "GROUP BY duration_bucket, data_bucket"
    )
    assert sessions == [("1-4h", ">5GB", 1)]
    saved = store.select(
        "SELECT time_saved_bucket, sum(events) FROM blocking_hourly GROUP BY time_saved_bucket"
    )
    assert saved == [("1-10min", 1)]
    latency = store.select(
        "SELECT region, outcome, latency_bucket, sum(events) FROM latency_hourly "
        "GROUP BY region, outcome, latency_bucket ORDER BY outcome"
    )
    assert latency == [("de-fra", "ok", "<100ms", 2), ("de-fra", "timeout", "<100ms", 1)]
    throughput = store.select(
        "SELECT throughput_bucket, sum(events) FROM throughput_hourly GROUP BY throughput_bucket"
    )
    assert throughput == [("50-200Mbps", 1)]


def test_the_marker_tells_whether_an_insert_landed(store: Store) -> None:
    rows = [attempt(current_hour()) for _ in range(50)]
    inserted = columns(rows)
    assert not landed(store, inserted, 777)
    store.insert(inserted, marker=777)
    assert landed(store, inserted, 777)
    assert not landed(store, inserted, 778)
    # Only the first row carries the marker: a number on one row links no events together.
    markers = store.select("SELECT insert_marker, count() FROM events GROUP BY insert_marker")
    assert sorted(markers) == [(0, 49), (777, 1)]


def test_retention_drops_old_months_in_every_table_and_keeps_the_rest(store: Store) -> None:
    for year, month in ((2024, 12), (2025, 1), (2025, 2)):
        hour = hour_of(year, month, 3, 10)
        store.insert(
            columns([attempt(hour), session(hour), blocking(hour)]), marker=year * 100 + month
        )
    dropped = drop_partitions_before(store, 202501)
    assert dropped == sorted(f"{table}:202412" for table in PARTITIONED_TABLES)
    for table in PARTITIONED_TABLES:
        months = store.select(
            f"SELECT DISTINCT toYYYYMM(hour) FROM {table}"  # noqa: S608
        )
        assert sorted(int(m[0]) for m in months) == [202501, 202502], table
    assert drop_partitions_before(store, 202501) == []

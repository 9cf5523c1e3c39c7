"""The analytics store on both backends: the tests' own ClickHouse server, and chDB in process.

Every store test takes the ``store`` fixture and so runs twice, once per backend, with the same
SQL. Each test gets a database of its own (chDB allows one directory per process, so the
embedded backend shares one directory and isolates tests by database instead).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from phoenix.analytics.app import create_app
from phoenix.analytics.settings import AnalyticsSettings
from phoenix.analytics.store import EmbeddedStore, ServerStore, Store, Value, migrate

# One event as a tuple in EVENT_COLUMNS order, for tests that write straight into a store.
Row = tuple[int, str, str, str, str, str, str, str, str, str, str, str, str]
OPERATOR = "operator-token-" + "o" * 24
OPERATOR_HEADERS = {"Authorization": f"Bearer {OPERATOR}"}


def connection_attempt(
    region: str = "de-fra", outcome: str = "ok", **changes: Any
) -> dict[str, Any]:
    return {
        "type": "connection_attempt",
        "platform": "ios",
        "app_version": "1.4",
        "region": region,
        "outcome": outcome,
        "latency_bucket": "<100ms",
        **changes,
    }


def session_summary(**changes: Any) -> dict[str, Any]:
    return {
        "type": "session_summary",
        "platform": "android",
        "app_version": "2.0",
        "region": "nl-ams",
        "duration_bucket": "10-60min",
        "data_bucket": "100MB-1GB",
        "throughput_bucket": "10-50Mbps",
        **changes,
    }


def blocking_summary(**changes: Any) -> dict[str, Any]:
    return {
        "type": "blocking_summary",
        "platform": "linux",
        "app_version": "1.0",
        "blocked_mb_bucket": "1-10MB",
        "blocked_requests_bucket": "100-1000",
        "time_saved_bucket": "10-60s",
        **changes,
    }


@pytest.fixture(scope="session")
def chdb_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(params=["server", "embedded"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def raw_store(backend: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """An empty, unmigrated store on a database of the test's own."""
    if backend == "server":
        store: Store = ServerStore(request.getfixturevalue("clickhouse_url"))
    else:
        database = f"t_{uuid.uuid4().hex[:12]}"
        store = EmbeddedStore(str(request.getfixturevalue("chdb_directory")), database)
    yield store
    if isinstance(store, EmbeddedStore):
        store.execute(f"DROP DATABASE IF EXISTS {store.database}")
    store.close()


@pytest.fixture
def store(raw_store: Store) -> Store:
    migrate(raw_store)
    return raw_store


def settings(**changes: Any) -> AnalyticsSettings:
    values: dict[str, Any] = {"env": "test", "operator_token": OPERATOR, "flush_seconds": 0.05}
    return AnalyticsSettings(**{**values, **changes})


@pytest.fixture
async def client(store: Store) -> AsyncIterator[AsyncTestClient[Any]]:
    """The role in process, on the store; writes are flushed every 50 ms."""
    app = create_app(settings(), store=store)
    async with AsyncTestClient(app) as test_client:
        yield test_client


def columns(rows: Sequence[Row]) -> list[list[Value]]:
    """``rows`` column by column, as the store and the writer take them."""
    return [list(column) for column in zip(*rows, strict=True)]


def count(store: Store, table: str = "events") -> int:
    return int(store.select(f"SELECT count() FROM {table}")[0][0])  # noqa: S608

"""Faults with a ClickHouse of the test's own: the server stopped under the analytics role.

``tests/integration/analytics/test_writer.py`` covers the writer in process; here the role
runs as ``phoenix serve --role analytics`` and the promise is the one its clients see: while
ClickHouse is down, batches are accepted (202) until the buffer's bound, then refused with a
503 and ``Retry-After`` (the app keeps them and sends them again), never taken and dropped;
once ClickHouse is back every accepted event is in it exactly once.

Each batch carries its own ``app_version`` so the check is per batch, not only a total.
Shown failing once with a planted bug: the writer treating a failed insert as written
(``return True`` on ``StoreError``): the held events vanished, so the batch sent 1.5 s into
the outage was accepted (``assert 202 == 503``) instead of refused.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from phoenix.analytics.store import ServerStore, migrate
from tests.conftest import require
from tests.harness.clickhouse import ClickHouseServer
from tests.harness.processes import RoleServer
from tests.integration.analytics.conftest import OPERATOR, connection_attempt

pytestmark = pytest.mark.slow

BATCH = 100
BOUND = 1_000  # PHOENIX_BUFFER_MAX_ROWS: ten batches


@pytest.fixture
def clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseServer]:
    server = ClickHouseServer(tmp_path_factory.mktemp("clickhouse-fault"))
    require("clickhouse-server", server.available(), "Debian package clickhouse-server")
    server.start()
    store = ServerStore(server.url())
    migrate(store)
    store.close()
    yield server
    server.stop()


@pytest.fixture
def analytics(clickhouse: ClickHouseServer, tmp_path: Path) -> Iterator[RoleServer]:
    env = {
        "PHOENIX_ENV": "test",
        "PHOENIX_CLICKHOUSE_URL": clickhouse.url(),
        # Each batch is told apart by its app version (0.0-0.24): list them, within the
        # 16-bit identifying budget (phoenix.analytics.coarse), so none is coarsened away.
        "PHOENIX_ANALYTICS_REGIONS": "de-fra",
        "PHOENIX_ANALYTICS_APP_VERSIONS": ",".join(f"0.{n}" for n in range(25)),
        "PHOENIX_OPERATOR_TOKEN": OPERATOR,
        "PHOENIX_FLUSH_SECONDS": "0.1",
        "PHOENIX_FLUSH_ROWS": "500",
        "PHOENIX_BUFFER_MAX_ROWS": str(BOUND),
    }
    server = RoleServer("analytics", env, tmp_path / "analytics.log").start()
    yield server
    server.stop()


def batch(number: int) -> dict[str, object]:
    """A batch whose events all carry the version ``0.<number>``: its mark in ClickHouse."""
    return {"events": [connection_attempt(app_version=f"0.{number}")] * BATCH}


def versions(clickhouse: ClickHouseServer) -> Counter[str]:
    rows = clickhouse.query("SELECT app_version, count() FROM events GROUP BY app_version")
    return Counter({str(version): int(str(n)) for version, n in rows})


async def wait_for(clickhouse: ClickHouseServer, expected: Counter[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (found := await asyncio.to_thread(versions, clickhouse)) != expected:
        assert time.monotonic() < deadline, f"{found} != {expected}"
        await asyncio.sleep(0.2)


async def test_clickhouse_down_during_ingest_holds_up_to_the_bound_then_503_and_loses_nothing(
    clickhouse: ClickHouseServer, analytics: RoleServer
) -> None:
    accepted: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=analytics.base_url, timeout=10) as client:

        async def send(number: int) -> int:
            answer = await client.post("/v1/events", json=batch(number))
            if answer.status_code == 202:
                assert answer.json() == {"accepted": BATCH}, answer.text
                accepted[f"0.{number}"] += BATCH
            elif answer.status_code == 503:
                assert answer.headers["content-type"] == "application/problem+json"
                assert int(answer.headers["retry-after"]) >= 1
            return answer.status_code

        assert [await send(n) for n in range(3)] == [202] * 3
        await wait_for(clickhouse, accepted, 10)

        await asyncio.to_thread(clickhouse.stop)
        statuses = Counter(await asyncio.gather(*(send(n) for n in range(3, 23))))
        assert statuses == {202: BOUND // BATCH, 503: 20 - BOUND // BATCH}, statuses
        await asyncio.sleep(1.5)  # several failed flushes: the held events are still held
        assert await send(23) == 503

        await asyncio.to_thread(clickhouse.start)
        await wait_for(clickhouse, accepted, 20)
        assert await send(24) == 202  # room again once the held events are written
        await wait_for(clickhouse, accepted, 10)
    await asyncio.sleep(0.5)  # a late duplicate of a retried insert would show here
    assert await asyncio.to_thread(versions, clickhouse) == accepted
    assert sum(accepted.values()) == 3 * BATCH + BOUND + BATCH

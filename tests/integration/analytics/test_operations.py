"""Operating the role: `phoenix migrate --db analytics`, and readiness when ClickHouse is gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

from litestar.testing import AsyncTestClient

from phoenix.analytics.app import create_app
from phoenix.analytics.store import ServerStore
from phoenix.common.web import ops_app
from phoenix.dev.probes import free_port
from tests.integration.analytics.conftest import settings


def migrate(url: str) -> dict[str, str]:
    result = subprocess.run(
        [sys.executable, "-m", "phoenix", "migrate", "--db", "analytics"],
        env={**os.environ, "PHOENIX_CLICKHOUSE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def test_migrate_creates_the_database_once_and_is_idempotent(clickhouse_server: Any) -> None:
    name = f"phoenix_test_{uuid.uuid4().hex[:10]}"
    url = clickhouse_server.url(name)
    try:
        assert migrate(url)["result"] == "created and migrated"
        assert migrate(url)["result"] == "migrated"
        tables = {row[0] for row in clickhouse_server.query("SHOW TABLES", name)}
        assert {"events", "connection_hourly", "latency_hourly", "schema_migrations"} <= tables
        versions = clickhouse_server.query("SELECT version FROM schema_migrations", name)
        assert sorted(v[0] for v in versions) == [1, 2, 3]
    finally:
        clickhouse_server.query(f"DROP DATABASE IF EXISTS {name}")


async def test_readiness_names_clickhouse_when_it_cannot_be_reached() -> None:
    nowhere = ServerStore(f"clickhouse://default@127.0.0.1:{free_port()}/default", timeout=1)
    app = create_app(settings(readiness_timeout=3.0), store=nowhere)
    async with AsyncTestClient(app) as client, AsyncTestClient(ops_app(app)) as ops:
        answer = await ops.get("/readyz")
        healthy = await client.get("/healthz")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["checks"] == {"clickhouse": "down"}
    assert healthy.status_code == 200

"""The analytics role as it runs: `phoenix serve --role analytics` in its own process.

Two promises need the real process: a graceful restart (SIGTERM) loses nothing accepted, and
no client address or user agent reaches a log line or a ClickHouse row.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phoenix.analytics.store import ServerStore, migrate
from tests.harness.clickhouse import count_events
from tests.harness.processes import RoleServer
from tests.integration.analytics.conftest import (
    OPERATOR,
    blocking_summary,
    columns,
    connection_attempt,
    session_summary,
)

CLIENT_ADDRESS = "203.0.113.77"
USER_AGENT = "PhoenixProbe/9.9 (privacy-canary-5f1c2e)"


@pytest.fixture
def analytics_url(clickhouse_url: str) -> Iterator[str]:
    store = ServerStore(clickhouse_url)
    migrate(store)
    store.close()
    return clickhouse_url


def role(url: str, log: Path, **env: str) -> RoleServer:
    return RoleServer(
        "analytics",
        {
            "PHOENIX_ENV": "test",
            "PHOENIX_CLICKHOUSE_URL": url,
            "PHOENIX_OPERATOR_TOKEN": OPERATOR,
            **env,
        },
        log,
    )


def post(server: RoleServer, events: list[dict[str, Any]], **headers: str) -> httpx.Response:
    return httpx.post(f"{server.base_url}/v1/events", json={"events": events}, headers=headers)


def test_nothing_accepted_is_lost_across_a_graceful_restart(
    analytics_url: str, tmp_path: Path
) -> None:
    # A flush interval longer than the test: every accepted event is still in the buffer
    # when SIGTERM arrives, so only the shutdown flush can save it.
    server = role(analytics_url, tmp_path / "first.log", PHOENIX_FLUSH_SECONDS="600").start()
    try:
        for _ in range(10):
            assert post(server, [connection_attempt()] * 100).status_code == 202
        assert count_events(analytics_url) == 0
    finally:
        assert server.stop() == 0
    assert count_events(analytics_url) == 1000

    again = role(analytics_url, tmp_path / "second.log", PHOENIX_FLUSH_SECONDS="600").start()
    try:
        assert post(again, [session_summary()] * 50).status_code == 202
    finally:
        assert again.stop() == 0
    assert count_events(analytics_url) == 1050


def test_the_embedded_default_also_keeps_everything_across_a_restart(tmp_path: Path) -> None:
    chdb = tmp_path / "chdb"
    migrated = subprocess.run(
        [sys.executable, "-m", "phoenix", "migrate", "--db", "analytics"],
        env={"PHOENIX_CHDB_PATH": str(chdb), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr
    for name in ("first", "second"):
        server = role("", tmp_path / f"{name}.log", PHOENIX_CHDB_PATH=str(chdb))
        server.env["PHOENIX_FLUSH_SECONDS"] = "600"
        server.start()
        try:
            assert post(server, [blocking_summary()] * 40).status_code == 202
        finally:
            assert server.stop() == 0
    reader = (
        "import chdb,sys; c=chdb.connect(sys.argv[1]); "
        "print(c.query('SELECT count() FROM events','CSV').bytes().decode().strip())"
    )
    counted = subprocess.run(
        [sys.executable, "-c", reader, str(chdb)], capture_output=True, text=True, check=True
    )
    assert counted.stdout.strip() == "80"


def test_no_client_address_or_user_agent_reaches_a_log_line_or_a_row(
    analytics_url: str, clickhouse_server: Any, tmp_path: Path
) -> None:
    identifying = {
        "X-Forwarded-For": f"{CLIENT_ADDRESS}, 198.51.100.5",
        "X-Real-IP": CLIENT_ADDRESS,
        "Forwarded": f"for={CLIENT_ADDRESS};proto=https",
        "User-Agent": USER_AGENT,
    }
    server = role(analytics_url, tmp_path / "role.log", PHOENIX_LOG_LEVEL="debug").start()
    try:
        events = [connection_attempt(), session_summary(), blocking_summary()] * 5
        assert post(server, events, **identifying).status_code == 202
        # Refusals and unknown routes are logged too: they must not carry it either.
        assert post(server, [{"type": "nope"}], **identifying).status_code == 422
        assert httpx.get(f"{server.base_url}/nowhere", headers=identifying).status_code == 404
        assert (
            httpx.get(f"{server.base_url}/v1/reports/usage", headers=identifying).status_code == 401
        )
    finally:
        assert server.stop() == 0
    logs = server.logs()
    assert '"route":"/v1/events"' in logs  # the log is there, and it is the access log we read
    for secret in (CLIENT_ADDRESS, "198.51.100.5", USER_AGENT, "privacy-canary"):
        assert secret not in logs

    database = analytics_url.rsplit("/", 1)[1]
    tables = clickhouse_server.query(
        f"SELECT name FROM system.tables WHERE database = '{database}' "  # noqa: S608
        "AND engine NOT LIKE '%View'"
    )
    seen = 0
    for (table,) in tables:
        for row in clickhouse_server.query(f"SELECT * FROM {table}", database):  # noqa: S608
            seen += 1
            text = " ".join(str(value) for value in row)
            assert CLIENT_ADDRESS not in text, table
            assert "privacy-canary" not in text, table
    assert count_events(analytics_url) == 15
    assert seen >= 15  # the sweep really read the rows it vouches for


def test_the_worker_retention_call_drops_old_partitions_in_the_running_role(
    analytics_url: str, tmp_path: Path
) -> None:
    from phoenix.worker.retention import Retention, RetentionTarget

    store = ServerStore(analytics_url)
    old = 1640995200  # 2022-01-01: far outside 13 months
    store.insert(columns([(old, "blocking_summary", "ios", "1.0", "", "", "", "", "", "",
                           "<1MB", "<10", "<1s")]), marker=9)  # fmt: skip
    server = role(analytics_url, tmp_path / "role.log").start()
    try:
        with httpx.Client() as http:
            retention = Retention(http, [RetentionTarget("analytics", server.base_url, OPERATOR)])
            result = retention.run("analytics")
    finally:
        server.stop()
    assert isinstance(result, dict)
    assert "events:202201" in result["dropped_partitions"]
    assert "blocking_hourly:202201" in result["dropped_partitions"]
    assert int(store.select("SELECT count() FROM events")[0][0]) == 0
    store.close()

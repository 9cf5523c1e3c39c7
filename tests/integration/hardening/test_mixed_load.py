"""A bounded mixed load on loopback: issuance on the auth role while clients connect, nodes beat
and the locations list is read on the config role, and apps send their anonymous events to the
analytics role (on the tests' ClickHouse server), all at once.

No 5xx, every answer one the route documents for its case, no connection left open afterwards
(role processes' sockets, Postgres sessions, Redis clients back to where they were after warm-up),
memory flat, and every event accepted is in ClickHouse. `make test` runs it for
PHOENIX_LOAD_SECONDS (20 s); `make soak` for 10 min.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from phoenix.analytics.store import ServerStore, migrate
from phoenix.config.settings import ConfigSettings
from tests.harness.clickhouse import count_events
from tests.harness.processes import RoleServer
from tests.integration.analytics.conftest import (
    OPERATOR,
    blocking_summary,
    connection_attempt,
    session_summary,
)
from tests.integration.auth.billing_world import BillingWorld
from tests.integration.config.conftest import beat
from tests.integration.config.test_connect import connect, live_node, tokens_for
from tests.integration.hardening.issuance import Issuance

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("PHOENIX_LOAD_SECONDS", "20"))
WARM_UP = min(5.0, SECONDS / 4)
# Growth allowed between the end of warm-up and the end of the run, per role's process tree.
RSS_GROWTH_MB = float(os.environ.get("PHOENIX_LOAD_RSS_GROWTH_MB", "40"))


def process_tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (granian runs its workers as children)."""
    total_kb, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        total_kb += next(int(line.split()[1]) for line in status.splitlines() if "VmRSS" in line)
    return total_kb / 1024


def tcp_sockets(pid: int) -> int:
    """Open sockets of a process tree (a leaked client or pool connection shows up here)."""
    count, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            fds = list(Path(f"/proc/{current}/fd").iterdir())
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        count += sum(1 for fd in fds if _readlink(fd).startswith("socket:"))
    return count


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def pid_of(server: RoleServer) -> int:
    assert server.process is not None
    return server.process.pid


@pytest.fixture
def analytics_server(clickhouse_url: str, tmp_path: Path) -> Iterator[RoleServer]:
    """The analytics role as deployed: a process writing to a migrated ClickHouse database."""
    store = ServerStore(clickhouse_url)
    migrate(store)
    store.close()
    env = {
        "PHOENIX_ENV": "test",
        "PHOENIX_CLICKHOUSE_URL": clickhouse_url,
        "PHOENIX_OPERATOR_TOKEN": OPERATOR,
        "PHOENIX_FLUSH_SECONDS": "0.5",
    }
    server = RoleServer("analytics", env, tmp_path / "analytics.log").start()
    yield server
    server.stop()


# What one app sends at the end of a session: an attempt or two, the session, what was blocked.
EVENTS = {"events": [connection_attempt(), connection_attempt(outcome="timeout"),
                     session_summary(), blocking_summary()] * 5}  # fmt: skip


async def test_mixed_load_has_no_5xx_no_leaked_connection_and_flat_memory(
    billing: BillingWorld,
    config_server: RoleServer,
    config_settings: ConfigSettings,
    analytics_server: RoleServer,
    clickhouse_url: str,
) -> None:
    issuance = await Issuance.entitled(billing)
    # Bounded below the three nodes' address pools: past them a 503 "no capacity" is right.
    minted = await asyncio.to_thread(tokens_for, config_settings, min(int(SECONDS * 40), 1500))
    answers: dict[str, Counter[int]] = {}
    problems: list[str] = []
    stop_at = 0.0

    async def loop(
        name: str, step: Callable[[httpx.AsyncClient], Awaitable[int]], base: str
    ) -> None:
        seen = answers.setdefault(name, Counter())
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.monotonic() < stop_at:
                seen[await step(client)] += 1

    async def connect_once(client: httpx.AsyncClient) -> int:
        if not minted:
            await asyncio.sleep(0.05)
            return 0  # ran out of pre-minted tokens: idle, not an answer
        answer = await connect(client, minted.pop())
        if answer.status_code >= 500:
            problems.append(answer.text)
        return answer.status_code

    nodes: list[dict[str, Any]] = []

    async def heartbeat(client: httpx.AsyncClient) -> int:
        node = nodes[answers["heartbeat"].total() % len(nodes)]
        await asyncio.sleep(0.02)
        answer = await client.post(
            f"/v1/nodes/{node['node_id']}/heartbeat",
            json=beat(),
            headers={"authorization": f"Bearer {node['node_credential']}"},
        )
        return answer.status_code

    async def locations(client: httpx.AsyncClient) -> int:
        return (await client.get("/v1/locations")).status_code

    accepted: list[int] = []

    async def events(client: httpx.AsyncClient) -> int:
        await asyncio.sleep(0.05)  # apps send at the end of a session, not back to back
        answer = await client.post("/v1/events", json=EVENTS)
        if answer.status_code == 202:
            accepted.append(answer.json()["accepted"])
        return answer.status_code

    config_url, auth_url = config_server.base_url, billing.server.base_url
    analytics_url = analytics_server.base_url
    async with httpx.AsyncClient(base_url=config_url, timeout=30) as setup:
        # Each node enrolls and beats once before clients come (live_node), as a node does right
        # after registering: a location none of whose nodes has reported yet is rightly a 503
        # no-capacity, and the role keeps a location's loads for its cache window
        # (PHOENIX_NODEDB_CACHE_SECONDS).
        nodes += [await live_node(setup, capacity=100_000) for _ in range(3)]

    async def run(seconds: float) -> None:
        nonlocal stop_at
        stop_at = time.monotonic() + seconds
        await asyncio.gather(
            loop("issue", issuance.issue, auth_url),
            loop("issue", issuance.issue, auth_url),
            loop("connect", connect_once, config_url),
            loop("connect", connect_once, config_url),
            loop("heartbeat", heartbeat, config_url),
            loop("locations", locations, config_url),
            loop("events", events, analytics_url),
        )

    pids = {
        "auth": pid_of(billing.server),
        "config": pid_of(config_server),
        "analytics": pid_of(analytics_server),
    }
    await run(WARM_UP)
    rss_before = {role: process_tree_rss_mb(pid) for role, pid in pids.items()}
    sockets_before = {role: tcp_sockets(pid) for role, pid in pids.items()}
    await run(SECONDS)
    await asyncio.sleep(1.0)  # let keep-alive connections of the finished clients close
    rss_after = {role: process_tree_rss_mb(pid) for role, pid in pids.items()}
    sockets_after = {role: tcp_sockets(pid) for role, pid in pids.items()}

    allowed = {
        "issue": {200, 429},
        "connect": {0, 200},  # 0: out of pre-minted tokens, idle
        "heartbeat": {200},
        "locations": {200},
        "events": {202, 429},  # 429: the global ingest rate, should a soak reach it
    }
    for name, seen in answers.items():
        assert set(seen) <= allowed[name], (name, seen, problems)
    assert not problems, problems
    assert answers["issue"][200] > 0
    assert answers["connect"][200] > 0
    assert answers["events"][202] > 0
    for role in pids:
        assert rss_after[role] - rss_before[role] < RSS_GROWTH_MB, (role, rss_before, rss_after)
        assert sockets_after[role] <= sockets_before[role] + 2, (
            role,
            sockets_before,
            sockets_after,
        )
    with psycopg.connect(config_settings.nodedb_url) as connection:
        sessions = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchone()
    assert sessions is not None
    # The role's pool of 10 and this session, not one per request.
    assert sessions[0] <= 11, sessions
    client = redis.Redis.from_url(config_settings.redis_url)
    try:
        assert len(client.client_list()) <= 12, client.client_list()
    finally:
        client.close()
    # Nothing accepted is lost: the writer flushes every 0.5 s.
    for _ in range(30):
        stored = count_events(clickhouse_url)
        if stored >= sum(accepted):
            break
        await asyncio.sleep(0.5)
    assert stored == sum(accepted), (stored, sum(accepted))

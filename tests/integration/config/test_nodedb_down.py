"""NodeDB away: a connect is a 503 to retry, the token is not burnt, and the pool recovers.

The hottest statement (the one-statement lease placement) runs on psycopg directly rather than
through SQLAlchemy (phoenix.common.database.driver), so its errors are psycopg's own: this pins
that they too become a 503 problem, never a 500, and that a connection the restart killed is
not handed out again and again. NodeDB is a cluster of the test's own (initdb on a spare port).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from litestar.testing import AsyncTestClient

from phoenix.config.app import create_app
from phoenix.config.settings import ConfigSettings
from phoenix.migrations import upgrade
from tests.harness.nodes import OPERATOR_TOKEN
from tests.harness.postgres import PrivatePostgres
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import MONITOR_TOKEN
from tests.integration.config.test_connect import assert_problem, connect, live_node, tokens_for
from tests.integration.hardening.test_postgres_faults import private_postgres

pytestmark = pytest.mark.slow
__all__ = ["private_postgres"]  # the private cluster fixture, shared with the fault tests
CONCURRENCY = 128


async def test_nodedb_stopped_is_a_503_and_the_same_token_connects_once_it_is_back(
    private_postgres: PrivatePostgres, config_settings: ConfigSettings
) -> None:
    nodedb = private_postgres
    url = nodedb.url.rsplit("/", 1)[0] + "/nodedb"
    await asyncio.to_thread(upgrade, "nodedb", url)
    settings = msgspec.structs.replace(config_settings, nodedb_url=url)
    first, second = tokens_for(settings, 2)
    client: AsyncTestClient[Any]
    async with AsyncTestClient(create_app(settings), timeout=30) as client:
        await live_node(client)
        assert (await connect(client, first)).status_code == 200  # pool and caches are warm

        await asyncio.to_thread(nodedb.stop)
        try:
            down = await connect(client, second)
            problem = assert_problem(down, 503)
            assert problem["type"].endswith("database-unavailable")
            assert "retry-after" in down.headers
        finally:
            await asyncio.to_thread(nodedb.start)

        # Connections the restart ended may each fail one statement before the pool drops
        # them; the token was never burnt, so retrying it soon succeeds.
        answers = []
        for _ in range(12):
            answer = await connect(client, second)
            answers.append(answer.status_code)
            if answer.status_code != 503:
                break
            await asyncio.sleep(0.25)
        assert answers[-1] == 200, answers


async def test_128_concurrent_connects_across_a_nodedb_restart_redeem_each_token_exactly_once(
    private_postgres: PrivatePostgres, config_settings: ConfigSettings, tmp_path: Path
) -> None:
    """Placement batches of a real config process, NodeDB stopped and started under them: a
    connect is a 200 or a 503 to retry with the same token; every token buys one lease, every
    lease has addresses of its own, and a token that bought one is spent."""
    url = private_postgres.url.rsplit("/", 1)[0] + "/nodedb_burst"
    await asyncio.to_thread(upgrade, "nodedb", url)
    settings = msgspec.structs.replace(config_settings, nodedb_url=url)
    tokens = tokens_for(settings, 600)
    env = {
        "PHOENIX_NODEDB_URL": url,
        "PHOENIX_REDIS_URL": settings.redis_url,
        "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "PHOENIX_MONITOR_TOKEN": MONITOR_TOKEN,
        "PHOENIX_ISSUER_DIRECTORY_URL": settings.issuer_directory_url,
        "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
    }
    server = RoleServer("config", env, tmp_path / "config.log").start()
    bought: dict[str, httpx.Response] = {}
    statuses: Counter[int] = Counter()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for token in tokens:
        queue.put_nowait(token)

    # No wall-clock guess of when the connects are under way: NodeDB stops once half the tokens
    # have bought a lease (the connects then in flight meet it), and the other half waits until
    # it is down, so they meet the outage whatever the machine's pace.
    half, down = asyncio.Event(), asyncio.Event()

    async def restart_at_half() -> None:
        await half.wait()
        await asyncio.to_thread(private_postgres.stop)
        down.set()
        await asyncio.sleep(1.0)
        await asyncio.to_thread(private_postgres.start)

    async def connect_until_done(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            if len(bought) >= len(tokens) // 2:
                half.set()
                await down.wait()
                if queue.empty():
                    break
            token = queue.get_nowait()
            while True:
                answer = await connect(client, token)
                statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    bought[token] = answer
                    break
                assert answer.status_code == 503, answer.text  # never a 500, never spent
                await asyncio.sleep(0.05)

    try:
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as client:
            await live_node(client)
            assert (await connect(client, queue.get_nowait())).status_code == 200  # warm
            await asyncio.gather(
                restart_at_half(),
                *(connect_until_done(client) for _ in range(CONCURRENCY)),
            )
            again = [await connect(client, token) for token in list(bought)[:10]]
    finally:
        server.stop()
    assert statuses[503] > 0, f"the restart met no connect: {statuses}"
    assert len(bought) == len(tokens) - 1
    addresses = [tuple(a.json()["interface"]["addresses"]) for a in bought.values()]
    assert len(set(addresses)) == len(addresses)
    assert {a.status_code for a in again} == {401}
    async with await psycopg.AsyncConnection.connect(url.replace("+psycopg", "")) as db:
        leases = await (
            await db.execute("SELECT count(*), count(DISTINCT ipv4) FROM leases")
        ).fetchone()
    assert leases == (len(tokens), len(tokens))  # the warm-up's lease and one per token

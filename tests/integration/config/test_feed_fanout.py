"""Waiting long-polls hold no Redis connection: one subscription per config process wakes them.

A real `phoenix serve --role config` process on a Redis of the test's own, so ``CLIENT LIST`` shows
exactly config's connections. A poll used to hold a blocking XREAD each: 200 waiting polls were
200 connections. A second poll of the same node, on any replica, ends the first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio

from phoenix.config.app import REDIS_CONNECTIONS
from phoenix.config.settings import ConfigSettings
from tests.harness.nodes import OPERATOR_TOKEN
from tests.harness.processes import RoleServer, SpareRedis
from tests.harness.scrape import sample
from tests.integration.config.conftest import MONITOR_TOKEN, Stores
from tests.integration.config.test_peer_feed import lease, register

NODES = 200
TEST_CLIENT = "fanout-test"  # this test's own connections, left out of config's count


def server_env(settings: ConfigSettings) -> dict[str, str]:
    return {
        "PHOENIX_NODEDB_URL": settings.nodedb_url,
        "PHOENIX_REDIS_URL": settings.redis_url,
        "PHOENIX_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "PHOENIX_MONITOR_TOKEN": MONITOR_TOKEN,
        "PHOENIX_ISSUER_DIRECTORY_URL": settings.issuer_directory_url,
        "PHOENIX_FLEET_SWEEP_SECONDS": "3600",
        "PHOENIX_NODE_REGISTRATIONS_PER_HOUR": str(NODES + 10),
    }


@pytest.fixture
def replicas(config_settings: ConfigSettings, tmp_path: Any) -> Iterator[list[RoleServer]]:
    env = server_env(config_settings)
    servers = [RoleServer("config", env, tmp_path / f"config{i}.log").start() for i in (1, 2)]
    yield servers
    for server in servers:
        server.stop()


def config_connections(spare_redis: SpareRedis) -> int:
    client = redis.Redis.from_url(spare_redis.url, client_name=TEST_CLIENT)
    try:
        listed = client.client_list()
    finally:
        client.close()
    return sum(1 for c in listed if c["name"] != TEST_CLIENT)


async def waiting(server: RoleServer, client: httpx.AsyncClient) -> float:
    text = (await client.get(server.ops_url + "/metrics")).text
    return sample(text, "phoenix_config_long_polls_waiting")


async def until(condition: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def poll(client: httpx.AsyncClient, node: dict[str, Any], since: int, wait: float) -> Any:
    return client.get(
        f"/v1/nodes/{node['node_id']}/peers",
        params={"since": since, "wait": wait},
        headers=node["auth"],
    )


async def test_two_hundred_waiting_polls_hold_a_handful_of_connections_and_each_wakes_for_its_own(
    replicas: list[RoleServer], stores: Stores, spare_redis: SpareRedis
) -> None:
    server = replicas[0]
    limits = httpx.Limits(max_connections=NODES + 20)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60, limits=limits) as client:
        nodes = [await register(client) for _ in range(NODES)]
        polls = [asyncio.create_task(poll(client, node, 0, 20)) for node in nodes]
        await until(lambda: _equals(waiting(server, client), NODES))
        # Both replicas together: each at most its pool and its one subscription.
        assert config_connections(spare_redis) <= 2 * (REDIS_CONNECTIONS + 1)
        started = time.monotonic()
        done = [await lease(stores, node) for node in nodes]
        answers = await asyncio.gather(*polls)
        elapsed = time.monotonic() - started
    assert elapsed < 15  # woken, not timed out (20 s); how fast is the fleet bench's figure
    for answer, placed in zip(answers, done, strict=True):
        assert answer.status_code == 200, answer.text
        assert [c["public_key"] for c in answer.json()["changes"]] == [placed.changes[0].public_key]


async def test_a_second_poll_of_a_node_on_another_replica_ends_the_first(
    replicas: list[RoleServer], stores: Stores
) -> None:
    first_replica, second_replica = replicas
    async with (
        httpx.AsyncClient(base_url=first_replica.base_url, timeout=60) as first,
        httpx.AsyncClient(base_url=second_replica.base_url, timeout=60) as second,
    ):
        node = await register(first)
        older = asyncio.create_task(poll(first, node, 0, 20))
        await until(lambda: _equals(waiting(first_replica, first), 1))
        newer = asyncio.create_task(poll(second, node, 0, 20))
        ended = await asyncio.wait_for(older, 10)  # long before its 20 s
        assert ended.status_code == 200, ended.text
        assert ended.json()["changes"] == []
        assert not newer.done()
        placed = await lease(stores, node)
        woken = await asyncio.wait_for(newer, 10)
    assert [c["public_key"] for c in woken.json()["changes"]] == [placed.changes[0].public_key]


async def test_a_poll_waiting_while_redis_restarts_is_still_woken_by_the_next_change(
    replicas: list[RoleServer], stores: Stores, spare_redis: SpareRedis
) -> None:
    server = replicas[0]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        node = await register(client)
        spare_redis.stop()
        spare_redis.start()  # empty: the streams are gone, NodeDB still knows
        await stores.redis.aclose()
        stores.redis = redis.asyncio.Redis.from_url(spare_redis.url)  # the test's, reconnected
        # The subscription comes back within a few seconds; meanwhile a poll looks again.
        waiting_poll = asyncio.create_task(poll(client, node, 0, 20))
        await asyncio.sleep(0.5)
        placed = await lease(stores, node)
        answer = await asyncio.wait_for(waiting_poll, 15)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    keys = [c["public_key"] for c in body["changes"]] or [p["public_key"] for p in body["peers"]]
    assert keys == [placed.changes[0].public_key]


async def _equals(reading: Any, expected: float) -> bool:
    return bool(await reading == expected)


async def test_with_redis_away_a_waiting_poll_watches_nodedb_and_answers_a_snapshot(
    replicas: list[RoleServer], stores: Stores, spare_redis: SpareRedis
) -> None:
    server = replicas[0]
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
        node = await register(client)
        spare_redis.stop()
        try:
            waiting_poll = asyncio.create_task(poll(client, node, 0, 20))
            await until(lambda: _equals(waiting(server, client), 1))
            await asyncio.sleep(0.2)  # past its revision read (either way the answer holds)
            placed = await lease(stores, node)  # its publication fails: NodeDB alone knows
            answer = await asyncio.wait_for(waiting_poll, 30)
        finally:
            spare_redis.start()
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["snapshot"] is True
    assert [p["public_key"] for p in body["peers"]] == [placed.changes[0].public_key]

"""Where a new lease lands: the next offset in one statement, and the lowest gap when that fails.

A connect normally takes its node's ``next_host`` offset in a single statement; when that offset
is taken or the counter has run past the pool, the general path searches the lowest free
address and moves the counter after it. Either way an address is never handed out twice.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime
from typing import Any

import httpx
from litestar.testing import AsyncTestClient
from msgspec import structs
from sqlalchemy import text

from phoenix.config import leases
from phoenix.config.app import create_app
from phoenix.config.settings import ConfigSettings
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import Stores
from tests.integration.config.test_connect import connect, live_node, tokens_for


def offset(answer: httpx.Response, pool: str) -> int:
    address = answer.json()["interface"]["addresses"][0].split("/")[0]
    network = ipaddress.ip_network(pool)
    return int(ipaddress.ip_address(address)) - int(network.network_address)


async def node_state(stores: Stores, node_id: str) -> Any:
    async with stores.nodedb.connect() as connection:
        return (
            await connection.execute(
                text("SELECT revision, next_host FROM nodes WHERE id = :id"), {"id": node_id}
            )
        ).one()


async def test_concurrent_connects_take_consecutive_offsets_and_revisions(
    config_server: RoleServer, config_settings: ConfigSettings, stores: Stores
) -> None:
    tokens = tokens_for(config_settings, 30)
    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        node = await live_node(client)
        answers = await asyncio.gather(*(connect(client, token) for token in tokens))
    assert [a.status_code for a in answers] == [200] * 30
    offsets = sorted(offset(a, node["ipv4_pool"]) for a in answers)
    assert offsets == list(range(2, 32))
    state = await node_state(stores, node["node_id"])
    assert (state.revision, state.next_host) == (30, 32)


async def test_a_freed_address_is_found_once_the_counter_has_run_past_the_pool(
    config_settings: ConfigSettings, stores: Stores
) -> None:
    small = structs.replace(config_settings, tunnel_ipv4_pool_prefix=29)  # offsets 2..6
    async with AsyncTestClient(create_app(small), timeout=30) as client:
        node = await live_node(client)
        tokens = tokens_for(small, 7)
        first = [await connect(client, token) for token in tokens[:5]]
        assert sorted(offset(a, node["ipv4_pool"]) for a in first) == [2, 3, 4, 5, 6]
        assert (await node_state(stores, node["node_id"])).next_host == 7
        async with stores.nodedb.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE leases SET expires_at = now() - interval '1 second' "
                    "WHERE ipv4 = set_masklen(CAST(:pool AS inet) + 4, 32)"
                ),
                {"pool": node["ipv4_pool"]},
            )
            await leases.sweep_expired(connection, datetime.now(UTC))
        again = await connect(client, tokens[5])
        assert again.status_code == 200, again.text
        assert offset(again, node["ipv4_pool"]) == 4
        assert (await node_state(stores, node["node_id"])).next_host == 5
        # Full again: the next one is refused, and its token is not spent.
        assert (await connect(client, tokens[6])).status_code == 503


async def test_a_counter_pointing_at_a_taken_address_falls_back_to_the_lowest_gap(
    config: AsyncTestClient[Any], config_settings: ConfigSettings, stores: Stores
) -> None:
    node = await live_node(config)
    tokens = tokens_for(config_settings, 4)
    for token in tokens[:3]:
        assert (await connect(config, token)).status_code == 200  # offsets 2, 3, 4
    async with stores.nodedb.begin() as connection:
        await connection.execute(
            text("DELETE FROM leases WHERE ipv4 = set_masklen(CAST(:pool AS inet) + 3, 32)"),
            {"pool": node["ipv4_pool"]},
        )
        await connection.execute(
            text("UPDATE nodes SET next_host = 2 WHERE id = :id"), {"id": node["node_id"]}
        )
    answer = await connect(config, tokens[3])
    assert answer.status_code == 200, answer.text
    assert offset(answer, node["ipv4_pool"]) == 3
    async with stores.nodedb.connect() as connection:
        count = await connection.execute(
            text("SELECT count(*), count(DISTINCT ipv4) FROM leases WHERE node_id = :id"),
            {"id": node["node_id"]},
        )
        assert tuple(count.one()) == (3, 3)


async def test_a_node_drained_by_another_process_gets_no_peer_from_a_stale_list(
    config_settings: ConfigSettings, stores: Stores
) -> None:
    """Another process drained node A; this one still lists A for a minute — the lease
    statement itself refuses A, so every connect lands on B."""
    slow = structs.replace(config_settings, nodedb_cache_seconds=60.0)
    async with AsyncTestClient(create_app(slow), timeout=30) as client:
        drained, open_node = await live_node(client), await live_node(client)
        tokens = tokens_for(slow, 12)
        assert (await connect(client, tokens[0])).status_code == 200  # the list is cached now
        async with stores.nodedb.begin() as connection:
            await connection.execute(
                text("UPDATE nodes SET status = 'draining' WHERE id = :id"),
                {"id": drained["node_id"]},
            )
        answers = [await connect(client, token) for token in tokens[1:]]
    assert [a.status_code for a in answers] == [200] * 11
    pool = ipaddress.ip_network(open_node["ipv4_pool"])
    for answer in answers:
        address = answer.json()["interface"]["addresses"][0].split("/")[0]
        assert ipaddress.ip_address(address) in pool

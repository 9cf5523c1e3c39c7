"""Leases and the live peer feed: addresses, moves, exhaustion, long-poll and snapshots."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from phoenix.config import feed, leases
from phoenix.config.app import create_app
from phoenix.config.hotpath.notifier import FORGET_CHANNEL
from phoenix.config.settings import ConfigSettings
from tests.harness.nodes import OPERATOR, enroll, mint
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import MONITOR_TOKEN, Stores, beat

Client = AsyncTestClient[Any]
LEASE = timedelta(hours=24)


async def register(client: Client | httpx.AsyncClient) -> dict[str, Any]:
    """A node's registration, with ``auth``: the headers of its node credential."""
    node = await enroll(client)
    return {**node.answer, "auth": node.auth}


async def lease(
    stores: Stores, node: dict[str, Any], key: bytes | None = None, now: datetime | None = None
) -> leases.Allocated:
    async with stores.nodedb.begin() as connection:
        done = await leases.allocate(
            connection,
            uuid.UUID(node["node_id"]),
            key or os.urandom(32),
            LEASE,
            now or datetime.now(UTC),
        )
    await feed.publish(stores.redis, done.changes)
    return done


async def poll(client: Client, node: dict[str, Any], since: int, wait: float = 0) -> dict[str, Any]:
    answer = await client.get(
        f"/v1/nodes/{node['node_id']}/peers",
        params={"since": since, "wait": wait},
        headers=node["auth"],
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_leases_take_the_lowest_free_addresses_of_the_node_pool(
    config: Client, stores: Stores
) -> None:
    node = await register(config)
    first, second = await lease(stores, node), await lease(stores, node)
    pool = node["ipv4_pool"].split("/")[0].rsplit(".", 1)[0]
    assert first.ipv4 == f"{pool}.2"
    assert second.ipv4 == f"{pool}.3"
    assert first.ipv6 != second.ipv6
    assert [c.revision for c in first.changes + second.changes] == [1, 2]


async def test_reconnecting_to_the_same_node_keeps_the_addresses_and_announces_nothing(
    config: Client, stores: Stores
) -> None:
    node = await register(config)
    key = os.urandom(32)
    # Two hours apart: leases end on the hour, so a reconnect within one extends nothing.
    first = await lease(stores, node, key, now=datetime.now(UTC) - timedelta(hours=2))
    again = await lease(stores, node, key)
    assert (again.ipv4, again.ipv6) == (first.ipv4, first.ipv6)
    assert again.changes == ()
    assert again.expires_at >= first.expires_at + timedelta(hours=2)


async def test_a_client_key_moving_nodes_is_removed_from_the_old_one(
    config: Client, stores: Stores
) -> None:
    old, new = await register(config), await register(config)
    key = os.urandom(32)
    await lease(stores, old, key)
    moved = await lease(stores, new, key)
    assert [(str(c.node_id), c.op) for c in moved.changes] == [
        (old["node_id"], "remove"),
        (new["node_id"], "add"),
    ]
    assert (await poll(config, old, since=1))["changes"][0]["op"] == "remove"


async def test_a_full_pool_refuses_the_next_lease(config_settings: Any, stores: Stores) -> None:
    from msgspec import structs

    from phoenix.config.app import create_app

    small = structs.replace(config_settings, tunnel_ipv4_pool_prefix=29)  # offsets .2 - .6
    async with AsyncTestClient(create_app(small)) as client:
        node = await register(client)
        for _ in range(5):
            await lease(stores, node)
        with pytest.raises(leases.PoolExhausted):
            await lease(stores, node)


async def test_a_waiting_long_poll_is_woken_by_a_change_not_its_timeout(
    config_server: RoleServer, stores: Stores
) -> None:
    async with httpx.AsyncClient(base_url=config_server.base_url, timeout=30) as client:
        node = await register(client)
        waiting = asyncio.create_task(
            client.get(
                f"/v1/nodes/{node['node_id']}/peers",
                params={"since": 0, "wait": 10},
                headers=node["auth"],
            )
        )
        await asyncio.sleep(0.5)  # the poll is waiting on its notifier now
        assert not waiting.done()
        started = time.monotonic()
        done = await lease(stores, node)
        answer = await waiting
        elapsed = time.monotonic() - started
    # Woken by the change, long before the 10 s wait: how fast is a benchmark figure
    # (bench config: connect -> long-poll delivery), not a timed test on a shared machine.
    assert elapsed < 5
    assert answer.json() == {
        "revision": 1,
        "snapshot": False,
        "changes": [
            {
                "revision": 1,
                "op": "add",
                "public_key": done.changes[0].public_key,
                "allowed_ips": [f"{done.ipv4}/32", f"{done.ipv6}/128"],
            }
        ],
        "peers": None,
    }


async def test_an_idle_long_poll_times_out_with_no_change(config: Client, stores: Stores) -> None:
    node = await register(config)
    await lease(stores, node)
    answer = await poll(config, node, since=1, wait=0.2)
    assert answer == {"revision": 1, "snapshot": False, "changes": [], "peers": None}


async def test_a_stale_revision_gets_the_missed_changes(config: Client, stores: Stores) -> None:
    node = await register(config)
    for _ in range(3):
        await lease(stores, node)
    answer = await poll(config, node, since=1)
    assert [c["revision"] for c in answer["changes"]] == [2, 3]


async def test_a_lost_stream_or_unknown_revision_gets_a_snapshot_from_nodedb(
    config: Client, stores: Stores
) -> None:
    node = await register(config)
    made = [await lease(stores, node) for _ in range(3)]
    await stores.redis.delete(f"{feed.STREAM_PREFIX}{node['node_id']}")
    for since in (0, 99, -1):
        answer = await poll(config, node, since=since)
        assert answer["snapshot"] is True
        assert answer["revision"] == 3
        assert sorted(p["public_key"] for p in answer["peers"]) == sorted(
            base64.b64encode(k).decode()
            for k in [bytes(base64.b64decode(m.changes[0].public_key)) for m in made]
        )


async def until_subscribed(stores: Stores) -> None:
    """Until config's notifier listens (a moment more for it to mark itself live)."""
    deadline = time.monotonic() + 30
    while (await stores.redis.pubsub_numsub(FORGET_CHANNEL))[0][1] < 1:
        assert time.monotonic() < deadline, "config never subscribed"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)


async def test_a_poll_starts_from_nodedb_s_revision_not_the_record_a_heartbeat_left(
    config_settings: ConfigSettings, stores: Stores
) -> None:
    # A heartbeat leaves the node's record (revision 0) in this process for a long moment; then
    # a lease is placed elsewhere and its stream append is lost (a gap). The poll must see
    # revision 1 in NodeDB and answer a snapshot, not wait on the remembered revision 0.
    settings = msgspec.structs.replace(config_settings, nodedb_cache_seconds=300.0)
    async with AsyncTestClient(create_app(settings), timeout=30) as config:
        # Records are reused only while the process hears forgets: once it is subscribed.
        await until_subscribed(stores)
        node = await register(config)
        beaten = await config.post(
            f"/v1/nodes/{node['node_id']}/heartbeat", json=beat(), headers=node["auth"]
        )
        assert beaten.status_code == 200
        assert beaten.json()["revision"] == 0
        async with stores.nodedb.begin() as connection:
            await leases.allocate(
                connection, uuid.UUID(node["node_id"]), os.urandom(32), LEASE, datetime.now(UTC)
            )  # and never published
        answer = await poll(config, node, since=0, wait=2)
    # (On the remembered revision it waited 2 s and answered no change.)
    assert answer["snapshot"] is True
    assert answer["revision"] == 1
    assert len(answer["peers"]) == 1


async def test_the_feed_needs_the_node_credential(config: Client, stores: Stores) -> None:
    node, other = await register(config), await register(config)
    (enrollment_key,) = await mint(config)
    path = f"/v1/nodes/{node['node_id']}/peers"
    for refused in ({}, other["auth"], OPERATOR, {"authorization": f"Bearer {enrollment_key}"}):
        assert (await config.get(path, headers=refused)).status_code == 401
    assert (await config.get(path, headers=node["auth"])).status_code == 200


async def test_expired_leases_are_swept_and_announced(config: Client, stores: Stores) -> None:
    node = await register(config)
    async with stores.nodedb.begin() as connection:
        # An hour's lease given two hours ago: ended, on the hour, within the last hour.
        await leases.allocate(
            connection,
            uuid.UUID(node["node_id"]),
            os.urandom(32),
            timedelta(hours=1),
            datetime.now(UTC) - timedelta(hours=2),
        )
    swept = await config.post(
        "/v1/admin/leases/sweep", headers={"authorization": f"Bearer {MONITOR_TOKEN}"}
    )
    assert swept.json() == {"removed": 1}
    answer = await poll(config, node, since=1)
    assert answer["changes"][0]["op"] == "remove"
    snapshot = await poll(config, node, since=-1)
    assert snapshot["peers"] == []

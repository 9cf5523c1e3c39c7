"""A node's record is reused across its heartbeats, and forgotten by every replica at a change.

Two real config processes on one NodeDB and Redis. A heartbeat leaves the node's record in its
process for a minute (NODE_RECORD_SECONDS), so a fleet's heartbeats need not each read NodeDB;
a drain through the *other* replica must still reach the node at its next heartbeat, because the
replica that drained names the node on the notifier's forget channel.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from phoenix.config.hotpath.notifier import FORGET_CHANNEL
from phoenix.config.store import NODE_RECORD_SECONDS
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import MONITOR_TOKEN, Stores, beat
from tests.integration.config.test_feed_fanout import replicas, until  # noqa: F401 - fixture
from tests.integration.config.test_peer_feed import register

MONITOR = {"authorization": f"Bearer {MONITOR_TOKEN}"}
Client = AsyncTestClient[Any]


async def heartbeat(
    client: httpx.AsyncClient | Client, node: dict[str, Any], **changes: Any
) -> dict[str, Any]:
    answer = await client.post(
        f"/v1/nodes/{node['node_id']}/heartbeat", json=beat(**changes), headers=node["auth"]
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def test_a_drain_through_one_replica_reaches_the_heartbeats_another_answers(
    replicas: list[RoleServer],  # noqa: F811 - the fixture
) -> None:
    draining_replica, beating_replica = replicas
    async with (
        httpx.AsyncClient(base_url=draining_replica.base_url, timeout=30) as monitor,
        httpx.AsyncClient(base_url=beating_replica.base_url, timeout=30) as beats,
    ):
        node = await register(monitor)
        assert (await heartbeat(beats, node))["drain"] is False  # its record is kept there now
        drained = await monitor.post(
            "/node/drain", json={"id": node["node_id"], "reason": "manual"}, headers=MONITOR
        )
        assert drained.status_code == 200, drained.text

        async def told_to_drain() -> bool:
            return bool((await heartbeat(beats, node))["drain"])

        # Long before the kept record would have expired on its own.
        await until(told_to_drain, seconds=NODE_RECORD_SECONDS / 6)


async def test_a_draining_node_beating_tells_no_replica_to_forget_it(
    config: Client, stores: Stores
) -> None:
    # Only a change of status is news: a draining (perhaps hostile) node that keeps a peer and
    # beats as fast as it likes must not make every replica drop its record at every beat.
    node, sentinel = await register(config), await register(config)
    drained = await config.post(
        "/node/drain", json={"id": node["node_id"], "reason": "manual"}, headers=MONITOR
    )
    assert drained.status_code == 200, drained.text
    assert (await heartbeat(config, node, active_peers=1))["drain"] is True
    forgets = stores.redis.pubsub()
    await forgets.subscribe(FORGET_CHANNEL)
    try:
        for _ in range(10):
            assert (await heartbeat(config, node, active_peers=1))["drain"] is True
        # A change that is news, published after whatever those beats published (one Redis
        # connection carries them in order): everything heard before it came from the beats.
        marked = await config.post(
            "/node/drain", json={"id": sentinel["node_id"], "reason": "manual"}, headers=MONITOR
        )
        assert marked.status_code == 200, marked.text
        heard = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = await forgets.get_message(ignore_subscribe_messages=True, timeout=1)
            if message is None:
                continue
            if message["data"].decode() == sentinel["node_id"]:
                break
            heard.append(message["data"])
        else:
            raise AssertionError("the sentinel drain's forget never arrived")
    finally:
        await forgets.aclose()
    assert heard == []

"""The config role's own sweep: silent nodes are lost, then forgotten; leases end on time."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import select, text

from phoenix.config import leases
from phoenix.config.feed import stream_key
from phoenix.config.models import Lease, Node
from phoenix.config.nodes.sweeper import LOCK_KEY, SEEN_KEY, FleetSweeper
from tests.harness.nodes import enroll, node_body, register
from tests.integration.config.conftest import MONITOR_TOKEN, Stores, beat
from tests.integration.config.node_trust.test_enrollment_keys import problem

Client = AsyncTestClient[Any]
MONITOR = {"authorization": f"Bearer {MONITOR_TOKEN}"}


async def sweep(config: Client) -> dict[str, Any]:
    answer = await config.post("/v1/admin/fleet/sweep", headers=MONITOR)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def last_seen(stores: Stores, node_id: str, seconds_ago: float) -> None:
    await stores.redis.zadd(SEEN_KEY, {node_id: time.time() - seconds_ago})


async def status(stores: Stores, node_id: str) -> tuple[str, str | None, int | None]:
    async with stores.nodedb.connect() as connection:
        row = (
            await connection.execute(
                select(Node.status, Node.drain_reason, Node.pool_index).where(
                    Node.id == uuid.UUID(node_id)
                )
            )
        ).one()
    return row.status, row.drain_reason, row.pool_index


async def test_only_the_monitor_runs_a_sweep(config: Client) -> None:
    problem(await config.post("/v1/admin/fleet/sweep"), 401)


async def test_a_silent_node_is_lost_at_once_and_back_when_it_beats(
    config: Client, stores: Stores
) -> None:
    node = await enroll(config, "de-fra")
    await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    assert [entry["location"] for entry in (await config.get("/v1/locations")).json()["locations"]]
    await stores.redis.delete(f"phoenix:node:hb:{node.id}")  # its last heartbeat ran out
    await last_seen(stores, node.id, 121)
    assert (await sweep(config))["lost"] == 1
    assert (await status(stores, node.id))[0] == "lost"
    assert (await config.get("/v1/locations")).json() == {"locations": []}
    answer = await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    assert answer.status_code == 200
    assert (await status(stores, node.id))[0] == "active"


async def test_a_fresh_heartbeat_keeps_a_node_whatever_the_sorted_set_said(
    config: Client, stores: Stores
) -> None:
    node = await enroll(config)
    await config.post(f"/v1/nodes/{node.id}/heartbeat", json=beat(), headers=node.auth)
    await last_seen(stores, node.id, 10_000)
    assert (await sweep(config))["lost"] == 0
    assert (await status(stores, node.id))[0] == "active"


async def test_a_node_never_seen_counts_as_seen_now(config: Client, stores: Stores) -> None:
    """A Redis that lost the sorted set delays loss detection; it never invents it."""
    node = await enroll(config)
    await stores.redis.delete(SEEN_KEY)
    report = await sweep(config)
    assert report["lost"] == 0
    assert (await status(stores, node.id))[0] == "active"
    assert await stores.redis.zscore(SEEN_KEY, node.id) is not None


async def test_a_node_silent_past_forget_after_is_retired_and_its_pool_freed(
    config: Client, stores: Stores
) -> None:
    node = await enroll(config)
    async with stores.nodedb.begin() as connection:
        await leases.allocate(
            connection, uuid.UUID(node.id), bytes(32), timedelta(hours=1), datetime.now(UTC)
        )
    await stores.redis.xadd(stream_key(uuid.UUID(node.id)), {"c": b"{}"}, id="1-0")
    await last_seen(stores, node.id, 86_401)
    report = await sweep(config)
    assert report["forgotten"] == 1
    assert await status(stores, node.id) == ("terminated", "lost", None)
    async with stores.nodedb.connect() as connection:
        assert not (await connection.execute(select(Lease.public_key))).all()
    assert not await stores.redis.exists(stream_key(uuid.UUID(node.id)))
    problem(await register(config, node.keys, node_body(node.keys), node.credential), 409)
    # Its pool is the next node's.
    newcomer = await enroll(config)
    assert newcomer.answer["ipv4_pool"] == node.answer["ipv4_pool"]


async def test_expired_leases_end_and_are_announced_without_a_worker(
    config: Client, stores: Stores
) -> None:
    node = await enroll(config)
    client_key = bytes(range(32))
    async with stores.nodedb.begin() as connection:
        placed = await leases.allocate(
            connection, uuid.UUID(node.id), client_key, timedelta(hours=1), datetime.now(UTC)
        )
        await connection.execute(text("UPDATE leases SET expires_at = now() - '1s'::interval"))
    revision = placed.changes[-1].revision
    assert (await sweep(config))["leases_ended"] == 1
    feed = await config.get(
        f"/v1/nodes/{node.id}/peers", params={"since": revision, "wait": 0}, headers=node.auth
    )
    assert feed.status_code == 200, feed.text
    [change] = feed.json()["changes"]
    assert change["op"] == "remove"
    assert change["revision"] == revision + 1


async def test_streams_are_trimmed_below_what_a_node_applied(
    config: Client, stores: Stores
) -> None:
    node = await enroll(config)
    key = stream_key(uuid.UUID(node.id))
    for revision in range(1, 6):
        await stores.redis.xadd(key, {"c": b"{}"}, id=f"{revision}-0")
    await config.post(
        f"/v1/nodes/{node.id}/heartbeat", json=beat(applied_revision=3), headers=node.auth
    )
    await sweep(config)
    remaining = [entry_id for entry_id, _ in await stores.redis.xrange(key)]
    assert remaining == [b"4-0", b"5-0"]


async def test_one_replica_sweeps_at_a_time(config: Client, stores: Stores) -> None:
    async with stores.nodedb.connect() as connection:
        await connection.execute(text(f"SELECT pg_advisory_lock({LOCK_KEY})"))
        try:
            assert (await sweep(config)) == {"ran": False}
        finally:
            await connection.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
    assert (await sweep(config))["ran"] is True


class Watched(FleetSweeper):
    """A sweeper that, while it reads Redis, looks at NodeDB from another connection."""

    def __init__(self, stores: Stores) -> None:
        super().__init__(
            stores.nodedb,
            stores.redis,
            heartbeat_ttl=30,
            lost_after=timedelta(seconds=120),
            forget_after=timedelta(days=1),
        )
        self.stores = stores
        self.open_transactions: list[str] = []

    async def _observe(self, node_ids: list[uuid.UUID], now: datetime) -> Any:
        async with self.stores.nodedb.connect() as other:
            rows = await other.execute(
                text(
                    "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            )
            self.open_transactions += [row.state for row in rows]
        return await super()._observe(node_ids, now)


async def test_the_sweep_holds_no_nodedb_transaction_while_it_reads_redis(
    config: Client, stores: Stores
) -> None:
    """At 10,000 nodes that read takes a second: a pool connection idle in transaction for it
    is one the fleet's polls and connects wait for."""
    node = await enroll(config)
    await last_seen(stores, node.id, 121)
    sweeper = Watched(stores)
    report = await sweeper.sweep()
    assert sweeper.open_transactions == []
    assert report is not None
    assert report.lost == 1  # and it still swept


async def test_a_replica_that_takes_the_lock_while_the_sweep_reads_redis_sweeps_alone(
    config: Client, stores: Stores
) -> None:
    node = await enroll(config)
    await last_seen(stores, node.id, 121)
    async with stores.nodedb.connect() as holder:
        sweeper = Watched(stores)
        # The lock taken between the sweep's read of the nodes and its writes.
        original = sweeper._observe

        async def observe_then_lose_the_lock(node_ids: list[uuid.UUID], now: datetime) -> Any:
            observed = await original(node_ids, now)
            await holder.execute(text(f"SELECT pg_advisory_lock({LOCK_KEY})"))
            return observed

        sweeper._observe = observe_then_lose_the_lock  # type: ignore[method-assign]
        try:
            assert await sweeper.sweep() is None
        finally:
            await holder.execute(text(f"SELECT pg_advisory_unlock({LOCK_KEY})"))
    assert (await status(stores, node.id))[0] == "active"  # left to the lock's holder

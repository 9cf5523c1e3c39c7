"""The lease allocator: concurrent connects' new leases share one NodeDB statement, each is
exact, and what the statement cannot place the general path places, or says why not.

Against the test's own migrated NodeDB; nodes are inserted directly, with small known pools.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from phoenix.config.hotpath.placement import LeaseAllocator, Placed
from phoenix.config.leases import AddressTaken, NodeNotTaking, PoolExhausted, ends_on_the_hour
from tests.integration.config.conftest import Stores

NOW = datetime.now(UTC)
LEASE = timedelta(hours=24)
EXPIRES = NOW + LEASE


class Counted(LeaseAllocator):
    """An allocator that counts the batch statements it sends and the general-path allocations."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.statements = 0
        self.general = 0

    async def _statement(self, parameters: dict[str, list[Any]]) -> list[Any]:
        self.statements += 1
        return await super()._statement(parameters)

    async def _allocate(
        self, node_id: uuid.UUID, client_key: bytes, lease: timedelta, now: datetime
    ) -> Placed:
        self.general += 1
        return await super()._allocate(node_id, client_key, lease, now)


@pytest.fixture
async def make(stores: Stores) -> AsyncIterator[Callable[..., Any]]:
    """``make()``: a counting allocator on the test's NodeDB, closed afterwards (each keeps a
    pooled connection)."""
    made: list[Counted] = []

    def allocator() -> Counted:
        made.append(Counted(stores.nodedb))
        return made[-1]

    yield allocator
    for each in made:
        await each.close()


async def place(allocator: LeaseAllocator, node_id: uuid.UUID, key: bytes) -> Placed:
    return await allocator.place(node_id, key, LEASE, NOW)


async def add_node(
    engine: AsyncEngine, index: int, *, prefix: int = 24, status: str = "active"
) -> uuid.UUID:
    node_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO nodes (id, public_key, location, listen_port, status, public_ip, "
                "capacity, pool_index, ipv4_pool, ipv6_pool) VALUES (:id, :key, 'de-fra', 51820, "
                ":status, '192.0.2.10', 1000, :index, CAST(:v4 AS cidr), CAST(:v6 AS cidr))"
            ),
            {
                "id": node_id,
                "key": os.urandom(32),
                "status": status,
                "index": index,
                "v4": f"10.{index}.0.0/{prefix}",
                "v6": f"fd00:{index}::/120",
            },
        )
    return node_id


async def node_state(engine: AsyncEngine, node_id: uuid.UUID) -> tuple[int, int]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT revision, next_host FROM nodes WHERE id = :id"), {"id": node_id}
            )
        ).one()
    return int(row.revision), int(row.next_host)


def offset(placed: Placed, index: int) -> int:
    return int(ipaddress.ip_address(placed[0].ipv4)) - int(ipaddress.ip_address(f"10.{index}.0.0"))


async def test_a_burst_on_two_nodes_takes_consecutive_offsets_and_revisions_in_few_statements(
    stores: Stores, make: Callable[..., Any]
) -> None:
    first, second = await add_node(stores.nodedb, 1), await add_node(stores.nodedb, 2)
    allocator = make()
    wanted = [(first if n % 3 else second, os.urandom(32)) for n in range(30)]
    results = await asyncio.gather(*(place(allocator, node, key) for node, key in wanted))
    assert allocator.general == 0  # every one placed by the batch statement
    assert allocator.statements < 30 / 3  # the burst went out in a few statements
    for node, index in ((first, 1), (second, 2)):
        mine = [r for (n, _), r in zip(wanted, results, strict=True) if n == node]
        assert sorted(offset(r, index) for r in mine) == list(range(2, 2 + len(mine)))
        revisions = sorted(r[0].changes[0].revision for r in mine)
        assert revisions == list(range(1, len(mine) + 1))
        assert await node_state(stores.nodedb, node) == (len(mine), 2 + len(mine))
    for (node, _key), result in zip(wanted, results, strict=True):
        allocated, endpoint = result
        assert allocated.node_id == node
        assert allocated.expires_at == ends_on_the_hour(EXPIRES)  # the lease's hour, rounded up
        (change,) = allocated.changes
        assert change.op == "add"
        assert change.allowed_ips[0] == f"{allocated.ipv4}/32"
        assert endpoint.public_ip == "192.0.2.10"
        assert endpoint.listen_port == 51820
        assert endpoint.gateway == f"10.{1 if node == first else 2}.0.1"


async def test_the_same_key_twice_in_one_batch_is_placed_once(
    stores: Stores, make: Callable[..., Any]
) -> None:
    node = await add_node(stores.nodedb, 3)
    allocator = make()
    key = os.urandom(32)
    results = await asyncio.gather(place(allocator, node, key), place(allocator, node, key))
    assert allocator.statements == 1
    assert allocator.general == 1  # the second found the first's lease, and kept it
    assert [len(allocated.changes) for allocated, _ in results] == [1, 0]
    assert results[0][0].ipv4 == results[1][0].ipv4
    assert (await node_state(stores.nodedb, node))[0] == 1  # one revision for one lease


async def test_a_node_that_stopped_taking_peers_or_has_no_room_says_so_and_others_proceed(
    stores: Stores, make: Callable[..., Any]
) -> None:
    draining = await add_node(stores.nodedb, 4, status="draining")
    tiny = await add_node(stores.nodedb, 5, prefix=30)  # offset 2 only
    open_node = await add_node(stores.nodedb, 6)
    allocator = make()
    results = await asyncio.gather(
        place(allocator, draining, os.urandom(32)),
        place(allocator, tiny, os.urandom(32)),
        place(allocator, tiny, os.urandom(32)),  # two for a pool of one
        place(allocator, open_node, os.urandom(32)),
        return_exceptions=True,
    )
    assert isinstance(results[0], NodeNotTaking)
    # Too many for the batch's share of the tiny pool: the general path places one, and the
    # other finds the pool full, or lost the race for its one address (a connect tries again).
    tiny_results = results[1:3]
    assert sum(isinstance(result, PoolExhausted | AddressTaken) for result in tiny_results) == 1
    assert sum(isinstance(result, tuple) for result in tiny_results) == 1
    assert isinstance(results[3], tuple)
    assert allocator.statements == 1
    assert allocator.general == 3  # all but the open node's
    assert await node_state(stores.nodedb, draining) == (0, 2)
    assert await node_state(stores.nodedb, tiny) == (1, 3)
    with pytest.raises(PoolExhausted):
        await place(allocator, tiny, os.urandom(32))


async def test_a_taken_offset_fails_only_its_own_request(
    stores: Stores, make: Callable[..., Any]
) -> None:
    node = await add_node(stores.nodedb, 7)
    async with stores.nodedb.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO leases (public_key, node_id, ipv4, ipv6, expires_at) VALUES "
                "(:key, :node, '10.7.0.3/32', 'fd00:7::3/128', now() + interval '1 hour')"
            ),
            {"key": os.urandom(32), "node": node},
        )
    allocator = make()
    results = await asyncio.gather(*(place(allocator, node, os.urandom(32)) for _ in range(3)))
    assert allocator.statements == 1
    assert allocator.general == 1  # the one whose offset (3) was taken
    placed = sorted(offset(result, 7) for result in results)
    assert placed == [2, 4, 5]  # the batch took 2 and 4; the general path the lowest free, 5
    revisions = sorted(r[0].changes[0].revision for r in results)
    assert revisions == [1, 2, 3]
    assert await node_state(stores.nodedb, node) == (3, 6)  # past every offset tried


async def test_two_processes_placing_on_the_same_nodes_never_share_an_address_or_revision(
    stores: Stores, make: Callable[..., Any]
) -> None:
    """Two config processes (two allocators, each its own batches) on the same two nodes."""
    nodes = [await add_node(stores.nodedb, 8), await add_node(stores.nodedb, 9)]
    one, other = make(), make()
    results = await asyncio.gather(
        *(place(one if n % 2 else other, nodes[n % 4 // 2], os.urandom(32)) for n in range(80)),
        # The general path of a batch that lost a deadlock may race the other process's batch
        # for an address (AddressTaken): a connect tries again; here it is only counted out.
        return_exceptions=True,
    )
    placed = [result for result in results if isinstance(result, tuple)]
    assert len(placed) >= 60
    assert one.general + other.general <= 20  # only a batch that lost a deadlock takes it
    for node in nodes:
        mine = [allocated for allocated, _ in placed if allocated.node_id == node]
        assert len({allocated.ipv4 for allocated in mine}) == len(mine)
        revisions = sorted(allocated.changes[0].revision for allocated in mine)
        assert revisions == list(range(1, len(mine) + 1))
        assert (await node_state(stores.nodedb, node))[0] == len(mine)


async def test_a_kept_connection_the_server_ended_is_replaced_and_the_batch_placed(
    stores: Stores, make: Callable[..., Any]
) -> None:
    node = await add_node(stores.nodedb, 10)
    allocator = make()
    await place(allocator, node, os.urandom(32))
    async with stores.nodedb.connect() as connection:  # as a NodeDB restart would
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    await stores.nodedb.dispose()  # the test's own idle connections went with it
    placed = await place(allocator, node, os.urandom(32))
    assert offset(placed, 10) == 3
    assert allocator.statements == 3  # the second batch: once on the old connection, once anew
    assert allocator.general == 0

"""The fleet's use cases: a node's own calls (its heartbeat and peer feed), the locations board
and the monitor's drain, undrain, terminate, listing and lease sweep. No HTTP and no SQL here: the
store (phoenix.config.store) reads and writes; connects are phoenix.config.redemption's."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from phoenix.config.feed import PeerFeed
from phoenix.config.fleet import NodeRecord
from phoenix.config.schemas import (
    DrainReason,
    Heartbeat,
    HeartbeatAnswer,
    LoadBucket,
    Location,
    Locations,
    NodeList,
    NodeSummary,
)
from phoenix.config.selection import NodeLoad, peer_load
from phoenix.config.store import FleetStore


class NodeCalls:
    """A node's own calls: who it is (its credential, checked once, by the store), its heartbeat
    and its peer changes."""

    def __init__(self, store: FleetStore) -> None:
        self._store = store

    async def authenticate(
        self, node_id: uuid.UUID, authorization: str | None, *, fresh: bool = False
    ) -> NodeRecord:
        """The node, if ``authorization`` carries its credential: else BadCredential, or
        UnknownNode for a node that is gone. ``fresh``: read from NodeDB now, not reused."""
        return await self._store.authenticate(node_id, authorization, fresh=fresh)

    async def heartbeat(self, node: NodeRecord, beat: Heartbeat) -> HeartbeatAnswer:
        drain, revision = await self._store.record_heartbeat(node, beat)
        return HeartbeatAnswer(drain=drain, revision=revision)

    async def peer_changes(self, node: NodeRecord, since: int, wait_seconds: float) -> PeerFeed:
        """The node's peer changes after revision ``since``, waiting up to ``wait_seconds``.
        ``node`` authenticated fresh: the poll starts from the revision that read found."""
        return await self._store.peer_changes(node, since, wait_seconds)


class LocationBoard:
    """Where one can connect and how busy it is: the active nodes heard from, by location."""

    def __init__(self, store: FleetStore) -> None:
        self._store = store

    async def locations(self) -> Locations:
        return board(await self._store.loads())


def board(loads: Iterable[NodeLoad]) -> Locations:
    by_location: dict[str, list[float]] = {}
    for node in loads:
        # A node counts while active and heard from (its heartbeat key has a TTL); one that
        # offers nothing (capacity 0) is not a place to connect to.
        if not node.draining and node.fresh and node.capacity > 0:
            by_location.setdefault(node.location, []).append(peer_load(node))
    return Locations(
        locations=[
            Location(
                location=code,
                country=code.split("-")[0].upper(),
                city=code.split("-", 1)[1],
                available=any(load < 1.0 for load in usage),
                load=bucket(usage),
            )
            for code, usage in sorted(by_location.items())
        ]
    )


def bucket(usage: list[float]) -> LoadBucket:
    """A location's load, from its nodes' :func:`~phoenix.config.selection.peer_load`."""
    if not usage or min(usage) >= 1.0:
        return "full"
    mean = sum(usage) / len(usage)
    return "low" if mean < 0.5 else "medium" if mean < 0.8 else "high"


class FleetControl:
    """What the fleet monitor (and the reaper) may see and do."""

    def __init__(self, store: FleetStore) -> None:
        self._store = store

    async def nodes(self, status: str | None) -> NodeList:
        listed = await self._store.list_nodes(status)
        beats = await self._store.last_heartbeats([node.id for node in listed])
        return NodeList(
            nodes=[
                NodeSummary(
                    id=node.id,
                    location=node.location,
                    status=node.status,
                    drain_reason=node.drain_reason,
                    public_ip=node.public_ip,
                    active_peers=beats[node.id].active_peers if node.id in beats else None,
                    instance_id=node.instance_id,
                )
                for node in listed
            ]
        )

    async def drain(self, node_id: uuid.UUID, reason: DrainReason) -> None:
        await self._store.drain(node_id, reason)

    async def undrain(self, node_id: uuid.UUID) -> None:
        await self._store.undrain(node_id)

    async def terminate(self, node_id: uuid.UUID) -> None:
        """Retire a node for good: its pools, leases, stream and credential go."""
        await self._store.terminate(node_id)

    async def sweep_leases(self) -> int:
        """End the expired leases now (the fleet sweep also does); how many ended."""
        return await self._store.sweep_expired_leases()

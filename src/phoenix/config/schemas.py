"""The config role's wire formats: msgspec Structs at the edge, strict, unknown fields refused."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

Count = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
Bytes = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
LocationCode = Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}-[a-z0-9]{2,20}$")]
# Standard base64 of 32 bytes: 43 characters whose last carries 2 zero bits, then one "=".
WireGuardKey = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
# Checked by the service (a 422 if neither); documented so that a client knows before it sends.
IPAddress = Annotated[
    str, msgspec.Meta(extra_json_schema={"anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
]
DrainReason = Literal["blocked", "compromised", "retired", "manual"]  # "lost" is the sweep's
LoadBucket = Literal["low", "medium", "high", "full"]


class Heartbeat(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    peers: Count
    active_peers: Count
    rx_bytes: Bytes
    tx_bytes: Bytes
    cpu: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
    load1: Annotated[float, msgspec.Meta(ge=0.0, le=10_000.0)]
    mem_used: Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
    applied_revision: Annotated[int, msgspec.Meta(ge=0)]
    # The node's mass-removal guard is holding a peer snapshot back (phoenix-node omits it
    # while false, so a node may update before config). Nodes serve their own metrics on
    # loopback only: this is how the fleet's alert learns of it.
    guard_held: bool = False


class HeartbeatAnswer(msgspec.Struct):
    drain: bool
    revision: int


class Location(msgspec.Struct):
    location: str
    country: str
    city: str
    available: bool
    load: LoadBucket


class Locations(msgspec.Struct):
    locations: list[Location]


class DrainRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    id: uuid.UUID
    reason: DrainReason


class NodeSummary(msgspec.Struct):
    id: uuid.UUID
    location: str
    status: str
    drain_reason: str | None
    public_ip: str | None
    active_peers: int | None
    # Set for nodes enrolled by AWS attestation: the only instance the reaper may terminate.
    instance_id: str | None


class NodeList(msgspec.Struct):
    nodes: list[NodeSummary]


class ConnectRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Either the client's own WireGuard public key, or a NaCl box key for a server-made pair."""

    location: LocationCode
    public_key: str | None = None
    box_public_key: str | None = None
    # DNS blocking for this connection: a variant the service offers (``base``); absent or
    # null, the node's unfiltered resolver.
    dns: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")] | None = None


class ChallengeEntry(msgspec.Struct):
    token_type: int
    challenge: str
    token_key: str | None


class Challenges(msgspec.Struct):
    challenges: list[ChallengeEntry]

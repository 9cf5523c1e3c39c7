"""The worker's edges: the signed blocklist manifest and the config role's node listing.

The node Structs mirror the config role's wire format (the worker never imports that role);
unknown fields are accepted there so config can add fields without breaking the worker.
"""

from __future__ import annotations

import uuid
from typing import Literal

import msgspec

MANIFEST_FORMAT = 1


class Manifest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    format: int
    sha256: str
    n: int
    p: float
    m: int
    k: int
    built_hour: str  # UTC, to the hour: clients need no more, and it leaks nothing finer
    filter: str  # the filter's path relative to the target's root
    variant: str
    # The names the filter was built from, one per line (for exit nodes' resolvers): the file's
    # path relative to the target's root and its SHA-256. None in manifests from before it.
    names: str | None = None
    names_sha256: str | None = None


class SignedManifest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What manifest.json holds: the exact signed text and its Ed25519 signature (base64)."""

    body: str
    signature: str


NodeStatus = Literal["pending", "active", "lost", "draining", "drained", "terminated"]


class NodeSummary(msgspec.Struct, frozen=True):
    id: uuid.UUID
    location: str
    status: NodeStatus
    drain_reason: str | None
    public_ip: str | None
    active_peers: int | None
    # The EC2 instance of a node enrolled by a signed instance identity document; the only
    # machine the AWS provider may ever terminate for it (None: left to an operator).
    instance_id: str | None = None


class NodeList(msgspec.Struct, frozen=True):
    nodes: list[NodeSummary]


class DrainRequest(msgspec.Struct, frozen=True):
    id: uuid.UUID
    reason: Literal["blocked", "compromised", "retired", "manual"]

"""The wire formats of node enrollment: msgspec Structs, strict, unknown fields refused."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec

from phoenix.config.schemas import IPAddress, LocationCode, Port, WireGuardKey

# Standard base64 of 32 bytes (nonces, MACs, X25519 keys).
Base64_32 = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")]
NodeState = Literal["pending", "active", "lost", "draining", "drained"]


class Challenge(msgspec.Struct):
    """A single-use challenge: prove the node's key against ``server_key`` with ``nonce``."""

    nonce: str
    server_key: str
    expires_in: int


class Proof(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    nonce: Base64_32
    mac: Base64_32


class Attestation(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An EC2 instance identity document (base64 of its exact bytes) and its base64 signature
    (IMDS ``/latest/dynamic/instance-identity/signature``)."""

    document: Annotated[str, msgspec.Meta(min_length=1, max_length=8192)]
    signature: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]


class RegisterRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    public_ip: IPAddress
    public_key: WireGuardKey
    location: LocationCode
    proof: Proof
    listen_port: Port = 51820
    capacity: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000
    attestation: Attestation | None = None


class Registration(msgspec.Struct):
    node_id: uuid.UUID
    node_credential: str
    ipv4_pool: str
    ipv6_pool: str
    revision: int
    status: NodeState
    # DNS blocking variant → the resolver address the node serves it on (beside its own
    # tunnel address, which answers unfiltered).
    resolvers: dict[str, str] = msgspec.field(default_factory=dict)


class EnrollmentKeyRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    location: LocationCode
    expires_in: Annotated[int, msgspec.Meta(ge=60, le=30 * 86_400)] = 3600
    count: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1


class EnrollmentKeys(msgspec.Struct):
    location: str
    expires_at: str
    keys: list[str]


class Approval(msgspec.Struct):
    id: uuid.UUID
    status: Literal["active"]

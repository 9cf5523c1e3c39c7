"""Enrollment, as the config role decides it: who may register which key, where, and when.

The rules (docs/node.md, "Trust model"):
- every registration proves possession of the node's WireGuard private key against a
  single-use challenge (phoenix.crypto.nodeproof);
- a new key enrolls with a single-use enrollment key of its location, or with a signed AWS
  instance identity document whose instance has never enrolled another key;
- an existing key registers again only with its current node credential or an attestation of
  its own instance, never moves (public address, location), and never returns once retired;
- new nodes per location and hour are capped; with manual approval they wait as ``pending``.
Each registration is one transaction: a refusal consumes no key and takes no pool.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal, cast

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from phoenix.common.logging import get_logger
from phoenix.common.problems import Problem
from phoenix.config import credentials
from phoenix.config.credentials import BadCredential
from phoenix.config.fleet import InvalidNodeRequest, Pools, RegistrationBusy, UnknownNode
from phoenix.config.nodes import store
from phoenix.config.nodes.addresses import IPNetwork, NotGlobalUnicast, check_public_ip
from phoenix.config.nodes.attestation import AttestationVerifier, Instance
from phoenix.config.nodes.schemas import (
    Approval,
    Challenge,
    EnrollmentKeyRequest,
    EnrollmentKeys,
    NodeState,
    RegisterRequest,
    Registration,
)
from phoenix.crypto import nodeproof
from phoenix.crypto.wireguard import (
    InvalidKey,
    encode_key,
    generate_keypair,
    parse_key,
    public_key,
)

CHALLENGE_PREFIX: Final = "phoenix:node:challenge:"
CHALLENGE_SECONDS: Final = 60
ENROLLMENT_KEY_PREFIX: Final = "pnk_"
NODE_CREDENTIAL_PREFIX: Final = "pnc_"
RETRIES: Final = 20

_log = get_logger("phoenix.config.nodes")


class BadProof(Problem):
    status = 401
    slug = "bad-proof"
    title = "The proof of key possession does not verify"


class WrongLocation(Problem):
    status = 403
    slug = "wrong-location"
    title = "This enrollment key is for another location"


class NodeExists(Problem):
    status = 409
    slug = "node-exists"
    title = "This key is already registered"


class NodeRetired(Problem):
    status = 409
    slug = "node-retired"
    title = "This key was retired and never comes back"


class InstanceEnrolled(Problem):
    status = 409
    slug = "instance-enrolled"
    title = "This instance enrolled another key"


class RegistrationsCapped(Problem):
    status = 429
    slug = "registrations-capped"
    title = "Too many new nodes in this location this hour"


class NotPending(UnknownNode):
    title = "No pending node with that id"


@dataclass(frozen=True)
class Policy:
    dev_networks: tuple[IPNetwork, ...]
    per_hour: int
    approval: Literal["auto", "manual"]


def new_enrollment_key() -> tuple[str, bytes]:
    key = ENROLLMENT_KEY_PREFIX + secrets.token_urlsafe(32)
    return key, credentials.digest(key)


def new_node_credential() -> tuple[str, bytes]:
    credential = NODE_CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    return credential, credentials.digest(credential)


class Registrar:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        pools: Pools,
        attestation: AttestationVerifier,
        policy: Policy,
        on_change: Callable[[uuid.UUID], None] = lambda _: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        resolvers: Mapping[str, str] | None = None,
    ) -> None:
        self.resolvers = dict(resolvers or {})
        self.on_change = on_change  # the role's caches of node records and location loads
        self.engine = engine
        self.redis = redis
        self.pools = pools
        self.attestation = attestation
        self.policy = policy
        self.clock = clock

    # --- challenge and proof --------------------------------------------------------------

    async def challenge(self) -> Challenge:
        server_private, server_public = generate_keypair()
        nonce = secrets.token_bytes(nodeproof.NONCE_BYTES)
        # The server's half of the agreement lives only until the challenge is answered or
        # expires; GETDEL makes each challenge good for one registration attempt.
        await self.redis.set(CHALLENGE_PREFIX + nonce.hex(), server_private, ex=CHALLENGE_SECONDS)
        return Challenge(_b64(nonce), encode_key(server_public), CHALLENGE_SECONDS)

    async def _check_proof(self, body: RegisterRequest, node_key: bytes, public_ip: str) -> None:
        nonce = base64.b64decode(body.proof.nonce)
        server_private = await self.redis.getdel(CHALLENGE_PREFIX + nonce.hex())
        if not isinstance(server_private, bytes):
            raise BadProof("unknown, used or expired challenge: ask for a new one")
        claims = nodeproof.Claims(body.location, public_ip, body.listen_port)
        try:
            nodeproof.verify(
                server_private,
                public_key(server_private),
                node_key,
                nonce,
                claims,
                base64.b64decode(body.proof.mac),
            )
        except nodeproof.InvalidProof as error:
            raise BadProof(str(error)) from None

    # --- registration ---------------------------------------------------------------------

    async def register(self, authorization: str | None, body: RegisterRequest) -> Registration:
        try:
            public_ip = check_public_ip(body.public_ip, self.policy.dev_networks)
        except NotGlobalUnicast as error:
            raise InvalidNodeRequest(str(error)) from None
        try:
            node_key = parse_key(body.public_key)
        except InvalidKey as error:
            raise InvalidNodeRequest(f"public_key: {error}") from None
        presented = credentials.bearer(authorization) if authorization else None
        await self._check_proof(body, node_key, public_ip)
        instance: Instance | None = None
        launched: datetime | None = None
        if body.attestation is not None:
            instance, launched = self.attestation.verify(body.attestation, body.location)
        elif presented is None:
            raise BadCredential("an enrollment key, a node credential or an attestation")
        for _ in range(RETRIES):
            try:
                done = await self._register_once(
                    body, node_key, public_ip, presented, instance, launched
                )
            except IntegrityError:
                continue  # another registration took the pool index, the key or the instance
            self.on_change(done.node_id)
            return done
        raise RegistrationBusy("registration kept colliding with others; try again")

    async def _register_once(
        self,
        body: RegisterRequest,
        node_key: bytes,
        public_ip: str,
        presented: str | None,
        instance: Instance | None,
        launched: datetime | None,
    ) -> Registration:
        credential, credential_hash = new_node_credential()
        async with self.engine.begin() as connection:
            existing = await store.node_by_key(connection, node_key)
            if existing is not None:
                self._check_return(existing, body, public_ip, presented, instance)
                status = "active" if existing.status == "lost" else existing.status
                await store.renew_node(
                    connection,
                    existing.id,
                    credential_hash=credential_hash,
                    listen_port=body.listen_port,
                    capacity=body.capacity,
                    status=status,
                )
                assert existing.pool_index is not None  # only a terminated node has none
                v4, v6 = self.pools.carve(existing.pool_index)
                return Registration(
                    existing.id, credential, v4, v6, existing.revision, _state(status),
                    dict(self.resolvers),
                )  # fmt: skip
            now = self.clock()
            if instance is not None:
                if await store.instance_taken(connection, instance.instance_id):
                    raise InstanceEnrolled("a new key on an enrolled instance is a new instance")
                assert launched is not None
                self.attestation.check_fresh(launched, now)
            else:
                await self._take_enrollment_key(connection, presented, body.location, now)
            await store.hold_location(connection, body.location)
            recent = await store.registered_since(
                connection, body.location, now - timedelta(hours=1)
            )
            if recent >= self.policy.per_hour:
                _log.warning("node_registrations_capped", location=body.location, last_hour=recent)
                raise RegistrationsCapped(headers={"Retry-After": "600"})
            index = await store.lowest_free_pool(connection, self.pools.count)
            if index is None:
                raise RegistrationBusy("the tunnel address space has no free pool left")
            v4, v6 = self.pools.carve(index)
            node_id = uuid.uuid4()
            status = "pending" if self.policy.approval == "manual" else "active"
            await store.insert_node(
                connection,
                node_id,
                public_key=node_key,
                public_ip=public_ip,
                location=body.location,
                listen_port=body.listen_port,
                capacity=body.capacity,
                credential_hash=credential_hash,
                pool_index=index,
                ipv4_pool=v4,
                ipv6_pool=v6,
                status=status,
                instance_id=instance.instance_id if instance is not None else None,
            )
        _log.info(
            "node_enrolled",
            node=str(node_id),
            location=body.location,
            status=status,
            by="attestation" if instance is not None else "enrollment-key",
        )
        return Registration(node_id, credential, v4, v6, 0, _state(status), dict(self.resolvers))

    @staticmethod
    def _check_return(
        existing: store.EnrolledNode,
        body: RegisterRequest,
        public_ip: str,
        presented: str | None,
        instance: Instance | None,
    ) -> None:
        if existing.status == "terminated" or existing.drain_reason == "compromised":
            raise NodeRetired("a retired or compromised key never registers again")
        by_credential = presented is not None and credentials.matches(
            presented, existing.credential_hash
        )
        by_instance = instance is not None and instance.instance_id == existing.instance_id
        if not (by_credential or by_instance):
            if presented is not None and not presented.startswith(ENROLLMENT_KEY_PREFIX):
                raise BadCredential()
            raise NodeExists("register this key with its node credential (or its instance)")
        if existing.location != body.location or str(existing.public_ip) != public_ip:
            raise NodeExists("a node that moved is a new node: enroll a new key")

    @staticmethod
    async def _take_enrollment_key(
        connection: AsyncConnection,
        presented: str | None,
        location: str,
        now: datetime,
    ) -> None:
        if presented is None or not presented.startswith(ENROLLMENT_KEY_PREFIX):
            raise BadCredential("a new node enrolls with an enrollment key or an attestation")
        key = await store.take_key(connection, credentials.digest(presented))
        if key is None or key[1] <= now:
            raise BadCredential("unknown, used or expired enrollment key")
        if key[0] != location:
            raise WrongLocation(f"this key enrolls nodes in {key[0]}")

    # --- operator -------------------------------------------------------------------------

    async def mint(self, request: EnrollmentKeyRequest) -> EnrollmentKeys:
        return await mint_keys(self.engine, request, self.clock())

    async def approve(self, node_id: uuid.UUID) -> Approval:
        await approve_node(self.engine, node_id)
        self.on_change(node_id)
        return Approval(node_id, "active")


async def mint_keys(
    engine: AsyncEngine, request: EnrollmentKeyRequest, now: datetime
) -> EnrollmentKeys:
    """Single-use keys for one location; only their hashes are stored (shown once, here)."""
    expires_at = (now + timedelta(seconds=request.expires_in)).replace(microsecond=0)
    made = [new_enrollment_key() for _ in range(request.count)]
    async with engine.begin() as connection:
        await store.add_keys(connection, [h for _, h in made], request.location, expires_at)
    _log.info("enrollment_keys_made", location=request.location, count=request.count)
    return EnrollmentKeys(
        location=request.location,
        expires_at=expires_at.isoformat().replace("+00:00", "Z"),
        keys=[key for key, _ in made],
    )


async def approve_node(engine: AsyncEngine, node_id: uuid.UUID) -> None:
    async with engine.begin() as connection:
        if not await store.approve(connection, node_id):
            raise NotPending()
    _log.info("node_approved", node=str(node_id))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _state(status: str) -> NodeState:
    return cast(NodeState, status)

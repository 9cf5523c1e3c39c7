"""Redemption: a valid, unspent token buys one WireGuard config on the best node.

In order: verify the token (config never learns who holds it), pick a node, mark the token
spent (Redis SET NX), allocate the lease in one NodeDB transaction and commit, then announce the
new peer. Any failure inside undoes the mark, so a token is never burnt without a config.
"""

from __future__ import annotations

import base64
import binascii
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from redis.exceptions import RedisError

from phoenix.common.problems import Problem
from phoenix.config import leases, tokens
from phoenix.config.directory import IssuerDirectoryClient
from phoenix.config.schemas import ConnectRequest
from phoenix.config.selection import NodeLoad, select_node
from phoenix.config.spent import Mark, SpentStoreUnavailable, SpentTokens
from phoenix.config.store import FleetStore
from phoenix.config.wgconfig import InvalidBoxKey, WireGuardConfig, build_config, seal_new_keypair
from phoenix.crypto.privacypass.structures import TokenChallenge
from phoenix.crypto.wireguard import InvalidKey, parse_key

ATTEMPTS: Final = 5


class UnknownLocation(Problem):
    status = 404
    slug = "unknown-location"
    title = "No such location"


class NoCapacity(Problem):
    status = 503
    slug = "no-capacity"
    title = "No capacity in this location right now"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "30"})


class UnknownDnsVariant(Problem):
    status = 422
    slug = "unknown-dns-variant"
    title = "No such DNS blocking variant"


class InvalidClientKey(Problem):
    status = 422
    slug = "invalid-client-key"
    title = "The client key is not a 32-byte key"


@dataclass(frozen=True)
class Endpoint:
    public_key: bytes
    public_ip: str
    tunnel_address: str  # the node's own address in its pool: the first host
    listen_port: int


@dataclass(frozen=True)
class Redeemer:
    """The connect use case: a token for a config (phoenix.config.store does the reading and
    writing)."""

    store: FleetStore
    directory: IssuerDirectoryClient
    spent: SpentTokens
    challenge: TokenChallenge
    lease: timedelta
    dns: tuple[str, ...]
    # DNS blocking variant → its resolver address on every node (phoenix.config.settings).
    dns_variants: Mapping[str, str]
    rng: random.Random

    async def connect(self, authorization: str | None, request: ConnectRequest) -> WireGuardConfig:
        token, key_life_ends = tokens.redeemable(
            authorization, self.directory, tokens.accepted_digests(self.challenge), self.challenge
        )
        client_key, sealed = _client_key(request)
        resolver = self._resolver(request.dns)
        candidates = await self._candidates(request.location)
        spent_header = tokens.challenge_header(self.challenge, self.directory, "token-spent")
        # The mark lives exactly as long as the token's key is accepted (phoenix.config.spent).
        mark = Mark(tokens.token_digest(token), token.token_key_id, key_life_ends)
        async with self.spent.spending(mark, www_authenticate=spent_header):
            allocated, node = await self._allocate(candidates, request.location, client_key)
            config = build_config(
                ipv4=allocated.ipv4,
                ipv6=allocated.ipv6,
                dns=(resolver,) if resolver else self.dns or (node.tunnel_address,),
                node_public_key=node.public_key,
                node_address=node.public_ip,
                node_port=node.listen_port,
                expires_at=allocated.expires_at,
                sealed_private_key=sealed,
            )
        await self.store.announce(allocated.changes)
        return config

    def _resolver(self, variant: str | None) -> str | None:
        """The resolver address of a blocking variant; checked before the token is spent."""
        if variant is None:
            return None
        try:
            return self.dns_variants[variant]
        except KeyError:
            offered = ", ".join(sorted(self.dns_variants)) or "none"
            raise UnknownDnsVariant(
                f"dns: {variant!r} is not offered (offered: {offered})"
            ) from None

    async def _candidates(self, location: str) -> list[NodeLoad]:
        # A location's loads are reused for a moment: power of two choices keeps a burst from
        # herding onto one node even on a view a second old, and the lease re-checks the node.
        try:
            loads = await self.store.location_loads(location)
        except (RedisError, OSError):
            raise SpentStoreUnavailable("Redis is unreachable; try again shortly") from None
        if not loads:
            raise UnknownLocation(f"no location {location!r}")
        return loads

    async def _allocate(
        self, candidates: list[NodeLoad], location: str, client_key: bytes
    ) -> tuple[leases.Allocated, Endpoint]:
        excluded: set[uuid.UUID] = set()
        for _ in range(ATTEMPTS + len(candidates)):
            chosen = select_node(candidates, location, rng=self.rng, exclude=frozenset(excluded))
            if chosen is None:
                break
            try:
                allocated, node = await self.store.place_lease(
                    chosen.node_id, client_key, self.lease, datetime.now(UTC)
                )
            except leases.PoolExhausted:
                excluded.add(chosen.node_id)
            except leases.AddressTaken:
                continue  # another connect took the same address at the same moment
            else:
                return allocated, _endpoint(node)
        raise NoCapacity(f"no node in {location} can take a peer now")


def _endpoint(node: leases.NodeEndpoint) -> Endpoint:
    return Endpoint(node.public_key, node.public_ip, node.gateway, node.listen_port)


def _client_key(request: ConnectRequest) -> tuple[bytes, str | None]:
    if (request.public_key is None) == (request.box_public_key is None):
        raise InvalidClientKey("send exactly one of public_key and box_public_key")
    if request.public_key is not None:
        try:
            return parse_key(request.public_key), None
        except InvalidKey as error:
            raise InvalidClientKey(f"public_key: {error}") from None
    try:
        box_key = base64.b64decode(request.box_public_key or "", validate=True)
        pair = seal_new_keypair(box_key)
    except (binascii.Error, InvalidBoxKey) as error:
        raise InvalidClientKey(f"box_public_key: {error}") from None
    return pair.public_key, pair.sealed_private_key_b64

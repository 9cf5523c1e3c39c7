"""Settings of the config role. No field here may name UserDB, signing keys, Firebase or billing."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from typing import Annotated, Literal

import msgspec

from phoenix.settings import SECRET, CommonSettings, SettingsError

DNS_VARIANT = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


class ConfigSettings(CommonSettings, kw_only=True, frozen=True):
    # NodeDB (Postgres database phoenix_nodes); a secret because it may carry a password.
    nodedb_url: Annotated[str, SECRET]
    nodedb_pool_size: int = 10
    # Every exit node keeps a long-poll waiting here (up to 25 s each): with granian's default of
    # 1,024 requests at once, a process past 1,000 nodes queued their heartbeats and connects
    # behind the polls (bench fleet). A waiting poll costs a socket and a few kB, no Redis
    # connection (phoenix.config.hotpath.notifier).
    max_requests: Annotated[int, msgspec.Meta(ge=1)] = 16_384
    # Spent tokens, hot node metrics and peer-change notifications.
    redis_url: Annotated[str, SECRET] = "redis://127.0.0.1:6379/0"
    # The fleet monitor's credential for drain/undrain and node listings (the worker has it).
    monitor_token: Annotated[str, SECRET] = ""
    # The operator's credential: enrollment keys and node approval. Never given to the worker.
    operator_token: Annotated[str, SECRET] = ""
    # Exit-node enrollment by a signed AWS instance identity document (docs/node.md, "Trust
    # model"): AWS's public RSA certificate(s) for the base64 signature (PEM, one per region),
    # the accounts whose instances may enroll, each location's AWS region ("de-fra=eu-central-1")
    # and how old an instance may be at its first registration.
    node_aws_certificates: Annotated[str, SECRET] = ""
    node_aws_accounts: list[str] = msgspec.field(default_factory=list)
    node_location_regions: list[str] = msgspec.field(default_factory=list)
    node_attestation_max_age_seconds: int = 600
    # New nodes per location per hour; more is a 429 and a warning (a leaked key, a loop).
    node_registrations_per_hour: int = 20
    # manual: a new node waits as "pending" (no users) until an operator approves it.
    node_approval: Literal["auto", "manual"] = "auto"
    # A node silent this long is "lost" (out of selection); this long, it is retired and its
    # leases and pool are freed. The sweep runs every fleet_sweep_seconds, in one replica.
    node_lost_after: int = 120
    node_forget_after: int = 86_400
    fleet_sweep_seconds: float = 15.0
    # Outside production only: networks a node's public_ip may be in although they are not
    # global unicast (make dev's and the tests' network namespaces).
    node_dev_networks: list[str] = msgspec.field(default_factory=list)
    # Tunnel address space, carved into one pool per node.
    tunnel_ipv4_supernet: str = "10.64.0.0/10"
    tunnel_ipv4_pool_prefix: int = 20
    tunnel_ipv6_supernet: str = "fd10:7068:6f65::/48"
    tunnel_ipv6_pool_prefix: int = 64
    # A node without a heartbeat for this long is not offered.
    heartbeat_ttl_seconds: int = 30
    # How long a node's record and a location's node list are reused before NodeDB is asked
    # again (phoenix.config.hotpath.recent); 0 reads every time.
    nodedb_cache_seconds: float = 1.0
    # The auth role's issuer directory: config learns token keys only by fetching it.
    issuer_directory_url: str = "http://127.0.0.1:8081/.well-known/private-token-issuer-directory"
    issuer_directory_refresh_seconds: int = 300
    # The TokenChallenge this origin issues (RFC 9577 §2.1): issuer name and origin name.
    issuer_name: str = "auth.phoenix.invalid"
    origin_name: str = "config.phoenix.invalid"
    # A token key's life, the same two values the auth role has: tokens of a key are accepted
    # until not-before + max age + overlap, and each spent mark lives exactly that long.
    issuer_key_max_age: timedelta = timedelta(days=30)
    issuer_key_overlap_hours: int = 72
    # Unset: marks follow their key (above). Set: only checked, and refused if shorter than a
    # key's life, since a mark that expires first lets its token be spent again.
    token_validity_seconds: int | None = None
    # More keys than this in one directory is refused (RFC 9576 §6.2: an issuer could give
    # each key to a few users and tell them apart): the previous, the signing and the next key.
    issuer_max_keys: int = 3
    # The last good copy of the directory is used for this many refresh intervals without a
    # successful fetch; then redemption fails closed (503, the token is not spent).
    issuer_directory_max_stale_refreshes: int = 12
    # Optional: the only token key ids (hex SHA-256 of the key's SPKI, RFC 9578 §6.5) accepted.
    issuer_pinned_key_ids: list[str] = msgspec.field(default_factory=list)
    # The double-spend store's safety: in production readiness fails unless Redis never evicts
    # (maxmemory-policy noeviction) and persists; None means "in production only".
    redis_require_durable: bool | None = None
    # With replicas, a spent mark waits for this many of them (WAIT) before a config is given.
    redis_replicas: int = 0
    redis_replica_wait_ms: int = 1000
    # WireGuard configs handed out: lease length and the DNS servers inside the tunnel.
    lease_hours: int = 24
    # Empty: each client is told its own node's tunnel address (the pool's first host), which
    # is the only resolver a client can reach once client-to-client traffic is dropped.
    tunnel_dns: list[str] = msgspec.field(default_factory=list)
    # DNS blocking a client may ask for per connection (``"dns": "base"``): each variant is
    # served on every node at its own resolver address, outside the client pools. The node
    # learns this list when it registers; a connect without ``dns`` gets the node's unfiltered
    # resolver (its tunnel address).
    dns_variants: list[str] = msgspec.field(default_factory=lambda: ["base=100.64.0.2"])

    def __post_init__(self) -> None:
        for variable, supernet, prefix, version in (
            (
                "PHOENIX_TUNNEL_IPV4_SUPERNET",
                self.tunnel_ipv4_supernet,
                self.tunnel_ipv4_pool_prefix,
                4,
            ),
            (
                "PHOENIX_TUNNEL_IPV6_SUPERNET",
                self.tunnel_ipv6_supernet,
                self.tunnel_ipv6_pool_prefix,
                6,
            ),
        ):
            try:
                network = ipaddress.ip_network(supernet)
            except ValueError:
                raise SettingsError(variable, f"{supernet!r} is not a network") from None
            if (
                network.version != version
                or not network.prefixlen < prefix <= network.max_prefixlen - 2
            ):
                raise SettingsError(variable, f"cannot be carved into /{prefix} pools")
        if self.nodedb_pool_size < 2:
            # One connection is the lease placements' own (phoenix.config.hotpath.placement).
            raise SettingsError("PHOENIX_NODEDB_POOL_SIZE", "needs at least 2 connections")
        for variable, token in (
            ("PHOENIX_MONITOR_TOKEN", self.monitor_token),
            ("PHOENIX_OPERATOR_TOKEN", self.operator_token),
        ):
            if token and len(token) < 32:
                raise SettingsError(variable, "needs at least 32 characters")
        if self.monitor_token and self.monitor_token == self.operator_token:
            # The worker holds the monitor credential; it must not be able to enroll nodes.
            raise SettingsError("PHOENIX_OPERATOR_TOKEN", "must differ from PHOENIX_MONITOR_TOKEN")
        self._check_fleet()
        self._check_dns()
        self._check_tokens()

    @property
    def key_life(self) -> timedelta:
        """How long after its not-before a key's tokens are accepted (and marks kept)."""
        return self.issuer_key_max_age + timedelta(hours=self.issuer_key_overlap_hours)

    @property
    def durable_redis_required(self) -> bool:
        if self.redis_require_durable is None:
            return self.env == "prod"
        return self.redis_require_durable

    def _check_tokens(self) -> None:
        if not timedelta(hours=1) <= self.issuer_key_max_age <= timedelta(days=366):
            raise SettingsError("PHOENIX_ISSUER_KEY_MAX_AGE", "must be between 1 hour and 366 days")
        if self.issuer_key_overlap_hours < 0:
            raise SettingsError("PHOENIX_ISSUER_KEY_OVERLAP_HOURS", "must not be negative")
        life = int(self.key_life.total_seconds())
        if self.token_validity_seconds is not None and self.token_validity_seconds < life:
            raise SettingsError(
                "PHOENIX_TOKEN_VALIDITY_SECONDS",
                f"shorter than a key's life ({life} s: max age + overlap); a spent token "
                "would be accepted again once its mark expired. Unset it.",
            )
        if not 1 <= self.issuer_max_keys <= 16:
            raise SettingsError("PHOENIX_ISSUER_MAX_KEYS", "must be between 1 and 16")
        if self.issuer_directory_max_stale_refreshes < 1:
            raise SettingsError(
                "PHOENIX_ISSUER_DIRECTORY_MAX_STALE_REFRESHES", "must be at least 1"
            )
        for key_id in self.issuer_pinned_key_ids:
            if not re.fullmatch(r"[0-9a-f]{64}", key_id):
                raise SettingsError(
                    "PHOENIX_ISSUER_PINNED_KEY_IDS",
                    f"{key_id!r}: expected 64 lowercase hex digits (a token key id)",
                )
        if self.redis_replicas < 0:
            raise SettingsError("PHOENIX_REDIS_REPLICAS", "must not be negative")
        if not 1 <= self.redis_replica_wait_ms <= 60_000:
            raise SettingsError("PHOENIX_REDIS_REPLICA_WAIT_MS", "must be between 1 and 60000")

    @property
    def dns_resolvers(self) -> dict[str, str]:
        """Variant → the resolver address that serves it on every node."""
        return dict(pair.split("=", 1) for pair in self.dns_variants)

    def _check_dns(self) -> None:
        supernet = ipaddress.ip_network(self.tunnel_ipv4_supernet)
        seen: set[str] = set()
        for pair in self.dns_variants:
            variant, equals, address = pair.partition("=")
            problem = None
            if not equals or not DNS_VARIANT.fullmatch(variant) or variant == "none":
                problem = "expected variant=IPv4 address, the variant a-z0-9- (not none)"
            else:
                try:
                    parsed = ipaddress.IPv4Address(address)
                except ValueError:
                    problem = f"{address!r} is not an IPv4 address"
                else:
                    if parsed in supernet:
                        problem = f"{address} is inside the client pools' supernet"
                    elif not _tunnel_only(parsed):
                        # Nodes refuse these (phoenix_node.agent.tunnel_only): a public address
                        # would capture clients' traffic to it, link-local is the metadata's.
                        problem = f"{address} is public, loopback, link-local or reserved"
                    elif address in seen:
                        problem = f"{address} serves two variants"
                    seen.add(address)
            if problem:
                raise SettingsError("PHOENIX_DNS_VARIANTS", f"{pair!r}: {problem}")

    def _check_fleet(self) -> None:
        if self.node_dev_networks and self.env == "prod":
            raise SettingsError(
                "PHOENIX_NODE_DEV_NETWORKS", "refused in production (PHOENIX_ENV=prod)"
            )
        for network in self.node_dev_networks:
            try:
                ipaddress.ip_network(network)
            except ValueError:
                raise SettingsError(
                    "PHOENIX_NODE_DEV_NETWORKS", f"{network!r} is not a network"
                ) from None
        for pair in self.node_location_regions:
            location, equals, region = pair.partition("=")
            if not equals or not location or not region:
                raise SettingsError(
                    "PHOENIX_NODE_LOCATION_REGIONS", f"{pair!r}: expected location=region"
                )
        if self.node_aws_certificates and not self.node_aws_accounts:
            raise SettingsError(
                "PHOENIX_NODE_AWS_ACCOUNTS", "required with PHOENIX_NODE_AWS_CERTIFICATES"
            )
        for variable, value, least in (
            ("PHOENIX_NODE_REGISTRATIONS_PER_HOUR", self.node_registrations_per_hour, 1),
            ("PHOENIX_NODE_ATTESTATION_MAX_AGE_SECONDS", self.node_attestation_max_age_seconds, 1),
            ("PHOENIX_NODE_LOST_AFTER", self.node_lost_after, self.heartbeat_ttl_seconds),
        ):
            if value < least:
                raise SettingsError(variable, f"must be at least {least}")
        if self.node_forget_after <= self.node_lost_after:
            raise SettingsError("PHOENIX_NODE_FORGET_AFTER", "must exceed PHOENIX_NODE_LOST_AFTER")
        if self.fleet_sweep_seconds <= 0:
            raise SettingsError("PHOENIX_FLEET_SWEEP_SECONDS", "must be positive")

    @property
    def location_regions(self) -> dict[str, str]:
        return dict(pair.partition("=")[::2] for pair in self.node_location_regions)


def _tunnel_only(address: ipaddress.IPv4Address) -> bool:
    return not (
        address.is_global
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
    )

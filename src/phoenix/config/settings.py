"""Settings of the config role. No field here may name UserDB, signing keys, Firebase or billing."""

from __future__ import annotations

import ipaddress
from typing import Annotated

import msgspec

from phoenix.settings import SECRET, CommonSettings, SettingsError


class ConfigSettings(CommonSettings, kw_only=True, frozen=True):
    # NodeDB (Postgres database phoenix_nodes); a secret because it may carry a password.
    nodedb_url: Annotated[str, SECRET]
    nodedb_pool_size: int = 10
    # Spent tokens, hot node metrics and peer-change notifications.
    redis_url: Annotated[str, SECRET] = "redis://127.0.0.1:6379/0"
    # Bootstrap secrets exit nodes register with (comma-separated: several during rotation).
    node_tokens: Annotated[list[str], SECRET] = []
    # The fleet monitor's credential for drain/undrain and node listings.
    monitor_token: Annotated[str, SECRET] = ""
    # Tunnel address space, carved into one pool per node.
    tunnel_ipv4_supernet: str = "10.64.0.0/10"
    tunnel_ipv4_pool_prefix: int = 20
    tunnel_ipv6_supernet: str = "fd10:7068:6f65::/48"
    tunnel_ipv6_pool_prefix: int = 64
    # A node without a heartbeat for this long is not offered.
    heartbeat_ttl_seconds: int = 30
    # How long a node's record and a location's node list are reused before NodeDB is asked
    # again (phoenix.config.recent); 0 reads every time.
    nodedb_cache_seconds: float = 1.0
    # The auth role's issuer directory: config learns token keys only by fetching it.
    issuer_directory_url: str = "http://127.0.0.1:8081/.well-known/private-token-issuer-directory"
    issuer_directory_refresh_seconds: int = 300
    # The TokenChallenge this origin issues (RFC 9577 §2.1): issuer name and origin name.
    issuer_name: str = "auth.phoenix.invalid"
    origin_name: str = "config.phoenix.invalid"
    # How long a spent token's digest is remembered (covers a key's signing life + overlap).
    token_validity_seconds: int = 14 * 24 * 3600
    # WireGuard configs handed out: lease length and the DNS servers inside the tunnel.
    lease_hours: int = 24
    # Empty: each client is told its own node's tunnel address (the pool's first host), which
    # is the only resolver a client can reach once client-to-client traffic is dropped.
    tunnel_dns: list[str] = msgspec.field(default_factory=list)

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
            # One connection is the lease placements' own (phoenix.config.placement).
            raise SettingsError("PHOENIX_NODEDB_POOL_SIZE", "needs at least 2 connections")
        if any(len(token) < 32 for token in self.node_tokens):
            raise SettingsError("PHOENIX_NODE_TOKENS", "each token needs at least 32 characters")
        if self.monitor_token and len(self.monitor_token) < 32:
            raise SettingsError("PHOENIX_MONITOR_TOKEN", "needs at least 32 characters")

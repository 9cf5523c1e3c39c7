"""Local Prometheus metrics on 127.0.0.1 only: aggregates, never a peer key or address.

The series and their meaning are the contract in ``docs/metrics.md`` (table "phoenix-node"):
rules and dashboards are built on these names, so a rename is a change of that contract.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.peers = Gauge("phoenix_node_peers", "Peers on the interface", registry=r)
        self.active_peers = Gauge(
            "phoenix_node_active_peers",
            "Peers with a handshake within PHOENIX_NODE_ACTIVE_SECONDS",
            registry=r,
        )
        self.recent_handshakes = Gauge(
            "phoenix_node_recent_handshakes",
            "Peers with a recent handshake (PHOENIX_NODE_ACTIVE_SECONDS), read from the interface",
            registry=r,
        )
        self.revision = Gauge("phoenix_node_applied_revision", "Peer revision applied", registry=r)
        self.sync_lag = Gauge(
            "phoenix_node_sync_lag_revisions",
            "Peer revisions announced by config but not yet applied",
            registry=r,
        )
        self.firewall_applied = Gauge(
            "phoenix_node_firewall_applied_timestamp_seconds",
            "Unix time of the last successful nftables ruleset apply",
            registry=r,
        )
        self.guard_held = Gauge(
            "phoenix_node_mass_removal_guard_held",
            "1 while the mass-removal guard holds back a snapshot",
            registry=r,
        )
        self.draining = Gauge("phoenix_node_draining", "1 while the node drains", registry=r)
        self.api_up = Gauge("phoenix_node_api_up", "1 while the node API answers", registry=r)
        self.peer_changes = Counter(
            "phoenix_node_peer_changes", "Peer changes written", ["op"], registry=r
        )
        self.held = Counter(
            "phoenix_node_mass_removals_held", "Snapshots held by the guard", registry=r
        )
        self.recreated = Counter(
            "phoenix_node_recreated", "Interface or ruleset recreated", ["what"], registry=r
        )

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)

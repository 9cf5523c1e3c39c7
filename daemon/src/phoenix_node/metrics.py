"""Local Prometheus metrics on 127.0.0.1 only: aggregates, never a peer key or address."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.peers = Gauge("phoenix_node_peers", "Peers on the interface", registry=r)
        self.active_peers = Gauge(
            "phoenix_node_active_peers", "Peers with a handshake in the last 180 s", registry=r
        )
        self.revision = Gauge("phoenix_node_applied_revision", "Peer revision applied", registry=r)
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

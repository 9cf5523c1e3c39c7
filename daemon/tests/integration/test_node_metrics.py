"""The agent's gauges move as docs/metrics.md says, driven through the agent's own steps.

The node is real: the agent on the UAPI backend with wireguard-go in a namespace of the test's,
a WireGuard client in a second namespace that completes real handshakes, and the ruleset applied
by libnftables (in a process of its own, see ``node_harness.firewall_run``). The config role is
the stub HTTP server of ``stub_http.py``, started inside the node's namespace so the agent's
httpcore client reaches it on that namespace's loopback, answering the heartbeat and the peer
feed as the test scripts them. Steps are called one at a time (``heartbeat_once``, one answer
of the feed through ``take``) so each gauge is read between two of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from node_harness.netns import Netns, kill_wireguard_go, link
from node_harness.stub_http import Answer, Request, Route, serve
from node_harness.wireguard import Client, dump, wait_until
from phoenix_node.agent import Agent
from phoenix_node.api import ApiClient, Registration
from phoenix_node.identity import IdentityStore
from phoenix_node.keys import KeyStore, generate
from phoenix_node.metrics import Metrics
from phoenix_node.settings import load
from phoenix_node.wireguard import make_backend

pytestmark = pytest.mark.needs_root

NODE_ID = "6f1c1d2e-0000-4000-8000-00000000beef"
NODE_IP, CLIENT_IP = "192.0.2.1", "192.0.2.2"
PORT = 51820
CLIENT_TUNNEL = ["10.64.16.2/32", "fd00:64:0:1::2/128"]
IDLE_KEY = "I" * 43 + "="  # a peer that never connects
IDLE_TUNNEL = ["10.64.16.3/32", "fd00:64:0:1::3/128"]


@dataclass
class ConfigRole:
    """The heartbeat and peer-feed routes; the test sets what they answer next."""

    revision: int = 0  # what a heartbeat answer announces
    feed: list[dict[str, Any]] = field(default_factory=list)  # answers, in order
    asked_since: list[str] = field(default_factory=list)
    beats: list[dict[str, Any]] = field(default_factory=list)  # heartbeats received

    def heartbeat(self, request: Request) -> Answer:
        self.beats.append(json.loads(request.body))
        return json_answer({"drain": False, "revision": self.revision})

    def peers(self, request: Request) -> Answer:
        self.asked_since.append(request.path.partition("since=")[2].partition("&")[0])
        return json_answer(self.feed.pop(0))


def json_answer(body: dict[str, Any]) -> Answer:
    return Answer(200, json.dumps(body).encode(), {"content-type": "application/json"})


def snapshot(revision: int, peers: dict[str, list[str]]) -> dict[str, Any]:
    listed = [{"public_key": k, "allowed_ips": ips} for k, ips in peers.items()]
    return {"revision": revision, "snapshot": True, "peers": listed}


def added(revision: int, key: str, ips: list[str]) -> dict[str, Any]:
    return {"revision": revision, "op": "add", "public_key": key, "allowed_ips": ips}


@dataclass
class Node:
    agent: Agent
    metrics: Metrics
    config: ConfigRole
    ns: Netns

    def gauge(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)

    async def sync_once(self) -> None:
        """One answer of the peer feed, asked for and applied as the sync loop does."""
        assert self.agent.registration is not None
        await self.agent.take(
            await self.agent.api.peers(self.agent.registration, self.agent.revision)
        )

    def peers_on_interface(self) -> set[str]:
        return set(dump(self.ns, self.agent.backend.interface))


@contextlib.asynccontextmanager
async def running_node(ns: Netns, tmp_path: Path, config: ConfigRole) -> AsyncIterator[Node]:
    """The agent after its prepare step, with a registration stored as a restart finds it."""
    interface = f"wgm{os.urandom(3).hex()}"
    routes: dict[tuple[str, str], Route] = {
        ("POST", f"/v1/nodes/{NODE_ID}/heartbeat"): config.heartbeat,
        ("GET", f"/v1/nodes/{NODE_ID}/peers"): config.peers,
    }
    try:
        with ns.entered(), serve(routes) as stub:
            settings = load(
                {
                    "PHOENIX_NODE_API_URL": stub.url,
                    "PHOENIX_NODE_ENROLLMENT_KEY": "pnk_unused",
                    "PHOENIX_NODE_REGION": "de-fra",
                    "PHOENIX_NODE_PUBLIC_IP": NODE_IP,
                    "PHOENIX_NODE_WG_INTERFACE": interface,
                    "PHOENIX_NODE_WG_BACKEND": "uapi",
                    "PHOENIX_NODE_LISTEN_PORT": str(PORT),
                    "PHOENIX_NODE_SYSCTL": "false",
                    "PHOENIX_NODE_FIREWALL": "false",
                    "PHOENIX_NODE_MASS_REMOVAL_CONFIRM_SECONDS": "0",
                }
            )
            keys = generate()
            identity = IdentityStore(KeyStore(tmp_path / "keys", allow_disk=True))
            identity.save(keys.public_base64, registration(config.revision))
            metrics = Metrics()
            api = ApiClient(stub.url, 30, 0)
            backend = make_backend("uapi", interface)
            agent = Agent(settings, keys, backend, api, metrics, identity)
            agent.registration = agent.restore()
            await agent.prepare()
            try:
                yield Node(agent, metrics, config, ns)
            finally:
                await api.aclose()
    finally:
        kill_wireguard_go(interface)


def registration(revision: int) -> Registration:
    return Registration(
        node_id=uuid.UUID(NODE_ID),
        node_credential="pnc_node-credential",
        ipv4_pool="10.64.16.0/20",
        ipv6_pool="fd00:64:0:1::/64",
        revision=revision,
        status="active",
    )


@pytest.fixture
def client_ns(node_ns: Netns) -> Iterator[Netns]:  # node_ns: namespaces can be made here
    ns = Netns("client")
    yield ns
    ns.delete()


@contextlib.contextmanager
def connected_client(node_ns: Netns, client_ns: Netns, node_key: str) -> Iterator[Client]:
    """A WireGuard client of the node over a veth link; it starts a handshake at once and keeps
    the tunnel alive every second."""
    link(client_ns, "c0", f"{CLIENT_IP}/24", node_ns, "n0", f"{NODE_IP}/24")
    client = Client(client_ns, f"wgc{os.urandom(3).hex()}")
    try:
        client.configure(CLIENT_TUNNEL, node_key, f"{NODE_IP}:{PORT}", ["10.64.16.1/32"])
        yield client
    finally:
        client.close()


def handshaken(node: Node, key: str) -> bool:
    peer = dump(node.ns, node.agent.backend.interface).get(key)
    return peer is not None and peer.latest_handshake > 0


def assert_no_identifier_in_labels(metrics: Metrics, *identifiers: str) -> None:
    text = generate_latest(metrics.registry).decode()
    values = re.findall(r'="([^"]*)"', text)
    assert set(values) <= {"add", "update", "remove", "interface", "firewall"}, values
    for identifier in identifiers:
        assert identifier not in text


async def test_recent_handshakes_count_the_peers_whose_handshake_the_interface_reports(
    node_ns: Netns, client_ns: Netns, tmp_path: Path
) -> None:
    config = ConfigRole(revision=1)
    async with running_node(node_ns, tmp_path, config) as node:
        with connected_client(node_ns, client_ns, node.agent.keys.public_base64) as client:
            idle = {IDLE_KEY: IDLE_TUNNEL}
            # The client knocks, but the node does not know it yet: only the idle peer.
            config.feed.append(snapshot(1, idle))
            await node.sync_once()
            await node.agent.heartbeat_once()
            assert node.gauge("phoenix_node_peers") == 1
            assert node.gauge("phoenix_node_recent_handshakes") == 0

            config.revision = 2
            config.feed.append(snapshot(2, {client.public_key: CLIENT_TUNNEL} | idle))
            await node.sync_once()
            wait_until(lambda: handshaken(node, client.public_key), timeout=60)
            await node.agent.heartbeat_once()
            assert node.gauge("phoenix_node_peers") == 2
            assert node.gauge("phoenix_node_recent_handshakes") == 1
            assert node.gauge("phoenix_node_active_peers") == 1  # the same reading, reused
            assert_no_identifier_in_labels(
                node.metrics, client.public_key, IDLE_KEY, NODE_ID, NODE_IP, CLIENT_IP
            )


async def test_the_sync_lag_is_what_config_announced_beyond_what_the_node_applied(
    node_ns: Netns, tmp_path: Path
) -> None:
    config = ConfigRole(revision=3)
    async with running_node(node_ns, tmp_path, config) as node:
        # Restored from node.json: its revision is announced, nothing is applied yet.
        assert node.gauge("phoenix_node_sync_lag_revisions") == 3

        config.revision = 5
        await node.agent.heartbeat_once()
        assert node.gauge("phoenix_node_sync_lag_revisions") == 5
        assert node.gauge("phoenix_node_applied_revision") == 0

        config.feed.append(snapshot(5, {IDLE_KEY: IDLE_TUNNEL}))
        await node.sync_once()
        assert node.gauge("phoenix_node_applied_revision") == 5
        assert node.gauge("phoenix_node_sync_lag_revisions") == 0

        config.revision = 8
        await node.agent.heartbeat_once()
        assert node.gauge("phoenix_node_sync_lag_revisions") == 3

        keys = [generate().public_base64 for _ in range(3)]
        changes = [
            added(6 + i, key, [f"10.64.16.{10 + i}/32", f"fd00:64:0:1::{10 + i:x}/128"])
            for i, key in enumerate(keys)
        ]
        config.feed.append({"revision": 8, "snapshot": False, "changes": changes})
        await node.sync_once()
        assert config.asked_since == ["-1", "5"]
        assert node.gauge("phoenix_node_applied_revision") == 8
        assert node.gauge("phoenix_node_sync_lag_revisions") == 0
        assert node.peers_on_interface() == {IDLE_KEY, *keys}
        assert_no_identifier_in_labels(node.metrics, IDLE_KEY, NODE_ID, *keys)


async def test_the_guard_is_1_while_a_snapshot_is_held_and_0_once_one_is_applied(
    node_ns: Netns, client_ns: Netns, tmp_path: Path
) -> None:
    config = ConfigRole(revision=1)
    async with running_node(node_ns, tmp_path, config) as node:
        with connected_client(node_ns, client_ns, node.agent.keys.public_base64) as client:
            config.feed.append(snapshot(1, {client.public_key: CLIENT_TUNNEL}))
            await node.sync_once()
            assert node.gauge("phoenix_node_mass_removal_guard_held") == 0
            wait_until(lambda: handshaken(node, client.public_key), timeout=60)

            # A snapshot without the one active peer: held, the peer stays.
            config.feed.append(snapshot(2, {}))
            await node.sync_once()
            assert node.gauge("phoenix_node_mass_removal_guard_held") == 1
            assert node.gauge("phoenix_node_mass_removals_held_total") == 1
            assert node.gauge("phoenix_node_recent_handshakes") == 1
            assert node.gauge("phoenix_node_sync_lag_revisions") == 1  # 2 named, 1 applied
            assert node.peers_on_interface() == {client.public_key}
            # The metrics port is loopback-only: the heartbeat tells config's census.
            await node.agent.heartbeat_once()
            assert config.beats[-1]["guard_held"] is True

            # The second snapshot agrees: the removal is applied and the guard lets go.
            config.feed.append(snapshot(2, {}))
            await node.sync_once()
            assert config.asked_since == ["-1", "1", "-1"]  # after a hold: a snapshot again
            assert node.gauge("phoenix_node_mass_removal_guard_held") == 0
            assert node.gauge("phoenix_node_mass_removals_held_total") == 1
            assert node.gauge("phoenix_node_sync_lag_revisions") == 0
            assert node.peers_on_interface() == set()
            await node.agent.heartbeat_once()
            assert "guard_held" not in config.beats[-1]  # omitted while false: old configs


def test_the_firewall_timestamp_moves_only_when_a_ruleset_goes_in(node_ns: Netns) -> None:
    interface = f"wgf{os.urandom(3).hex()}"
    root = Path(__file__).resolve().parents[1]  # daemon/tests, where node_harness is
    try:
        done = subprocess.run(
            node_ns.command(
                sys.executable, "-m", "node_harness.firewall_run", "agent-stamps", interface
            ),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=root,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(root), os.environ.get("PYTHONPATH")])
                ),
            },
            check=False,
        )
    finally:
        kill_wireguard_go(interface)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["unset"] == 0  # never applied: an age from the epoch, which any rule flags
    for step in ("prepare", "repair"):
        assert seen[step]["before"] <= seen[step]["stamp"] <= seen[step]["after"], step
    assert seen["recreated"] == 1  # the repair really put the vanished table back
    # The broken ruleset was refused: the timestamp still says when the last one went in.
    assert seen["refused"]["stamp"] == seen["repair"]["stamp"]
    assert seen["intact"] is False

"""The data plane end to end: three namespaces the test makes, joined by veth pairs.

    client 192.0.2.2 ──veth── 192.0.2.1 node 203.0.114.1 ──veth── 203.0.114.2 internet

The config role and its real Postgres and Redis stay on the host; the daemon runs in the node
namespace (wireguard-go through UAPI, nftables and sysctl there) and reaches the role through a
loopback forward. The client gets its WireGuard config from a real ``/v1/connect`` with a real
Privacy Pass token, and runs wireguard-go in the client namespace. Nothing leaves the
namespaces; the internet namespace has no route to the tunnel addresses, so an answer it gives
can only reach the client through the node's NAT.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from node_harness import netns as netns_harness
from node_harness import wireguard as wg_harness
from node_harness.netns import Netns, link
from node_harness.wireguard import Client, wait_until
from phoenix.config.settings import ConfigSettings
from phoenix.config.tokens import challenge
from phoenix.crypto.privacypass.headers import build_authorization
from tests.conftest import require
from tests.harness.issuer import mint_tokens, private_keys
from tests.harness.nodes import mint_sync
from tests.harness.port_forward import PortForward
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures reused as they are
    Stores,
    config_server,
    config_settings,
    stores,
)
from tests.integration.node_with_server.conftest import Daemon

NODE_IP, CLIENT_IP = "192.0.2.1", "192.0.2.2"
# The far side is a public range: a client must not reach documentation or private ranges.
EGRESS_IP, INTERNET_IP = "203.0.114.1", "203.0.114.2"


@dataclass
class World:
    client_ns: Netns
    node_ns: Netns
    internet_ns: Netns
    server: RoleServer
    daemon: Daemon
    client: Client
    config: dict[str, Any]
    node_id: str

    def ping(self, count: int, interval: float = 0.01, wait: float = 1) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.client_ns.command(
                "ping", "-n", "-q", "-i", str(interval), "-c", str(count), "-W", str(wait),
                INTERNET_IP,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip

    def reachable(self) -> bool:
        done = self.client_ns.exec("ping", "-n", "-c", "1", "-W", "1", INTERNET_IP, check=False)
        return done.returncode == 0


def received(ping: subprocess.Popen[str], timeout: float = 120) -> tuple[int, int]:
    """(transmitted, received) of a finished ping."""
    output, _ = ping.communicate(timeout=timeout)
    for line in output.splitlines():
        if "packets transmitted" in line:
            parts = line.split(",")
            return int(parts[0].split()[0]), int(parts[1].split()[0])
    raise AssertionError(f"no ping statistics in:\n{output}")


def token(settings: ConfigSettings) -> str:
    [raw] = mint_tokens(private_keys(1)[0], challenge(settings), 1)
    return build_authorization(raw)


@pytest.fixture
def world(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    tmp_path: Path,
) -> Iterator[World]:
    """The daemon run from source (``python -m phoenix_node``)."""
    with make_world(config_server, config_settings, tmp_path, None) as made:
        yield made


@pytest.fixture
def binary_world(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    tmp_path: Path,
) -> Iterator[World]:
    """The daemon run as the single binary ``make daemon-binary`` builds."""
    from tests.e2e.binary import build

    with make_world(config_server, config_settings, tmp_path, [str(build())]) as made:
        yield made


@contextlib.contextmanager
def make_world(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    tmp_path: Path,
    command: list[str] | None,
    far_side: Callable[[Netns, Netns], dict[str, Any]] | None = None,
    dns: str | None = None,
    **node_settings: Any,
) -> Iterator[World]:
    """The three namespaces, a daemon and one connected client; ``far_side(node, internet)``
    adds to the far side before the daemon starts, ``dns`` is the connect's blocking variant."""
    ok, why = netns_harness.available()
    require("network namespaces", ok, why)
    ok, why = wg_harness.available()
    require("wireguard-go", ok, why)
    made: list[Netns] = []
    cleanup: list[Any] = []
    try:
        client_ns, node_ns, internet_ns = (Netns(n) for n in ("client", "node", "inet"))
        made += [client_ns, node_ns, internet_ns]
        link(client_ns, "c0", f"{CLIENT_IP}/24", node_ns, "n0", f"{NODE_IP}/24")
        link(node_ns, "n1", f"{EGRESS_IP}/24", internet_ns, "i0", f"{INTERNET_IP}/24")
        if far_side is not None:
            node_settings = {**node_settings, **far_side(node_ns, internet_ns)}
        forward = PortForward(node_ns, config_server.port)
        cleanup.append(forward.close)
        daemon = Daemon(
            node_ns, forward, tmp_path / "node.log", command=command,
            public_ip=NODE_IP, egress_interface="n1", mass_removal_confirm_seconds=3,
            enrollment_key=mint_sync(config_server.base_url), **node_settings,
        )  # fmt: skip
        cleanup.append(daemon.cleanup)
        daemon.start()
        node_id = str(daemon.wait_for("register_done")["node_id"])
        daemon.wait_for("heartbeat_ok")
        daemon.wait_for("sync_live")
        client = Client(client_ns, f"wgc{os.urandom(3).hex()}")
        cleanup.append(client.close)
        answer = httpx.post(
            config_server.base_url + "/v1/connect",
            json={"location": "de-fra", "public_key": client.public_key, "dns": dns},
            headers={"authorization": token(config_settings)},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        config = answer.json()
        client.configure(
            config["interface"]["addresses"],
            config["peer"]["public_key"],
            config["peer"]["endpoint"],
            config["peer"]["allowed_ips"],
        )
        client_ns.exec("ip", "route", "add", f"{INTERNET_IP}/32", "dev", client.interface)
        wait_until(lambda: client.public_key in daemon.peers(), timeout=2)
        yield World(client_ns, node_ns, internet_ns, config_server, daemon, client, config, node_id)
    finally:
        for step in reversed(cleanup):
            step()
        for ns in made:
            ns.delete()


def client_tunnel_ipv4(world: World) -> str:
    for address in world.config["interface"]["addresses"]:
        interface = ipaddress.ip_interface(address)
        if interface.version == 4:
            return str(interface.ip)
    raise AssertionError("no IPv4 tunnel address")

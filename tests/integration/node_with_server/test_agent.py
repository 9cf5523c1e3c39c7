"""The daemon's loop against a real config role: register, heartbeat, live peer sync, outages,
a forgotten registry, vanished interface and ruleset, drain, and keys erased on SIGTERM."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import subprocess
import sys
import time
from typing import Any

import pytest

from node_harness.netns import kill_wireguard_go
from node_harness.wireguard import dump, wait_until
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import Stores
from tests.integration.node_with_server.conftest import Daemon, grant, monitor_nodes, monitor_post

pytestmark = pytest.mark.needs_root


def registered(daemon: Daemon) -> str:
    return str(daemon.wait_for("register_done")["node_id"])


async def test_the_node_registers_heartbeats_and_a_new_lease_is_on_the_interface_within_a_second(
    daemon: Daemon, config_server: RoleServer, stores: Stores
) -> None:
    node_id = registered(daemon)
    daemon.wait_for("heartbeat_ok")
    daemon.wait_for("sync_live")
    [node] = [n for n in monitor_nodes(config_server) if n["id"] == node_id]
    assert node["status"] == "active"
    assert node["active_peers"] == 0
    await asyncio.sleep(0.3)  # the long-poll is waiting now
    started = time.monotonic()
    key = await grant(stores, node_id)
    elapsed = wait_until(lambda: key in daemon.peers(), timeout=1.0)
    assert time.monotonic() - started < 1.0, elapsed
    prefix = daemon.wait_for("register_done")["ipv4_pool"].split("/")[0].rsplit(".", 1)[0]
    v4, v6 = sorted(daemon.peers()[key], key=lambda ip: ":" in ip)
    assert v4 == f"{prefix}.2/32"
    assert v6.endswith("/128")


async def test_an_expired_lease_is_removed_and_others_stay(
    daemon: Daemon, config_server: RoleServer, stores: Stores
) -> None:
    node_id = registered(daemon)
    daemon.wait_for("sync_live")
    staying = await grant(stores, node_id)
    leaving = await grant(stores, node_id, seconds=1)
    wait_until(lambda: {staying, leaving} <= set(daemon.peers()), timeout=2)
    await asyncio.sleep(1.1)
    swept = await monitor_post(config_server, "/v1/admin/leases/sweep")
    assert swept.json() == {"removed": 1}
    wait_until(lambda: leaving not in daemon.peers(), timeout=2)
    assert staying in daemon.peers()


async def test_an_api_outage_keeps_every_peer_and_the_node_catches_up_after_it(
    daemon: Daemon, config_server: RoleServer, stores: Stores
) -> None:
    node_id = registered(daemon)
    daemon.wait_for("sync_live")
    before = [await grant(stores, node_id) for _ in range(3)]
    wait_until(lambda: set(before) <= set(daemon.peers()), timeout=2)
    port = config_server.port
    config_server.stop()
    daemon.wait_for("sync_api_unreachable", timeout=15)
    daemon.wait_for("heartbeat_failing", timeout=5)
    during = await grant(stores, node_id)  # committed while the node cannot hear it
    await asyncio.sleep(2)
    assert set(before) <= set(daemon.peers())
    assert during not in daemon.peers()
    config_server.port = port
    config_server.start()
    wait_until(lambda: during in daemon.peers(), timeout=10)
    assert set(before) <= set(daemon.peers())
    daemon.wait_for("sync_live", count=2)


async def test_a_node_the_registry_retired_never_comes_back(
    daemon: Daemon, config_server: RoleServer, stores: Stores
) -> None:
    node_id = registered(daemon)
    daemon.wait_for("heartbeat_ok")
    gone = await monitor_post(config_server, f"/v1/nodes/{node_id}/terminated")
    assert gone.status_code == 200
    daemon.wait_for("node_forgotten", timeout=10)
    refused = daemon.wait_for("register_failed", timeout=10)
    assert "409" in refused["reason"]  # a terminated key never registers again
    assert len(daemon.logged("register_done")) == 1
    [node] = [n for n in monitor_nodes(config_server) if n["id"] == node_id]
    assert node["status"] == "terminated"


async def test_a_restarted_daemon_keeps_its_identity_and_its_peers(
    daemon: Daemon, config_server: RoleServer, stores: Stores
) -> None:
    node_id = registered(daemon)
    key = await grant(stores, node_id)
    wait_until(lambda: key in daemon.peers(), timeout=10)
    daemon.wait_for("heartbeat_ok")
    assert daemon.stop() == 0
    assert key in daemon.peers()  # the interface outlives the daemon
    daemon.start()
    restored = daemon.wait_for("register_restored")
    assert restored["node_id"] == node_id
    daemon.wait_for("heartbeat_ok", count=2)
    assert len(daemon.logged("register_done")) == 1  # no second registration
    assert key in daemon.peers()
    later = await grant(stores, node_id)
    wait_until(lambda: later in daemon.peers(), timeout=10)
    assert [n["id"] for n in monitor_nodes(config_server)] == [node_id]


async def test_a_vanished_interface_is_recreated_with_its_peers(
    daemon: Daemon, stores: Stores
) -> None:
    node_id = registered(daemon)
    daemon.wait_for("sync_live")
    keys = {await grant(stores, node_id) for _ in range(2)}
    wait_until(lambda: keys <= set(daemon.peers()), timeout=2)
    kill_wireguard_go(daemon.interface)
    daemon.wait_for("interface_missing", timeout=10)
    wait_until(lambda: keys <= set(daemon.peers()), timeout=10)
    links = daemon.ns.exec("ip", "-o", "addr", "show", "dev", daemon.interface).stdout
    assert daemon.wait_for("register_done")["ipv4_pool"].split("/")[0].rsplit(".", 1)[0] in links


async def test_a_vanished_or_altered_ruleset_is_put_back(daemon: Daemon) -> None:
    registered(daemon)
    daemon.wait_for("heartbeat_ok")
    original = daemon.ns.exec("nft", "list", "table", "inet", "phoenix").stdout
    assert "100.64.0.2" in original  # the resolver addresses, set once registered
    applied = len(daemon.logged("firewall_applied"))  # at start, then with the resolvers
    daemon.ns.exec("nft", "delete", "table", "inet", "phoenix")
    daemon.wait_for("firewall_applied", timeout=10, count=applied + 1)
    assert daemon.ns.exec("nft", "list", "table", "inet", "phoenix").stdout == original
    daemon.ns.exec("nft", "flush", "chain", "inet", "phoenix", "to_internet")
    daemon.wait_for("firewall_applied", timeout=10, count=applied + 2)
    assert daemon.ns.exec("nft", "list", "table", "inet", "phoenix").stdout == original


async def test_a_draining_node_keeps_its_peers_and_reports_them_until_terminated(
    daemon: Daemon, config_server: RoleServer, stores: Stores
) -> None:
    node_id = registered(daemon)
    daemon.wait_for("sync_live")
    key = await grant(stores, node_id)
    wait_until(lambda: key in daemon.peers(), timeout=2)
    drain = await monitor_post(config_server, "/node/drain", {"id": node_id, "reason": "retired"})
    assert drain.status_code == 200
    daemon.wait_for("drain_on", timeout=5)
    await asyncio.sleep(1.5)  # several heartbeats while draining
    assert key in daemon.peers()
    [node] = [n for n in monitor_nodes(config_server) if n["id"] == node_id]
    assert node["status"] in ("draining", "drained")
    assert node["active_peers"] == 0
    await monitor_post(config_server, f"/v1/nodes/{node_id}/terminated")
    daemon.wait_for("node_terminated", timeout=10)
    await asyncio.sleep(1)
    assert len(daemon.logged("register_done")) == 1  # a terminated node does not come back
    assert key in daemon.peers()


def test_keys_are_0600_on_tmpfs_kept_on_sigterm_erased_by_forget_and_never_logged(
    daemon: Daemon,
) -> None:
    registered(daemon)
    key_file = daemon.key_dir / "private.key"
    identity = daemon.key_dir / "node.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    private = key_file.read_text().strip()
    credential = json.loads(identity.read_text())["registration"]["node_credential"]
    keys_ready: dict[str, Any] = daemon.wait_for("keys_ready")
    assert keys_ready["filesystem"] == "tmpfs"
    assert daemon.stop() == 0
    assert key_file.exists()
    assert identity.exists()
    forget = subprocess.run(
        daemon.ns.command(*daemon.command, "forget"),
        env=daemon.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert forget.returncode == 0, forget.stderr
    assert not key_file.exists()
    assert not identity.exists()
    logs = daemon.text() + forget.stdout + forget.stderr
    for secret in (private, base64.b64decode(private).hex(), credential):
        assert secret not in logs


def test_a_key_directory_on_disk_is_refused(daemon_factory: Any, tmp_path: Any) -> None:
    node = daemon_factory(key_dir=str(tmp_path / "keys")).start()
    assert node.process.wait(20) == 2
    assert "is not on tmpfs or ramfs" in node.text()
    assert "Traceback" not in node.text()
    assert not (tmp_path / "keys" / "private.key").exists()


async def test_local_metrics_are_aggregates_on_loopback_only(
    daemon_factory: Any, stores: Stores
) -> None:
    daemon = daemon_factory(metrics_port="9586").start()
    node_id = registered(daemon)
    daemon.wait_for("sync_live")
    key = await grant(stores, node_id)
    wait_until(lambda: key in daemon.peers(), timeout=2)
    await asyncio.sleep(1)  # a heartbeat after the peer arrived
    listed = daemon.ns.exec("ss", "-Hltn", "sport", "= :9586").stdout.splitlines()
    assert [line.split()[3] for line in listed] == ["127.0.0.1:9586"]
    page = daemon.ns.exec(
        sys.executable, "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9586/').read().decode())",
    ).stdout  # fmt: skip
    assert "phoenix_node_peers 1.0" in page
    assert "phoenix_node_api_up 1.0" in page
    assert 'phoenix_node_peer_changes_total{op="add"} 1.0' in page
    assert key not in page
    assert base64.b64decode(key).hex() not in page


async def test_a_remembered_endpoint_without_a_recent_handshake_is_forgotten(
    daemon: Daemon, stores: Stores
) -> None:
    node_id = registered(daemon)
    daemon.wait_for("sync_live")
    key = await grant(stores, node_id)
    wait_until(lambda: key in daemon.peers(), timeout=2)
    daemon.ns.exec("wg", "set", daemon.interface, "peer", key, "endpoint", "192.0.2.9:4000")
    daemon.wait_for("idle_endpoints_forgotten", timeout=5)
    peer = dump(daemon.ns, daemon.interface)[key]
    assert peer.endpoint is None
    assert peer.allowed_ips == daemon.peers()[key]
    assert "192.0.2.9" not in daemon.text()

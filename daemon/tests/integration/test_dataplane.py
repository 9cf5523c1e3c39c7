"""The data-plane parts on their own, in a namespace of the test's: wireguard-go through UAPI,
the nftables table and the sysctl values. ``wg show dump`` and ``nft list`` read back what was
written, independently of our own parsers."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node_harness.netns import Netns, kill_wireguard_go
from node_harness.wireguard import dump
from phoenix_node import sysctl
from phoenix_node.agent import Agent
from phoenix_node.api import ApiClient
from phoenix_node.identity import IdentityStore
from phoenix_node.keys import KeyStore, generate
from phoenix_node.metrics import Metrics
from phoenix_node.peers import PeerSet, Plan, diff, normalise_ips
from phoenix_node.settings import load
from phoenix_node.wireguard import Backend
from phoenix_node.wireguard.uapi import UapiBackend

pytestmark = pytest.mark.needs_root


class CountingUapi(UapiBackend):
    """The real UAPI backend, counting the ``set=1`` transactions it sends (a spy, no stand-in)."""

    writes = 0

    async def _set(self, lines: list[str]) -> None:
        self.writes += 1
        await super()._set(lines)


def peer_set(count: int, offset: int = 0) -> PeerSet:
    return {
        base64.b64encode(os.urandom(32)).decode(): normalise_ips(
            [
                f"10.64.{(i + offset) // 250}.{(i + offset) % 250 + 2}/32",
                f"fd00::{i + offset:x}/128",
            ]
        )
        for i in range(count)
    }


@pytest.fixture
def backend(node_ns: Netns) -> Iterator[CountingUapi]:
    interface = f"wgt{uuid.uuid4().hex[:8]}"
    with node_ns.entered():
        yield CountingUapi(interface)
    kill_wireguard_go(interface)


def dumped(ns: Netns, interface: str) -> PeerSet:
    return {key: peer.allowed_ips for key, peer in dump(ns, interface).items()}


async def backend_contract(ns: Netns, backend: Backend) -> None:
    """What every backend must do, checked with ``wg show dump`` (the agent relies on it)."""
    with ns.entered():
        assert await backend.ensure(generate().private, 51820) is True
        assert await backend.ensure(generate().private, 51820) is False  # already there
        first = peer_set(50)
        await backend.apply(diff(first, {}))
        assert dumped(ns, backend.interface) == first
        roamed = next(iter(first))
        ns.exec("wg", "set", backend.interface, "peer", roamed, "endpoint", "192.0.2.9:4000")
        second = {k: v for i, (k, v) in enumerate(first.items()) if i % 2 == 0} | peer_set(20, 100)
        plan = diff(second, await _actual(backend))
        assert plan.summary() == {"add": 20, "update": 0, "remove": 25}
        await backend.apply(plan)
        assert dumped(ns, backend.interface) == second
        # The roamed peer was not re-added: it still remembers its endpoint.
        assert dump(ns, backend.interface)[roamed].endpoint == "192.0.2.9:4000"
        moved = {roamed: normalise_ips(["10.99.0.2/32"])}
        await backend.apply(diff(second | moved, second))
        assert dumped(ns, backend.interface)[roamed] == moved[roamed]
        assert dump(ns, backend.interface)[roamed].endpoint == "192.0.2.9:4000"


async def test_uapi_applies_only_the_difference_and_never_touches_other_peers(
    node_ns: Netns, backend: CountingUapi
) -> None:
    await backend_contract(node_ns, backend)


@pytest.mark.skip_allowed_in_ci("this kind of machine's kernel has no WireGuard module")
async def test_netlink_applies_only_the_difference_and_never_touches_other_peers(
    node_ns: Netns,
) -> None:
    probe = node_ns.exec("ip", "link", "add", "wgprobe", "type", "wireguard", check=False)
    if probe.returncode != 0:
        pytest.skip(f"no WireGuard kernel module: {probe.stderr.strip()}")
    node_ns.exec("ip", "link", "del", "wgprobe")
    from phoenix_node.wireguard.netlink import NetlinkBackend

    await backend_contract(node_ns, NetlinkBackend(f"wgk{uuid.uuid4().hex[:8]}"))


async def _actual(backend: Backend) -> PeerSet:
    return {key: peer.allowed_ips for key, peer in (await backend.peers()).items()}


async def test_the_same_state_twice_writes_nothing(
    node_ns: Netns, backend: CountingUapi, tmp_path: Path
) -> None:
    settings = load(
        {
            "PHOENIX_NODE_API_URL": "http://127.0.0.1:9",
            "PHOENIX_NODE_ENROLLMENT_KEY": "pnk_unused",
            "PHOENIX_NODE_REGION": "de-fra",
            "PHOENIX_NODE_PUBLIC_IP": "192.0.2.1",
            "PHOENIX_NODE_WG_INTERFACE": backend.interface,
        }
    )
    api = ApiClient(settings.api_url, 1, 0)
    with node_ns.entered():
        identity = IdentityStore(KeyStore(tmp_path, allow_disk=True))  # never written here
        agent = Agent(settings, generate(), backend, api, Metrics(), identity)
        await agent.ensure_interface()
        agent.desired = peer_set(100)
        await agent.reconcile()
        writes = backend.writes
        assert dumped(node_ns, backend.interface) == agent.desired
        await agent.reconcile()
        agent.desired = dict(agent.desired)
        await agent.reconcile()
        assert backend.writes == writes
    await api.aclose()


async def test_an_idle_peer_forgets_its_client_endpoint_and_keeps_its_addresses(
    node_ns: Netns, backend: CountingUapi
) -> None:
    with node_ns.entered():
        await backend.ensure(generate().private, 51820)
        peers = peer_set(2)
        await backend.apply(diff(peers, {}))
        idle, other = list(peers)
        for key in peers:
            node_ns.exec("wg", "set", backend.interface, "peer", key, "endpoint", "192.0.2.9:4000")
        await backend.forget_endpoints({idle: peers[idle]})
    after = dump(node_ns, backend.interface)
    assert after[idle].endpoint is None
    assert after[idle].allowed_ips == peers[idle]
    assert after[other].endpoint == "192.0.2.9:4000"


async def test_an_empty_plan_sends_no_transaction(node_ns: Netns, backend: CountingUapi) -> None:
    with node_ns.entered():
        await backend.ensure(generate().private, 51820)
        writes = backend.writes
        await backend.apply(Plan())
        assert backend.writes == writes


def firewall_run(ns: Netns, scenario: str) -> dict[str, Any]:
    """A scenario of node_harness.firewall_run, in a process of its own inside ``ns``."""
    root = Path(__file__).resolve().parents[1]  # daemon/tests, where node_harness is
    done = subprocess.run(
        ns.command(sys.executable, "-m", "node_harness.firewall_run", scenario),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
        },
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_ruleset_is_applied_atomically_and_idempotently(node_ns: Netns) -> None:
    seen = firewall_run(node_ns, "applied-twice")
    assert seen["second"] == seen["first"]
    assert seen["intact"] is True
    listed = node_ns.exec("nft", "list", "tables").stdout.split("\n")
    assert [line for line in listed if "phoenix" in line] == ["table inet phoenix"]
    first = seen["first"]
    assert first is not None
    assert "policy drop" in first
    assert "ip saddr 198.51.100.0/24 tcp dport 22 accept" in first


def test_a_ruleset_that_fails_leaves_the_previous_one_in_place(node_ns: Netns) -> None:
    seen = firewall_run(node_ns, "broken-after-good")
    assert seen["apply_refused"]  # refused by the check, before anything was sent
    # Sent without the check, a failing line undoes the whole transaction (the delete too).
    assert seen["swap_refused"]
    assert seen["before"] is not None
    assert seen["after"] == seen["before"]
    assert seen["intact"] is True


def test_sysctl_values_are_set_in_the_namespace_and_the_rest_reported(node_ns: Netns) -> None:
    host_forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    with node_ns.entered():
        report = sysctl.apply()  # /proc/sys/net shows the opening thread's namespace
    assert report.applied["net.ipv4.ip_forward"] == "1"
    assert report.applied["net.ipv4.conf.all.send_redirects"] == "0"
    assert "net.core.rmem_max" in report.failed  # read-only outside the host's namespace
    assert node_ns.exec("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forwarding

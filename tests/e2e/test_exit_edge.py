"""What a client reaches through an exit node: the Internet, the node's resolver, nothing else.

The world of conftest, with more on the node's far side (its egress link, as on EC2 where the
VPC and the metadata service sit behind the same interface as the Internet):

    internet namespace: 203.0.114.2 (a public server), 203.0.114.53 (an authoritative DNS
    server), 169.254.169.254 (instance metadata), 10.99.0.1 (a VPC host), 2a01:4f8:c0c:1::2

The node routes the metadata address and the VPC to that link, as a real instance does. The
node runs real Unbound (Debian's) on its tunnel resolver addresses, forwarding to the far-side
DNS server; the blocklist is published by the worker's real compiler and fetched over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from node_harness.netns import Netns
from node_harness.wireguard import Client
from phoenix.config.settings import ConfigSettings
from phoenix.worker.blocklist import Compiler
from phoenix.worker.publish import LocalTarget
from tests.e2e.conftest import EGRESS_IP, INTERNET_IP, World, make_world
from tests.harness.hosts_server import HostsServer, Served, hosts_file
from tests.harness.port_forward import PortForward
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures reused as they are
    config_server,
    config_settings,
    stores,
)
from tests.integration.worker.conftest import make_compiler

pytestmark = [pytest.mark.needs_root, pytest.mark.slow]

DNS_IP, METADATA_IP, VPC_IP = "203.0.114.53", "169.254.169.254", "10.99.0.1"
EGRESS6, INTERNET6 = "2a01:4f8:c0c:1::1", "2a01:4f8:c0c:1::2"
RECORDS = {"www.phoenix-e2e.net": INTERNET_IP, "doubleclick.net": INTERNET_IP,
           "ads.phoenix-e2e.net": INTERNET_IP}  # fmt: skip
BLOCKED = ["doubleclick.net", "ads.phoenix-e2e.net"]

LISTENER = """
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
listener = socket.socket(family)
listener.bind((sys.argv[1], 80))
listener.listen()
print("ready", flush=True)
while True:
    connection, peer = listener.accept()
    print(peer[0], flush=True)
    connection.close()
"""
# Connects with a 10 s timeout: a refusal well inside it came from a reset, not a silent drop.
CONNECT = """
import socket, sys, time
started = time.monotonic()
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), 10).close()
    outcome = "connected"
except OSError as error:
    outcome = type(error).__name__
print(outcome, round(time.monotonic() - started, 2))
"""
QUERY = """
import sys, dns.message, dns.query, dns.rcode
for name in sys.argv[2:]:
    answer = dns.query.udp(dns.message.make_query(name, "A"), sys.argv[1], timeout=3)
    print(name, dns.rcode.to_text(answer.rcode()), *[r.to_text() for s in answer.answer for r in s])
"""
# A non-recursive query: would tell whether anyone on the node looked the name up lately.
SNOOP = """
import sys, dns.flags, dns.message, dns.query, dns.rcode
query = dns.message.make_query(sys.argv[2], "A")
query.flags &= ~dns.flags.RD
print(dns.rcode.to_text(dns.query.udp(query, sys.argv[1], timeout=3).rcode()))
"""
# Queries one after another until its stdin closes; prints how many got an answer and how many
# not (a query the resolver dropped waits out its 3 s and counts as lost).
FLOOD = """
import select, sys, dns.message, dns.query, dns.exception
answered, lost = 0, 0
while not select.select([sys.stdin], [], [], 0)[0]:
    try:
        dns.query.udp(dns.message.make_query(sys.argv[2], "A"), sys.argv[1], timeout=3)
        answered += 1
    except dns.exception.Timeout:
        lost += 1
print(answered, lost)
"""


class Far:
    """The far side's servers, started into the internet namespace."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[str]] = []
        self.listeners: dict[str, subprocess.Popen[str]] = {}
        self.dns: subprocess.Popen[str] | None = None

    def start(self, ns: Netns, *command: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(ns.command(*command), stdout=subprocess.PIPE, text=True)
        self.processes.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        return process

    def close(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


def far_side(
    far: Far, node: Netns, internet: Netns, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    for address in (DNS_IP, METADATA_IP, VPC_IP):
        internet.exec("ip", "addr", "add", f"{address}/32", "dev", "i0")
    node.exec("ip", "route", "add", f"{METADATA_IP}/32", "dev", "n1")
    node.exec("ip", "route", "add", "10.99.0.0/24", "dev", "n1")
    node.exec("ip", "-6", "addr", "add", f"{EGRESS6}/64", "dev", "n1", "nodad")
    internet.exec("ip", "-6", "addr", "add", f"{INTERNET6}/64", "dev", "i0", "nodad")
    for address in (INTERNET_IP, METADATA_IP, VPC_IP, INTERNET6):
        far.listeners[address] = far.start(internet, sys.executable, "-c", LISTENER, address)
    pairs = [f"{name}={address}" for name, address in RECORDS.items()]
    far.dns = far.start(internet, sys.executable, "-m", "tests.harness.authoritative_dns",
                        DNS_IP, *pairs)  # fmt: skip
    return {"dns_upstreams": DNS_IP, **(extra or {})}


def route(world: World, client: Client, *destinations: str) -> None:
    for destination in destinations:
        world.client_ns.exec("ip", "route", "replace", destination, "dev", client.interface)


def connect(world: World, address: str, port: int = 80) -> tuple[str, float]:
    done = world.client_ns.exec(sys.executable, "-c", CONNECT, address, str(port))
    outcome, seconds = done.stdout.split()
    return outcome, float(seconds)


def query(world: World, server: str, *names: str) -> dict[str, list[str]]:
    done = world.client_ns.exec(sys.executable, "-c", QUERY, server, *names)
    return {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}


@contextlib.contextmanager
def edge_world(
    server: RoleServer, settings: ConfigSettings, tmp_path: Path, dns: str | None = None,
    extra: Callable[[Netns], dict[str, Any]] | None = None, **node_settings: Any,
) -> Iterator[tuple[World, Far]]:  # fmt: skip
    far = Far()
    try:

        def prepare(node: Netns, internet: Netns) -> dict[str, Any]:
            return far_side(far, node, internet, extra(node) if extra else None)

        with make_world(
            server, settings, tmp_path, None, far_side=prepare, dns=dns, **node_settings
        ) as world:
            route(world, world.client, f"{INTERNET_IP}/32", f"{METADATA_IP}/32", "10.99.0.0/24",
                  *world.config["interface"]["dns"])  # fmt: skip
            world.client_ns.exec("ip", "-6", "route", "add", f"{INTERNET6}/128", "dev",
                                 world.client.interface)  # fmt: skip
            yield world, far
    finally:
        far.close()


@pytest.fixture
def edge(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    tmp_path: Path,
) -> Iterator[tuple[World, Far]]:
    with edge_world(config_server, config_settings, tmp_path) as made:
        yield made


def test_a_client_reaches_the_internet_but_not_metadata_private_networks_or_the_node(
    edge: tuple[World, Far],
) -> None:
    world, _ = edge
    assert connect(world, INTERNET_IP)[0] == "connected"
    for private in (METADATA_IP, VPC_IP):
        outcome, seconds = connect(world, private)
        assert outcome == "ConnectionRefusedError", private  # a TCP reset from the node
        assert seconds < 5.0  # refused, not left to time out (10 s)
    gateway = world.config["interface"]["dns"][0]
    # The node itself: only its resolver. Its SSH and metrics ports, and any other, are refused.
    for port in (22, 9586, 80):
        assert connect(world, gateway, port)[0] == "ConnectionRefusedError", port
    ping = world.client_ns.exec("ping", "-n", "-c", "1", "-W", "2", METADATA_IP, check=False)
    assert ping.returncode != 0
    assert "Packet filtered" in ping.stdout or "Unreachable" in ping.stdout, ping.stdout


def test_the_handed_out_resolver_answers_through_the_node_and_keeps_no_client_address(
    edge: tuple[World, Far],
) -> None:
    world, far = edge
    [resolver] = world.config["interface"]["dns"]
    client = world.config["interface"]["addresses"][0].split("/")[0]
    answers = query(world, resolver, "www.phoenix-e2e.net", "doubleclick.net", "nowhere.invalid")
    assert answers["www.phoenix-e2e.net"] == ["NOERROR", INTERNET_IP]
    assert answers["doubleclick.net"] == ["NOERROR", INTERNET_IP]  # no blocking asked for
    assert answers["nowhere.invalid"][0] == "NXDOMAIN"
    snoop = world.client_ns.exec(sys.executable, "-c", SNOOP, resolver, "www.phoenix-e2e.net")
    assert snoop.stdout.strip() == "REFUSED"  # the cache is not for reading
    unbound = world.node_ns.exec("ss", "-Hnulp").stdout
    assert f"{resolver}:53" in unbound
    assert "0.0.0.0:53" not in unbound  # the tunnel addresses only
    assert "*:53" not in unbound
    # The upstream sees the node asking, never the client; the node logs no client address.
    assert far.dns is not None
    far.dns.kill()
    asked = [line.split() for line in far.dns.communicate()[0].splitlines()]
    assert ["www.phoenix-e2e.net.", EGRESS_IP] in asked
    assert {source for _, source in asked} == {EGRESS_IP}
    assert client not in world.daemon.text()


def test_without_ipv6_egress_a_clients_ipv6_is_refused_at_once(edge: tuple[World, Far]) -> None:
    world, _ = edge
    assert any(":" in address for address in world.config["peer"]["allowed_ips"])  # ::/0
    outcome, seconds = connect(world, INTERNET6)
    assert outcome == "ConnectionRefusedError"
    assert seconds < 5.0  # refused, not left to time out (10 s)


def test_with_ipv6_egress_a_clients_ipv6_leaves_masqueraded_as_the_node(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    tmp_path: Path,
) -> None:
    with edge_world(config_server, config_settings, tmp_path, ipv6_egress="true") as (world, far):
        assert connect(world, INTERNET6)[0] == "connected"
        listener = far.listeners[INTERNET6]
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == EGRESS6  # never the client's ULA
        # A unique-local network the node has a route to (a VPC's ULA): refused, not forwarded.
        world.node_ns.exec("ip", "-6", "route", "add", "fd00::/8", "dev", "n1")
        world.client_ns.exec(
            "ip", "-6", "route", "add", "fd00::1/128", "dev", world.client.interface
        )
        assert connect(world, "fd00::1")[0] == "ConnectionRefusedError"  # ULA: never forwarded


# --- blocking ------------------------------------------------------------------------------


class Publication:
    """The worker's compiler publishing into a directory that an HTTP server serves."""

    def __init__(self, tmp_path: Path, redis_url: str) -> None:
        seed = base64.b64encode(b"e2e-blocklist-signing-seed-32byt").decode()
        self.key = base64.b64encode(bytes(SigningKey(base64.b64decode(seed)).verify_key)).decode()
        self.hosts = HostsServer()
        self.target = LocalTarget(tmp_path / "published")
        self.compiler: Compiler = make_compiler(
            self.target, self.hosts.url, redis_url, f"e2e-{time.monotonic_ns()}", seed
        )
        handler = functools.partial(
            http.server.SimpleHTTPRequestHandler, directory=str(self.target.root)
        )
        handler.log_message = lambda *args: None  # type: ignore[attr-defined, method-assign]
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def publish(self, names: list[str]) -> None:
        self.hosts.files["/hosts"] = Served(hosts_file(names), last_modified=time.time())
        assert self.compiler.compile("base") == "published"

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.hosts.stop()


def test_a_blocked_name_is_nxdomain_under_base_and_a_new_list_loads_without_losing_a_query(
    config_server: RoleServer,  # noqa: F811
    config_settings: ConfigSettings,  # noqa: F811
    tmp_path: Path,
) -> None:
    publication = Publication(tmp_path, config_settings.redis_url)
    publication.publish(BLOCKED)
    forwards: list[PortForward] = []

    def served_to(node: Netns) -> dict[str, Any]:
        forwards.append(PortForward(node, publication.http.server_address[1]))
        return {
            "blocklist_url": f"http://127.0.0.1:{forwards[0].port}",
            "blocklist_key": publication.key,
            "blocklist_refresh_seconds": "1",
        }

    try:
        with edge_world(config_server, config_settings, tmp_path, dns="base", extra=served_to) as (
            world,
            far,
        ):
            [resolver] = world.config["interface"]["dns"]
            assert resolver == config_settings.dns_resolvers["base"]
            world.daemon.wait_for("blocklist_loaded")
            answers = query(world, resolver, "doubleclick.net", "ads.phoenix-e2e.net",
                            "www.phoenix-e2e.net")  # fmt: skip
            assert answers["doubleclick.net"] == ["NXDOMAIN"]
            assert answers["ads.phoenix-e2e.net"] == ["NXDOMAIN"]
            assert answers["www.phoenix-e2e.net"] == ["NOERROR", INTERNET_IP]
            # The same client on the unfiltered resolver: the name resolves.
            gateway = world.daemon.logged("register_done")[0]["ipv4_pool"].split("/")[0]
            unfiltered = gateway[: gateway.rindex(".")] + ".1"
            route(world, world.client, f"{unfiltered}/32")
            assert query(world, unfiltered, "doubleclick.net")["doubleclick.net"][0] == "NOERROR"

            # A new list while queries run: doubleclick.net is let through, nothing is lost.
            flood = subprocess.Popen(
                world.client_ns.command(sys.executable, "-c", FLOOD, resolver,
                                        "ads.phoenix-e2e.net"),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(1)
            publication.publish(["ads.phoenix-e2e.net", "tracker.phoenix-e2e.net"])
            world.daemon.wait_for("blocklist_loaded", count=2, timeout=30)
            time.sleep(1)  # queries go on after the new list, too
            answered, lost = map(int, flood.communicate("", timeout=30)[0].split())
            assert lost == 0
            assert answered > 50
            assert query(world, resolver, "doubleclick.net")["doubleclick.net"][0] == "NOERROR"
            assert query(world, resolver, "ads.phoenix-e2e.net")["ads.phoenix-e2e.net"] == [
                "NXDOMAIN"
            ]
            # A blocked name never left the node.
            assert far.dns is not None
            far.dns.kill()
            asked = [line.split()[0] for line in far.dns.communicate()[0].splitlines()]
            assert "ads.phoenix-e2e.net." not in asked
            assert "www.phoenix-e2e.net." in asked
    finally:
        for forward in forwards:
            forward.close()
        publication.close()

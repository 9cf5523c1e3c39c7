"""The reputation canary: a loopback DNS server plays the DNSBL, a real config role the fleet."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import get_args

import httpx
import pytest

from phoenix.worker.canary import Canary, DnsblUnavailable, make_resolver, query_name
from phoenix.worker.nodes import ConfigApi
from phoenix.worker.schemas import NodeStatus
from tests.harness.dns_server import DnsServer
from tests.harness.nodes import enroll_sync
from tests.harness.processes import RoleServer
from tests.integration.config.conftest import (  # noqa: F401 - fixtures
    MONITOR_TOKEN,
    config_server,
    config_settings,
)

ZONES = ["zen.dnsbl.test", "bl.example.test"]


class Node:
    """An exit node enrolled at ``public_ip`` (global unicast: the DNSBL is the only one asked
    about it, on loopback), and its status as the monitor lists it."""

    def __init__(self, server: RoleServer, public_ip: str) -> None:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            self.id = uuid.UUID(enroll_sync(client, public_ip=public_ip).id)
        self.server = server

    def status(self) -> str:
        with httpx.Client(timeout=10) as client:
            api = ConfigApi(client, self.server.base_url, MONITOR_TOKEN)
            return next(
                listed.status
                for status in get_args(NodeStatus)
                for listed in api.nodes(status)
                if listed.id == self.id
            )


@pytest.fixture
def dnsbl() -> Iterator[DnsServer]:
    server = DnsServer()
    yield server
    server.stop()


@pytest.fixture
def canary(config_server: RoleServer, dnsbl: DnsServer) -> Iterator[Canary]:  # noqa: F811
    client = httpx.Client(timeout=10)
    api = ConfigApi(client, config_server.base_url, MONITOR_TOKEN)
    yield Canary(api, make_resolver(dnsbl.address, timeout=2), ZONES)
    client.close()


def test_the_query_name_reverses_the_address_under_the_zone() -> None:
    assert query_name("192.0.2.10", "zen.dnsbl.test") == "10.2.0.192.zen.dnsbl.test"
    assert query_name("2001:db8::1", "bl.test.").startswith("1.0.0.0.")
    assert query_name("2001:db8::1", "bl.test.").endswith(".8.b.d.0.1.0.0.2.bl.test")


def test_a_listed_node_is_drained_as_blocked_and_a_clean_one_stays(
    config_server: RoleServer,  # noqa: F811
    canary: Canary,
    dnsbl: DnsServer,
) -> None:
    listed = Node(config_server, "203.0.114.5")
    clean = Node(config_server, "203.0.114.6")
    dnsbl.records["5.114.0.203.bl.example.test"] = ["127.0.0.2"]
    assert canary.run() == 1
    assert "6.114.0.203.zen.dnsbl.test" in dnsbl.queries
    assert listed.status() == "draining"
    assert clean.status() == "active"
    draining = [n for n in canary.api.nodes("draining") if n.id == listed.id]
    assert draining[0].drain_reason == "blocked"
    # Twice: the drained node is no longer active, the clean one is still clean.
    assert canary.run() == 0
    assert clean.status() == "active"


def test_a_zone_that_refuses_the_query_concludes_nothing(
    config_server: RoleServer,  # noqa: F811
    canary: Canary,
    dnsbl: DnsServer,
) -> None:
    node = Node(config_server, "203.0.114.7")
    dnsbl.records["7.114.0.203.zen.dnsbl.test"] = ["127.255.255.254"]
    with pytest.raises(DnsblUnavailable):
        canary.run()
    assert node.status() == "active"


def test_an_unreachable_resolver_fails_the_job_instead_of_passing_nodes(
    config_server: RoleServer,  # noqa: F811
) -> None:
    Node(config_server, "203.0.114.8")
    from phoenix.dev.probes import free_port

    api = ConfigApi(httpx.Client(), config_server.base_url, MONITOR_TOKEN)
    silent = make_resolver(f"127.0.0.1:{free_port()}", timeout=0.5)
    with pytest.raises(DnsblUnavailable):
        Canary(api, silent, ZONES).run()

"""A node's public address is global unicast: clients' packets go nowhere private."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from phoenix.config.settings import ConfigSettings
from phoenix.settings import SettingsError, load
from tests.harness.nodes import mint, new_keys, node_body, register
from tests.integration.config.node_trust.conftest import ConfigFactory
from tests.integration.config.node_trust.test_enrollment_keys import problem

Client = AsyncTestClient[Any]

REFUSED = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # CGNAT
    "169.254.169.254",  # link-local: the instance metadata service
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "0.0.0.0",
    "192.0.2.1",  # documentation
    "198.51.100.66",
    "203.0.113.5",
    "198.18.0.1",  # benchmarking
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",  # zone id
    "fd00::1",  # unique local
    "ff02::1",
    "2001:db8::1",  # documentation
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "64:ff9b::a00:1",  # NAT64 of a private address
]


@pytest.mark.parametrize("address", REFUSED)
async def test_a_non_global_public_ip_is_422_and_spends_nothing(
    config: Client, address: str
) -> None:
    (key,) = await mint(config)
    keys = new_keys()
    problem(await register(config, keys, node_body(keys, public_ip=address), key), 422)
    assert (await register(config, keys, node_body(keys), key)).status_code == 201


async def test_global_addresses_of_both_families_are_taken(config: Client) -> None:
    for address in ("203.0.114.10", "8.8.4.4", "2a00:1450:4001::1"):
        (key,) = await mint(config)
        keys = new_keys()
        answer = await register(config, keys, node_body(keys, public_ip=address), key)
        assert answer.status_code == 201, (address, answer.text)


async def test_development_networks_admit_exactly_what_they_name(
    config_with: ConfigFactory,
) -> None:
    async with config_with(node_dev_networks=["10.213.0.2/32"]) as config:
        (one, two) = await mint(config, count=2)
        keys = new_keys()
        problem(await register(config, keys, node_body(keys, public_ip="10.213.0.3"), one), 422)
        answer = await register(config, keys, node_body(keys, public_ip="10.213.0.2"), two)
        assert answer.status_code == 201, answer.text


def test_development_networks_are_refused_in_production() -> None:
    env = {
        "PHOENIX_ENV": "prod",
        "PHOENIX_NODEDB_URL": "postgresql://x@127.0.0.1/x",
        "PHOENIX_NODE_DEV_NETWORKS": "10.0.0.0/8",
    }
    with pytest.raises(SettingsError, match="PHOENIX_NODE_DEV_NETWORKS"):
        load(ConfigSettings, env)

"""Which addresses may be a node's public address (every special-purpose range is refused)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phoenix.config.nodes.addresses import (
    NOT_GLOBAL_UNICAST,
    NotGlobalUnicast,
    check_public_ip,
    parse_networks,
)


@pytest.mark.parametrize("network", NOT_GLOBAL_UNICAST, ids=str)
def test_every_listed_range_is_refused_at_both_ends(network: ipaddress.IPv4Network) -> None:
    for address in (network.network_address, network.broadcast_address):
        with pytest.raises(NotGlobalUnicast):
            check_public_ip(str(address))


@given(st.ip_addresses())
def test_an_accepted_address_is_global_and_unicast(address: ipaddress.IPv4Address) -> None:
    try:
        shown = check_public_ip(str(address))
    except NotGlobalUnicast:
        return
    accepted = ipaddress.ip_address(shown)
    assert accepted.is_global
    assert not accepted.is_multicast
    assert not accepted.is_private


def test_a_zone_id_or_garbage_is_refused_and_a_dev_network_admits_only_itself() -> None:
    for value in ("fe80::1%eth0", "2a00:1450::1%1", "not-an-ip", ""):
        with pytest.raises(NotGlobalUnicast):
            check_public_ip(value)
    allowed = parse_networks(["10.213.0.2/32"])
    assert check_public_ip("10.213.0.2", allowed) == "10.213.0.2"
    with pytest.raises(NotGlobalUnicast):
        check_public_ip("10.213.0.3", allowed)

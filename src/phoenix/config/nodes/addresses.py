"""Whether a node's declared public address is one clients could reach on the Internet.

A registration names the address every client config will point at. A loopback, private, CGNAT,
link-local, multicast, reserved or documentation address there would send clients' WireGuard
packets (with their real source address) somewhere inside someone's network, so only global
unicast is accepted (RFC 6890 and the IANA special-purpose registries). Python's ``is_global``
covers most of it; the list below names what it misses on Python 3.11, and what must never be
taken for unicast even where ``is_global`` says so.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Final

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

NOT_GLOBAL_UNICAST: Final[tuple[IPNetwork, ...]] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "100.64.0.0/10",  # shared address space (CGNAT), RFC 6598
        "192.0.0.0/24",  # IETF protocol assignments
        "192.88.99.0/24",  # deprecated 6to4 relay anycast, RFC 7526
        "198.18.0.0/15",  # benchmarking, RFC 2544
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the limited broadcast address
        "::/127",  # unspecified and loopback
        "::ffff:0:0/96",  # IPv4-mapped: the IPv4 rules apply to the IPv4 address
        "64:ff9b::/96",  # NAT64 well-known prefix, RFC 6052
        "64:ff9b:1::/48",  # local-use NAT64, RFC 8215
        "100::/64",  # discard-only, RFC 6666
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, benchmarking …)
        "2001:db8::/32",  # documentation, RFC 3849
        "2002::/16",  # 6to4, RFC 3056
        "3fff::/20",  # documentation, RFC 9637
        "5f00::/16",  # segment routing SIDs, RFC 9602
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)


class NotGlobalUnicast(ValueError):
    """The address cannot be a node's public address; the message says why."""


def parse_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(value) for value in values)


def check_public_ip(value: str, allowed: Sequence[IPNetwork] = ()) -> str:
    """The address in canonical form, if it is global unicast (or in ``allowed``, a setting
    that exists outside production only)."""
    if "%" in value:
        raise NotGlobalUnicast("public_ip carries a zone id: it is link-scoped")
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        raise NotGlobalUnicast("public_ip is not an IP address") from None
    if any(address in network for network in allowed if network.version == address.version):
        return str(address)
    special = any(
        address in network for network in NOT_GLOBAL_UNICAST if network.version == address.version
    )
    if special or not address.is_global or address.is_multicast:
        raise NotGlobalUnicast(f"public_ip {address} is not a global unicast address")
    return str(address)

"""The WireGuard interface as a network device: up, its tunnel addresses, its byte counters.

Backend-independent (netlink through pyroute2): the node's own tunnel address is the first host
of each pool the API gave it, with the pool's prefix, so the kernel routes the pool to wg0.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pyroute2 import AsyncIPRoute  # type: ignore[import-untyped]


def node_addresses(
    ipv4_pool: str, ipv6_pool: str
) -> list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]:
    found: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface] = []
    for pool in (ipv4_pool, ipv6_pool):
        network = ipaddress.ip_network(pool, strict=False)
        found.append(ipaddress.ip_interface(f"{network.network_address + 1}/{network.prefixlen}"))
    return found


async def _index(ipr: Any, interface: str) -> int | None:
    found = await ipr.link_lookup(ifname=interface)
    return int(found[0]) if found else None


async def exists(interface: str) -> bool:
    async with AsyncIPRoute() as ipr:
        return await _index(ipr, interface) is not None


async def configure(
    interface: str, addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface]
) -> list[str]:
    """Bring the link up and add the missing addresses; returns the ones added."""
    added: list[str] = []
    async with AsyncIPRoute() as ipr:
        index = await _index(ipr, interface)
        if index is None:
            raise LookupError(f"no network device {interface}")
        present = {
            (message.get("IFA_ADDRESS"), message["prefixlen"])
            async for message in await ipr.addr("dump", index=index)
        }
        for address in addresses:
            if (str(address.ip), address.network.prefixlen) not in present:
                await ipr.addr(
                    "add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen
                )
                added.append(str(address))
        await ipr.link("set", index=index, state="up")
    return added


async def counters(interface: str) -> tuple[int, int]:
    """(rx_bytes, tx_bytes) of the device since it was created; (0, 0) when it is gone."""
    async with AsyncIPRoute() as ipr:
        if await _index(ipr, interface) is None:
            return 0, 0
        async for message in await ipr.link("dump", ifname=interface):
            stats = message.get("IFLA_STATS64") or {}
            return int(stats.get("rx_bytes", 0)), int(stats.get("tx_bytes", 0))
    return 0, 0

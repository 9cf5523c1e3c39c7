"""The WireGuard interface as a network device: up, its tunnel addresses, its byte counters.

Backend-independent and light: ``ip`` (iproute2) for the one-time address set-up and sysfs for
the counters, so a node on the UAPI backend never loads pyroute2 (about 14 MB resident). The
node's own tunnel address is the first host of each pool the API gave it, with the pool's
prefix, so the kernel routes the pool to the interface.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

Address = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class LinkError(Exception):
    """``ip`` refused a change; the message carries its error line."""


def node_addresses(ipv4_pool: str, ipv6_pool: str) -> list[Address]:
    found: list[Address] = []
    for pool in (ipv4_pool, ipv6_pool):
        network = ipaddress.ip_network(pool, strict=False)
        found.append(ipaddress.ip_interface(f"{network.network_address + 1}/{network.prefixlen}"))
    return found


async def _ip(*arguments: str) -> str:
    process = await asyncio.create_subprocess_exec(
        "ip", *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise LinkError(f"ip {' '.join(arguments)}: {err.decode(errors='replace').strip()}")
    return out.decode()


async def configure(interface: str, addresses: list[Address]) -> list[str]:
    """Bring the link up and add the missing addresses; returns the ones added."""
    listed = await _ip("-o", "addr", "show", "dev", interface)
    present = {word for line in listed.splitlines() for word in line.split()}
    added = []
    for address in addresses:
        if str(address) not in present:
            await _ip("addr", "add", str(address), "dev", interface)
            added.append(str(address))
    await _ip("link", "set", interface, "up")
    return added


def counters(interface: str) -> tuple[int, int]:
    """(rx_bytes, tx_bytes) since the device was made; (0, 0) when it is gone."""
    statistics = Path("/sys/class/net") / interface / "statistics"
    try:
        return (
            int((statistics / "rx_bytes").read_text()),
            int((statistics / "tx_bytes").read_text()),
        )
    except (OSError, ValueError):
        return 0, 0

"""Two WireGuard backends behind one interface: netlink (kernel module) and UAPI (wireguard-go).

The agent only ever asks a backend to make sure the interface exists with the node's key and
port, to report its peers, and to apply a :class:`~phoenix_node.peers.Plan` — never to replace
every peer, and never to take the interface down.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from phoenix_node.peers import PeerState, Plan


class WireGuardError(Exception):
    """The interface refused an operation or cannot be reached."""


class InterfaceMissing(WireGuardError):
    """The interface (or wireguard-go behind it) is gone."""


class Backend(Protocol):
    name: str
    interface: str

    async def exists(self) -> bool: ...

    async def ensure(self, private_key: bytes, listen_port: int) -> bool:
        """Create the interface if missing and set key and port; True when it was created."""
        ...

    async def peers(self) -> dict[str, PeerState]: ...

    async def apply(self, plan: Plan) -> None: ...

    async def forget_endpoints(self, peers: Mapping[str, frozenset[str]]) -> None:
        """Re-add these peers without their remembered client endpoint."""
        ...


def make_backend(kind: str, interface: str, wireguard_go: str = "wireguard-go") -> Backend:
    if kind == "uapi":
        from phoenix_node.wireguard.uapi import UapiBackend

        return UapiBackend(interface, wireguard_go)
    from phoenix_node.wireguard.netlink import NetlinkBackend

    return NetlinkBackend(interface)

"""The kernel module's generic-netlink API, through pyroute2 (production backend).

The development and CI machines have no WireGuard module, so this backend's test skips there
with that reason; the UAPI backend carries the same contract and is tested in full.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from pyroute2 import AsyncIPRoute  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]
from pyroute2.netlink.generic.wireguard import (  # type: ignore[import-untyped]
    AsyncWireGuard,
)

from phoenix_node.peers import PeerState, Plan
from phoenix_node.wireguard import InterfaceMissing, WireGuardError


def _text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("value", value.get("key"))
    if isinstance(value, bytes | bytearray):
        return value.decode("ascii") if len(value) == 44 else base64.b64encode(value).decode()
    return str(value)


def decode_peer(peer: Any) -> PeerState:
    allowed = frozenset(
        str(ip["addr"]) for ip in peer.get_attr("WGPEER_A_ALLOWEDIPS") or [] if "addr" in ip
    )
    endpoint = peer.get_attr("WGPEER_A_ENDPOINT")
    handshake = peer.get_attr("WGPEER_A_LAST_HANDSHAKE_TIME") or {}
    return PeerState(
        public_key=_text(peer.get_attr("WGPEER_A_PUBLIC_KEY")),
        allowed_ips=allowed,
        endpoint=f"{endpoint['addr']}:{endpoint['port']}" if endpoint else None,
        last_handshake=float(handshake.get("tv_sec", 0)) + handshake.get("tv_nsec", 0) / 1e9,
        rx_bytes=int(peer.get_attr("WGPEER_A_RX_BYTES") or 0),
        tx_bytes=int(peer.get_attr("WGPEER_A_TX_BYTES") or 0),
    )


class NetlinkBackend:
    name = "netlink"

    def __init__(self, interface: str) -> None:
        self.interface = interface

    async def exists(self) -> bool:
        async with AsyncIPRoute() as ipr:
            return bool(await ipr.link_lookup(ifname=self.interface))

    async def ensure(self, private_key: bytes, listen_port: int) -> bool:
        created = False
        if not await self.exists():
            try:
                async with AsyncIPRoute() as ipr:
                    await ipr.link("add", ifname=self.interface, kind="wireguard")
            except NetlinkError as error:
                raise WireGuardError(
                    f"cannot create {self.interface} (is the wireguard module loaded?): {error}"
                ) from None
            created = True
        await self._set(private_key=base64.b64encode(private_key).decode(), listen_port=listen_port)
        return created

    async def _set(self, **fields: Any) -> None:
        try:
            async with AsyncWireGuard() as wg:
                await wg.set(self.interface, **fields)
        except NetlinkError as error:
            if error.code == 19:  # ENODEV
                raise InterfaceMissing(self.interface) from None
            raise WireGuardError(f"{self.interface}: netlink error {error.code}") from None

    async def peers(self) -> dict[str, PeerState]:
        try:
            async with AsyncWireGuard() as wg:
                messages = [m async for m in await wg.info(self.interface)]
        except NetlinkError as error:
            raise InterfaceMissing(f"{self.interface}: netlink error {error.code}") from None
        found: dict[str, PeerState] = {}
        for message in messages:
            for peer in message.get_attr("WGDEVICE_A_PEERS") or []:
                state = decode_peer(peer)
                found[state.public_key] = state
        return found

    async def apply(self, plan: Plan) -> None:
        for key in sorted(plan.remove):
            await self._set(peer={"public_key": key, "remove": True})
        for key, ips in plan.update.items():
            peer = {"public_key": key, "update_only": True, "replace_allowed_ips": True}
            await self._set(peer={**peer, "allowed_ips": sorted(ips)})
        for key, ips in plan.add.items():
            peer = {"public_key": key, "replace_allowed_ips": True, "allowed_ips": sorted(ips)}
            await self._set(peer=peer)

    async def forget_endpoints(self, peers: Mapping[str, frozenset[str]]) -> None:
        for key, ips in peers.items():
            await self._set(peer={"public_key": key, "remove": True})
            await self._set(
                peer={"public_key": key, "replace_allowed_ips": True, "allowed_ips": sorted(ips)}
            )

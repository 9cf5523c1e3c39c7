"""The cross-platform UAPI (``/var/run/wireguard/<iface>.sock``), as spoken by ``wireguard-go``.

Protocol (https://www.wireguard.com/xplatform/): ``get=1`` answers ``key=value`` lines ending in
``errno=0`` and a blank line; ``set=1`` takes such lines, a ``public_key=`` line opening each
peer, keys in lowercase hex. One plan is one ``set=1`` transaction carrying only the difference.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from phoenix_node.peers import PeerState, Plan
from phoenix_node.wireguard import InterfaceMissing, WireGuardError

SOCKET_DIR: Final = Path("/var/run/wireguard")
READ_LIMIT: Final = 1 << 28  # a 100,000-peer dump is ~25 MB
START_TIMEOUT: Final = 5.0


def to_hex(key_base64: str) -> str:
    return base64.b64decode(key_base64).hex()


def from_hex(key_hex: str) -> str:
    return base64.b64encode(bytes.fromhex(key_hex)).decode("ascii")


def _peer_lines(key: str, allowed_ips: Iterable[str], *, update_only: bool) -> list[str]:
    lines = [f"public_key={to_hex(key)}"]
    if update_only:
        lines.append("update_only=true")
    lines.append("replace_allowed_ips=true")
    lines += [f"allowed_ip={ip}" for ip in sorted(allowed_ips)]
    return lines


def plan_lines(plan: Plan) -> list[str]:
    """The ``set=1`` body for a plan (removals first, so freed addresses can be reused)."""
    lines: list[str] = []
    for key in sorted(plan.remove):
        lines += [f"public_key={to_hex(key)}", "remove=true"]
    for key, ips in plan.update.items():
        lines += _peer_lines(key, ips, update_only=True)
    for key, ips in plan.add.items():
        lines += _peer_lines(key, ips, update_only=False)
    return lines


@dataclass(slots=True)
class _PeerLines:
    public_key: str
    allowed_ips: list[str] = field(default_factory=list)
    endpoint: str | None = None
    handshake_sec: int = 0
    handshake_nsec: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0

    def state(self) -> PeerState:
        return PeerState(
            public_key=self.public_key,
            allowed_ips=frozenset(self.allowed_ips),
            endpoint=self.endpoint,
            last_handshake=self.handshake_sec + self.handshake_nsec / 1e9,
            rx_bytes=self.rx_bytes,
            tx_bytes=self.tx_bytes,
        )


def parse_get(text: str) -> tuple[dict[str, str], dict[str, PeerState]]:
    """The device fields and the peers of a ``get=1`` answer (without its ``errno`` line)."""
    device: dict[str, str] = {}
    peers: list[_PeerLines] = []
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key == "public_key":
            peers.append(_PeerLines(from_hex(value)))
        elif not peers:
            device[key] = value
        elif key == "allowed_ip":
            peers[-1].allowed_ips.append(value)
        elif key == "endpoint":
            peers[-1].endpoint = value
        elif key == "last_handshake_time_sec":
            peers[-1].handshake_sec = int(value)
        elif key == "last_handshake_time_nsec":
            peers[-1].handshake_nsec = int(value)
        elif key == "rx_bytes":
            peers[-1].rx_bytes = int(value)
        elif key == "tx_bytes":
            peers[-1].tx_bytes = int(value)
    return device, {peer.public_key: peer.state() for peer in peers}


class UapiBackend:
    name = "uapi"

    def __init__(self, interface: str, wireguard_go: str = "wireguard-go") -> None:
        self.interface = interface
        self.wireguard_go = wireguard_go

    @property
    def socket_path(self) -> Path:
        return SOCKET_DIR / f"{self.interface}.sock"

    async def _call(self, request: str) -> str:
        try:
            reader, writer = await asyncio.open_unix_connection(
                str(self.socket_path), limit=READ_LIMIT
            )
        except (FileNotFoundError, ConnectionRefusedError) as error:
            raise InterfaceMissing(f"{self.socket_path}: {error.strerror}") from None
        try:
            writer.write(request.encode("ascii"))
            await writer.drain()
            answer = (await reader.readuntil(b"\n\n")).decode("ascii")
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            raise InterfaceMissing(f"{self.socket_path}: connection lost ({error})") from None
        finally:
            writer.close()
        body, _, status = answer.rstrip("\n").rpartition("errno=")
        if status != "0":
            raise WireGuardError(f"{self.interface}: UAPI errno={status}")
        return body

    async def _set(self, lines: list[str]) -> None:
        await self._call("set=1\n" + "".join(line + "\n" for line in lines) + "\n")

    async def exists(self) -> bool:
        try:
            await self._call("get=1\n\n")
        except InterfaceMissing:
            return False  # wireguard-go removes its socket when its device is deleted
        return True

    async def ensure(self, private_key: bytes, listen_port: int) -> bool:
        created = False
        if not await self.exists():
            await self._start()
            created = True
        await self._set([f"private_key={private_key.hex()}", f"listen_port={listen_port}"])
        return created

    async def _start(self) -> None:
        if self.socket_path.exists():
            self.socket_path.unlink()  # left behind by a wireguard-go that died
        # wireguard-go daemonises: it creates the TUN device and the socket, then returns. Its
        # child keeps the standard streams, so they must not be pipes that close under it.
        process = await asyncio.create_subprocess_exec(
            self.wireguard_go,
            self.interface,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "LOG_LEVEL": "error"},
        )
        if await process.wait() != 0:
            raise WireGuardError(
                f"{self.wireguard_go} {self.interface} exited {process.returncode}"
                " (is /dev/net/tun there, and are we root?)"
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while not await self.exists():
            if loop.time() > deadline:
                raise WireGuardError(f"{self.interface}: wireguard-go started but no socket")
            await asyncio.sleep(0.02)

    async def peers(self) -> dict[str, PeerState]:
        _, peers = parse_get(await self._call("get=1\n\n"))
        return peers

    async def apply(self, plan: Plan) -> None:
        if not plan.empty:
            await self._set(plan_lines(plan))

    async def forget_endpoints(self, peers: Mapping[str, frozenset[str]]) -> None:
        lines: list[str] = []
        for key, ips in peers.items():
            lines += [f"public_key={to_hex(key)}", "remove=true"]
            lines += _peer_lines(key, ips, update_only=False)
        if lines:
            await self._set(lines)

"""WireGuard as the tests see it: ``wg show dump`` (an independent reader of what the daemon
wrote) and a client interface on ``wireguard-go`` in a namespace of the test's."""

from __future__ import annotations

import base64
import shutil
import time
from dataclasses import dataclass

from node_harness.netns import Netns, kill_wireguard_go


def available() -> tuple[bool, str]:
    for tool, package in (("wireguard-go", "wireguard-go"), ("wg", "wireguard-tools")):
        if shutil.which(tool) is None:
            return False, f"{tool} is not installed (Debian package {package})"
    return True, ""


@dataclass(frozen=True)
class DumpedPeer:
    public_key: str
    endpoint: str | None
    allowed_ips: frozenset[str]
    latest_handshake: int


def dump(ns: Netns, interface: str) -> dict[str, DumpedPeer]:
    """The peers ``wg show <interface> dump`` lists (empty when the interface is gone)."""
    done = ns.exec("wg", "show", interface, "dump", check=False)
    if done.returncode != 0:
        return {}
    peers = {}
    for line in done.stdout.splitlines()[1:]:
        key, _psk, endpoint, allowed, handshake, *_ = line.split("\t")
        peers[key] = DumpedPeer(
            key,
            None if endpoint == "(none)" else endpoint,
            frozenset() if allowed == "(none)" else frozenset(allowed.split(",")),
            int(handshake),
        )
    return peers


def wait_until(condition: object, timeout: float, interval: float = 0.02) -> float:
    """Seconds until ``condition()`` was true; AssertionError after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout}s")


def genkey(ns: Netns) -> tuple[str, str]:
    private = ns.exec("wg", "genkey").stdout.strip()
    public = ns.run_input(["wg", "pubkey"], private).strip()
    return private, public


class Client:
    """A WireGuard client interface on wireguard-go inside ``ns``."""

    def __init__(self, ns: Netns, interface: str) -> None:
        self.ns = ns
        self.interface = interface
        ns.exec("wireguard-go", interface)
        self.private_key, self.public_key = genkey(ns)

    def configure(
        self, addresses: list[str], peer_key: str, endpoint: str, allowed_ips: list[str]
    ) -> None:
        key_file = f"/dev/shm/{self.interface}.key"
        with open(key_file, "w") as handle:
            handle.write(self.private_key)
        try:
            self.ns.exec("wg", "set", self.interface, "private-key", key_file)
        finally:
            import os

            os.unlink(key_file)
        self.ns.exec(
            "wg", "set", self.interface, "peer", peer_key, "endpoint", endpoint,
            "allowed-ips", ",".join(allowed_ips), "persistent-keepalive", "1",
        )  # fmt: skip
        for address in addresses:
            self.ns.exec("ip", "addr", "add", address, "dev", self.interface)
        self.ns.exec("ip", "link", "set", self.interface, "up")

    def close(self) -> None:
        kill_wireguard_go(self.interface)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()

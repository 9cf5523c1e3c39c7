"""Network namespaces a test makes and removes itself, veth links between them, and a loopback
port forward from inside a namespace to a server on the host's loopback.

Only addresses inside these namespaces are used (documentation ranges, RFC 5737 / RFC 3849), and
every namespace is deleted afterwards; nothing here touches the host's own interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from phoenix.devrun import splice

CLONE_NEWNET = 0x40000000


def available() -> tuple[bool, str]:
    """Whether this process can make namespaces (root, iproute2); the reason when not."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if shutil.which("ip") is None:
        return False, "iproute2 (ip) is not installed"
    return True, ""


def run(*command: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=timeout)


class Netns:
    def __init__(self, purpose: str) -> None:
        self.name = f"ph-{purpose}-{uuid.uuid4().hex[:6]}"
        run("ip", "netns", "add", self.name)
        self.exec("ip", "link", "set", "lo", "up")

    def command(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(*self.command(*command), check=check)

    def run_input(self, command: Sequence[str], stdin: str) -> str:
        return subprocess.run(
            self.command(*command), input=stdin, capture_output=True, text=True, check=True
        ).stdout

    def popen(self, command: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(*command), **kwargs)  # type: ignore[call-overload]

    def delete(self) -> None:
        run("ip", "netns", "del", self.name, check=False)

    @contextlib.contextmanager
    def entered(self) -> Iterator[None]:
        """Run the block with the calling thread inside this namespace."""
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            try:
                yield
            finally:
                libc.setns(home, CLONE_NEWNET)
        finally:
            os.close(home)
            os.close(target)


def link(a: Netns, a_if: str, a_addr: str, b: Netns, b_if: str, b_addr: str) -> None:
    """A veth pair between two namespaces, with an address (CIDR) on each end, both up."""
    run("ip", "link", "add", a_if, "netns", a.name, "type", "veth", "peer", b_if, "netns", b.name)
    for ns, name, address in ((a, a_if, a_addr), (b, b_if, b_addr)):
        ns.exec("ip", "addr", "add", address, "dev", name)
        ns.exec("ip", "link", "set", name, "up")


class PortForward:
    """127.0.0.1:``port`` inside ``netns`` forwards to 127.0.0.1:``target`` on the host.

    The daemon under test runs in the node namespace and talks to the config role as it would
    over the network; the role itself stays on the host next to Postgres and Redis. The
    listening socket is made by a thread that entered the namespace (a socket keeps the
    namespace it was made in); the relay runs on an event loop of its own, in the host's
    namespace. ``target`` may change (a restarted server) while the forward stays. With
    ``source``, the relay connects from that loopback address (say 127.42.0.2), so a test can
    look for the address its client's requests came from in everything the servers kept."""

    def __init__(self, netns: Netns, target: int, source: str | None = None) -> None:
        self.target = target
        self.source = source
        made: list[socket.socket] = []

        def make() -> None:
            with netns.entered():
                listener = socket.socket()
                listener.bind(("127.0.0.1", 0))
                listener.listen(128)
                made.append(listener)

        maker = threading.Thread(target=make)
        maker.start()
        maker.join()
        self.listener = made[0]
        self.port: int = self.listener.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.loop.run_forever()

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._relay, sock=self.listener)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            local = None if self.source is None else (self.source, 0)
            up_reader, up_writer = await asyncio.open_connection(
                "127.0.0.1", self.target, local_addr=local
            )
        except OSError:
            writer.close()
            return
        await splice((reader, writer), (up_reader, up_writer))

    def close(self) -> None:
        def stop() -> None:
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)


def kill_wireguard_go(interface: str) -> None:
    """Stop the wireguard-go serving ``interface`` (names are unique per test), by its pid."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        argv = [arg for arg in argv if arg]
        if (
            len(argv) >= 2
            and Path(argv[0].decode()).name == "wireguard-go"
            and (argv[-1].decode() == interface)
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), 9)
    with contextlib.suppress(FileNotFoundError):
        Path(f"/var/run/wireguard/{interface}.sock").unlink()

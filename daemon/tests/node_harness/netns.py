"""Network namespaces a test makes and removes itself, and veth links between them.

Only addresses inside these namespaces are used (documentation ranges, RFC 5737 / RFC 3849), and
every namespace is deleted afterwards; nothing here touches the host's own interfaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from node_harness.processes import running

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


def kill_wireguard_go(interface: str) -> None:
    """Stop the wireguard-go serving ``interface`` (names are unique per test), by its pid."""
    for pid, argv in running("wireguard-go"):
        if len(argv) >= 2 and argv[-1] == interface:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
    with contextlib.suppress(FileNotFoundError):
        Path(f"/var/run/wireguard/{interface}.sock").unlink()
